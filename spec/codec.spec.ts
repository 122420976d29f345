import { DecodeError } from "@msgpack/msgpack";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decode, encode, HEADER_SIZE } from "../lib/index.js";

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/** Bytes from hex, as a plain Uint8Array (a Buffer would make msgpack return Buffers for bin). */
function bytes(hexString: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hexString, "hex"));
}

function roundTrip(message: object): unknown {
  return decode(encode(message).subarray(HEADER_SIZE));
}

/** Values msgpack carries without loss: what a repod message may hold. */
const wireValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true }).filter((x) => !Object.is(x, -0)),
    fc.string({ unit: "grapheme" }),
    fc.uint8Array(),
    fc.array(tie("value"), { maxLength: 5 }),
    tie("map"),
  ),
  map: fc.dictionary(
    fc.string().filter((key) => key !== "__proto__"),
    tie("value"),
    { maxKeys: 5 },
  ),
})).value;

describe("encode", () => {
  it("writes a 4-byte big-endian payload length followed by the msgpack payload", () => {
    expect(hex(encode({ action: "chat" }))).toBe("0000000d" + "81a6616374696f6ea463686174");
  });

  it("writes strings as msgpack str and Uint8Array as msgpack bin, as Python's use_bin_type=True does", () => {
    const frame = encode({ s: "é", b: new Uint8Array([1, 2]) });
    expect(hex(frame)).toBe("0000000c" + "82" + "a173" + "a2c3a9" + "a162" + "c4020102");
  });

  it("writes the length of a payload over 65535 bytes in all four header bytes", () => {
    const frame = encode({ b: new Uint8Array(70_000) });
    const length = new DataView(frame.buffer, frame.byteOffset).getUint32(0);
    expect(length).toBe(frame.byteLength - HEADER_SIZE);
    expect(hex(frame.subarray(0, 4))).toBe("00011178");
  });

  it("leaves out fields whose value is undefined", () => {
    expect(hex(encode({ action: "a", gone: undefined }))).toBe(hex(encode({ action: "a" })));
  });

  it("accepts an object with a null prototype", () => {
    const message = Object.assign(Object.create(null) as object, { action: "x" });
    expect(roundTrip(message)).toEqual({ action: "x" });
  });

  it.each([
    ["null", null, "null"],
    ["an array", [{ action: "a" }], "an array"],
    ["a string", "chat", "a string"],
    ["a number", 42, "a number"],
    ["undefined", undefined, "undefined"],
    ["a class instance", new Date(0), "an instance of Date"],
    ["a Map", new Map([["action", "a"]]), "an instance of Map"],
    ["an object whose prototype has no constructor", Object.create(Object.create(null) as object), "an object"],
  ])("throws a TypeError for %s, which is not a plain object", (_name, value, described) => {
    expect(() => encode(value as object)).toThrow(
      new TypeError(`A message must be a plain object such as { action: "chat" }, got ${described}`),
    );
  });

  it.each([
    ["a function", () => 1, "Unrecognized object: [object Function]"],
    ["a symbol", Symbol("s"), "Unrecognized object: [object Symbol]"],
    ["a bigint", 10n, "Unrecognized object: [object BigInt]"],
  ])("throws a TypeError for a field holding %s, which msgpack cannot encode", (_name, value, reason) => {
    let thrown: unknown;
    try {
      encode({ action: "a", value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as TypeError).message).toBe(`The message cannot be encoded as msgpack: ${reason}`);
    expect((thrown as TypeError).cause).toBeInstanceOf(Error);
  });

  it("throws a TypeError for a message that contains itself", () => {
    const message: Record<string, unknown> = { action: "loop" };
    message.self = message;
    expect(() => encode(message)).toThrow(
      new TypeError("The message cannot be encoded as msgpack: Too deep objects in depth 101"),
    );
  });
});

describe("decode", () => {
  it("reads a payload without its header into a plain object", () => {
    const value = decode(bytes("81a6616374696f6ea463686174"));
    expect(value).toEqual({ action: "chat" });
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it("reads msgpack bin as a Uint8Array and str as a string", () => {
    expect(decode(bytes("82a173a2c3a9a162c4020102"))).toEqual({ s: "é", b: new Uint8Array([1, 2]) });
  });

  it("reads msgpack bin from a Node Buffer (what sockets deliver) as a plain Uint8Array, not a Buffer", () => {
    const payload = Buffer.from("81a162c4020102", "hex");
    const { b } = decode(payload) as { b: Uint8Array };
    expect(b.constructor).toBe(Uint8Array);
    expect([...b]).toEqual([1, 2]);
  });

  it("reads msgpack nil as null", () => {
    expect(decode(bytes("c0"))).toBeNull();
  });

  it("throws a DecodeError for malformed msgpack", () => {
    expect(() => decode(bytes("c1"))).toThrow(new DecodeError("Unrecognized type byte: 0xc1"));
  });

  it("throws a RangeError for a truncated payload", () => {
    expect(() => decode(bytes("81a1"))).toThrow(RangeError);
  });

  it("throws a RangeError for trailing bytes after the value", () => {
    expect(() => decode(bytes("0102"))).toThrow(new RangeError("Extra 1 of 2 byte(s) found at buffer[1]"));
  });

  it("refuses a __proto__ key instead of changing the prototype of the result", () => {
    expect(() => decode(bytes("81a95f5f70726f746f5f5f81a8706f6c6c7574656401"))).toThrow(
      new DecodeError("The key __proto__ is not allowed"),
    );
  });
});

describe("encode/decode round trip", () => {
  it.each([
    // [value, msgpack type of the smallest encoding, as Python's packb chooses it]
    [0, "00"],
    [127, "7f"],
    [128, "cc80"],
    [255, "ccff"],
    [256, "cd0100"],
    [65_535, "cdffff"],
    [65_536, "ce00010000"],
    [2 ** 32 - 1, "ceffffffff"],
    [2 ** 32, "cf0000000100000000"],
    [2 ** 53 - 1, "cf001fffffffffffff"],
    [-1, "ff"],
    [-32, "e0"],
    [-33, "d0df"],
    [-128, "d080"],
    [-129, "d1ff7f"],
    [-32_768, "d18000"],
    [-32_769, "d2ffff7fff"],
    [-(2 ** 31), "d280000000"],
    [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
    [-(2 ** 53 - 1), "d3ffe0000000000001"],
  ])("keeps the integer %d, written in its smallest msgpack type", (n, type) => {
    const frame = encode({ n });
    expect(hex(frame.subarray(HEADER_SIZE + 3))).toBe(type);
    expect(roundTrip({ n })).toEqual({ n });
  });

  it.each([1.5, -0.25, 0.1, 1e300, -1e-300, Number.MAX_VALUE, Infinity, -Infinity])(
    "keeps the float %d as a float64",
    (x) => {
      const frame = encode({ x });
      expect(frame[HEADER_SIZE + 3]).toBe(0xcb);
      expect(roundTrip({ x })).toEqual({ x });
    },
  );

  it("keeps NaN", () => {
    expect((roundTrip({ x: NaN }) as { x: number }).x).toBeNaN();
  });

  it("keeps unicode strings, including astral characters and the empty string", () => {
    const message = { a: "", b: "héllo wörld", c: "日本語", d: "🎮👾", e: "a\u0000b", f: "x".repeat(70_000) };
    expect(roundTrip(message)).toEqual(message);
  });

  it("keeps binary data, empty or large", () => {
    const big = new Uint8Array(100_000).map((_, i) => i % 251);
    expect(roundTrip({ a: new Uint8Array(0), b: big })).toEqual({ a: new Uint8Array(0), b: big });
  });

  it("keeps nested maps and lists, null and booleans", () => {
    const message = {
      action: "state",
      players: [
        { id: 1, pos: [1.5, -2], alive: true, team: null },
        { id: 2, pos: [0, 0], alive: false, tags: ["a", "b"], inventory: { sword: 1, shield: { level: 3 } } },
      ],
      empty: { list: [], map: {} },
    };
    expect(roundTrip(message)).toEqual(message);
  });

  it("keeps every map of msgpack-representable values (property)", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string().filter((key) => key !== "__proto__"),
          wireValue,
          { maxKeys: 6 },
        ),
        (message) => {
          expect(roundTrip(message)).toEqual(message);
        },
      ),
      { numRuns: 300 },
    );
  });
});
