import { EmptyError, firstValueFrom, isObservable, timeout } from "rxjs";
import { HELLO_ACTION, RESUME_FAILED_ACTION } from "../constants.js";
import type { Connection } from "../connections/connection.js";
import { ProtocolError, type RepodErrorCode } from "../errors.js";
import type { IncomingMessage } from "../types.js";
import type { ServerSession } from "./server-session.js";
import { isSessionControl } from "./session-control.js";
import type { AuthContext, Authenticate, ResolvedResume } from "./session-options.js";
import { isSessionToken } from "./session-token.js";

/**
 * Messages a client may send after its hello while its login is checked (a client queues its
 * first moves before it knows it is in). Beyond it the client is refused: an unauthenticated peer
 * can make the server hold only this much.
 */
export const MAX_MESSAGES_BEFORE_LOGIN = 32;

/** What a handshake needs to know. */
export interface HandshakeOptions {
  readonly authenticate: Authenticate<unknown> | null;
  readonly resume: ResolvedResume | null;
  /** Milliseconds a client has to log in, with `authenticate`. */
  readonly handshakeTimeout: number;
}

/** How a new player enters, once the handshake is over. */
export interface Admission {
  /** What `authenticate` returned (`undefined` without it). */
  readonly data: unknown;
  /** Whether the client asked for a resumable session and the server offers resume. */
  readonly session: boolean;
  /** Whether the greeting was already sent (at once, without `authenticate`). */
  readonly greeted: boolean;
  /** Messages that arrived during the handshake, to dispatch after the channel's `onConnect`. */
  readonly pending: readonly IncomingMessage[];
}

/** Where a handshake ends: the server. */
export interface HandshakeHost {
  /** Creates the channel of a new player. */
  admit(connection: Connection, admission: Admission): void;
  /** The seat `token` holds, if this server has it. */
  session(token: string): ServerSession | undefined;
  /** Why the seat `token` held has ended, if it ended within its window on this server. */
  ended(token: string): { code: RepodErrorCode; reason: string } | undefined;
  /**
   * The seat took its player's new connection and has a new token; of the tokens it had before,
   * `stale`, none is good any more but the one presented (kept until the player confirms).
   */
  resumed(session: ServerSession, stale: readonly string[]): void;
  /** Refuses the connection: tells the client why (`@refused`) and closes it. */
  refuse(connection: Connection, code: RepodErrorCode, reason: string): void;
  /** The handshake is over, however it ended: its slot is free. */
  settled(handshake: ServerHandshake): void;
}

type State = "waiting" | "checking" | "done";

/**
 * The life of a new connection before it has a channel. With `authenticate`, the client must
 * first log in: `{ action: "@hello", auth }`, within `handshakeTimeout`, and nothing is greeted,
 * dispatched or announced before `authenticate` has said who it is. Without it (resume only),
 * the greeting goes out at once and the client has `helloWindow` ms to say hello (repod-rx
 * clients do at once), else it is taken for a client that knows nothing of sessions (a Python
 * repod client) and gets a channel without one. A hello may carry a resume request: the seat is
 * looked up, the player's login checked again, and the connection handed to the seat; if any of
 * that fails the client is told why (`@resume-failed`) and goes on as a new player.
 */
