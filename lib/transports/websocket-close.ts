import { ConnectionError } from "../errors.js";

/** The WebSocket close codes this library sends or reads (RFC 6455, section 7.4.1). */
export const CloseCode = {
  /** A graceful `end()`: everything queued was sent. */
  NORMAL: 1000,
  /** The peer is going away (a page navigated off, a server shutting down). */
  GOING_AWAY: 1001,
  /** No close frame was sent; reported locally only. */
  NO_STATUS: 1005,
  /** The connection dropped without a close frame; reported locally only. */
  ABNORMAL: 1006,
  /** A message was larger than the receiver's `maxPayload`. */
  MESSAGE_TOO_BIG: 1009,
} as const;

const CODE_NAMES: Readonly<Record<number, string>> = {
  1002: "Protocol Error",
  1003: "Unsupported Data",
  1007: "Invalid Payload Data",
  1008: "Policy Violation",
  1009: "Message Too Big",
  1010: "Mandatory Extension",
  1011: "Internal Error",
  1012: "Service Restart",
  1013: "Try Again Later",
  1014: "Bad Gateway",
};

/**
 * What a close code received from the peer means for the connection above the transport.
 *
 * A clean close (1000, 1001, none at all) and a drop without a close frame (1006) end the
 * connection without an error, as a TCP peer that closes its socket does: whatever went wrong at
 * the socket level, if anything, has already been reported as the transport's own error. Every
 * other code is the peer telling us it closed because of a problem (1009: our message was too
 * big, 1011: it failed...), which the game should hear about, so it becomes a `ConnectionError`
 * with code `ERR_CONNECTION_LOST` that names the close code and the peer's reason.
 */
export function closeCodeError(code: number, reason: string): ConnectionError | undefined {
  if (
    code === CloseCode.NORMAL ||
    code === CloseCode.GOING_AWAY ||
    code === CloseCode.NO_STATUS ||
    code === CloseCode.ABNORMAL
  ) {
    return undefined;
  }
  const name = CODE_NAMES[code];
  const label = name === undefined ? `code ${code}` : `code ${code} (${name})`;
  return new ConnectionError(
    "ERR_CONNECTION_LOST",
    `The peer closed the WebSocket with ${label}${reason === "" ? "" : `: ${reason}`}`,
  );
}
