import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decode, encode, FrameDecoder, HEADER_SIZE } from "../lib/index.js";

interface Vector {
  readonly name: string;
  readonly hex: string;
  readonly json: unknown;
}

// Frames written by Python's msgpack.packb(obj, use_bin_type=True) behind a 4-byte length, as
// Python repod sends them (spec/fixtures/make-python-vectors.py made them).
const vectors = JSON.parse(
  readFileSync(new URL("./fixtures/python-vectors.json", import.meta.url), "utf8"),
) as Vector[];

/** Turns the JSON description of a vector back into the value Python packed. */
function expected(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expected);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (typeof record.$bytes === "string") return Uint8Array.from(Buffer.from(record.$bytes, "hex"));
    if (typeof record.$repeat === "string") return record.$repeat.repeat(record.count as number);
    return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, expected(item)]));
  }
  return value;
}

function payloadOf(frame: Uint8Array): Uint8Array {
  const payloads: Uint8Array[] = [];
  new FrameDecoder().push(frame, (payload) => payloads.push(payload.slice()));
  expect(payloads).toHaveLength(1);
  return payloads[0]!;
}

describe("Python repod test vectors", () => {
  it("covers at least the message shapes the core issue names", () => {
    const names = vectors.map((vector) => vector.name);
    for (const name of [
      "connected",
      "move",
      "chat-unicode",
      "bin8",
      "nested",
      "bool-nil",
      "uint64",
      "int64",
      "float64",
      "non-map-nil",
    ]) {
      expect(names).toContain(name);
    }
  });

  for (const vector of vectors) {
    const frame = Uint8Array.from(Buffer.from(vector.hex, "hex"));

    it(`decodes the Python frame "${vector.name}" to the value Python packed`, () => {
      expect(new DataView(frame.buffer).getUint32(0)).toBe(frame.byteLength - HEADER_SIZE);
      expect(decode(payloadOf(frame))).toEqual(expected(vector.json));
    });

    const value = expected(vector.json);
    if (value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array)) {
      it(`re-encodes "${vector.name}" byte for byte as Python does`, () => {
        expect(Buffer.from(encode(decode(payloadOf(frame)) as object)).toString("hex")).toBe(vector.hex);
      });
    }
  }
});
