import { ACK_ACTION, RESUME_FAILED_ACTION, RESUMED_ACTION, SESSION_ACTION } from "../constants.js";
import type { Connection } from "../connections/connection.js";
import type { SendOptions } from "../connections/outbox.js";
import { ConnectionError, errorMessage, ProtocolError } from "../errors.js";
import type { Logger } from "../logging.js";
import { encode } from "../protocol/codec.js";
import type { IncomingMessage } from "../types.js";
import { CLIENT_SESSION_BOUNDS, ClientSession } from "./client-session.js";
import { BYE_ACTION } from "./session-control.js";
import { SessionStream } from "./session-stream.js";
import { isSessionToken } from "./session-token.js";

/** What a client's resumable sessions need of the client that holds them. */
export interface ClientResumeHost {
  readonly logger: Logger;
  /** The server, as log lines name it. */
  describe(): string;
  /** Delivers a built-in action to the game. */
  emit(message: IncomingMessage): void;
  /** The session's connection was lost: the client is `resuming` while the seat is held. */
  dropped(): void;
  /** The session took a new connection: the client is `open` again (unless it is closing). */
  resumed(): void;
  /**
   * A session in its gap can no longer be resumed (its window passed, its messages overflowed),
   * after its `error` and `disconnected`: the client reconnects as a new player, or closes.
   */
  sessionLost(): void;
}

/**
 * What {@link ClientResume.receive} made of a message: `other`, not a session's (the client goes
 * on with it); `handled`, a session's control message, dealt with; `resumed`, the server took the
 * session back on this connection (the client is in); `fresh`, the server could not resume (the
 * connection goes on as a new player's); `goodbye`, the server's goodbye (the close that follows
 * ends the session, it is not a drop).
 */
export type ResumeReceipt = "other" | "handled" | "resumed" | "fresh" | "goodbye";

/**
 * A client's side of session resume (`connect(..., { resume: true })`), across its connections:
 * it asks each fresh connection for a session, keeps every message sent from the first one on (in
 * case the server grants one), answers the server's acknowledgements, and after a drop comes back
 * with its token and count of received messages until the seat is resumed, refused, or its window
 * passes. A client holds one for as long as it lives; only one connection is open at a time.
 */
export class ClientResume {
  /** The session the server granted, if any. */
  #session: ClientSession | null = null;
  /** Where sends go while a session may be granted on the current connection: numbered and kept. */
  #stream: SessionStream | null = null;
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Waiting to learn whether the server grants a session: its first message on a fresh connection says. */
  // Stryker disable next-line BooleanLiteral: connecting() sets it before the first message of every connection
  #grantPending = false;
  /** Waiting for the server's answer to a resume, and the session it is for. */
  #resumePending: ClientSession | null = null;

  constructor(private readonly host: ClientResumeHost) {}

  /** The session the server granted, if any: the next connection resumes it. */
  get session(): ClientSession | null {
    return this.#session;
  }

  /** Whether sends are numbered and kept (a session was granted, or may be on this connection). */
  get keeps(): boolean {
    return this.#stream !== null;
  }

  /** Whether the server's greeting has to wait: a resume is answered instead. */
  get awaitsResume(): boolean {
    return this.#resumePending !== null;
  }

  /** What the hello of the next connection asks: a resume with the token, or a session. */
  resumeRequest(): { token: string; received: number } | undefined {
    const session = this.#session;
    return session === null ? undefined : { token: session.token, received: session.stream.received };
  }

  /**
   * A connection is about to open: a resume waits for the server's answer, a fresh connection for
   * the server's word on a session (its first message).
   */
  connecting(): void {
    this.#resumePending = this.#session;
    this.#grantPending = this.#session === null;
  }

