import { readUint16, readUint32 } from "./big-endian.js";

/**
 * Follows the frame boundaries of the bytes a WebSocket peer sends (RFC 6455 §5.2), without
 * decoding or keeping any payload, to tell whether the peer is in the middle of a message: a frame
 * header or payload not complete yet, or a fragmented message whose final frame has not arrived.
 *
 * It reads the same bytes as `ws`'s own parser, next to it, from the socket under the WebSocket.
 * `ws` keeps that state private (its Receiver's `_state`, `_bufferedBytes`, `_fragmented`); reading
 * those would break silently the day they are renamed, while the frame format cannot change. It
 * need not validate anything: a frame `ws` finds invalid closes the connection anyway.
 *
 * Cost: a few operations per frame header; payload bytes are skipped, never looked at.
 */
export class WsFrameTracker {
  /**
   * What the header of the frame in progress says, as numbers rather than a copy of its (up to
   * 14) bytes, which would cost some 200 bytes per connection: its first byte (FIN, opcode), its
   * second (MASK, 7-bit length), and the extended length read so far, big-endian, in two 32-bit
   * halves (the high one for an 8-byte length) so that both stay exact. The mask is skipped.
   */
  private first = 0;
  private second = 0;
  private lengthHigh = 0;
  private lengthLow = 0;
  /** Header bytes of the frame in progress received so far; 0 between headers. */
  private headerFill = 0;
  /** The full size of that header, known once its first 2 bytes are in. */
  private headerSize = 2;
  /** Payload bytes of the frame in progress still to come, once its header is complete. */
  private remaining = 0;
  /** The payload length the header of the frame in progress announced. */
  private payloadLength = 0;
  /** Whether the frame in progress is a data frame (not a ping, pong or close) and the final one of its message. */
  // Stryker disable next-line BooleanLiteral: read only by frameComplete(), which runs only after headerComplete() has set it
  private dataFrame = false;
  // Stryker disable next-line BooleanLiteral: read only by frameComplete(), which runs only after headerComplete() has set it
  private final = false;
  /** Whether a data message has begun and its final frame has not arrived. */
  private fragmented = false;
  /** Payload bytes of the complete fragments of that message. */
  private fragmentedBytes = 0;

  /** Whether a frame or a fragmented message is unfinished. */
  get partial(): boolean {
    return this.headerFill > 0 || this.remaining > 0 || this.fragmented;
  }

  /**
   * Follows one chunk of the stream.
   * @returns whether the message (or control frame) left unfinished by this chunk began in it:
   *   `false` when nothing is unfinished, or when the unfinished one began in an earlier chunk
   */
  push(chunk: Uint8Array): boolean {
    let began = false;
    let offset = 0;
    const end = chunk.byteLength;
    while (offset < end) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, end - offset);
        this.remaining -= take;
        offset += take;
        if (this.remaining === 0) this.frameComplete();
        continue;
      }
      if (this.headerFill === 0) {
        // A control frame between the fragments of a message does not restart the message's clock.
        if (!this.fragmented) began = true;
        const read = this.readWholeHeader(chunk, offset);
        // Stryker disable next-line ConditionalExpression: never taking this path reads the same header byte by byte below, only slower
        if (read > 0) {
          offset += read;
          continue;
        }
      }
      const byte = chunk[offset++]!;
      const at = this.headerFill++;
      if (at === 0) {
        this.first = byte;
      } else if (at === 1) {
        this.second = byte;
        this.headerSize = headerSizeOf(byte);
      } else {
        this.readLengthByte(at, byte);
      }
      // headerSize is at least 2, and before the second byte it still holds the previous header's.
      if (this.headerFill === this.headerSize) this.headerComplete();
    }
    return began && this.partial;
  }

  /** What arrived of the unfinished frame or message, for the `ERR_FRAME_TIMEOUT` message. */
  describeProgress(): string {
    if (this.headerFill > 0) {
      return this.headerFill < 2
        ? `${this.headerFill} byte of a frame header`
        : `${this.headerFill} of the ${this.headerSize} bytes of a frame header`;
    }
    if (this.remaining > 0) {
      const received = this.payloadLength - this.remaining;
      return `${received} of the ${this.payloadLength} payload bytes its frame header announced`;
    }
    return `the first fragments of a message (${this.fragmentedBytes} payload bytes) but not its final fragment`;
  }

  /**
   * Reads a header that `chunk` holds whole from `offset`, in one step rather than byte by byte:
   * the usual case, since a header is at most 14 bytes.
   * @returns its size, or 0 if the chunk ends inside it (the bytes are then read one at a time)
   */
  private readWholeHeader(chunk: Uint8Array, offset: number): number {
    const available = chunk.byteLength - offset;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: a lone byte reads as a 2-byte header, which the check below finds incomplete all the same
    if (available < 2) return 0;
    const second = chunk[offset + 1]!;
    const length7 = second & 0x7f;
    const size = headerSizeOf(second);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: a header read byte by byte instead gives the same result
    if (available < size) return 0;
    this.first = chunk[offset]!;
    this.second = second;
    // Stryker disable next-line ConditionalExpression: otherwise, the length is 7-bit and headerComplete() ignores lengthLow, or 8-byte and it is overwritten below
    if (length7 === 126) this.lengthLow = readUint16(chunk, offset + 2);
    // Stryker disable next-line ConditionalExpression: with a 7-bit length, headerComplete() ignores what this would read and resets it
    if (length7 === 127) {
      this.lengthHigh = readUint32(chunk, offset + 2);
      this.lengthLow = readUint32(chunk, offset + 6);
    }
    this.headerComplete();
    return size;
  }

  /** Byte `at` (from 2) of a header: part of the extended payload length, or of the mask. */
  private readLengthByte(at: number, byte: number): void {
    const length7 = this.second & 0x7f;
    if (length7 === 126) {
      if (at < 4) this.lengthLow = this.lengthLow * 0x100 + byte;
      return;
    }
    // Stryker disable next-line ConditionalExpression: with a 7-bit length the bytes read here are the mask's, and headerComplete() ignores lengthHigh/lengthLow then and resets them
    if (length7 === 127) {
      if (at < 6) this.lengthHigh = this.lengthHigh * 0x100 + byte;
      else if (at < 10) this.lengthLow = this.lengthLow * 0x100 + byte;
    }
  }

  private headerComplete(): void {
    const opcode = this.first & 0x0f;
    this.dataFrame = opcode < 0x08;
    this.final = (this.first & 0x80) !== 0;
    const length7 = this.second & 0x7f;
    if (length7 === 126) {
      this.payloadLength = this.lengthLow;
    } else if (length7 === 127) {
      // Over 2^53 bytes cannot be represented exactly, but `ws` refuses anything over maxPayload.
      this.payloadLength = this.lengthHigh * 2 ** 32 + this.lengthLow;
    } else {
      this.payloadLength = length7;
    }
    this.lengthHigh = 0;
    this.lengthLow = 0;
    this.headerFill = 0;
    this.remaining = this.payloadLength;
    if (this.remaining === 0) this.frameComplete();
  }

  private frameComplete(): void {
    if (!this.dataFrame) return;
    if (this.final) {
      this.fragmented = false;
      this.fragmentedBytes = 0;
    } else {
      this.fragmented = true;
      this.fragmentedBytes += this.payloadLength;
    }
  }
}

/** The size of a frame header, from its second byte (MASK and the 7-bit length). */
function headerSizeOf(second: number): number {
  const length7 = second & 0x7f;
  return 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + ((second & 0x80) !== 0 ? 4 : 0);
}
