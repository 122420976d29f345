// Big-endian unsigned integers read from bytes, as msgpack, repod's frame header and WebSocket
// frame headers write them. Exact over their whole range (no sign from the top bit).

/** The unsigned 16-bit integer at `at`. */
export function readUint16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

/** The unsigned 32-bit integer at `at`. */
export function readUint32(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}
