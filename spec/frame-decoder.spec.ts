import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_PAYLOAD, encode, FrameDecoder, ProtocolError } from "../lib/index.js";

/** A frame whose payload is `payload` (raw bytes, not necessarily msgpack). */
function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, 4);
  return out;
}

function header(length: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, length);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Feeds `chunks` in order and returns copies of every payload produced. */
function feed(decoder: FrameDecoder, chunks: Uint8Array[]): Uint8Array[] {
  const payloads: Uint8Array[] = [];
  for (const chunk of chunks) decoder.push(chunk, (payload) => payloads.push(payload.slice()));
  return payloads;
}

function catchError(work: () => void): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error("expected an exception");
}

const a = new Uint8Array([1, 2, 3]);
const b = new Uint8Array([4]);
const c = new Uint8Array(300).fill(7);

describe("FrameDecoder", () => {
  it("yields the payload of a whole frame without its 4-byte header", () => {
    expect(feed(new FrameDecoder(), [frame(a)])).toEqual([a]);
  });

  it("yields every frame of a chunk holding many frames, in order", () => {
    expect(feed(new FrameDecoder(), [concat(frame(a), frame(b), frame(c), frame(a))])).toEqual([a, b, c, a]);
  });

  it("yields the same frames when fed one byte at a time", () => {
    const stream = concat(frame(a), frame(b), frame(c));
    const chunks = Array.from(stream, (byte) => new Uint8Array([byte]));
    expect(feed(new FrameDecoder(), chunks)).toEqual([a, b, c]);
  });

  it("reassembles a header split across chunks", () => {
    const whole = frame(c);
    expect(feed(new FrameDecoder(), [whole.subarray(0, 1), whole.subarray(1, 3), whole.subarray(3)])).toEqual([c]);
  });

  it("reassembles a header whose last byte arrives with the next frame's start", () => {
    const stream = concat(frame(a), frame(c));
    // chunk 1: frame(a) and the first 2 header bytes of frame(c); chunk 2: the rest.
    expect(feed(new FrameDecoder(), [stream.subarray(0, 9), stream.subarray(9)])).toEqual([a, c]);
  });

  it("reassembles a payload split across several chunks", () => {
    const whole = frame(c);
    expect(feed(new FrameDecoder(), [whole.subarray(0, 50), whole.subarray(50, 51), whole.subarray(51)])).toEqual([c]);
  });

  it("reassembles payloads over 64 KiB however they are cut, also with the next frame in the last chunk", () => {
    const big = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 31 + (i >> 8)) & 0xff);
    const stream = concat(frame(big), frame(a));
    for (const cuts of [
      [1_000, 71_000, 71_001],
      [4, 65_540, 140_000],
      [100, 199_000, 200_003],
    ]) {
      const chunks = [0, ...cuts].map((start, i) => stream.subarray(start, cuts[i] ?? stream.byteLength));
      const decoder = new FrameDecoder();
      expect(feed(decoder, chunks)).toEqual([big, a]);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it("holds memory for what a split payload has delivered, not for what its header announces", () => {
    // Many peers each announcing maxPayload and sending 100 KiB of it: gathered in buffers that
    // double from 64 KiB as bytes arrive, not in 16 MiB reserved per peer on the header's word.
    const maxPayload = 16 * 1024 * 1024;
    const peers = 16;
    const first = concat(header(maxPayload), new Uint8Array(40 * 1024));
    const second = new Uint8Array(60 * 1024);
    const decoders = Array.from({ length: peers }, () => new FrameDecoder(maxPayload));
    const before = process.memoryUsage().arrayBuffers;
    for (const decoder of decoders) {
      decoder.push(first, () => expect.unreachable());
      decoder.push(second, () => expect.unreachable());
    }
    const held = process.memoryUsage().arrayBuffers - before;
    expect(decoders.every((decoder) => decoder.bufferedBytes === 100 * 1024)).toBe(true);
    // Each peer's buffers (64 KiB, then 128 KiB): within 4 times what it sent.
    expect(held).toBeLessThan(peers * 4 * 100 * 1024);
  });

  it("reserves 64 KiB for a payload that starts at the end of a chunk full of other frames", () => {
    const maxPayload = 16 * 1024 * 1024;
    const peers = 16;
    const others = concat(...Array.from({ length: 1_000 }, () => frame(new Uint8Array(1_000))));
    const chunk = concat(others, header(maxPayload), new Uint8Array(10));
    const decoders = Array.from({ length: peers }, () => new FrameDecoder(maxPayload));
    let delivered = 0;
    const before = process.memoryUsage().arrayBuffers;
    for (const decoder of decoders) decoder.push(chunk, () => delivered++);
    const held = process.memoryUsage().arrayBuffers - before;
    expect(delivered).toBe(peers * 1_000);
    expect(held).toBeLessThan(peers * 2 * 64 * 1024);
  });

  it("yields an empty payload for a frame announcing 0 bytes", () => {
    expect(feed(new FrameDecoder(), [concat(header(0), frame(b))])).toEqual([new Uint8Array(0), b]);
  });

  it("reports the bytes buffered while a frame is incomplete", () => {
    const decoder = new FrameDecoder();
    const whole = frame(c);
    expect(decoder.bufferedBytes).toBe(0);
    feed(decoder, [whole.subarray(0, 2)]);
    expect(decoder.bufferedBytes).toBe(2);
    feed(decoder, [whole.subarray(2, 10)]);
    expect(decoder.bufferedBytes).toBe(6);
    feed(decoder, [whole.subarray(10)]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("yields msgpack payloads produced by encode()", () => {
    const messages = [
      { action: "a", n: 1 },
      { action: "b", s: "é" },
    ];
    const payloads = feed(new FrameDecoder(), [concat(...messages.map((m) => encode(m)))]);
    expect(payloads).toEqual(messages.map((m) => encode(m).subarray(4)));
  });

  it("defaults maxPayload to DEFAULT_MAX_PAYLOAD", () => {
    expect(new FrameDecoder().maxPayload).toBe(DEFAULT_MAX_PAYLOAD);
  });

  it("accepts a payload of exactly maxPayload bytes", () => {
    const payload = new Uint8Array(16).fill(9);
    expect(feed(new FrameDecoder(16), [frame(payload)])).toEqual([payload]);
  });

  it("rejects a header announcing more than maxPayload with ProtocolError ERR_PAYLOAD_TOO_LARGE", () => {
    const error = catchError(() => feed(new FrameDecoder(16), [header(17)]));
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({
      code: "ERR_PAYLOAD_TOO_LARGE",
      message: "Frame header announces a 17-byte payload, over the 16-byte maxPayload limit",
    });
  });

  it("rejects a 4 GiB header from the header bytes alone, before allocating anything for the payload", () => {
    const decoder = new FrameDecoder();
    const error = catchError(() => decoder.push(header(0xffff_ffff), () => {}));
    // Allocating 4 GiB would have failed with a RangeError (or exhausted memory) instead.
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({
      code: "ERR_PAYLOAD_TOO_LARGE",
      message: `Frame header announces a 4294967295-byte payload, over the ${DEFAULT_MAX_PAYLOAD}-byte maxPayload limit`,
    });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("rejects an oversized header split across chunks as soon as its fourth byte arrives", () => {
    const decoder = new FrameDecoder(16);
    const big = header(1_000_000);
    decoder.push(big.subarray(0, 3), () => {});
    const error = catchError(() => decoder.push(big.subarray(3), () => {}));
    expect(error).toMatchObject({ name: "ProtocolError", code: "ERR_PAYLOAD_TOO_LARGE" });
  });

  it("delivers the frames before an oversized header in the same chunk", () => {
    const payloads: Uint8Array[] = [];
    const decoder = new FrameDecoder(16);
    const error = catchError(() => decoder.push(concat(frame(a), header(17)), (p) => payloads.push(p.slice())));
    expect(payloads).toEqual([a]);
    expect(error).toMatchObject({ code: "ERR_PAYLOAD_TOO_LARGE" });
  });

  it("yields the same payloads however the stream is cut into chunks (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (payloads, cuts) => {
          const stream = concat(...payloads.map(frame));
          const points = [...new Set(cuts.map((cut) => cut % (stream.byteLength + 1)))].sort((x, y) => x - y);
          const chunks: Uint8Array[] = [];
          let start = 0;
          for (const point of [...points, stream.byteLength]) {
            chunks.push(stream.subarray(start, point));
            start = point;
          }
          expect(feed(new FrameDecoder(64), chunks)).toEqual(payloads);
        },
      ),
      { numRuns: 300 },
    );
  });
});