export class ServerHandshake {
  private state: State = "waiting";
  private readonly pending: IncomingMessage[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly greeted: boolean;

  constructor(
    private readonly connection: Connection,
    private readonly context: Omit<AuthContext, "resuming">,
    private readonly options: HandshakeOptions,
    private readonly host: HandshakeHost,
  ) {
    connection.route({
      open: () => {},
      message: (message) => this.onMessage(message),
      rtt: () => {},
      close: () => this.settle(),
    });
    if (options.authenticate !== null) {
      this.greeted = false;
      this.startTimer(options.handshakeTimeout, () =>
        this.refuse(
          "ERR_HANDSHAKE_TIMEOUT",
          `No login within ${options.handshakeTimeout} ms: a client must send { action: "${HELLO_ACTION}", auth } first (handshakeTimeout)`,
        ),
      );
    } else {
      this.greeted = true;
      connection.send({ action: "connected" });
      this.startTimer(options.resume?.helloWindow ?? 0, () => this.admit(undefined, false));
    }
  }

  /** Whether the handshake is over. */
  get isSettled(): boolean {
    // Stryker disable next-line ConditionalExpression: only read by the server right after the constructor, which never settles: every transport reports messages and its close in a later turn
    return this.state === "done";
  }

  /** The server stops: the connection goes without a channel. */
  abort(): void {
    // Stryker disable next-line CallExpression: the close() that follows ends in the route's close, which settles too (stop() already iterates a copy of the handshakes)
    this.settle();
    this.connection.close();
  }

  private onMessage(message: IncomingMessage): void {
    // Stryker disable next-line ConditionalExpression: once done the connection is routed to its channel or seat, or closing after a refusal (a closing connection delivers no more messages)
    if (this.state === "done") return;
    if (this.state === "checking") {
      if (isSessionControl(message)) {
        this.dropControl(message);
        return;
      }
      if (this.pending.length >= MAX_MESSAGES_BEFORE_LOGIN) {
        this.refuse(
          "ERR_UNAUTHORIZED",
          `Sent more than ${MAX_MESSAGES_BEFORE_LOGIN} messages before its login was checked`,
        );
        return;
      }
      this.pending.push(message);
      return;
    }
    if (message.action === HELLO_ACTION) {
      this.onHello(message);
      return;
    }
    if (this.options.authenticate !== null) {
      this.refuse("ERR_UNAUTHORIZED", `Log in first: the first message must be { action: "${HELLO_ACTION}", auth }`);
      return;
    }
    if (isSessionControl(message)) {
      this.dropControl(message);
      return;
    }
    // A client that speaks without saying hello knows nothing of sessions.
    this.pending.push(message);
    this.admit(undefined, false);
  }

  /**
   * What is held during the handshake is dispatched to the channel as the game's own messages: a
   * second hello, an ack or a forged resume answer must never reach a handler.
   */
  private dropControl(message: IncomingMessage): void {
    this.connection.reject(
      new ProtocolError(
        "ERR_INVALID_CONTROL",
        `Dropped a ${String(message.action)} sent before the handshake was over`,
      ),
    );
  }

  private onHello(hello: IncomingMessage): void {
    // Stryker disable next-line ConditionalExpression: the server opens a seat for an admission only when it offers resume itself (this resume option is the server's)
    const wantsSession = hello.session === true && this.options.resume !== null;
    const resume = readResumeRequest(hello.resume);
    if (hello.resume !== undefined && resume === null) {
      this.connection.reject(
        new ProtocolError("ERR_INVALID_CONTROL", "Ignored a resume request that is not { token, received }"),
      );
    }
    const authenticate = this.options.authenticate;
    if (authenticate === null) {
      // Stryker disable next-line CallExpression: enter() always ends in admit() or tryResume(), which stop the timer themselves before anything else can run
      this.stopTimer();
      this.enter(undefined, wantsSession, resume);
      return;
    }
    this.state = "checking";
    let outcome: unknown;
    try {
      outcome = authenticate(hello.auth, { ...this.context, resuming: resume !== null });
    } catch (error) {
      this.refuseLogin(error);
      return;
    }
    const answer = isObservable(outcome)
      ? firstValueFrom(outcome.pipe(timeout({ first: this.options.handshakeTimeout })))
      : Promise.resolve(outcome);
    answer.then(
      (data) => {
        if (this.state !== "checking") return;
        if (data === undefined) this.refuse("ERR_UNAUTHORIZED", "Login refused");
        else {
          // Stryker disable next-line CallExpression: enter() always ends in admit() or tryResume(), which stop the timer themselves
          this.stopTimer();
          this.enter(data, wantsSession, resume);
        }
      },
      (error: unknown) => {
        // Stryker disable next-line ConditionalExpression: refuse() returns at once when the handshake is already done
        if (this.state === "checking") this.refuseLogin(error);
      },
    );
  }

  /** Resumes the seat asked for if it can, else admits a new player (after saying why not). */
  private enter(data: unknown, wantsSession: boolean, resume: ResumeRequest | null): void {
    if (resume !== null && this.options.resume !== null) {
      const failure = this.tryResume(data, resume);
      if (failure === null) return;
      this.connection.send({ action: RESUME_FAILED_ACTION, code: failure.code, reason: failure.reason });
    }
    this.admit(data, wantsSession);
  }

  private tryResume(data: unknown, request: ResumeRequest): { code: RepodErrorCode; reason: string } | null {
    const session = this.host.session(request.token);
    if (session === undefined) {
      const ended = this.host.ended(request.token);
      if (ended !== undefined) return ended;
      return {
        code: "ERR_RESUME_UNKNOWN",
        reason:
          "This server holds no session for that token: it expired, was already resumed, or belongs to another server or an earlier run",
      };
    }
    if (this.options.authenticate !== null && !this.options.resume!.samePlayer(session.data, data)) {
      return { code: "ERR_RESUME_MISMATCH", reason: "The session belongs to another player" };
    }
    const stale = [session.token, session.previousToken].filter(
      // Stryker disable next-line ConditionalExpression: the server only deletes the stale tokens from its map of seats, where a null matches none
      (token): token is string => token !== null && token !== request.token,
    );
    this.state = "done";
    // Stryker disable next-line CallExpression: enter() is only called right after stopTimer() (no authenticate, or the login was answered)
    this.stopTimer();
    if (!session.resume(this.connection, request.received, request.token)) {
      this.state = "checking";
      return {
        code: "ERR_RESUME_OVERFLOW",
        reason: "The messages missed since the drop are no longer all kept (resume.maxMessages, resume.maxBytes)",
      };
    }
    for (const message of this.pending) {
      this.connection.reject(
        new ProtocolError(
          "ERR_INVALID_CONTROL",
          `Dropped a ${String(message.action)} sent before the resume was answered`,
        ),
      );
    }
    this.host.resumed(session, stale);
    this.host.settled(this);
    return null;
  }

  private admit(data: unknown, session: boolean): void {
    // Stryker disable next-line ConditionalExpression: admit() is only reached while not done: its timer is stopped and onMessage() returns once done
    if (this.state === "done") return;
    this.state = "done";
    this.stopTimer();
    this.host.settled(this);
    this.host.admit(this.connection, { data, session, greeted: this.greeted, pending: this.pending });
  }

  private refuseLogin(error: unknown): void {
    // An Observable that completes empty said no without a message: RxJS's "no elements in
    // sequence" would mean nothing to the player.
    const reason =
      error instanceof EmptyError
        ? "Login refused"
        : error instanceof Error
          ? error.message
          : typeof error === "string"
            ? error
            : "Login refused";
    this.refuse("ERR_UNAUTHORIZED", reason);
  }

  private refuse(code: RepodErrorCode, reason: string): void {
    // Stryker disable next-line ConditionalExpression: every caller checks first: the timer is stopped once done, onMessage() returns once done, the login answers check "checking"
    if (this.state === "done") return;
    this.state = "done";
    this.stopTimer();
    this.host.settled(this);
    this.host.refuse(this.connection, code, reason);
  }

  /** The connection closed before the handshake was over. */
  private settle(): void {
    // Stryker disable next-line ConditionalExpression: settling again stops a stopped timer and removes a handshake the server no longer holds: nothing changes
    if (this.state === "done") return;
    this.state = "done";
    this.stopTimer();
    this.host.settled(this);
  }

  private startTimer(milliseconds: number, expire: () => void): void {
    this.timer = setTimeout(expire, milliseconds);
    // Stryker disable next-line OptionalChaining: the server runs on Node only, where every timer has unref()
    this.timer.unref?.();
  }

  private stopTimer(): void {
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) does nothing
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

interface ResumeRequest {
  readonly token: string;
  readonly received: number;
}

/** A hello's `resume` field, checked: what a peer sends is never trusted. */
function readResumeRequest(value: unknown): ResumeRequest | null {
  if (typeof value !== "object" || value === null) return null;
  const { token, received } = value as { token?: unknown; received?: unknown };
  if (!isSessionToken(token) || typeof received !== "number" || !Number.isSafeInteger(received) || received < 0) {
    return null;
  }
  return { token, received };
}
