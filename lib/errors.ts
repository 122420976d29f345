import type { IncomingMessage } from "./types.js";

/**
 * Stable codes carried by every {@link RepodError}. They are part of the public contract and are
 * listed in docs/getting-started.md (Errors); messages may be reworded, codes may not.
 */
export type RepodErrorCode =
  /** A frame header announced a payload larger than `maxPayload`; the connection is closed. */
  | "ERR_PAYLOAD_TOO_LARGE"
  /** A payload could not be decoded as msgpack; it is dropped and the connection stays up. */
  | "ERR_INVALID_PAYLOAD"
  /**
   * A payload nests deeper than `maxPayloadDepth` or holds more than `maxPayloadItems` values; it
   * is dropped unread, before decoding costs anything, and the connection stays up.
   */
  | "ERR_PAYLOAD_TOO_COMPLEX"
  /**
   * A reserved `@` message or key carried a value the library cannot use (a ping id or request id
   * that is not a short string or a number, a reply whose error is not a string...); it is dropped.
   */
  | "ERR_INVALID_CONTROL"
  /** The peer sent more than `maxInvalidMessages` messages that had to be dropped; the connection is closed. */
  | "ERR_TOO_MANY_INVALID"
  /**
   * Handling a message from the peer failed inside the library (a bug: please report it); that
   * connection was closed and the error logged, nothing else was affected.
   */
  | "ERR_RECEIVE_FAILED"
  /** A frame was started and not finished within `frameTimeout` milliseconds; the connection is closed. */
  | "ERR_FRAME_TIMEOUT"
  /**
   * A request arrived while `maxPendingAnswers` answers were still being computed for that
   * connection; it got this error reply at once and no handler ran.
   */
  | "ERR_TOO_MANY_REQUESTS"
  /** A payload decoded to something other than a map; it is dropped and the connection stays up. */
  | "ERR_NOT_A_MAP"
  /** A peer sent a lifecycle action (`connected`, `disconnected`...) that only the transport may produce. */
  | "ERR_FORGED_LIFECYCLE"
  /** The WebSocket peer sent a text frame; only binary frames carry messages. */
  | "ERR_TEXT_FRAME"
  /** The connection could not be established. */
  | "ERR_CONNECT_FAILED"
  /** The connection failed after it was established (reset...). */
  | "ERR_CONNECTION_LOST"
  /** More than `maxQueuedBytes` waited for a peer that does not read; the connection is closed. */
  | "ERR_SEND_QUEUE_FULL"
  /** The peer sent nothing for `idleTimeout` milliseconds; the connection is closed. */
  | "ERR_IDLE_TIMEOUT"
  /** A peer that answers heartbeats stopped answering for `heartbeat.timeout` ms; the connection is closed. */
  | "ERR_HEARTBEAT_TIMEOUT"
  /** The server refused the connection: it already has `maxConnections` clients. */
  | "ERR_SERVER_FULL"
  /** The reconnection policy gave up after `maxAttempts` failed attempts. */
  | "ERR_RECONNECT_FAILED"
  /** A request got no reply within its timeout. */
  | "ERR_REQUEST_TIMEOUT"
  /** The peer answered a request with an error reply; the message is the peer's. */
  | "ERR_REQUEST_FAILED"
  /** A request could not be sent: there is no open connection. */
  | "ERR_NOT_CONNECTED"
  /** The server refused the client's login: `authenticate` threw, rejected or returned nothing. */
  | "ERR_UNAUTHORIZED"
  /** The client did not log in within the server's `handshakeTimeout`. */
  | "ERR_HANDSHAKE_TIMEOUT"
  /** The player did not come back within the session's resume window; the seat has ended. */
  | "ERR_RESUME_EXPIRED"
  /**
   * The server holds no session for the token presented: it expired, was already used, or belongs
   * to another server process or an earlier run. The client goes on as a new player.
   */
  | "ERR_RESUME_UNKNOWN"
  /** The session belongs to another player than the one who logged in to resume it. */
  | "ERR_RESUME_MISMATCH"
  /** More was kept for replay than `resume.maxMessages` or `resume.maxBytes` allow; the seat has ended. */
  | "ERR_RESUME_OVERFLOW"
  /**
   * The peer stayed over its `rateLimit` for `rateLimit.closeAfter` milliseconds with
   * `onExceed: "close"`; the connection is closed (a session seat ends at once, its flood is not replayed).
   */
  | "ERR_RATE_LIMITED"
  /**
   * A message failed the schema of its action (`schemaValidation`); it is dropped before any
   * handler sees it, a request gets an error reply with this code, and with `onInvalid: "close"`
   * the connection is closed too.
   */
  | "ERR_INVALID_MESSAGE"
  /** More than `maxWaiting` messages waited behind an async schema still running; the connection is closed. */
  | "ERR_VALIDATION_BACKLOG";

/** Base class of the errors this library raises for protocol and connection problems. */
export class RepodError extends Error {
  /** The class's name, as `error.name` shows it in logs and stack traces. */
  override readonly name: string = "RepodError";
  /** A stable code that identifies the kind of error; see {@link RepodErrorCode}. */
  readonly code: RepodErrorCode;

  constructor(code: RepodErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A peer broke the wire protocol: an oversized frame, an unreadable payload, a non-map value. */
export class ProtocolError extends RepodError {
  /** Always `"ProtocolError"`. */
  override readonly name = "ProtocolError";
}

/** A connection could not be opened, or was lost. */
export class ConnectionError extends RepodError {
  /** Always `"ConnectionError"`. */
  override readonly name = "ConnectionError";
}

/**
 * The built-in `error` message a client delivers for `error`, with its code when it has one.
 * @internal
 */
export function errorMessage(error: Error): IncomingMessage {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string"
    ? { action: "error", error: error.message, code }
    : { action: "error", error: error.message };
}
