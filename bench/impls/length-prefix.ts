import type * as net from "node:net";
import { Decoder, Encoder } from "@msgpack/msgpack";

/**
 * The raw baseline's wire format, written the way an application without a library would: the
 * 4-byte big-endian length, then the msgpack payload, one reused encoder and decoder.
 */
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();
const HEADER = 4;

/** Encodes one message into a length-prefixed frame (a fresh buffer the caller may keep). */
export function encodeFrame(message: unknown): Buffer {
  const payload = encoder.encodeSharedRef(message);
  const frame = Buffer.allocUnsafe(HEADER + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 0);
  frame.set(payload, HEADER);
  return frame;
}

/** Encodes one message into a fresh msgpack buffer (WebSocket baselines: the frame is the message). */
export function encodePayload(message: unknown): Uint8Array {
  return encoder.encode(message);
}

export function decodePayload(payload: Uint8Array): unknown {
  return decoder.decode(payload);
}

/** Cuts a byte stream into payloads; a frame split across chunks waits for the rest. */
export class FrameSplitter {
  private rest: Buffer | null = null;

  constructor(private readonly onPayload: (payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    const buffer = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    let offset = 0;
    while (buffer.length - offset >= HEADER) {
      const length = buffer.readUInt32BE(offset);
      if (buffer.length - offset - HEADER < length) break;
      this.onPayload(buffer.subarray(offset + HEADER, offset + HEADER + length));
      offset += HEADER + length;
    }
    this.rest = offset === buffer.length ? null : Buffer.from(buffer.subarray(offset));
  }
}

/**
 * Writes to a socket either at once (one `write` per message) or coalesced: frames written in
 * one turn of the event loop leave in one `write` when the turn's microtasks run.
 */
export class FrameWriter {
  private queue: Buffer[] = [];
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  constructor(
    private readonly socket: net.Socket,
    private readonly coalesce: boolean,
  ) {}

  write(frame: Buffer): void {
    if (!this.coalesce) {
      this.socket.write(frame);
      return;
    }
    this.queue.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushNow);
    }
  }

  private flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    if (queue.length === 0 || this.socket.destroyed) return;
    this.socket.write(queue.length === 1 ? queue[0]! : Buffer.concat(queue));
  }
}
