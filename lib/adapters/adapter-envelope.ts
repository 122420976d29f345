/**
 * The bytes servers exchange through a broker. Every message starts with a kind byte and the
 * sender's 16-character server id, so a server can recognise (and skip) its own broadcasts when
 * the broker echoes them back; the body follows without another copy of the payload:
 *
 * | kind            | body                                   | published on                 |
 * |-----------------|----------------------------------------|------------------------------|
 * | `Broadcast`     | the msgpack payload, as given to `publish` | the all-servers or room channel |
 * | `ServerMessage` | a msgpack map sent with `sendToServers` | the servers or one server's channel |
 * | `SizeQuery`     | uint32 query id                        | a room channel               |
 * | `SizeAnswer`    | uint32 query id, uint32 local count     | the asking server's channel  |
 */
export const EnvelopeKind = {
  Broadcast: 1,
  ServerMessage: 2,
  SizeQuery: 3,
  SizeAnswer: 4,
} as const;

/** One of the {@link EnvelopeKind} values. */
export type EnvelopeKind = (typeof EnvelopeKind)[keyof typeof EnvelopeKind];

/** Length in bytes (and characters) of a server id. */
export const SERVER_ID_LENGTH = 16;

/** Bytes before the body: the kind, then the sender's id. */
export const ENVELOPE_HEADER_SIZE = 1 + SERVER_ID_LENGTH;

/** A decoded envelope; `body` is a view into the received buffer, not a copy. */
export interface Envelope {
  readonly kind: number;
  readonly origin: string;
  readonly body: Buffer;
}

/** Wraps `body` (copied once) after the kind and the sender's id. */
export function envelope(kind: EnvelopeKind, origin: Buffer, body: Uint8Array): Buffer {
  const bytes = Buffer.allocUnsafe(ENVELOPE_HEADER_SIZE + body.byteLength);
  bytes[0] = kind;
  origin.copy(bytes, 1, 0, SERVER_ID_LENGTH);
  bytes.set(body, ENVELOPE_HEADER_SIZE);
  return bytes;
}

/** An envelope whose body is unsigned 32-bit integers (size queries and answers). */
export function numericEnvelope(kind: EnvelopeKind, origin: Buffer, ...values: number[]): Buffer {
  const body = Buffer.allocUnsafe(4 * values.length);
  values.forEach((value, index) => body.writeUInt32BE(value >>> 0, 4 * index));
  return envelope(kind, origin, body);
}

/** Whether `bytes` was sent by the server whose id is `origin`, without allocating. */
export function isFrom(bytes: Buffer, origin: Buffer): boolean {
  return (
    bytes.length >= ENVELOPE_HEADER_SIZE && bytes.compare(origin, 0, SERVER_ID_LENGTH, 1, ENVELOPE_HEADER_SIZE) === 0
  );
}

/** Reads an envelope, or returns `null` for bytes too short to be one (another program's message). */
export function openEnvelope(bytes: Buffer): Envelope | null {
  if (bytes.length < ENVELOPE_HEADER_SIZE) return null;
  return {
    kind: bytes[0]!,
    origin: bytes.toString("latin1", 1, ENVELOPE_HEADER_SIZE),
    body: bytes.subarray(ENVELOPE_HEADER_SIZE),
  };
}
