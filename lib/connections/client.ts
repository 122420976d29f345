import { BehaviorSubject, Observable, Subject } from "rxjs";
import { DEFAULT_MAX_PAYLOAD } from "../constants.js";
import { resolveLogger, type Logger } from "../logging.js";
import type { Connector, ConnectTarget } from "../transports/transport.js";
import type { ActionMap, Address, BuiltInActions, IncomingMessage, Message, UntypedActions } from "../types.js";
import { Connection, type ConnectionState } from "./connection.js";

/** Options of a {@link Client}. */
export interface ClientOptions {
  /** Largest payload accepted from the server, in bytes. Default 4 MiB. */
  readonly maxPayload?: number;
  /** Where events go; default: the logger set by `configureLogging` (silent unless set). */
  readonly logger?: Logger;
}

/**
 * The low-level client connection: one transport to one server, its messages as an Observable.
 * Most games use a `ConnectionListener`, which owns a `Client` and dispatches its messages to
 * `Network_*` handlers inside `pump()`.
 *
 * `messages$` is hot: it emits every decoded message as it arrives, built-in actions included
 * (`connected` and `socketConnect` when the transport opens; `error` for a failed connect or a
 * connection that fails; `disconnected` exactly once after an established connection ends), then
 * completes when the connection is over.
 *
 * @typeParam In  messages the server sends
 * @typeParam Out messages this client sends
 */
export class Client<In extends ActionMap = UntypedActions, Out extends ActionMap = UntypedActions> {
  /** Where this client connects, e.g. `{ host: "127.0.0.1", port: 5071 }`. */
  readonly address: Address;
  /** Every message, as it arrives; completes when the connection has ended. */
  readonly messages$: Observable<Message<In & BuiltInActions>>;
  /** The connection state: `connecting`, `open`, `closing`, `closed`; replays the current one. */
  readonly state$: Observable<ConnectionState>;

  private readonly messagesSubject = new Subject<IncomingMessage>();
  private readonly stateSubject = new BehaviorSubject<ConnectionState>("connecting");
  private readonly connection: Connection;

  /** @internal Created by `ConnectionListener.connect()` or {@link connectClient}. */
  constructor(target: ConnectTarget, connector: Connector, options: ClientOptions = {}) {
    this.address = { host: target.host, port: target.port };
    this.messages$ = this.messagesSubject.asObservable() as Observable<Message<In & BuiltInActions>>;
    this.state$ = this.stateSubject.asObservable();
    const transport = connector(target, { maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD });
    const logger = resolveLogger(options.logger);
    let opened = false;
    this.connection = new Connection(
      transport,
      {
        open: () => {
          opened = true;
          this.updateState();
          logger.info("connected", { server: `${target.host}:${target.port}` });
          this.emit({ action: "connected" });
          this.emit({ action: "socketConnect" });
        },
        message: (message) => this.emit(message),
        close: (error) => {
          if (error) {
            logger.warn(opened ? "connection lost" : "connect failed", {
              server: `${target.host}:${target.port}`,
              reason: error.message,
            });
            const code = (error as { code?: unknown }).code;
            this.emit(typeof code === "string" ? { action: "error", error: error.message, code } : { action: "error", error: error.message });
          }
          if (opened) {
            logger.info("disconnected", { server: `${target.host}:${target.port}` });
            this.emit({ action: "disconnected" });
          }
          this.updateState();
          this.messagesSubject.complete();
          this.stateSubject.complete();
        },
      },
      { logger, open: false, expectGreeting: true },
    );
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Whether `send()` writes straight to the server now. */
  get isConnected(): boolean {
    return this.connection.state === "open";
  }

  /** Bytes accepted by `send()` and not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.connection.transport.bufferedAmount;
  }

  /**
   * Sends one message. Returns the bytes queued, 4-byte header included; while the connection is
   * still opening the message is queued and goes out, in order, once it opens; after `close()` or
   * once the connection has ended it returns 0.
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded as msgpack.
   */
  send(message: Message<Out>): number {
    return this.connection.send(message);
  }

  /** Closes gracefully: every message accepted by `send()` before this call is delivered first. */
  close(): void {
    this.connection.close();
    this.updateState();
  }

  private emit(message: IncomingMessage): void {
    this.messagesSubject.next(message);
  }

  private updateState(): void {
    const state = this.connection.state;
    if (this.stateSubject.value !== state && !this.stateSubject.closed) this.stateSubject.next(state);
  }
}
