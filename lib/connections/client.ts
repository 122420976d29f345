import { BehaviorSubject, Subject, type Observable } from "rxjs";
import {
  ACK_ACTION,
  HELLO_ACTION,
  REFUSED_ACTION,
  RESUME_FAILED_ACTION,
  RESUMED_ACTION,
  SESSION_ACTION,
} from "../constants.js";
import { ConnectionError, errorMessage, ProtocolError, RepodError } from "../errors.js";
import { resolveLogger, type Logger } from "../logging.js";
import { encode } from "../protocol/codec.js";
import { ClientResume } from "../sessions/client-resume.js";
import { BYE_ACTION } from "../sessions/session-control.js";
import { failedTransport } from "../transports/failed-transport.js";
import type { Connector, ConnectTarget, TlsOptions, Transport } from "../transports/transport.js";
import type { ActionMap, Address, IncomingMessage, Message, UntypedActions, Received } from "../types.js";
import { Connection, type ClockSample } from "./connection.js";
import {
  describeOptionValue,
  resolveLimits,
  type ConnectionLimits,
  type ResolvedLimits,
} from "./connection-options.js";
import { checkSendOptions, FrameQueue, type SendOptions } from "./outbox.js";
import { checkValidationOption, type MessageValidation, type ReplyValidator } from "../validation/validation-option.js";
import {
  backoffDelay,
  DEFAULT_RESUME_POLICY,
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
  /**
   * Credentials for a server with `authenticate`: any value (a token, `{ user, password }`), or a
   * function returning it (or a Promise of it), called at every connection and reconnection, so a
   * refreshed token is used. Sent in the client's first message, `{ action: "@hello", auth }`.
   * A server that refuses them answers `error` with `ERR_UNAUTHORIZED`; with a fixed value the
   * client does not try again, with a function it tries again only with other credentials.
   * Default: none.
   */
  readonly auth?: unknown;
  /**
   * Ask the server for a resumable session (it grants one with its own `resume` option): after a
   * lost connection the client comes back to the same seat, within the server's window, and no
   * message is lost or repeated either way. The built-in actions `dropped` and `resumed` mark the
   * gap instead of `disconnected` and `connected`. The request is the client's first message,
   * `{ action: "@hello", session: true }`; a server without `resume` ignores it. Default `false`:
   * the client sends nothing a Python repod server would not expect.
   */
  readonly resume?: boolean;
  /**
   * Checks every message the server sends against the schema of its action before `pump()`,
   * `on()` or `messages$` sees it: `schemaValidation({ state: v.object({ ... }) })`, with zod,
   * valibot or any Standard Schema library. What fails is dropped and logged (or, with
   * `onInvalid: "close"`, reported as an `error` coded `ERR_INVALID_MESSAGE` and the client closed
   * for good); handlers get the schema's output. Default: none (and none of its code in a bundle).
   */
  readonly validation?: MessageValidation;
}

/** A client's options, checked and with their defaults applied. */
export interface ResolvedClientOptions {
  readonly logger: Logger;
  readonly limits: ResolvedLimits;
  readonly validation: MessageValidation | undefined;
  readonly policy: ReconnectPolicy | null;
  readonly tls: TlsOptions | undefined;
  readonly auth: unknown;
  readonly resume: boolean;
}

/**
 * Checks a client's options, before anything connects or is closed: a bad option throws and
 * leaves the listener's current connection as it was.
 * @throws {TypeError} or {RangeError} naming the option and the bad value.
 */
export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  const logger = resolveLogger(options.logger);
  const limits = resolveLimits(options);
  const validation = checkValidationOption(options.validation);
  const policy = resolveReconnectPolicy(options.reconnect);
  if (options.resume !== undefined && typeof options.resume !== "boolean") {
    throw new TypeError(`options.resume must be true or false, got ${describeOptionValue(options.resume)}`);
  }
  return { logger, limits, validation, policy, tls: options.tls, auth: options.auth, resume: options.resume ?? false };
}

