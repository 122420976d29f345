import { BehaviorSubject, defer, Observable, retry, Subject, timer, type Subscription } from "rxjs";
import { REFUSED_ACTION } from "../constants.js";
import { ConnectionError } from "../errors.js";
import { resolveLogger, type Logger } from "../logging.js";
import { encode } from "../protocol/codec.js";
import type { Connector, ConnectTarget, TlsOptions, Transport } from "../transports/transport.js";
import type { ActionMap, Address, IncomingMessage, Message, UntypedActions, Received } from "../types.js";
import { Connection } from "./connection.js";
import { resolveLimits, type ConnectionLimits, type ResolvedLimits } from "./connection-options.js";
import {
  backoffDelay,
  resolveReconnectPolicy,
  type ReconnectOptions,
  type ReconnectPolicy,
} from "./reconnect-policy.js";

/** Options of a {@link Client}. */
export interface ClientOptions extends ConnectionLimits {
  /** Reconnect after a lost connection; `true` for the defaults. Default off. */
  readonly reconnect?: ReconnectOptions | boolean;
  /** For `wss://` from Node: a CA to trust, `servername`... Default: the system's CAs. */
  readonly tls?: TlsOptions;
}

/**
 * Where a client is: `connecting` (first attempt), `open`, `reconnecting` (lost, trying again
 * with backoff), `closing` (`close()` called, flushing), `closed` (for good).
 */
export type ClientState = "connecting" | "open" | "reconnecting" | "closing" | "closed";

/**
 * The low-level client connection: one server, its messages as an Observable. Most games use a
 * `ConnectionListener`, which owns a `Client` and runs its messages' handlers inside `pump()`.
 *
 * `messages$` is hot: it emits every decoded message as it arrives, built-in actions included
 * (`connected` and `socketConnect` when the connection opens; `error` for a failed connect, a
 * refusal or a connection that fails; `disconnected` exactly once after each established
 * connection ends), then completes when the client is closed for good.
 *
 * @typeParam In  messages the server sends
 * @typeParam Out messages this client sends
 */
export class Client<In extends ActionMap = UntypedActions, Out extends ActionMap = UntypedActions> {
  /** Where this client connects, e.g. `{ host: "127.0.0.1", port: 5071 }`. */
  readonly address: Address;
  /** Every message, as it arrives; completes when the client is closed for good. */
  readonly messages$: Observable<Received<In>>;
  /** The client state, replaying the current one; completes when closed for good. */
  readonly state$: Observable<ClientState>;
  /** Heartbeat round-trip times in milliseconds (with the `heartbeat` option on). */
  readonly rtt$: Observable<number>;

  private readonly messagesSubject = new Subject<IncomingMessage>();
  private readonly stateSubject = new BehaviorSubject<ClientState>("connecting");
  private readonly rttSubject = new Subject<number>();
  private readonly logger: Logger;
  /** The connection limits in force, defaults applied. */
  readonly limits: ResolvedLimits;
  private readonly policy: ReconnectPolicy | null;
  private readonly tls: TlsOptions | undefined;
  private readonly subscription: Subscription;
  private connection: Connection | null = null;
  private closeRequested = false;
  /** Frames sent while reconnecting, for the next connection. */
  private outbox: Uint8Array[] = [];
  private outboxBytes = 0;

  /** @internal Created by `ConnectionListener.connect()`. */
  constructor(
    private readonly target: ConnectTarget,
    private readonly connector: Connector,
    options: ClientOptions = {},
  ) {
    this.address = { host: target.host, port: target.port };
    this.messages$ = this.messagesSubject.asObservable() as Observable<Received<In>>;
    this.state$ = this.stateSubject.asObservable();
    this.rtt$ = this.rttSubject.asObservable();
    this.logger = resolveLogger(options.logger);
    this.limits = resolveLimits(options);
    this.policy = resolveReconnectPolicy(options.reconnect);
    this.tls = options.tls;
    const policy = this.policy;
    // One session per connection; `retry` opens the next one after a backoff delay and gives up
    // after maxAttempts failures in a row (a session that opened resets the count).
    this.subscription = defer(() => this.session())
      .pipe(
        retry({
          count: policy?.maxAttempts ?? 0,
          resetOnSuccess: true,
          delay: (_error, attempt) => {
            this.setState("reconnecting");
            const wait = backoffDelay(policy!, attempt);
            this.logger.info("reconnecting", { server: this.describe(), attempt, delay: wait });
            return timer(wait);
          },
        }),
      )
      .subscribe({
        error: (error: Error) => this.finish(policy === null ? undefined : error),
        complete: () => this.finish(undefined),
      });
  }

  /** The current state. */
  get state(): ClientState {
    return this.stateSubject.value;
  }

  /** Whether `send()` writes straight to the server now. */
  get isConnected(): boolean {
    return this.state === "open";
  }

