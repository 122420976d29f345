import { DEFAULT_MAX_PAYLOAD, HEADER_SIZE } from "../constants.js";
import { ProtocolError } from "../errors.js";
import { readUint32 } from "./big-endian.js";

/** Bytes first reserved for a payload split across chunks; the buffer grows as bytes arrive. */
const INITIAL_PAYLOAD_BUFFER = 64 * 1024;

/**
 * Cuts a TCP byte stream into msgpack payloads. Input may be split at any byte boundary: one byte
 * at a time, many frames in one chunk, a header split across chunks.
 *
 * The announced length is checked against `maxPayload` as soon as the 4 header bytes are in,
 * before any buffer for the payload is allocated, so a hostile header cannot make us reserve
 * gigabytes. Nor can many headers announcing `maxPayload` each: a payload split across chunks is
 * gathered in a buffer that doubles as its bytes arrive (from 64 KiB up to its exact size), so
 * the memory held for it stays within twice what the peer really sent. A payload wholly inside
 * one chunk is passed on as a view, without a copy.
 */
export class FrameDecoder {
  /** Largest payload accepted, in bytes. */
  readonly maxPayload: number;

  /**
   * The bytes of a header split across chunks read so far (`headerFill` of them), as a big-endian
   * number: a number rather than a 4-byte array, because every connection of a server holds a
   * decoder and a typed array costs some 200 bytes.
   */
  private header = 0;
  private headerFill = 0;
  private payload: Uint8Array | null = null;
  private payloadLength = 0;
  private payloadFill = 0;

  constructor(maxPayload: number = DEFAULT_MAX_PAYLOAD) {
    this.maxPayload = maxPayload;
  }

  /** How many bytes are buffered waiting for the rest of their frame. */
  get bufferedBytes(): number {
    return this.headerFill + this.payloadFill;
  }

  /**
   * Bytes received of the frame in progress, its header included; 0 between frames. It grows by
   * exactly the chunk's length when a `push` only continues that frame, which is how a caller
   * tells a frame that goes on from one that started in the chunk, without a count per frame.
   */
  get partialBytes(): number {
    return this.payload !== null ? HEADER_SIZE + this.payloadFill : this.headerFill;
  }

  /** Size of the frame in progress as its header announced it, header included; 0 until the header is complete. */
  get announcedBytes(): number {
    return this.payload !== null ? HEADER_SIZE + this.payloadLength : 0;
  }

  /**
   * Feeds one chunk and calls `onPayload` for every payload it completes, in order. A payload may
   * be a view into `chunk`: decode it before the chunk is reused.
   *
   * @throws {ProtocolError} `ERR_PAYLOAD_TOO_LARGE` when a header announces more than
   *   `maxPayload`; the stream cannot be resynchronised after that, so the caller must close it.
   */
  push(chunk: Uint8Array, onPayload: (payload: Uint8Array) => void): void {
    let offset = 0;
    const end = chunk.byteLength;
    while (offset < end) {
      if (this.payload !== null) {
        const take = Math.min(this.payloadLength - this.payloadFill, end - offset);
        // Stryker disable next-line EqualityOperator: growing when a chunk fills the buffer exactly only moves the copy one chunk earlier
        if (this.payloadFill + take > this.payload.byteLength) {
          const grown = new Uint8Array(
            Math.min(this.payloadLength, Math.max(2 * this.payload.byteLength, this.payloadFill + take)),
          );
          grown.set(this.payload.subarray(0, this.payloadFill));
          this.payload = grown;
        }
        this.payload.set(chunk.subarray(offset, offset + take), this.payloadFill);
        this.payloadFill += take;
        offset += take;
        if (this.payloadFill === this.payloadLength) {
          const payload = this.payload;
          this.payload = null;
          this.payloadFill = 0;
          onPayload(payload);
        }
        continue;
      }
      let length: number;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: the byte-by-byte branch reads the same 4 bytes; this is its fast path
      if (this.headerFill === 0 && end - offset >= HEADER_SIZE) {
        length = readUint32(chunk, offset);
        offset += HEADER_SIZE;
      } else {
        let header = this.header;
        let fill = this.headerFill;
        while (fill < HEADER_SIZE && offset < end) {
          header = header * 0x100 + chunk[offset++]!;
          fill++;
        }
        if (fill < HEADER_SIZE) {
          // At most 3 bytes here, so a small integer, which V8 stores in the field itself.
          this.header = header;
          this.headerFill = fill;
          return;
        }
        this.header = 0;
        this.headerFill = 0;
        length = header;
      }
      if (length > this.maxPayload) {
        throw new ProtocolError(
          "ERR_PAYLOAD_TOO_LARGE",
          `Frame header announces a ${length}-byte payload, over the ${this.maxPayload}-byte maxPayload limit`,
        );
      }
      if (end - offset >= length) {
        onPayload(chunk.subarray(offset, offset + length));
        offset += length;
      } else {
        this.payloadLength = length;
        this.payload = new Uint8Array(Math.min(length, Math.max(INITIAL_PAYLOAD_BUFFER, end - offset)));
      }
    }
  }
}