/**
 * Where a client is: `connecting` (first attempt), `open`, `resuming` (the connection dropped and
 * the client is coming back to its session), `reconnecting` (lost, trying again with backoff as a
 * new player), `closing` (`close()` called, flushing), `closed` (for good).
 */
export type ClientState = "connecting" | "open" | "resuming" | "reconnecting" | "closing" | "closed";

/** Why one connection attempt ended, for the retry decision. */
class AttemptEnded extends Error {
  constructor(
    override readonly cause: Error,
    /** Whether trying again could work: false for refused credentials that would be sent again. */
    readonly retryable: boolean,
  ) {
    super(cause.message);
  }
}

/**
 * The low-level client connection: one server, its messages as an Observable. Most games use a
 * `ConnectionListener`, which owns a `Client` and runs its messages' handlers inside `pump()`.
 *
 * `messages$` is hot: it emits every decoded message as it arrives, built-in actions included
 * (`connected` and `socketConnect` when the connection opens; `error` for a failed connect, a
 * refusal or a connection that fails; `disconnected` exactly once after each established
 * connection ends; with a resumable session, `dropped` and `resumed` around a gap that was
 * resumed), then completes when the client is closed for good.
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
  /**
   * The same round trips with the server's clock (`peerTime`), from which `serverClock` (in
   * `repod-rx/operators`) estimates the offset between the two clocks.
   */
  readonly clockSamples$: Observable<ClockSample>;
  /** The connection limits in force, defaults applied. */
  readonly limits: ResolvedLimits;
  /** @internal The check of the replies to requests sent on this client (the `validation` option), or `null`. */
  readonly replyValidator: ReplyValidator | null;

  private readonly messagesSubject = new Subject<IncomingMessage>();
  private readonly stateSubject = new BehaviorSubject<ClientState>("connecting");
  private readonly rttSubject = new Subject<number>();
  private readonly clockSubject = new Subject<ClockSample>();
  private readonly logger: Logger;
  private readonly policy: ReconnectPolicy | null;
  private readonly tls: TlsOptions | undefined;
  private readonly auth: unknown;
  /** Failed attempts in a row, for the backoff; an attempt the server accepted resets it. */
  private failedAttempts = 0;
  /** Ends the attempt in progress (and the wait before the next one); `null` once stopped. */
  private stopAttempt: (() => void) | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connection: Connection | null = null;
  private closeRequested = false;
  /** Frames sent while reconnecting without a session, for the next connection (latest-wins ones coalesced). */
  private offline = new FrameQueue();
  /**
   * Whether this client says hello even without `auth` or `resume`: over WebSocket, so that a
   * server may log it in from its upgrade request alone (a cookie, a ticket in the URL). Python
   * repod servers, which expect nothing of the kind, speak TCP only.
   */
  private readonly saysHello: boolean;
  /** Session resume, with `resume: true`: the session, what is kept for it, its gaps. */
  private readonly resume: ClientResume | null;
  /** The credentials last refused, to never send them again. */
  private refusedAuth: string | undefined;

  /** @internal Created by `ConnectionListener.connect()`, with options it checked beforehand. */
  constructor(
    private readonly target: ConnectTarget,
    private readonly connector: Connector,
    options: ResolvedClientOptions = resolveClientOptions(),
  ) {
    this.address = { host: target.host, port: target.port };
    this.state$ = this.stateSubject.asObservable();
    this.rtt$ = this.rttSubject.asObservable();
    this.clockSamples$ = this.clockSubject.asObservable();
    this.logger = options.logger;
    this.limits = options.limits;
    const messages = this.messagesSubject.asObservable();
    const attached = options.validation?.attach(messages, {
      logger: this.logger,
      maxInvalidMessages: this.limits.maxInvalidMessages,
      peer: () => this.describe(),
      reply: (message) => this.send(message as Message<Out>),
      close: () => this.close(),
    });
    this.messages$ = (attached?.messages ?? messages) as Observable<Received<In>>;
    this.replyValidator = attached?.replies ?? null;
    this.policy = options.policy;
    this.tls = options.tls;
    this.auth = options.auth;
    this.resume = options.resume
      ? new ClientResume({
          logger: this.logger,
          describe: () => this.describe(),
          emit: (message) => this.emit(message),
          dropped: () => this.setState("resuming"),
          resumed: () => {
            // Stryker disable next-line ConditionalExpression: close() while resuming finishes the client at once, and setState() ignores a finished client; a resume answer is awaited only while resuming
            if (!this.closeRequested) this.setState("open");
          },
          sessionLost: () => {
            if (this.policy === null) {
              this.stopAttempts();
              this.finish(undefined);
            } else this.setState("reconnecting");
          },
        })
      : null;
    this.saysHello = target.protocol === "ws" || target.protocol === "wss";
    // One attempt per connection; the next one opens after a backoff delay. A session that was
    // dropped is resumed for as long as the server holds it; otherwise the reconnection policy
    // decides, and gives up after maxAttempts failures in a row (an attempt the server accepted
    // resets the count). Plain timers rather than RxJS's `retry`: the page does not carry it.
    this.stopAttempt = noop;
    this.startAttempt();
  }

  /** Starts one attempt; its outcome decides whether another one follows. */
  private startAttempt(): void {
    const stop = this.attempt({
      accepted: () => {
        this.failedAttempts = 0;
      },
      ended: (ended) => this.attemptEnded(ended),
      closed: () => {
        // Stryker disable next-line CallExpression: `closed` comes from the current attempt's own end (so nothing is left to cancel) and close() already cleared any retry wait
        this.stopAttempts();
        this.finish(undefined);
      },
    });
    // Unless it already ended for good (refused at once, and no retry).
    // Stryker disable next-line ConditionalExpression: stopAttempt is null here only once the client finished (an attempt that ended for good at once, without a connection): the stop kept then has nothing to cancel, and close() finds the client finished
    if (this.stopAttempt !== null) this.stopAttempt = stop;
  }

  /** One attempt failed: the next one after the backoff delay, or the end of trying. */
  private attemptEnded(ended: AttemptEnded): void {
    // Stryker disable next-line ConditionalExpression: stopAttempts() cancels the attempt it stops; an end still reported comes from one started as close() ran, and retryDelay() then returns null, finish() having run
    if (this.stopAttempt === null) return;
    const wait = this.retryDelay(ended, ++this.failedAttempts);
    if (wait === null) {
      // Stryker disable next-line CallExpression: the attempt has just ended and no retry wait is armed: nothing is left to stop
      this.stopAttempts();
      this.finish(this.policy === null || !ended.retryable ? undefined : ended.cause);
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      // Stryker disable next-line ConditionalExpression: stopAttempts() clears this timer whenever it sets stopAttempt to null, so it never fires with stopAttempt null
      if (this.stopAttempt !== null) this.startAttempt();
    }, wait);
  }

  /** Ends the attempt in progress, or the wait for the next one, for good. */
  private stopAttempts(): void {
    const stop = this.stopAttempt;
    this.stopAttempt = null;
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) does nothing
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    stop?.();
  }

  /** The current state. */
  get state(): ClientState {
    return this.stateSubject.value;
  }

  /** Whether `send()` writes straight to the server now. */
  get isConnected(): boolean {
    return this.state === "open";
  }

  /** Bytes accepted by `send()` and not yet handed to the operating system (or kept for a resume). */
  get bufferedAmount(): number {
    const connection = this.connection;
    return this.offline.bytes + (this.resume?.bufferedAmount(connection) ?? connection?.bufferedAmount ?? 0);
  }

  /**
   * Sends one message. Returns the bytes queued, 4-byte header included. While the first
   * connection opens the message is queued; while reconnecting it is queued up to
   * `reconnect.maxQueuedBytes`; while resuming a session it is kept (within the session's
   * bounds) and delivered exactly once after the resume; all go out in order once connected.
   * After `close()`, once closed for good, or past a bound, it returns 0.
   *
   * `options` (see {@link SendOptions}): `{ volatile: true }` returns 0 instead of queueing the
   * message (while connecting, reconnecting, resuming, or behind a backlog); `{ latest: key }`
   * replaces the message with the same key that still waits unsent, wherever it waits (the
   * connection's backlog, the reconnection queue, the session's gap). Default: an ordinary message.
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded as msgpack,
   *   or for options of the wrong type.
   */
  send(message: Message<Out>, options?: SendOptions): number {
    const frame = encode(message);
    checkSendOptions(options);
    if (this.closeRequested) return 0;
    if (this.resume?.keeps === true) return this.resume.send(frame, options);
    if (this.state === "reconnecting" || (this.state === "connecting" && this.connection === null)) {
      // While reconnecting, up to the policy's bound; before the first connection exists (an
      // `auth` function is still running), like any message sent while connecting.
      const bound = this.state === "reconnecting" ? (this.policy?.maxQueuedBytes ?? 0) : this.limits.maxQueuedBytes;
      return this.queueOffline(frame, bound, options);
    }
    if (this.connection === null) return 0;
    return this.connection.sendFrame(frame, options);
  }

  /** Queues a frame for the next connection, within `bound` bytes; a volatile one is dropped. */
  private queueOffline(frame: Uint8Array, bound: number, options: SendOptions | undefined): number {
    if (options?.volatile === true) return 0;
    const offline = this.offline;
    const key = options?.latest;
    const slot = key === undefined ? undefined : offline.slot(key);
    const growth = frame.byteLength - (slot?.frame.byteLength ?? 0);
    if (growth > 0 && offline.bytes + growth > bound) return 0;
    if (slot !== undefined) offline.replace(slot, frame);
    else offline.push(frame, key);
    return frame.byteLength;
  }

  /**
   * Closes gracefully and for good: every message accepted by `send()` before this call is
   * delivered first (while reconnecting or resuming, the queued ones are dropped: there is no
   * server). A resumable session ends with it.
   */
  close(): void {
    // Stryker disable next-line ConditionalExpression: a second close() finds the connection already closing (its close() and sendFrame() do nothing) or the client already finished
    if (this.closeRequested) return;
    this.closeRequested = true;
    if (this.state === "reconnecting" || this.state === "resuming" || this.connection === null) {
      this.stopAttempts();
      this.finish(undefined);
      return;
    }
    this.setState("closing");
    // A goodbye, so that the server ends the seat at once instead of taking the close for a drop.
    this.resume?.sayGoodbye(this.connection);
    this.connection.close();
  }

  /**
   * One connection: `accepted` once the server has let it in (maybe more than once: a resume),
   * then `ended` or `closed` once when it ends. Returns what cancels it; nothing is reported after
   * the end or the cancel.
   */
  private attempt(report: AttemptOutcome): () => void {
    let connection: Connection | null = null;
    let cancelled = false;
    const outcome: AttemptOutcome = {
      accepted: () => {
        // Stryker disable next-line ConditionalExpression: an attempt is cancelled only by stopAttempts(), which destroys its connection (no greeting or resume follows) and is followed by finish(): a count reset then is never read
        if (!cancelled) report.accepted();
      },
      ended: (ended) => {
        // Stryker disable next-line ConditionalExpression: an attempt is cancelled only by stopAttempts(), which sets stopAttempt to null: attemptEnded() then ignores the end
        if (cancelled) return;
        // Stryker disable next-line BooleanLiteral: once an attempt reported its end nothing of it reports again: its connection closed, or it never had one
        cancelled = true;
        report.ended(ended);
      },
      closed: () => {
        // Stryker disable next-line ConditionalExpression: a cancelled attempt's `closed` would only repeat what cancelling did: stopAttempts() with nothing left to stop, and finish() on a finished client
        if (cancelled) return;
        // Stryker disable next-line BooleanLiteral: `closed` ends the client for good: nothing of the attempt reports after it
        cancelled = true;
        report.closed();
      },
    };
    const start = (auth: unknown): void => {
      if (cancelled) return;
      // Stryker disable next-line ConditionalExpression: describeAuth() always returns a string, which never equals an undefined refusedAuth: the first test only saves describing the credentials
      if (this.refusedAuth !== undefined && describeAuth(auth) === this.refusedAuth) {
        // The server refused these very credentials: sending them again would only hammer it.
        outcome.ended(
          // Stryker disable next-line StringLiteral: an end that is not retryable finishes the client without its cause, which the server's refusal already reported
          new AttemptEnded(new RepodError("ERR_UNAUTHORIZED", "The server refused these credentials"), false),
        );
        return;
      }
      connection = this.open(auth, outcome);
    };
    if (typeof this.auth === "function") {
      // Asked anew at every attempt, so a refreshed token is used.
      Promise.resolve()
        .then(() => (this.auth as () => unknown)())
        .then(start, (error: unknown) => {
          // Stryker disable next-line ConditionalExpression: an attempt is cancelled only by stopAttempts(), followed by finish(): the error then goes to a completed subject and the end is ignored
          if (cancelled) return;
          const cause = error instanceof Error ? error : new Error(String(error));
          this.emit(errorMessage(cause));
          outcome.ended(new AttemptEnded(cause, true));
        });
    } else start(this.auth);
    return () => {
      cancelled = true;
      (connection as Connection | null)?.destroy();
    };
  }

  /** Opens one connection with the credentials `auth` and follows it to its end. */
  private open(
    auth: unknown,
    outcome: { accepted(): void; ended(ended: AttemptEnded): void; closed(): void },
  ): Connection | null {
    const resume = this.resume;
    const resuming = resume?.session != null;
    const hello = this.helloFor(auth);
    let transport: Transport;
    try {
      transport = this.connector(this.target, {
        maxPayload: this.limits.maxPayload,
        closeTimeout: this.limits.closeTimeout,
        frameTimeout: this.limits.frameTimeout,
        tls: this.tls,
      });
    } catch (cause) {
      // A connector that cannot even start fails like a refused connection, in a later turn: the
      // first attempt runs inside the constructor, before anyone could subscribe to messages$.
      const reason = cause instanceof Error ? cause.message : String(cause);
      // Stryker disable next-line ObjectLiteral: a connect failure reaches the game only as its message and code (the error action, the log lines); the cause is kept for a debugger
      transport = failedTransport(new ConnectionError("ERR_CONNECT_FAILED", reason, { cause }));
    }
    // `open`: the transport is up. `entered`: the server let us in (greeting, or resume).
    let opened = false;
    let greeted = false;
    let entered = false;
    resume?.connecting();
    // Why a clean close is not a drop: the server said goodbye, or refused us.
    const closeExplained = { bye: false, refused: false };
    // A client that said hello may have to log in first: it is in once the server greets it.
    const needsGreeting = auth !== undefined || this.saysHello;
    const enterFresh = (): void => {
      if (entered) return;
      entered = true;
      this.flushOutbox(connection);
      if (!this.closeRequested) this.setState("open");
      this.logger.info("connected", { server: this.describe() });
      this.emit({ action: "connected" });
      this.emit({ action: "socketConnect" });
    };
    const connection: Connection = new Connection(
      transport,
      {
        open: () => {
          opened = true;
          if (!needsGreeting && !resuming) enterFresh();
        },
        // Counts as a successful attempt for the reconnection policy only once the server has
        // greeted us: a full server that refuses every time must not reset the attempt count.
        greeted: () => {
          greeted = true;
          if (resume?.awaitsResume === true) return;
          enterFresh();
          outcome.accepted();
        },
        message: (message) => {
          const action = message.action;
          switch (resume?.receive(message, connection)) {
            case "handled":
              return;
            case "resumed":
              entered = true;
              outcome.accepted();
              return;
            case "fresh":
              if (greeted) {
                enterFresh();
                outcome.accepted();
              }
              return;
            case "goodbye":
              closeExplained.bye = true;
              return;
          }
          if (action === REFUSED_ACTION) {
            closeExplained.refused = true;
            this.refused(message, auth);
            return;
          }
          if (
            action === SESSION_ACTION ||
            action === RESUMED_ACTION ||
            action === RESUME_FAILED_ACTION ||
            action === HELLO_ACTION ||
            action === ACK_ACTION ||
            action === BYE_ACTION
          ) {
            connection.reject(
              new ProtocolError(
                "ERR_INVALID_CONTROL",
                `Dropped a ${String(action)} message the client did not ask for`,
              ),
            );
            return;
          }
          resume?.countReceived();
          this.emit(message);
        },
        rtt: (milliseconds) => this.rttSubject.next(milliseconds),
        clock: (sample) => this.clockSubject.next(sample),
        close: (error) => this.lost(connection, { opened, entered, error, ...closeExplained }, outcome),
      },
      {
        ...this.limits,
        logger: this.logger,
        open: false,
        expectGreeting: true,
        // Stryker disable next-line ConditionalExpression: Connection writes firstFrame only when it is not undefined: an undefined one is the same as none
        ...(hello === undefined ? {} : { firstFrame: hello }),
      },
    );
    this.connection = connection;
    resume?.attach(connection);
    // What was sent before the first connection existed goes first, in order (it queues while connecting).
    if (this.state === "connecting") this.flushOutbox(connection);
    return connection;
  }

  /** The first message of a connection, or `undefined` when there is nothing to say. */
  private helloFor(auth: unknown): Uint8Array | undefined {
    const resume = this.resume;
    if (auth === undefined && resume === null && !this.saysHello) return undefined;
    return encode({
      action: HELLO_ACTION,
      auth,
      session: resume === null ? undefined : true,
      resume: resume?.resumeRequest(),
    });
  }

  /** A refusal: `ERR_SERVER_FULL` (a full server), `ERR_UNAUTHORIZED`, `ERR_HANDSHAKE_TIMEOUT`. */
  private refused(message: IncomingMessage, auth: unknown): void {
    const reason = typeof message.reason === "string" ? message.reason : "the server refused the connection";
    const code = typeof message.code === "string" && message.code.startsWith("ERR_") ? message.code : "ERR_SERVER_FULL";
    if (code === "ERR_UNAUTHORIZED") this.refusedAuth = describeAuth(auth);
    this.emit({ action: "error", error: reason, code });
  }

  /** One connection ended: a drop (a resume follows), a loss (a reconnection may follow), or a close. */
  private lost(
    connection: Connection,
    attempt: { opened: boolean; entered: boolean; error: Error | undefined; bye: boolean; refused: boolean },
    outcome: { ended(ended: AttemptEnded): void; closed(): void },
  ): void {
    const { opened, entered } = attempt;
    // Stryker disable next-line ConditionalExpression: attempts are sequential (the next connection opens only after this one ended), so the connection that ends is always the current one
    if (this.connection === connection) this.connection = null;
    const resume = this.resume;
    let error =
      resume === null
        ? attempt.error
        : resume.closeReason(attempt.error, {
            bye: attempt.bye,
            refused: attempt.refused,
            closing: this.closeRequested,
          });
    if (error === undefined && opened && !entered && !attempt.refused && !this.closeRequested) {
      // Closed before the server let us in (a login still pending when it stopped): say so.
      error = new ConnectionError(
        "ERR_CONNECTION_LOST",
        `${this.describe()} closed the connection before letting the client in`,
      );
    }
    // After the server's goodbye the session is over, however the connection then ended.
    const failure = !this.closeRequested && !attempt.bye && error instanceof ConnectionError ? error : null;
    if (resume?.ended(failure, entered) === true) {
      outcome.ended(new AttemptEnded(failure!, true));
      return;
    }
    // The state first, so that a live subscriber reacting to `disconnected` sees where the
    // client is: a send() it makes while reconnecting is queued, not refused.
    if (entered && !this.closeRequested)
      this.setState(this.policy !== null && this.policy.maxAttempts > 0 ? "reconnecting" : "closed");
    if (error) {
      this.logger.warn(entered ? "connection lost" : "connect failed", {
        server: this.describe(),
        reason: error.message,
      });
      if (entered || opened || this.policy === null) this.emit(errorMessage(error));
    }
    if (entered) {
      this.logger.info("disconnected", { server: this.describe() });
      this.emit({ action: "disconnected" });
    }
    if (this.closeRequested) outcome.closed();
    else {
      const cause = error ?? new ConnectionError("ERR_CONNECTION_LOST", `${this.describe()} closed the connection`);
      outcome.ended(new AttemptEnded(cause, this.refusedAuth === undefined || typeof this.auth === "function"));
    }
  }

  /** Milliseconds before the next attempt, or `null` for the end of trying. */
  private retryDelay(ended: AttemptEnded, attempt: number): number | null {
    if (this.closeRequested || !ended.retryable) return null;
    if (this.resume?.holdsSeat() === true) {
      const wait = backoffDelay(this.policy ?? DEFAULT_RESUME_POLICY, attempt);
      this.logger.info("resuming", { server: this.describe(), attempt, delay: wait });
      return wait;
    }
    const policy = this.policy;
    if (policy === null || attempt > policy.maxAttempts) return null;
    this.setState("reconnecting");
    const wait = backoffDelay(policy, attempt);
    this.logger.info("reconnecting", { server: this.describe(), attempt, delay: wait });
    return wait;
  }

  private flushOutbox(connection: Connection): void {
    const offline = this.offline;
    this.offline = new FrameQueue();
    while (!offline.isEmpty) {
      const entry = offline.shiftEntry();
      // A latest-wins frame stays one in the connection's backlog (or the session's).
      const frame = offline.frameOf(entry);
      const options = entry instanceof Uint8Array ? undefined : { latest: entry.key };
      if (this.resume?.keeps === true) this.resume.send(frame, options);
      else connection.sendFrame(frame, options);
    }
  }

  /** Ends the client for good: a final `error` if reconnection gave up, then completion. */
  private finish(gaveUp: Error | undefined): void {
    // Stryker disable next-line ConditionalExpression: a second finish() only repeats no-ops: completed subjects ignore next() and complete(), the session and the queue are already cleared
    if (this.stateSubject.closed) return;
    if (gaveUp) {
      const attempts = this.policy?.maxAttempts ?? 0;
      const error = new ConnectionError(
        "ERR_RECONNECT_FAILED",
        `Gave up reconnecting to ${this.describe()} after ${attempts} attempts: ${gaveUp.message}`,
        // Stryker disable next-line ObjectLiteral: the gave-up error reaches the game only as an `error` message (text and code) and a log reason: its cause is never exposed
        { cause: gaveUp },
      );
      this.logger.warn("gave up", { server: this.describe(), reason: error.message });
      this.emit(errorMessage(error));
    }
    // Closed, or given up, while the seat was held: the gap ends the session.
    if (this.resume?.end() === true) this.emit({ action: "disconnected" });
    this.offline.clear();
    this.setState("closed");
    this.messagesSubject.complete();
    this.rttSubject.complete();
    this.clockSubject.complete();
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

/** What one attempt reports to the client. */
interface AttemptOutcome {
  accepted(): void;
  ended(ended: AttemptEnded): void;
  closed(): void;
}

function noop(): void {}

/** Credentials as a string, to recognize the same ones again (never logged). */
function describeAuth(auth: unknown): string {
  try {
    // Stryker disable next-line StringLiteral: any text that no JSON is works here; it is only compared with itself
    return JSON.stringify(auth) ?? "undefined";
  } catch {
    return String(auth);
  }
}