  /** Bytes accepted by `send()` and not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.outboxBytes + (this.connection?.bufferedAmount ?? 0);
  }

  /**
   * Sends one message. Returns the bytes queued, 4-byte header included. While the first
   * connection opens the message is queued; while reconnecting it is queued up to
   * `reconnect.maxQueuedBytes`; both go out in order once connected. After `close()`, once closed
   * for good, or past a bound, it returns 0.
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded as msgpack.
   */
  send(message: Message<Out>): number {
    const frame = encode(message);
    if (this.state === "reconnecting") {
      const bound = this.policy?.maxQueuedBytes ?? 0;
      if (this.outboxBytes + frame.byteLength > bound) return 0;
      this.outbox.push(frame);
      this.outboxBytes += frame.byteLength;
      return frame.byteLength;
    }
    if (this.closeRequested || this.connection === null) return 0;
    return this.connection.sendFrame(frame);
  }

  /**
   * Closes gracefully and for good: every message accepted by `send()` before this call is
   * delivered first (while reconnecting, the queued ones are dropped: there is no server).
   */
  close(): void {
    if (this.closeRequested) return;
    this.closeRequested = true;
    if (this.state === "reconnecting" || this.connection === null) {
      this.subscription.unsubscribe();
      this.finish(undefined);
      return;
    }
    this.setState("closing");
    this.connection.close();
  }

  /** One connection, as an Observable: emits when it opens, errors when it is lost. */
  private session(): Observable<void> {
    return new Observable<void>((subscriber) => {
      let opened = false;
      let transport: Transport;
      try {
        transport = this.connector(this.target, {
          maxPayload: this.limits.maxPayload,
          closeTimeout: this.limits.closeTimeout,
          frameTimeout: this.limits.frameTimeout,
          tls: this.tls,
        });
      } catch (cause) {
        // A connector that cannot even start (no WebSocket in this runtime...) fails like a refused connection.
        const error = cause instanceof Error ? cause : new Error(String(cause));
        this.emit(errorMessage(error));
        subscriber.error(error);
        return;
      }
      const connection = new Connection(
        transport,
        {
          open: () => {
            opened = true;
            this.flushOutbox(connection);
            if (!this.closeRequested) this.setState("open");
            this.logger.info("connected", { server: this.describe() });
            this.emit({ action: "connected" });
            this.emit({ action: "socketConnect" });
          },
          // Counts as a successful attempt for the reconnection policy only once the server has
          // greeted us: a full server that refuses every time must not reset the attempt count.
          greeted: () => subscriber.next(),
          message: (message) => {
            if (message.action === REFUSED_ACTION) {
              const reason = typeof message.reason === "string" ? message.reason : "the server refused the connection";
              this.emit({ action: "error", error: reason, code: "ERR_SERVER_FULL" });
              return;
            }
            this.emit(message);
          },
          rtt: (milliseconds) => this.rttSubject.next(milliseconds),
          close: (error) => {
            // The state first, so that a live subscriber reacting to `disconnected` sees where the
            // client is: a send() it makes while reconnecting is queued, not refused.
            if (opened && !this.closeRequested)
              this.setState(this.policy !== null && this.policy.maxAttempts > 0 ? "reconnecting" : "closed");
            if (error) {
              this.logger.warn(opened ? "connection lost" : "connect failed", {
                server: this.describe(),
                reason: error.message,
              });
              if (opened || this.policy === null) this.emit(errorMessage(error));
            }
            if (opened) {
              this.logger.info("disconnected", { server: this.describe() });
              this.emit({ action: "disconnected" });
            }
            if (this.closeRequested) subscriber.complete();
            else
              subscriber.error(
                error ?? new ConnectionError("ERR_CONNECTION_LOST", `${this.describe()} closed the connection`),
              );
          },
        },
        { ...this.limits, logger: this.logger, open: false, expectGreeting: true },
      );
      this.connection = connection;
      return () => connection.destroy();
    });
  }

  private flushOutbox(connection: Connection): void {
    const outbox = this.outbox;
    this.outbox = [];
    this.outboxBytes = 0;
    for (const frame of outbox) connection.sendFrame(frame);
  }

  /** Ends the client for good: a final `error` if reconnection gave up, then completion. */
  private finish(gaveUp: Error | undefined): void {
    if (this.stateSubject.closed) return;
    if (gaveUp) {
      const attempts = this.policy?.maxAttempts ?? 0;
      const error = new ConnectionError(
        "ERR_RECONNECT_FAILED",
        `Gave up reconnecting to ${this.describe()} after ${attempts} attempts: ${gaveUp.message}`,
        { cause: gaveUp },
      );
      this.logger.warn("gave up", { server: this.describe(), reason: error.message });
      this.emit(errorMessage(error));
    }
    this.outbox = [];
    this.outboxBytes = 0;
    this.setState("closed");
    this.messagesSubject.complete();
    this.rttSubject.complete();
    this.stateSubject.complete();
  }

  private emit(message: IncomingMessage): void {
    this.messagesSubject.next(message);
  }

  private setState(state: ClientState): void {
    if (this.stateSubject.value !== state && !this.stateSubject.closed) this.stateSubject.next(state);
  }

  private describe(): string {
    return this.target.protocol === "tcp" ? `${this.target.host}:${this.target.port}` : this.target.url;
  }
}

/** The built-in `error` message for `error`, with its code when it has one. */
function errorMessage(error: Error): IncomingMessage {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string"
    ? { action: "error", error: error.message, code }
    : { action: "error", error: error.message };
}
