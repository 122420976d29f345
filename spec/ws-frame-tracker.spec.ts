import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WsFrameTracker } from "../lib/protocol/ws-frame-tracker.js";

const BINARY = 0x2;
const CONTINUATION = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

/** A mask key with every byte set, as a browser's would be. */
const MASK_KEY = [0x37, 0xfa, 0x21, 0x3d];

interface FrameOptions {
  opcode?: number;
  fin?: boolean;
  mask?: boolean;
  /** The length field to use: 7 bits, 7 bits + 2 bytes, or 7 bits + 8 bytes; the shortest by default. */
  lengthBytes?: 0 | 2 | 8;
}

/** The header of a frame announcing `length` payload bytes (a bigint for lengths over 2^32). */
function frameHeader(
  length: number | bigint,
  { opcode = BINARY, fin = true, mask = true, lengthBytes }: FrameOptions = {},
) {
  const size = BigInt(length);
  const extended = lengthBytes ?? (size < 126n ? 0 : size < 0x10000n ? 2 : 8);
  const bytes = [
    (fin ? 0x80 : 0) | opcode,
    (mask ? 0x80 : 0) | (extended === 0 ? Number(size) : extended === 2 ? 126 : 127),
  ];
  for (let index = extended - 1; index >= 0; index--) bytes.push(Number((size >> BigInt(8 * index)) & 0xffn));
  if (mask) bytes.push(...MASK_KEY);
  return Uint8Array.from(bytes);
}

/** A whole frame: its header and `length` payload bytes (their value does not matter to the tracker). */
function frame(length: number, options: FrameOptions = {}): Uint8Array {
  const header = frameHeader(length, options);
  const out = new Uint8Array(header.byteLength + length).fill(0xa5);
  out.set(header);
  return out;
}