  /**
   * The attempt's connection exists (it may still be opening): a fresh one keeps what is sent from
   * its first message on, in case the server grants a session. A resume attaches its connection
   * once the server answers.
   */
  attach(connection: Connection): void {
    if (this.#session !== null) return;
    this.#stream = new SessionStream(CLIENT_SESSION_BOUNDS);
    this.#stream.attach(connection, 0);
  }

  /** Takes the session's control messages (answers, acknowledgements, goodbye) out of `message`s. */
  receive(message: IncomingMessage, connection: Connection): ResumeReceipt {
    const action = message.action;
    const session = this.#resumePending;
    if (session !== null) {
      if (action === RESUMED_ACTION) {
        this.#resumePending = null;
        if (this.#session !== session) {
          // The session ended on this side while the answer was on its way (its window passed,
          // its messages overflowed): the seat the server took back is let go.
          connection.sendFrame(encode({ action: BYE_ACTION }));
          connection.close();
          return "handled";
        }
        this.#resumed(connection, session, message);
        return "resumed";
      }
      if (action === RESUME_FAILED_ACTION) {
        this.#resumePending = null;
        // Said once: not again for a session that already ended on this side.
        if (this.#session === session) this.#resumeFailed(message);
        this.#stream = new SessionStream(CLIENT_SESSION_BOUNDS);
        this.#stream.attach(connection, 0);
        this.#grantPending = true;
        return "fresh";
      }
    }
    if (this.#grantPending) {
      this.#grantPending = false;
      if (action === SESSION_ACTION) {
        this.#granted(message);
        return "handled";
      }
      // The server grants no session: what was kept for one is not needed.
      this.#stream = null;
    }
    if (action === BYE_ACTION && this.#session !== null) return "goodbye";
    if (action === ACK_ACTION && this.#session !== null) {
      if (!this.#session.stream.acknowledge(message.n)) {
        connection.destroy(new ProtocolError("ERR_INVALID_CONTROL", "The server acknowledged messages never sent"));
      }
      return "handled";
    }
    return "other";
  }

  /** Counts a message of the game's, delivered: the server learns it arrived. */
  countReceived(): void {
    this.#session?.stream.countReceived();
  }

  /**
   * Numbers and keeps one frame (see `keeps`), and writes it if a connection is attached.
   * Returns its size, or 0 when it was not kept: volatile and waiting, or past the bounds of a
   * session in its gap, which then ends, visibly.
   */
  send(frame: Uint8Array, options?: SendOptions): number {
    const stream = this.#stream!;
    const sent = stream.send(frame, options);
    const session = this.#session;
    if (stream.isOverflowed && session !== null && session.droppedAt !== null) {
      // Nothing can be kept any more for a resume: the gap ends the session, visibly.
      this.#lose(session, overflowError());
      return 0;
    }
    return sent;
  }

  /**
   * Bytes held for the server while sends are kept: kept for a resume, or waiting in `connection`
   * (see `SessionStream`); `undefined` when they are not, and only the connection holds any.
   */
  bufferedAmount(connection: Connection | null): number | undefined {
    return this.#stream?.bufferedAmount(connection);
  }

  /** A close by the game: the server is told to end the seat at once, not to hold it for a drop. */
  sayGoodbye(connection: Connection): void {
    if (this.#session !== null) connection.sendFrame(encode({ action: BYE_ACTION }));
  }

  /**
   * Why a connection of a session ended, as the client should report it: a clean close without
   * the server's goodbye is what a reset looks like on Node when data was still unread, or on a
   * WebSocket without a close frame; and if more was sent than is kept for a resume, the session
   * cannot be resumed and ends here.
   */
  closeReason(
    error: Error | undefined,
    close: { readonly bye: boolean; readonly refused: boolean; readonly closing: boolean },
  ): Error | undefined {
    const session = this.#session;
    if (session === null) return error;
    if (error === undefined && !close.bye && !close.refused && !close.closing) {
      error = new ConnectionError(
        "ERR_CONNECTION_LOST",
        `${this.host.describe()} closed the connection without a goodbye: taken for a network failure`,
      );
    }
    if (session.stream.isOverflowed && !close.bye && error instanceof ConnectionError) {
      error = overflowError(error);
      // Stryker disable next-line CallExpression: the session is let go just below: an expiry timer left armed finds it is no longer the current one and does nothing
      this.#stopExpiry();
      this.#session = null;
      // Stryker disable next-line CallExpression: the stream is let go in ended() and its connection has closed: end() only frees its kept frames and stops an ack that would find the connection closed
      session.stream.end();
    }
    return error;
  }

  /**
   * The connection ended, `failure` being the network failure that ended it (`null` for a close
   * by either side) and `entered` whether the server had let the client in. Returns true for a
   * drop: the seat is held, and a resume follows.
   */
  ended(failure: ConnectionError | null, entered: boolean): boolean {
    const session = this.#session;
    if (session !== null) {
      session.stream.detach();
      if (failure !== null && (entered || session.droppedAt !== null)) {
        if (session.droppedAt === null) {
          // The first loss of a gap: said once, however many attempts the resume takes.
          session.droppedAt = Date.now();
          this.host.dropped();
          this.host.logger.warn("dropped", { server: this.host.describe(), reason: failure.message });
          this.host.emit({ action: "dropped", error: failure.message, code: failure.code });
          this.#startExpiry(session);
        }
        return true;
      }
      // A close by either side, or a refused resume: the session is over.
      const gap = session.droppedAt !== null;
      // Stryker disable next-line CallExpression: the session is let go just below: an expiry timer left armed finds it is no longer the current one and does nothing
      this.#stopExpiry();
      this.#session = null;
      // Stryker disable next-line CallExpression: the stream was detached just above and is let go: end() only frees the frames it kept
      session.stream.end();
      if (gap && !entered) {
        this.host.logger.info("disconnected", { server: this.host.describe() });
        this.host.emit({ action: "disconnected" });
      }
    }
    this.#stream = null;
    return false;
  }

  /**
   * Whether a session is in its gap and the server still holds its seat. A gap whose window
   * passed before its timer could fire (a machine that slept) ends here, as the timer would have
   * ended it.
   */
  holdsSeat(): boolean {
    const session = this.#session;
    // Stryker disable next-line ConditionalExpression: a session outside a gap is already over (ended() lets it go) whenever a retry is decided, and isHeld() holds one outside a gap anyway
    if (session === null || session.droppedAt === null) return false;
    if (session.isHeld(Date.now())) return true;
    this.#lose(session, resumeExpired(session));
    return false;
  }

  /** The client ends for good; returns whether a session was in its gap (which that ends). */
  end(): boolean {
    // Stryker disable next-line CallExpression: the session is let go below, so an expiry timer left armed finds no session when it fires and does nothing
    this.#stopExpiry();
    const session = this.#session;
    this.#session = null;
    this.#stream = null;
    session?.stream.end();
    // Stryker disable next-line ConditionalExpression: end() finds a session only in a gap: every connection that ends outside a gap ends its session in ended() first
    return session !== null && session.droppedAt !== null;
  }

  /** The server granted a session: from now on the kept messages are trimmed by its acks. */
  #granted(message: IncomingMessage): void {
    const stream = this.#stream;
    const session = stream === null ? null : ClientSession.grant(message, stream);
    if (session === null) {
      this.host.logger.warn("dropped", {
        server: this.host.describe(),
        code: "ERR_INVALID_CONTROL",
        reason: "unusable @session",
      });
      this.#stream = null;
      return;
    }
    this.#session = session;
  }

  /** The session took the new connection: the missed messages go out again, and `resumed` is said. */
  #resumed(connection: Connection, session: ClientSession, message: IncomingMessage): void {
    const received = message.received;
    if (isSessionToken(message.token)) session.token = message.token;
    // Stryker disable next-line CallExpression: the expiry timer does nothing once droppedAt is null (set just below), and the next drop's startExpiry() clears it
    this.#stopExpiry();
    session.droppedAt = null;
    if (typeof received !== "number" || !session.stream.attach(connection, received)) {
      connection.destroy(
        new ProtocolError("ERR_INVALID_CONTROL", "The server's resume answer does not match what was sent"),
      );
      return;
    }
    // Our first frame on this connection: it also tells the server the new token arrived, so the
    // one we came back with can be let go.
    session.stream.acknowledgeNow();
    this.host.resumed();
    this.host.logger.info("resumed", { server: this.host.describe() });
    this.host.emit({ action: "resumed" });
  }

  /** The server could not resume: the old session ends here, visibly, and a new one begins. */
  #resumeFailed(message: IncomingMessage): void {
    const code = typeof message.code === "string" ? message.code : "ERR_RESUME_UNKNOWN";
    const reason = typeof message.reason === "string" ? message.reason : "The server could not resume the session";
    this.#endSession({ action: "error", error: reason, code });
  }

  /** Ends the current session for good: `error` with its reason, then `disconnected`. */
  #endSession(error: IncomingMessage): void {
    // Stryker disable next-line CallExpression: the session is let go just below: an expiry timer left armed finds it is no longer the current one and does nothing
    this.#stopExpiry();
    this.#session = null;
    this.#stream = null;
    this.host.logger.warn("session ended", { server: this.host.describe(), reason: String(error.error) });
    this.host.emit(error);
    this.host.emit({ action: "disconnected" });
  }

