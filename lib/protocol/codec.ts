import { Decoder, Encoder } from "@msgpack/msgpack";
import { HEADER_SIZE } from "../constants.js";

/**
 * Shared codec instances. Python repod writes with `msgpack.packb(obj, use_bin_type=True)`: str
 * for strings, bin for bytes, the smallest integer type, float64 for non-integral numbers. These
 * settings write the same bytes. `undefined` object fields are left out, as `JSON.stringify` does.
 */
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/** Whether `value` is an object literal (or has a null prototype): what `send()` accepts. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const name = (value as object).constructor?.name;
    return name ? `an instance of ${name}` : "an object";
  }
  return `a ${typeof value}`;
}

/**
 * Encodes one message into a whole TCP frame: the 4-byte big-endian payload length followed by
 * the msgpack payload, exactly as Python repod frames it. WebSocket transports send the same
 * buffer minus its header (`frame.subarray(HEADER_SIZE)`), so a broadcast is encoded once.
 *
 * @throws {TypeError} if `message` is not a plain object or holds a value msgpack cannot encode
 *   (a function, a symbol, a cycle...).
 */
export function encode(message: object): Uint8Array {
  if (!isPlainObject(message)) {
    throw new TypeError(`A message must be a plain object such as { action: "chat" }, got ${describe(message)}`);
  }
  let payload: Uint8Array;
  try {
    payload = encoder.encodeSharedRef(message);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new TypeError(`The message cannot be encoded as msgpack: ${reason}`, { cause });
  }
  return frame(payload);
}

/** Puts the 4-byte big-endian length in front of a msgpack payload (one copy). */
export function frame(payload: Uint8Array): Uint8Array {
  const length = payload.byteLength;
  const bytes = new Uint8Array(HEADER_SIZE + length);
  bytes[0] = length >>> 24;
  bytes[1] = (length >>> 16) & 0xff;
  bytes[2] = (length >>> 8) & 0xff;
  bytes[3] = length & 0xff;
  bytes.set(payload, HEADER_SIZE);
  return bytes;
}

/**
 * Decodes one msgpack payload (a frame without its header). Strings come back as `string`,
 * msgpack bin as `Uint8Array`, maps as plain objects.
 *
 * @throws {import("@msgpack/msgpack").DecodeError} for malformed msgpack.
 * @throws {RangeError} for a truncated payload or trailing bytes.
 */
export function decode(payload: Uint8Array): unknown {
  // msgpack returns bin as views of its input: a Node Buffer (what sockets deliver) would make
  // them Buffers over TCP and WebSocket, and plain Uint8Arrays in memory. A plain view, no copy.
  const bytes =
    // Stryker disable next-line ConditionalExpression: a new view of a plain Uint8Array reads the same bytes; this only saves it
    payload.constructor === Uint8Array
      ? payload
      : new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  return decoder.decode(bytes);
}
