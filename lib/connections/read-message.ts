import { PING_ACTION, REQUEST_ID_KEY } from "../constants.js";
import { ProtocolError } from "../errors.js";
import { decode, isPlainObject } from "../protocol/codec.js";
import { isControlId } from "../protocol/control-ids.js";
import { exceedsDecodeBudget, type DecodeBudget } from "../protocol/decode-budget.js";
import type { IncomingMessage } from "../types.js";

/**
 * Turns one payload from the peer into a message, or says why it must be dropped: too costly to
 * decode (checked before decoding), unreadable msgpack, not a map, or a reserved control field
 * the library would have to echo (a ping's `id`, a request's `@req`) holding something it cannot.
 * Never throws: everything here is the peer's doing.
 */
export function readMessage(payload: Uint8Array, budget: DecodeBudget): IncomingMessage | ProtocolError {
  const overBudget = exceedsDecodeBudget(payload, budget);
  if (overBudget !== null) {
    return new ProtocolError(
      "ERR_PAYLOAD_TOO_COMPLEX",
      `Dropped a ${payload.byteLength}-byte payload unread: ${overBudget}`,
    );
  }
  let value: unknown;
  try {
    value = decode(payload);
  } catch (cause) {
    return new ProtocolError(
      "ERR_INVALID_PAYLOAD",
      `Dropped an unreadable msgpack payload of ${payload.byteLength} bytes`,
      {
        cause,
      },
    );
  }
  if (!isPlainObject(value)) {
    return new ProtocolError("ERR_NOT_A_MAP", `Dropped a payload that is not a map: ${describeValue(value)}`);
  }
  const message = value as IncomingMessage;
  if (message.action === PING_ACTION && message.id !== undefined && !isControlId(message.id)) {
    return new ProtocolError(
      "ERR_INVALID_CONTROL",
      `Dropped a ${PING_ACTION} whose id is ${describeValue(message.id)}, not a number or a short string`,
    );
  }
  const requestId = message[REQUEST_ID_KEY];
  if (requestId !== undefined && !isControlId(requestId)) {
    return new ProtocolError(
      "ERR_INVALID_CONTROL",
      `Dropped a request whose ${REQUEST_ID_KEY} id is ${describeValue(requestId)}, not a number or a short string`,
    );
  }
  return message;
}

function describeValue(value: unknown): string {
  if (value === null) return "nil";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "binary data";
  if (typeof value === "string") return `a string of ${value.length} characters`;
  return `a ${typeof value}`;
}