describe("WsFrameTracker", () => {
  it("is not mid-message before any byte, nor after whole single-frame messages", () => {
    const tracker = new WsFrameTracker();
    expect(tracker.partial).toBe(false);
    expect(tracker.push(frame(5))).toBe(false);
    expect(tracker.push(frame(0, { mask: false }))).toBe(false);
    expect(tracker.push(frame(300))).toBe(false);
    expect(tracker.push(frame(70_000, { mask: false }))).toBe(false);
    expect(tracker.partial).toBe(false);
  });

  const headers: [string, number, FrameOptions][] = [
    ["a 7-bit length, unmasked", 100, { mask: false }],
    ["a 7-bit length, masked", 100, {}],
    ["a 2-byte length, unmasked", 300, { mask: false }],
    ["a 2-byte length, masked", 300, {}],
    ["an 8-byte length, unmasked", 70_000, { mask: false }],
    ["an 8-byte length, masked", 70_000, {}],
  ];
  for (const [name, length, options] of headers) {
    it(`knows the peer is mid-message while a header with ${name} arrives byte by byte`, () => {
      const tracker = new WsFrameTracker();
      // A frame with the longest header first, so that nothing of its size lingers into the next one.
      tracker.push(frame(70_000));
      const header = frameHeader(length, options);
      const seen: [boolean, boolean, string][] = [];
      for (let at = 0; at < header.byteLength; at++) {
        const began = tracker.push(header.subarray(at, at + 1));
        seen.push([began, tracker.partial, tracker.describeProgress()]);
      }
      const expected: [boolean, boolean, string][] = [[true, true, "1 byte of a frame header"]];
      for (let fill = 2; fill < header.byteLength; fill++) {
        expected.push([false, true, `${fill} of the ${header.byteLength} bytes of a frame header`]);
      }
      expected.push([false, true, `0 of the ${length} payload bytes its frame header announced`]);
      expect(seen).toEqual(expected);

      tracker.push(new Uint8Array(length - 1));
      expect(tracker.partial).toBe(true);
      expect(tracker.describeProgress()).toBe(
        `${length - 1} of the ${length} payload bytes its frame header announced`,
      );
      expect(tracker.push(new Uint8Array(1))).toBe(false);
      expect(tracker.partial).toBe(false);
    });
  }

  it("knows the message ended when a whole frame arrives in one chunk with the next header's first byte", () => {
    const tracker = new WsFrameTracker();
    const next = frame(3);
    expect(tracker.push(Uint8Array.from([...frame(300), next[0]!]))).toBe(true);
    expect(tracker.describeProgress()).toBe("1 byte of a frame header");
    expect(tracker.push(next.subarray(1))).toBe(false);
    expect(tracker.partial).toBe(false);
  });

  // 2^32 + 5: the high half of the 8-byte length is 1, the low half 5.
  for (const mask of [false, true]) {
    it(`counts an announced length over 4 GiB exactly (${mask ? "masked" : "unmasked"}), fed byte by byte`, () => {
      const tracker = new WsFrameTracker();
      const header = frameHeader(2n ** 32n + 5n, { mask });
      for (let at = 0; at < header.byteLength; at++) tracker.push(header.subarray(at, at + 1));
      expect(tracker.describeProgress()).toBe("0 of the 4294967301 payload bytes its frame header announced");
      tracker.push(new Uint8Array(1000));
      tracker.push(new Uint8Array(24));
      expect(tracker.partial).toBe(true);
      expect(tracker.describeProgress()).toBe("1024 of the 4294967301 payload bytes its frame header announced");
    });
  }

  /** Pushes `bytes` whole, or one byte at a time: a header that a chunk holds whole is read in one step. */
  function pushAll(tracker: WsFrameTracker, bytes: Uint8Array, byteByByte: boolean): void {
    if (!byteByByte) tracker.push(bytes);
    else for (let at = 0; at < bytes.byteLength; at++) tracker.push(bytes.subarray(at, at + 1));
  }

  for (const byteByByte of [false, true]) {
    const fed = byteByByte ? "fed byte by byte" : "in one chunk";
    it(`reads every byte of an 8-byte length in its place, ${fed}`, () => {
      for (const mask of [false, true]) {
        const tracker = new WsFrameTracker();
        pushAll(tracker, frameHeader(0x0001020304050607n, { mask }), byteByByte);
        expect(tracker.describeProgress()).toBe(
          `0 of the ${0x0001020304050607} payload bytes its frame header announced`,
        );
      }
    });

    it(`names an announced length beyond 2^53 bytes as the nearest number, ${fed}`, () => {
      // Its two 32-bit halves are exact and only their sum is rounded; reading all 8 bytes into
      // one number would round at each step, and land elsewhere.
      const length = 0x4ce3456876fc4202n;
      const tracker = new WsFrameTracker();
      pushAll(tracker, frameHeader(length), byteByByte);
      expect(tracker.describeProgress()).toBe(`0 of the ${Number(length)} payload bytes its frame header announced`);
    });
  }

  it("reads a 7-bit length written as an 8-byte one", () => {
    const tracker = new WsFrameTracker();
    tracker.push(frameHeader(10, { lengthBytes: 8 }));
    expect(tracker.describeProgress()).toBe("0 of the 10 payload bytes its frame header announced");
    tracker.push(new Uint8Array(10));
    expect(tracker.partial).toBe(false);
  });

  it("knows a fragmented message is unfinished until its final fragment, whatever control frames come between", () => {
    const tracker = new WsFrameTracker();
    const first = frame(10, { fin: false });
    // The first fragment in two chunks, its payload split.
    expect(tracker.push(first.subarray(0, 11))).toBe(true);
    expect(tracker.describeProgress()).toBe("5 of the 10 payload bytes its frame header announced");
    expect(tracker.push(first.subarray(11))).toBe(false);
    expect(tracker.partial).toBe(true);
    expect(tracker.describeProgress()).toBe(
      "the first fragments of a message (10 payload bytes) but not its final fragment",
    );

    expect(tracker.push(frame(300, { opcode: CONTINUATION, fin: false, mask: false }))).toBe(false);
    const fragments = "the first fragments of a message (310 payload bytes) but not its final fragment";
    expect(tracker.describeProgress()).toBe(fragments);

    // Control frames between fragments belong to no message: the message is still unfinished.
    for (const control of [frame(3, { opcode: PING }), frame(0, { opcode: PONG }), frame(2, { opcode: CLOSE })]) {
      expect(tracker.push(control)).toBe(false);
      expect(tracker.partial).toBe(true);
      expect(tracker.describeProgress()).toBe(fragments);
    }

    // An empty fragment that is not the final one changes nothing either.
    tracker.push(frame(0, { opcode: CONTINUATION, fin: false }));
    expect(tracker.describeProgress()).toBe(fragments);

    // The final fragment, empty, ends the message.
    expect(tracker.push(frame(0, { opcode: CONTINUATION }))).toBe(false);
    expect(tracker.partial).toBe(false);

    // The next message starts from no fragment.
    expect(tracker.push(frame(4, { fin: false }))).toBe(true);
    expect(tracker.describeProgress()).toBe(
      "the first fragments of a message (4 payload bytes) but not its final fragment",
    );
  });

  it("knows a control frame is unfinished while its header or payload arrives, between fragments or not", () => {
    const tracker = new WsFrameTracker();
    const ping = frame(4, { opcode: PING });
    expect(tracker.push(ping.subarray(0, 7))).toBe(true);
    expect(tracker.describeProgress()).toBe("1 of the 4 payload bytes its frame header announced");
    expect(tracker.push(ping.subarray(7))).toBe(false);
    expect(tracker.partial).toBe(false);

    tracker.push(frame(6, { fin: false }));
    const close = frame(2, { opcode: CLOSE });
    expect(tracker.push(close.subarray(0, 3))).toBe(false);
    expect(tracker.describeProgress()).toBe("3 of the 6 bytes of a frame header");
    tracker.push(close.subarray(3));
    expect(tracker.describeProgress()).toBe(
      "the first fragments of a message (6 payload bytes) but not its final fragment",
    );
  });

  it("ends in the same state however the same stream is cut into chunks (property)", () => {
    const frameOptions = fc.record({
      opcode: fc.constantFrom(BINARY, CONTINUATION, CLOSE, PING, PONG),
      fin: fc.boolean(),
      mask: fc.boolean(),
      lengthBytes: fc.constantFrom(undefined, 0 as const, 2 as const, 8 as const),
    });
    // Whole frames of up to 300 bytes (every length form), then the start of one that may
    // announce far more than follows: the tracker must stop in the middle of it either way.
    const stream = fc
      .tuple(
        fc.array(fc.tuple(fc.nat({ max: 300 }), frameOptions), { maxLength: 6 }),
        fc.tuple(fc.oneof(fc.nat({ max: 300 }), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n })), frameOptions),
        fc.nat(),
      )
      .map(([frames, [lastLength, lastOptions], cut]) => {
        const whole = frames.map(([length, options]) =>
          frame(length, { ...options, lengthBytes: length < 126 ? options.lengthBytes : undefined }),
        );
        const header = frameHeader(lastLength, { ...lastOptions, lengthBytes: undefined });
        const last = header.subarray(0, cut % (header.byteLength + 1));
        return Uint8Array.from([...whole.flatMap((bytes) => [...bytes]), ...last]);
      });
    const stateAfter = (chunks: Uint8Array[]): [boolean, string] => {
      const tracker = new WsFrameTracker();
      for (const chunk of chunks) tracker.push(chunk);
      return [tracker.partial, tracker.describeProgress()];
    };
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const points = [...new Set(cuts.map((cut) => cut % (bytes.byteLength + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((start, i) => bytes.subarray(start, [...points, bytes.byteLength][i]));
        const oneByOne = Array.from(bytes, (_, at) => bytes.subarray(at, at + 1));
        const whole = stateAfter([bytes]);
        expect(stateAfter(chunks)).toEqual(whole);
        expect(stateAfter(oneByOne)).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });
});
