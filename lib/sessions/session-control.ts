import { ACK_ACTION, HELLO_ACTION, RESUME_FAILED_ACTION, RESUMED_ACTION, SESSION_ACTION } from "../constants.js";
import type { Connection } from "../connections/connection.js";
import { ProtocolError } from "../errors.js";
import type { IncomingMessage } from "../types.js";
import type { SessionStream } from "./session-stream.js";

/**
 * A side's goodbye before it closes a session's connection on purpose: `{ action: "@bye" }`.
 *
 * Without it a peer cannot tell a deliberate close from a network failure: on Node a TCP reset
 * that arrives behind data not yet read is reported as a clean end (libuv takes the hang-up that
 * comes with the reset for the end of the stream), a WebSocket reset is a close without a close
 * frame, and an in-memory link closes cleanly whichever end fails. So a session's connection that
 * closes without an error and without a goodbye is taken for a drop, and the seat is held.
 */
export const BYE_ACTION = "@bye";

const SESSION_ACTIONS: ReadonlySet<unknown> = new Set([
  ACK_ACTION,
  HELLO_ACTION,
  SESSION_ACTION,
  RESUMED_ACTION,
  RESUME_FAILED_ACTION,
  BYE_ACTION,
]);

/** Whether a message belongs to the session protocol (never numbered, never dispatched). */
export function isSessionControl(message: IncomingMessage): boolean {
  return SESSION_ACTIONS.has(message.action);
}

/**
 * Handles a session control message that arrives once a session is running: an `@ack` trims
 * what is kept; anything else (a second hello, a forged resume answer) is dropped as invalid, and
 * an acknowledgement of messages never sent cuts the peer off.
 */
export function handleControl(stream: SessionStream, connection: Connection, message: IncomingMessage): void {
  if (message.action !== ACK_ACTION) {
    connection.reject(
      new ProtocolError(
        "ERR_INVALID_CONTROL",
        `Dropped a ${String(message.action)} message in the middle of a session`,
      ),
    );
    return;
  }
  if (!stream.acknowledge(message.n)) {
    connection.destroy(
      new ProtocolError(
        "ERR_INVALID_CONTROL",
        `The peer acknowledged ${typeof message.n === "number" ? message.n : "a non-number of"} messages, more than were sent`,
      ),
    );
  }
}