  /** The server holds the seat for `window` ms: past it, the session is over, visibly. */
  #startExpiry(session: ClientSession): void {
    // Stryker disable next-line CallExpression: a gap starts only after the previous one ended, and every end of a gap or a session clears the timer first
    this.#stopExpiry();
    this.#expiryTimer = setTimeout(() => {
      // Stryker disable next-line ConditionalExpression,LogicalOperator: every end of a gap or of the session (resumed, endSession, ended, end) clears this timer first, so when it fires the session is the current one and in its gap
      if (this.#session !== session || session.droppedAt === null) return;
      this.#lose(session, resumeExpired(session));
    }, session.window);
    // Stryker disable next-line OptionalChaining: a Node timer always has unref(); in a browser it is a number
    this.#expiryTimer.unref?.();
  }

  #stopExpiry(): void {
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) does nothing
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
  }

  /**
   * A session in its gap can no longer be resumed: it ends, visibly (`error`, `disconnected`), and
   * the client goes on as a new player if it reconnects, else closes.
   */
  #lose(session: ClientSession, error: ConnectionError): void {
    // Stryker disable next-line ConditionalExpression: both callers pass the current session: the expiry timer checks it first, send() and holdsSeat() read it
    if (this.#session !== session) return;
    // Stryker disable next-line CallExpression: in a gap the stream is already detached, and endSession() lets it go: end() only frees the frames it kept
    session.stream.end();
    this.#endSession(errorMessage(error));
    this.host.sessionLost();
  }
}

/** The session's window passed before it could be resumed. */
function resumeExpired(session: ClientSession): ConnectionError {
  return new ConnectionError(
    "ERR_RESUME_EXPIRED",
    `Could not resume the session within the server's window of ${session.window} ms`,
  );
}

/** Why a session cannot be resumed when this client kept less than it sent. */
function overflowError(cause?: Error): ConnectionError {
  return new ConnectionError(
    "ERR_RESUME_OVERFLOW",
    `More than ${CLIENT_SESSION_BOUNDS.maxMessages} messages or ${CLIENT_SESSION_BOUNDS.maxBytes} bytes were sent without the server's acknowledgement: the session cannot be resumed`,
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ObjectLiteral: the overflow error reaches the game only as an `error` message (text and code) and a log reason: its cause is never exposed
    cause === undefined ? undefined : { cause },
  );
}
