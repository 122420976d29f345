import fc from "fast-check";
import type * as net from "node:net";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ExtData } from "@msgpack/msgpack";
import { DEFAULT_MAX_PAYLOAD_DEPTH, DEFAULT_MAX_PAYLOAD_ITEMS, DEFAULT_MAX_PAYLOAD_KEYS } from "../lib/constants.js";
import { Channel, decode, encode, type IncomingMessage, type Logger } from "../lib/index.js";
import { isPlainObject } from "../lib/protocol/codec.js";
import { EXT_VALUE_WEIGHT, exceedsDecodeBudget, type DecodeBudget } from "../lib/protocol/decode-budget.js";
import { Cleanup } from "./helpers/cleanup.js";
import { rawSocket, startServer, waitFor } from "./helpers/net.js";
import { receivedBy } from "./helpers/raw.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const DEFAULT_BUDGET: DecodeBudget = { maxDepth: DEFAULT_MAX_PAYLOAD_DEPTH, maxItems: DEFAULT_MAX_PAYLOAD_ITEMS };
/** The most the options allow: only the announced-count check is left. */
const LIFTED: DecodeBudget = { maxDepth: 100, maxItems: 0xffff_ffff, maxKeys: 0xffff_ffff };

const DEPTH = /^it nests deeper than the maxPayloadDepth of (\d+)$/;
const ITEMS = /^it holds more than the maxPayloadItems of (\d+) values$/;
const ANNOUNCED = /^it announces (\d+) values but only (\d+) bytes remain$/;
const KEYS = /^it has more than (\d+) distinct map keys \(maxPayloadKeys\)$/;

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

function scan(payloadHex: string, budget: DecodeBudget): string | null {
  return exceedsDecodeBudget(hex(payloadHex), budget);
}

/** The msgpack payload of `message` (a frame without its 4-byte header). */
function payloadOf(message: object): Uint8Array {
  return encode(message).subarray(4);
}

/** `depth` arrays nested in each other around a nil, as msgpack. */
function nestedArrays(depth: number): Uint8Array {
  const out = new Uint8Array(depth + 1).fill(0x91);
  out[depth] = 0xc0;
  return out;
}

/** An array32 of `count` copies of the one-byte value `byte`. */
function arrayOf(count: number, byte: number): Uint8Array {
  const out = new Uint8Array(5 + count).fill(byte);
  out[0] = 0xdd;
  new DataView(out.buffer).setUint32(1, count);
  return out;
}

/** What an element or a map value counts for: an extension value (a date, an ExtData) weighs more. */
function weightOf(value: unknown): number {
  return value instanceof Date || value instanceof ExtData ? EXT_VALUE_WEIGHT : 1;
}

/** `payload` behind a proxy that tells `onRead` the index of every byte read from it. */
function watched(payload: Uint8Array, onRead: (index: number) => void): Uint8Array {
  return new Proxy(payload, {
    get(target, key) {
      if (typeof key === "string" && /^\d+$/.test(key)) onRead(Number(key));
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Counts the bytes `exceedsDecodeBudget` reads from `payload`. */
function readsOf(payload: Uint8Array, budget: DecodeBudget): { reason: string | null; reads: number } {
  let reads = 0;
  const reason = exceedsDecodeBudget(
    watched(payload, () => reads++),
    budget,
  );
  return { reason, reads };
}

/** The indices at or past the end of `payload` that `exceedsDecodeBudget` reads. */
function readsPastEnd(payload: Uint8Array, budget: DecodeBudget): number[] {
  const past: number[] = [];
  exceedsDecodeBudget(
    watched(payload, (index) => {
      if (index >= payload.byteLength) past.push(index);
    }),
    budget,
  );
  return past;
}

/**
 * A full garbage collection, without starting Node with `--expose-gc`; twice, as the memory of
 * array buffers found dead may be given back in the background until the next one.
 */
function collectGarbage(): void {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  gc();
  gc();
}

/**
 * Scans `payload` and returns its verdict with the most array-buffer memory taken above what was
 * in use before (after a full collection), sampled every 4,096 bytes the scan reads.
 */
function scanWithPeakMemory(payload: Uint8Array, budget: DecodeBudget): { reason: string | null; growth: number } {
  collectGarbage();
  const before = process.memoryUsage().arrayBuffers;
  let most = before;
  let reads = 0;
  const reason = exceedsDecodeBudget(
    watched(payload, () => {
      if (++reads % 4_096 === 0) most = Math.max(most, process.memoryUsage().arrayBuffers);
    }),
    budget,
  );
  return { reason, growth: most - before };
}

/**
 * What the decoded value holds, counted as the contract counts: every array element, map key and
 * map value (an extension value as EXT_VALUE_WEIGHT), and the depth of the deepest array or map.
 * Anything else (strings, binaries, dates, extension values) is a leaf.
 */
function shapeOf(value: unknown): { values: number; depth: number } {
  let children: unknown[];
  let perChild: number;
  if (Array.isArray(value)) {
    children = value;
    perChild = 1;
  } else if (isPlainObject(value)) {
    children = Object.values(value);
    perChild = 2;
  } else {
    return { values: 0, depth: 0 };
  }
  let values = 0;
  let depth = 0;
  for (const child of children) {
    const inner = shapeOf(child);
    values += perChild - 1 + weightOf(child) + inner.values;
    depth = Math.max(depth, inner.depth);
  }
  return { values, depth: depth + 1 };
}

/** Whether V8 stores property `key` as an array element rather than a named property. */
function isIndex(key: string): boolean {
  return /^(0|[1-9]\d*)$/.test(key) && Number(key) <= 0xffff_fffe;
}

/**
 * The distinct key sequences of the decoded value: every prefix of every map's keys, in the order
 * V8 keeps them (array indices first, then the other keys as they were added: the order the
 * encoder writes them in), counted once across the whole value. With `namedOnly`, array indices
 * are left out, as V8 stores them apart: what is left is the hidden classes the maps need.
 */
function keyPathsOf(value: unknown, namedOnly = false, seen = new Set<string>()): number {
  if (Array.isArray(value)) {
    for (const child of value) keyPathsOf(child, namedOnly, seen);
  } else if (isPlainObject(value)) {
    let path = "";
    for (const [key, child] of Object.entries(value)) {
      if (!namedOnly || !isIndex(key)) {
        path += `${JSON.stringify(key)},`;
        seen.add(path);
      }
      keyPathsOf(child, namedOnly, seen);
    }
  }
  return seen.size;
}

describe("exceedsDecodeBudget: every msgpack type", () => {
  // Data bytes are 0xdf (map32) throughout: a scan that stepped into them would read a map
  // announcing billions of values. Each value is followed by `91 c0`, an array at depth 2, which a
  // budget of depth 1 refuses: only a scan that skipped the value exactly gets there.
  const filler = (length: number): string => "df".repeat(length);
  const types: [string, string][] = [
    ["positive fixint", "07"],
    ["negative fixint", "e0"],
    ["nil", "c0"],
    ["false", "c2"],
    ["true", "c3"],
    ["float 32", `ca ${filler(4)}`],
    ["float 64", `cb ${filler(8)}`],
    ["uint 8", `cc ${filler(1)}`],
    ["uint 16", `cd ${filler(2)}`],
    ["uint 32", `ce ${filler(4)}`],
    ["uint 64", `cf ${filler(8)}`],
    ["int 8", `d0 ${filler(1)}`],
    ["int 16", `d1 ${filler(2)}`],
    ["int 32", `d2 ${filler(4)}`],
    ["int 64", `d3 ${filler(8)}`],
    ["empty fixstr", "a0"],
    ["fixstr", `bf ${filler(31)}`],
    ["str 8", `d9 ff ${filler(255)}`],
    ["str 16", `da 0102 ${filler(0x0102)}`],
    ["str 32", `db 00010203 ${filler(0x010203)}`],
    ["bin 8", `c4 03 ${filler(3)}`],
    ["bin 16", `c5 0102 ${filler(0x0102)}`],
    ["bin 32", `c6 00010203 ${filler(0x010203)}`],
    ["fixext 1", `d4 df ${filler(1)}`],
    ["fixext 2", `d5 df ${filler(2)}`],
    ["fixext 4", `d6 df ${filler(4)}`],
    ["fixext 8", `d7 df ${filler(8)}`],
    ["fixext 16", `d8 df ${filler(16)}`],
    ["ext 8", `c7 03 df ${filler(3)}`],
    ["ext 16", `c8 0102 df ${filler(0x0102)}`],
    ["ext 32", `c9 00010203 df ${filler(0x010203)}`],
  ];

  it.each(types)("skips a %s exactly, as one value (an extension as EXT_VALUE_WEIGHT)", (name, value) => {
    const weight = name.includes("ext") ? EXT_VALUE_WEIGHT : 1;
    expect(scan(`92 ${value} 91 c0`, { maxDepth: 1, maxItems: 100 })).toMatch(DEPTH);
    expect(scan(`92 ${value} c0`, { maxDepth: 1, maxItems: 1 + weight })).toBeNull();
    expect(scan(`92 ${value} c0`, { maxDepth: 1, maxItems: weight })).toMatch(ITEMS);
  });

  it.each(types)("takes a %s alone as the whole payload, holding no values", (_, value) => {
    expect(scan(value, { maxDepth: 1, maxItems: 0 })).toBeNull();
  });

  it.each([
    ["fixarray", "93 01 02 03", 3],
    ["array 16", "dc 0003 01 02 03", 3],
    ["array 32", "dd 00000003 01 02 03", 3],
    ["fixmap", "82 a1 61 01 a1 62 02", 4],
    ["map 16", "de 0002 a1 61 01 a1 62 02", 4],
    ["map 32", "df 00000002 a1 61 01 a1 62 02", 4],
  ])("counts the elements of a %s (a map's keys and values both)", (_, payload, values) => {
    expect(scan(payload, { maxDepth: 1, maxItems: values })).toBeNull();
    expect(scan(payload, { maxDepth: 1, maxItems: values - 1 })).toMatch(ITEMS);
    expect(scan(`91 ${payload}`, { maxDepth: 1, maxItems: 100 })).toMatch(DEPTH);
  });

  it.each([
    ["fixarray", "90"],
    ["array 16", "dc 0000"],
    ["array 32", "dd 00000000"],
    ["fixmap", "80"],
    ["map 16", "de 0000"],
    ["map 32", "df 00000000"],
  ])("counts an empty %s as one level of depth and no values", (_, empty) => {
    expect(scan(empty, { maxDepth: 1, maxItems: 0 })).toBeNull();
    expect(scan(`91 ${empty}`, { maxDepth: 2, maxItems: 1 })).toBeNull();
    expect(scan(`91 ${empty}`, { maxDepth: 1, maxItems: 1 })).toMatch(DEPTH);
    expect(scan(`81 a1 61 ${empty}`, { maxDepth: 1, maxItems: 2 })).toMatch(DEPTH);
  });

  it("counts values at every depth: { a: [1, 2, 3], b: { c: 1 } } holds 9", () => {
    const payload = payloadOf({ a: [1, 2, 3], b: { c: 1 } });
    expect(exceedsDecodeBudget(payload, { maxDepth: 2, maxItems: 9 })).toBeNull();
    expect(exceedsDecodeBudget(payload, { maxDepth: 2, maxItems: 8 })).toMatch(ITEMS);
    expect(exceedsDecodeBudget(payload, { maxDepth: 1, maxItems: 9 })).toMatch(DEPTH);
  });

  it("leaves the never-used type 0xc1 to the decoder, which rejects it", () => {
    const payload = hex(`92 c1 ${"91".repeat(200)} c0`);
    expect(exceedsDecodeBudget(payload, { maxDepth: 1, maxItems: 1_000 })).toBeNull();
    expect(() => decode(payload)).toThrow();
  });

  it.each([
    ["a truncated str 8", "92 d9 05 61 62"],
    ["a str 32 longer than the payload", "91 db ffffffff 61"],
    ["a truncated bin 16 length", "91 c5 01"],
    ["a truncated ext 32 length", "91 c9 0000"],
    ["a truncated float 64", "92 cb 0000 00"],
    ["a truncated array 16 header", "91 dc 00"],
    ["a truncated map 32 header", "91 df 0000"],
    ["trailing bytes", "90 c0 c0"],
    ["nothing at all", ""],
  ])("leaves %s to the decoder, which rejects it", (_, payloadHex) => {
    const payload = hex(payloadHex);
    expect(exceedsDecodeBudget(payload, { maxDepth: 4, maxItems: 4 })).toBeNull();
    expect(() => decode(payload)).toThrow();
  });

  it("stops at the end of the top-level value, reading nothing after it", () => {
    // Whatever follows (here an array 32 announcing 2^32 - 1 values, or arrays nested deeper than
    // the budget), the decoder rejects trailing bytes: the scan has no reason to read them.
    const trailing = hex(`c0 dd ffffffff ${"91".repeat(100)} c0`);
    expect(readsOf(trailing, DEFAULT_BUDGET)).toEqual({ reason: null, reads: 1 });
    expect(scan("90 91 91 c0", { maxDepth: 1, maxItems: 1 })).toBeNull();
    expect(() => decode(trailing)).toThrow();
  });

  /** Container headers, each announcing one value. */
  const containers: [string, string][] = [
    ["array 16", "dc 0001 c0"],
    ["array 32", "dd 00000001 c0"],
    ["map 16", "de 0001 a1 61 c0"],
    ["map 32", "df 00000001 a1 61 c0"],
  ];

  it("never reads past the end of a payload cut anywhere in a value's or a map key's header", () => {
    // Every type as an array's element, then as the second key of a map (`82 a1 61 c0 <key> c0`,
    // two keys: over a maxKeys of 1, the keys are told apart), cut after each of its first 12
    // bytes and just before its end.
    const budgets: DecodeBudget[] = [
      LIFTED,
      { maxDepth: 2, maxItems: 4, maxKeys: 1 },
      { maxDepth: 2, maxItems: 1, maxKeys: 0 },
    ];
    for (const [name, value] of [...types, ...containers]) {
      for (const whole of [hex(`91 ${value}`), hex(`82 a1 61 c0 ${value} c0`)]) {
        const cuts = new Set([...Array.from({ length: 12 }, (_, i) => i + 1), whole.byteLength - 1]);
        for (const cut of cuts) {
          if (cut >= whole.byteLength) continue;
          for (const budget of budgets) {
            expect(readsPastEnd(whole.subarray(0, cut), budget), `${name} cut after ${cut} bytes`).toEqual([]);
          }
        }
      }
    }
  });

  it.each([
    ["an ext 8 header", "91 c7", { maxDepth: 1, maxItems: 1 }],
    ["an ext 16 header", "91 c8 01", { maxDepth: 1, maxItems: 1 }],
    ["an ext 32 header", "91 c9 0000 01", { maxDepth: 1, maxItems: 1 }],
    ["an array 32 header", "91 dd 01 00", { maxDepth: 2, maxItems: 1 }],
    ["a map 16 header", "91 de 01", { maxDepth: 2, maxItems: 1 }],
    ["the header of a str 8 key", "82 a1 61 c0 d9", { maxDepth: 1, maxItems: 4, maxKeys: 1 }],
  ])(
    "leaves a payload cut inside %s to the decoder, even at a budget the value would exceed",
    (_, payloadHex, budget) => {
      // Nothing is known of the cut value: it is neither counted as an extension value, nor as a
      // container announcing what its first length bytes would make, nor as a distinct key.
      const payload = hex(payloadHex);
      expect(exceedsDecodeBudget(payload, budget)).toBeNull();
      expect(() => decode(payload)).toThrow();
    },
  );

  it.each([
    ["an ext 8 header", "91 c7 05", { maxDepth: 1, maxItems: 1 }, ITEMS],
    ["an ext 16 header", "91 c8 0005", { maxDepth: 1, maxItems: 1 }, ITEMS],
    ["an ext 32 header", "91 c9 00000005", { maxDepth: 1, maxItems: 1 }, ITEMS],
    ["an empty str 8 key", "81 d9 00", { maxDepth: 1, maxItems: 2, maxKeys: 0 }, KEYS],
    ["an empty str 16 key", "81 da 0000", { maxDepth: 1, maxItems: 2, maxKeys: 0 }, KEYS],
    ["an empty str 32 key", "81 db 00000000", { maxDepth: 1, maxItems: 2, maxKeys: 0 }, KEYS],
    ["a fixstr key", "81 a1 61", { maxDepth: 1, maxItems: 2, maxKeys: 0 }, KEYS],
  ])(
    "refuses a payload that ends right after %s taking it over the budget, as if more followed",
    (_, payloadHex, budget, reason) => {
      // The header is whole: what it adds is known, and counted, though the payload ends there.
      expect(scan(payloadHex, budget)).toMatch(reason);
    },
  );
});

describe("exceedsDecodeBudget: the bounds, exactly", () => {
  it(`accepts arrays nested ${DEFAULT_MAX_PAYLOAD_DEPTH} deep by default and refuses one level more`, () => {
    expect(exceedsDecodeBudget(nestedArrays(DEFAULT_MAX_PAYLOAD_DEPTH), DEFAULT_BUDGET)).toBeNull();
    expect(exceedsDecodeBudget(nestedArrays(DEFAULT_MAX_PAYLOAD_DEPTH + 1), DEFAULT_BUDGET)).toBe(
      `it nests deeper than the maxPayloadDepth of ${DEFAULT_MAX_PAYLOAD_DEPTH}`,
    );
  });

  it("accepts maps nested exactly maxDepth deep and refuses one level more, as the encoder writes them", () => {
    const nested = (depth: number): object => (depth === 1 ? { leaf: 1 } : { inner: nested(depth - 1) });
    for (const maxDepth of [1, 2, 10, DEFAULT_MAX_PAYLOAD_DEPTH]) {
      const budget = { maxDepth, maxItems: 1_000 };
      expect(exceedsDecodeBudget(payloadOf(nested(maxDepth)), budget)).toBeNull();
      expect(exceedsDecodeBudget(payloadOf(nested(maxDepth + 1)), budget)).toMatch(DEPTH);
    }
  });

  it("measures the deepest branch, not the first one nor the sum", () => {
    const payload = payloadOf({ shallow: [1], deep: [[[[]]]], after: { x: [2] } });
    expect(exceedsDecodeBudget(payload, { maxDepth: 5, maxItems: 100 })).toBeNull();
    expect(exceedsDecodeBudget(payload, { maxDepth: 4, maxItems: 100 })).toMatch(DEPTH);
  });

  it(`accepts ${DEFAULT_MAX_PAYLOAD_ITEMS} values by default and refuses one more`, () => {
    expect(exceedsDecodeBudget(arrayOf(DEFAULT_MAX_PAYLOAD_ITEMS, 0xc0), DEFAULT_BUDGET)).toBeNull();
    expect(exceedsDecodeBudget(arrayOf(DEFAULT_MAX_PAYLOAD_ITEMS + 1, 0xc0), DEFAULT_BUDGET)).toBe(
      `it holds more than the maxPayloadItems of ${DEFAULT_MAX_PAYLOAD_ITEMS} values`,
    );
  });

  it("counts the keys and values of maps at the limit, in arrays of maps and maps of arrays", () => {
    const entities = (count: number): object => ({
      action: "snapshot",
      entities: Array.from({ length: count }, (_, id) => ({ id, x: 1.5, y: -2, hp: 100 })),
    });
    // 4 values at the top, then per entity 1 element + 4 keys + 4 values.
    const snapshot = payloadOf(entities(1_000));
    expect(exceedsDecodeBudget(snapshot, { maxDepth: 3, maxItems: 4 + 1_000 * 9 })).toBeNull();
    expect(exceedsDecodeBudget(snapshot, { maxDepth: 3, maxItems: 4 + 1_000 * 9 - 1 })).toMatch(ITEMS);

    const columns = payloadOf({ xs: Array.from({ length: 500 }, (_, i) => i), ys: Array(500).fill(0.5) });
    expect(exceedsDecodeBudget(columns, { maxDepth: 2, maxItems: 1_004 })).toBeNull();
    expect(exceedsDecodeBudget(columns, { maxDepth: 2, maxItems: 1_003 })).toMatch(ITEMS);
  });

  it("counts the top-level value as no value: an empty map fits a budget of 0", () => {
    expect(scan("80", { maxDepth: 1, maxItems: 0 })).toBeNull();
    expect(scan("81 a1 61 c0", { maxDepth: 1, maxItems: 1 })).toMatch(ITEMS);
  });

  it("lets a snapshot of 3,000 entities with 8 fields each through the default budget", () => {
    const snapshot = {
      action: "snapshot",
      tick: 123_456,
      entities: Array.from({ length: 3_000 }, (_, id) => ({
        id,
        kind: "orc",
        x: id * 0.5,
        y: -id,
        vx: 0.25,
        vy: -0.25,
        hp: 100,
        team: id % 2,
      })),
    };
    expect(shapeOf(snapshot).values).toBe(6 + 3_000 * 17);
    expect(exceedsDecodeBudget(payloadOf(snapshot), DEFAULT_BUDGET)).toBeNull();
  });

  /** A complete tree of fixarrays of 15 elements, `levels` deep, with nils as leaves. */
  function tree(levels: number): Uint8Array {
    if (levels === 0) return Uint8Array.of(0xc0);
    const child = tree(levels - 1);
    const out = new Uint8Array(1 + 15 * child.byteLength);
    out[0] = 0x9f;
    for (let i = 0; i < 15; i++) out.set(child, 1 + i * child.byteLength);
    return out;
  }

  it("stops at the first header over the budget and never reads inside strings and binaries", () => {
    const MiB4 = 4 * 1024 * 1024;
    const emptyMaps = readsOf(arrayOf(MiB4 - 5, 0x80), DEFAULT_BUDGET);
    expect(emptyMaps.reason).toMatch(ITEMS);
    expect(emptyMaps.reads).toBe(5);

    const nested = readsOf(new Uint8Array(MiB4).fill(0x91), DEFAULT_BUDGET);
    expect(nested.reason).toMatch(DEPTH);
    expect(nested.reads).toBe(DEFAULT_MAX_PAYLOAD_DEPTH + 1);

    const blob = new Uint8Array(MiB4);
    blob.set([0x91, 0xc6, 0x00, 0x3f, 0xff, 0xfa]); // [bin 32 of the 4,194,298 bytes left]
    const binary = readsOf(blob, DEFAULT_BUDGET);
    expect(binary.reason).toBeNull();
    expect(binary.reads).toBe(6);
  });

  it("reads about maxPayloadItems heads of a payload holding many more values, one small header at a time", () => {
    const payload = tree(5); // 813,615 values in 813,616 bytes
    expect(shapeOf(decode(payload)).values).toBe(813_615);
    const { reason, reads } = readsOf(payload, DEFAULT_BUDGET);
    expect(reason).toMatch(ITEMS);
    expect(reads).toBeLessThanOrEqual(DEFAULT_MAX_PAYLOAD_ITEMS + 15);
    expect(exceedsDecodeBudget(payload, { maxDepth: 6, maxItems: 813_615 })).toBeNull();
  });
});

describe("exceedsDecodeBudget: distinct map keys", () => {
  /** `count` different names, none of them an array index. */
  const names = (count: number, prefix = "k"): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  const mapOf = (keys: readonly string[]): Record<string, number> => Object.fromEntries(keys.map((key) => [key, 0]));
  /** `{ action: "x", data }`: the envelope's keys count 2 (`action`, then `data` after it). */
  const message = (data: unknown): Uint8Array => payloadOf({ action: "x", data });
  const keys = (maxKeys: number): DecodeBudget => ({ maxDepth: 8, maxItems: 1_000_000, maxKeys });

  it(`accepts ${DEFAULT_MAX_PAYLOAD_KEYS} distinct keys when maxKeys is absent and refuses one more`, () => {
    const atLimit = message(mapOf(names(DEFAULT_MAX_PAYLOAD_KEYS - 2)));
    const over = message(mapOf(names(DEFAULT_MAX_PAYLOAD_KEYS - 1)));
    expect(exceedsDecodeBudget(atLimit, DEFAULT_BUDGET)).toBeNull();
    expect(exceedsDecodeBudget(over, DEFAULT_BUDGET)).toBe(
      `it has more than ${DEFAULT_MAX_PAYLOAD_KEYS} distinct map keys (maxPayloadKeys)`,
    );
    expect(exceedsDecodeBudget(over, { ...DEFAULT_BUDGET, maxKeys: DEFAULT_MAX_PAYLOAD_KEYS + 1 })).toBeNull();
  });

  it("counts every key of maps whose keys all differ, exactly at any limit", () => {
    // 100 maps of 8 different keys each, in an array: 802 keys with the envelope.
    const payload = message(Array.from({ length: 100 }, (_, i) => mapOf(names(8, `m${i}.`))));
    expect(keyPathsOf(decode(payload))).toBe(802);
    expect(exceedsDecodeBudget(payload, keys(802))).toBeNull();
    expect(exceedsDecodeBudget(payload, keys(801))).toMatch(KEYS);
    expect(exceedsDecodeBudget(payload, keys(1))).toBe("it has more than 1 distinct map keys (maxPayloadKeys)");
  });

  it("never counts a key twice when maps repeat it after the same keys: 3,000 entities of 8 fields count 11", () => {
    const entity = (id: number): object => ({ id, kind: "orc", x: 0.5, y: -id, vx: 0, vy: 0, hp: 100, team: 1 });
    const snapshot = payloadOf({
      action: "snapshot",
      tick: 7,
      entities: Array.from({ length: 3_000 }, (_, id) => entity(id)),
    });
    expect(exceedsDecodeBudget(snapshot, keys(11))).toBeNull();
    expect(exceedsDecodeBudget(snapshot, keys(10))).toMatch(KEYS);
    expect(exceedsDecodeBudget(snapshot, DEFAULT_BUDGET)).toBeNull();
  });

  it("counts the same names again in another order, but not a shared beginning", () => {
    // a, a→b, b, b→a
    expect(
      exceedsDecodeBudget(
        message([
          { a: 1, b: 2 },
          { b: 3, a: 4 },
        ]),
        keys(6),
      ),
    ).toBeNull();
    expect(
      exceedsDecodeBudget(
        message([
          { a: 1, b: 2 },
          { b: 3, a: 4 },
        ]),
        keys(5),
      ),
    ).toMatch(KEYS);
    // a, a→b, a→c: the maps share their first key
    expect(exceedsDecodeBudget(message([{ a: 1, b: 2 }, { a: 3, c: 4 }, { a: 5 }]), keys(5))).toBeNull();
    expect(exceedsDecodeBudget(message([{ a: 1, b: 2 }, { a: 3, c: 4 }, { a: 5 }]), keys(4))).toMatch(KEYS);
    // The same 8 names in 16 orders (from each name, every third or every fifth next): 8 first
    // keys, then 16 different sequences of 7 more, 1,000 times over: 122 with the envelope.
    const orders = [3, 5].flatMap((step) =>
      names(8).map((_, first, all) => all.map((__, j) => all[(first + j * step) % 8]!)),
    );
    const shuffled = message(Array.from({ length: 16_000 }, (_, i) => mapOf(orders[i % 16]!)));
    const counted = keyPathsOf(decode(shuffled));
    expect(counted).toBe(2 + 8 + 16 * 7);
    expect(exceedsDecodeBudget(shuffled, keys(counted))).toBeNull();
    expect(exceedsDecodeBudget(shuffled, keys(counted - 1))).toMatch(KEYS);
  });

  it("counts a nested map's keys from the start, as its own object: { a: { a: 1 } } counts 1", () => {
    expect(scan("81 a1 61 81 a1 61 01", keys(1))).toBeNull();
    expect(scan("81 a1 61 81 a1 62 01", keys(1))).toMatch(KEYS);
    expect(scan("81 a1 61 81 a1 62 01", keys(2))).toBeNull();
    // { a: { b: 1 }, c: [{ a: 1, b: 2 }] }: a, a→c, then b, a, a→b
    const nested = payloadOf({ a: { b: 1 }, c: [{ a: 1, b: 2 }] });
    expect(exceedsDecodeBudget(nested, keys(4))).toBeNull();
    expect(exceedsDecodeBudget(nested, keys(3))).toMatch(KEYS);
  });

  it("counts a name written two ways twice (more, never fewer), and a string key always", () => {
    // "a" as fixstr, then as str 8: the bytes differ
    expect(scan("92 81 a1 61 01 81 d9 01 61 01", keys(1))).toMatch(KEYS);
    expect(scan("92 81 a1 61 01 81 d9 01 61 01", keys(2))).toBeNull();
  });

  describe("number keys", () => {
    // Each a one-key map `81 <key> c0`; counted or not, and why.
    const numberKeys: [string, string, boolean][] = [
      ["positive fixint 5", "05", false],
      ["uint 8 255", "cc ff", false],
      ["uint 16 65535", "cd ffff", false],
      ["uint 32 2^32 - 2", "ce fffffffe", false],
      ["uint 64 2^32 - 2", "cf 00000000 fffffffe", false],
      ["int 8 127", "d0 7f", false],
      ["int 16 32767", "d1 7fff", false],
      ["int 32 2^31 - 1", "d2 7fffffff", false],
      ["int 64 2^32 - 2", "d3 00000000 fffffffe", false],
      ["uint 32 2^32 - 1", "ce ffffffff", true],
      ["uint 64 2^32 - 1", "cf 00000000 ffffffff", true],
      ["uint 64 2^32", "cf 00000001 00000000", true],
      ["negative fixint -1", "ff", true],
      ["negative fixint -32", "e0", true],
      ["int 8 -1", "d0 ff", true],
      ["int 16 -32768", "d1 8000", true],
      ["int 32 -2^31", "d2 80000000", true],
      ["int 64 -1", "d3 ffffffff ffffffff", true],
      ["float 32 1.5", "ca 3fc00000", true],
      ["float 64 1.5", "cb 3ff8000000000000", true],
    ];

    it.each(numberKeys)("%s", (_, key, counted) => {
      const payload = hex(`81 ${key} c0`);
      expect(exceedsDecodeBudget(payload, keys(0))).toBe(
        counted ? "it has more than 0 distinct map keys (maxPayloadKeys)" : null,
      );
      expect(exceedsDecodeBudget(payload, keys(1))).toBeNull();
      // What is not counted is exactly what V8 stores as an array element.
      const decoded = decode(payload) as Record<string, unknown>;
      expect(isIndex(Object.keys(decoded)[0]!)).toBe(!counted);
    });

    it("counts a float key even when integral, and a string that reads as an index: more, never fewer", () => {
      expect(scan("81 cb 3ff0000000000000 c0", keys(0))).toMatch(KEYS); // 1.0, stored as element 1
      expect(scan("81 a1 35 c0", keys(0))).toMatch(KEYS); // "5", stored as element 5
    });

    it("lets a map keyed by 5,000 entity ids through the default budget, but not one keyed by 5,000 negative numbers", () => {
      const byId = new Uint8Array(5 + 5_000 * 4);
      byId.set([0xdf, 0x00, 0x00, 0x13, 0x88]);
      const byNegative = byId.slice();
      for (let i = 0; i < 5_000; i++) {
        byId.set([0xcd, i >> 8, i & 0xff, 0xc0], 5 + i * 4);
        byNegative.set([0xd1, ((-1 - i) >> 8) & 0xff, (-1 - i) & 0xff, 0xc0], 5 + i * 4);
      }
      expect(Object.keys(decode(byId) as object)).toHaveLength(5_000);
      expect(exceedsDecodeBudget(byId, DEFAULT_BUDGET)).toBeNull();
      expect(exceedsDecodeBudget(byNegative, DEFAULT_BUDGET)).toMatch(KEYS);
      expect(exceedsDecodeBudget(byNegative, keys(5_000))).toBeNull();
      expect(exceedsDecodeBudget(byNegative, keys(4_999))).toMatch(KEYS);
    });
  });

  it("does not count keys of other types, which the decoder rejects", () => {
    for (const key of ["c0", "c3", "c4 01 61", "90", "80", "d4 01 00"]) {
      const payload = hex(`81 ${key} 01`);
      expect(exceedsDecodeBudget(payload, keys(0))).toBeNull();
      expect(() => decode(payload)).toThrow();
    }
  });

  it("leaves a map key cut short to the decoder", () => {
    const payload = hex("82 a1 61 01 a5 62");
    expect(exceedsDecodeBudget(payload, keys(1))).toBeNull();
    expect(() => decode(payload)).toThrow();
  });

  it("reads no key of a payload holding no more map keys than maxKeys, and tells them apart otherwise", () => {
    // One map 16 of 1,000 keys of 5 characters and 0 values: the map header (3 bytes read), then
    // a head byte per key and per value.
    const payload = payloadOf(mapOf(names(1_000).map((name) => name.padStart(5, "_"))));
    expect(payload.byteLength).toBe(3 + 1_000 * 7);
    const within = readsOf(payload, keys(1_000));
    expect(within).toEqual({ reason: null, reads: 3 + 2_000 });
    // Over: the first pass stops at the map header; the second reads the heads again, and the 6
    // bytes of each key once, up to the key past the limit.
    const over = readsOf(payload, keys(999));
    expect(over.reason).toMatch(KEYS);
    expect(over.reads).toBe(3 + 3 + 999 * 2 + 1 + 1_000 * 6);
  });

  it("counts exactly beyond its first table, up to any limit", () => {
    for (const count of [511, 512, 513, 5_000, 100_000]) {
      const payload = message(mapOf(names(count - 2)));
      expect(exceedsDecodeBudget(payload, keys(count))).toBeNull();
      expect(exceedsDecodeBudget(payload, keys(count - 1))).toMatch(KEYS);
    }
    expect(exceedsDecodeBudget(message(mapOf(names(100_000))), LIFTED)).toBeNull();
  });

  it("counts exactly, never more, in 20 payloads of 4,096 distinct keys each seen twice, at a limit of 4,096", () => {
    // A key whose lookup ran out of probes when it was added is not found when it comes again,
    // and counts twice: with the table half full and 32 probes, this failed for every payload.
    // Twenty payloads keep it under the mutation run's test timeout on an instrumented build.
    for (let i = 0; i < 20; i++) {
      const payload = message(Array.from({ length: 4_094 * 2 }, (_, j) => ({ [`k${i}.${j % 4_094}`]: 0 })));
      expect(exceedsDecodeBudget(payload, keys(4_096))).toBeNull();
      expect(exceedsDecodeBudget(payload, keys(4_095))).toMatch(KEYS);
    }
  });

  it("finds every repeated key whatever the keys around it: 20,000 maps cycling through 40 key orders", () => {
    const orders = Array.from({ length: 40 }, (_, i) => names(1 + (i % 8), `o${i}.`));
    const payload = message(Array.from({ length: 20_000 }, (_, i) => mapOf(orders[i % 40]!)));
    const counted = 2 + orders.reduce((sum, order) => sum + order.length, 0);
    expect(keyPathsOf(decode(payload))).toBe(counted);
    expect(exceedsDecodeBudget(payload, keys(counted))).toBeNull();
    expect(exceedsDecodeBudget(payload, keys(counted - 1))).toMatch(KEYS);
  });

  it("finds every repeated key while its table grows past the room it keeps: 10,000 distinct keys each seen twice", () => {
    // The keys seen once so far must still be found after each growth (at 4,096 and 8,192 keys),
    // when they come again in the second half.
    const payload = message(Array.from({ length: 9_998 * 2 }, (_, j) => ({ [`k${j % 9_998}`]: 0 })));
    expect(exceedsDecodeBudget(payload, keys(10_000))).toBeNull();
    expect(exceedsDecodeBudget(payload, keys(9_999))).toMatch(KEYS);
  });

  it("does not count the strings in arrays as keys, beside maps whose keys repeat", () => {
    // action, data, players, name, name→tags: 5 distinct keys of 7; the tags are values.
    const payload = message({
      players: [
        { name: "ann", tags: ["red", "blue", "green"] },
        { name: "bob", tags: ["cyan", "pink", "gold"] },
      ],
    });
    expect(keyPathsOf(decode(payload))).toBe(5);
    expect(exceedsDecodeBudget(payload, keys(5))).toBeNull();
    expect(exceedsDecodeBudget(payload, keys(4))).toMatch(KEYS);
  });

  it("reads each key's bytes once, though a thousand maps each begin with a different key of the same length", () => {
    // { action: "x", data: [{ k0000: 0 }, ..., { k0999: 0 }] } over a maxKeys of 1,001. The
    // first pass reads the heads up to the array 16 header (7 bytes), then three heads per map up
    // to the 1,000th map's. The second reads the same 7, and the bytes of the keys "action" (7)
    // and "data" (5) once; then per map its head, the key's head, the key's 6 bytes and the
    // value's head, up to the 1,000th key, the one past the limit. The maps' keys all start a
    // sequence and have the same length: those that land near each other in the table (dozens of
    // them) are told apart by their hash, without reading their bytes again. Only two keys whose
    // 32-bit hashes are equal, about one run in ten thousand, have theirs compared: 12 bytes.
    const payload = message(Array.from({ length: 1_000 }, (_, i) => ({ [`k${String(i).padStart(4, "0")}`]: 0 })));
    const { reason, reads } = readsOf(payload, keys(1_001));
    expect(reason).toBe("it has more than 1001 distinct map keys (maxPayloadKeys)");
    const once = 7 + 999 * 3 + 1 + (7 + 7 + 5 + 999 * 9 + 8);
    expect(reads).toBeGreaterThanOrEqual(once);
    expect(reads).toBeLessThanOrEqual(once + 12);
  });

  /** Counts the keys of `payload` (more than `maxKeys`, distinct or not) in a frame of its own, which lets go of it. */
  function countedAndLetGo(
    payload: Uint8Array,
    maxKeys: number,
  ): { reason: string | null; released: WeakRef<Uint8Array> } {
    return { reason: exceedsDecodeBudget(payload, keys(maxKeys)), released: new WeakRef(payload) };
  }

  it("holds no reference to a payload once it has told its keys apart", async () => {
    const { reason, released } = countedAndLetGo(message([{ a: 1 }, { a: 2 }, { a: 3 }]), 3);
    expect(reason).toBeNull();
    // A weak reference holds its target until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(released.deref()).toBeUndefined();
  });

  it("gives back the room a payload of 20,000 distinct keys needed, and counts the next one exactly", async () => {
    // A fresh copy of the module, whose table has not grown for the payloads of other tests.
    vi.resetModules();
    const fresh = await import("../lib/protocol/decode-budget.js");
    const large = message(mapOf(names(20_000)));
    collectGarbage();
    const before = process.memoryUsage().arrayBuffers;
    expect(fresh.exceedsDecodeBudget(large, keys(20_001))).toMatch(KEYS);
    collectGarbage();
    // The table for 20,000 keys takes about 1 MiB (24 bytes per key, 4 per slot, 4 slots per
    // key and more): given back, it keeps the room for 4,096 keys, about 160 KiB.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(512 * 1024);
    const next = message([{ a: 1, b: 2 }, { a: 3, b: 4 }, { b: 5 }]);
    expect(fresh.exceedsDecodeBudget(next, keys(5))).toBeNull();
    expect(fresh.exceedsDecodeBudget(next, keys(4))).toMatch(KEYS);
  });

  it("allocates nothing to tell apart the keys of a payload that fit the room it keeps, after the first", async () => {
    // The table is kept between payloads, its room for 4,096 keys made by the first payload that
    // needs one: a fresh copy of the module, whose table no other test has made yet.
    vi.resetModules();
    const fresh = await import("../lib/protocol/decode-budget.js");
    // 5,000 maps of the same key over a maxKeys of 4,096, then 3,000 different keys each seen
    // twice: both have more keys than maxKeys, to be told apart.
    const first = message(Array.from({ length: 5_000 }, (_, a) => ({ a })));
    const next = message(Array.from({ length: 6_000 }, (_, j) => ({ [`k${j % 3_000}`]: 0 })));
    expect(fresh.exceedsDecodeBudget(first, keys(4_096))).toBeNull();
    collectGarbage();
    const before = process.memoryUsage().arrayBuffers;
    expect(fresh.exceedsDecodeBudget(next, keys(4_096))).toBeNull();
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024);
  });

  it("takes room for the distinct keys it meets, not for maxKeys: 2,501 entities of 8 fields over a maxKeys of 20,000", () => {
    // 20,010 keys, 10 distinct: the table keeps to the room it has (4,096 keys, about 160 KiB),
    // where room for 20,000 would take about 1 MiB. Measured while the scan reads the payload.
    const snapshot = payloadOf({
      action: "snapshot",
      entities: Array.from({ length: 2_501 }, (_, id) => ({
        id,
        kind: "orc",
        x: 0.5,
        y: -id,
        vx: 0,
        vy: 0,
        hp: 100,
        team: 1,
      })),
    });
    const { reason, growth } = scanWithPeakMemory(snapshot, keys(20_000));
    expect(reason).toBeNull();
    expect(growth).toBeLessThan(512 * 1024);
  });

  it("grows its table as the distinct keys come, not to maxKeys at once: 10 maps of the same 4,100 keys under a maxKeys of 40,000", () => {
    // 41,002 keys, 4,102 distinct: past the 4,096 keys of room it keeps, the table doubles (about
    // 0.3 MiB for 8,192 keys), where room for 40,000 would take about 2 MiB. Measured while the
    // scan reads the payload; short keys keep the reads few.
    const shortNames = Array.from({ length: 4_100 }, (_, i) => i.toString(36));
    const payload = message(Array.from({ length: 10 }, () => mapOf(shortNames)));
    const { reason, growth } = scanWithPeakMemory(payload, keys(40_000));
    expect(reason).toBeNull();
    expect(growth).toBeLessThan(1024 * 1024);
  });
});

describe("exceedsDecodeBudget: extension values", () => {
  /** An array 32 of `count` timestamps (fixext 4, type -1). */
  function timestamps(count: number): Uint8Array {
    const out = new Uint8Array(5 + count * 6);
    out[0] = 0xdd;
    new DataView(out.buffer).setUint32(1, count);
    for (let i = 0; i < count; i++) out.set([0xd6, 0xff, 0, 0, 0, i & 0xff], 5 + i * 6);
    return out;
  }

  it(`counts each as ${EXT_VALUE_WEIGHT} values: ${DEFAULT_MAX_PAYLOAD_ITEMS / EXT_VALUE_WEIGHT} timestamps fit the default budget, one more does not`, () => {
    const fits = timestamps(DEFAULT_MAX_PAYLOAD_ITEMS / EXT_VALUE_WEIGHT);
    expect((decode(fits) as unknown[]).every((value) => value instanceof Date)).toBe(true);
    expect(exceedsDecodeBudget(fits, DEFAULT_BUDGET)).toBeNull();
    expect(exceedsDecodeBudget(timestamps(DEFAULT_MAX_PAYLOAD_ITEMS / EXT_VALUE_WEIGHT + 1), DEFAULT_BUDGET)).toBe(
      `it holds more than the maxPayloadItems of ${DEFAULT_MAX_PAYLOAD_ITEMS} values`,
    );
  });

  it("counts dates and ExtData as map values and in arrays, as encoded", () => {
    const data = { at: new Date(0), raw: new ExtData(7, Uint8Array.of(1, 2, 3)), list: [new Date(1), 2] };
    const payload = payloadOf(data);
    // at: 1 + 4, raw: 1 + 4, list: 1 + 1, then 4 + 1
    expect(shapeOf(decode(payload)).values).toBe(17);
    expect(exceedsDecodeBudget(payload, { maxDepth: 2, maxItems: 17 })).toBeNull();
    expect(exceedsDecodeBudget(payload, { maxDepth: 2, maxItems: 16 })).toMatch(ITEMS);
  });

  it("stops at the extension value that takes the payload over the budget", () => {
    const { reason, reads } = readsOf(timestamps(1_000), { maxDepth: 1, maxItems: 1_000 + 3 * 10 });
    expect(reason).toMatch(ITEMS);
    expect(reads).toBe(5 + 11); // the array header, then 11 heads
  });
});

describe("exceedsDecodeBudget: containers announcing more values than the payload holds", () => {
  it("refuses an array 32 announcing 2^32 - 1 values, whatever the budget", () => {
    expect(scan("dd ffffffff", LIFTED)).toBe("it announces 4294967295 values but only 0 bytes remain");
    expect(scan("dd ffffffff c0 c0", LIFTED)).toBe("it announces 4294967295 values but only 2 bytes remain");
  });

  it("counts a map's announced pairs as two values each", () => {
    expect(scan("df ffffffff", LIFTED)).toBe("it announces 8589934590 values but only 0 bytes remain");
    expect(scan("de 0003 a1 61 01 a1 62", LIFTED)).toBe("it announces 6 values but only 5 bytes remain");
  });

  it("adds up what every open container still expects", () => {
    // [[nil, nil, nil], nil, nil] in 7 bytes; cut by one byte, the inner header alone (3 values,
    // 4 bytes left) would fit, but with the outer array's 2 still to come it cannot.
    expect(scan("93 93 c0 c0 c0 c0 c0", LIFTED)).toBeNull();
    expect(scan("93 93 c0 c0 c0 c0", LIFTED)).toBe("it announces 5 values but only 4 bytes remain");
  });

  it("refuses nested array 16 headers that would each make the decoder preallocate 65,535 slots", () => {
    const bomb = hex("dc ffff".repeat(100));
    expect(exceedsDecodeBudget(bomb, LIFTED)).toMatch(ANNOUNCED);
    expect(exceedsDecodeBudget(bomb, LIFTED)).toBe("it announces 65535 values but only 297 bytes remain");
  });

  it("accepts a container whose values are exactly as many as the bytes left", () => {
    expect(exceedsDecodeBudget(arrayOf(1_000, 0x01), LIFTED)).toBeNull();
    expect(exceedsDecodeBudget(arrayOf(1_000, 0x01).subarray(0, 1_004), LIFTED)).toBe(
      "it announces 1000 values but only 999 bytes remain",
    );
  });
});

describe("exceedsDecodeBudget: properties", () => {
  /** Values the project's encoder writes, with every type it uses: dates as timestamp extensions. */
  const { value: wireValue } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.maxSafeInteger(),
      fc.double(),
      fc.string(),
      fc.string({ unit: "binary", minLength: 30, maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.date({ noInvalidDate: true }),
      fc.array(tie("value"), { maxLength: 20 }),
      fc.dictionary(
        fc.string().filter((key) => key !== "__proto__"),
        tie("value"),
        { maxKeys: 20 },
      ),
    ),
  }));

  it("accepts any encoded message within its exact values, depth and distinct keys, and refuses it one less", () => {
    fc.assert(
      fc.property(wireValue, (data) => {
        const message = { action: "x", data };
        const payload = payloadOf(message);
        const { values, depth } = shapeOf(message);
        const maxKeys = keyPathsOf(message);
        expect(exceedsDecodeBudget(payload, LIFTED)).toBeNull();
        if (maxKeys <= DEFAULT_MAX_PAYLOAD_KEYS) expect(exceedsDecodeBudget(payload, DEFAULT_BUDGET)).toBeNull();
        expect(exceedsDecodeBudget(payload, { maxDepth: depth, maxItems: values, maxKeys })).toBeNull();
        expect(exceedsDecodeBudget(payload, { maxDepth: depth, maxItems: values - 1, maxKeys })).toMatch(ITEMS);
        expect(exceedsDecodeBudget(payload, { maxDepth: depth - 1, maxItems: values, maxKeys })).toMatch(DEPTH);
        expect(exceedsDecodeBudget(payload, { maxDepth: depth, maxItems: values, maxKeys: maxKeys - 1 })).toMatch(KEYS);
      }),
      { numRuns: 500 },
    );
  });

  /** Bytes heavy in container headers, length prefixes and the unused type. */
  const hostileBytes = fc
    .array(
      fc.oneof(
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom(0x90, 0x91, 0x9f, 0x80, 0x8f, 0xdc, 0xdd, 0xde, 0xdf, 0xc1, 0xd9, 0xc6, 0xc9, 0xd8, 0xff, 0x00),
      ),
      { maxLength: 300 },
    )
    .map((bytes) => Uint8Array.from(bytes));
  const anyBudget = fc.record({
    maxDepth: fc.integer({ min: 1, max: 8 }),
    maxItems: fc.integer({ min: 0, max: 40 }),
    maxKeys: fc.integer({ min: 0, max: 8 }),
  });

  it("never throws on arbitrary bytes, and what it lets through never decodes into more than the budget", () => {
    fc.assert(
      fc.property(fc.oneof(hostileBytes, fc.uint8Array({ maxLength: 300 })), anyBudget, (payload, budget) => {
        const reason = exceedsDecodeBudget(payload, budget);
        expect(reason === null || typeof reason === "string").toBe(true);
        if (reason !== null) return;
        let value: unknown;
        try {
          value = decode(payload);
        } catch {
          return; // malformed: the decoder refuses it
        }
        // Duplicate map keys make the decoded value smaller than the payload, never larger; keys
        // written in different ways, or as floats and strings that V8 takes for array indices,
        // are counted as distinct where the decoded maps need fewer hidden classes.
        const { values, depth } = shapeOf(value);
        expect(values).toBeLessThanOrEqual(budget.maxItems);
        expect(depth).toBeLessThanOrEqual(budget.maxDepth);
        expect(keyPathsOf(value, true)).toBeLessThanOrEqual(budget.maxKeys);
      }),
      { numRuns: 5_000 },
    );
  });
});

describe("maxPayloadItems and maxPayloadKeys over a real socket", () => {
  type Warning = { message: string; fields?: Record<string, unknown> };

  /** Records the messages only: its onError keeps the default, which reports through the logger. */
  class RecordingChannel extends Channel {
    readonly received: IncomingMessage[] = [];

    override networkReceived(message: IncomingMessage): void {
      this.received.push(message);
    }
  }

  /** A server with the default budget and a logger keeping its warnings, a raw socket to it, and its channel. */
  async function connectedChannel(): Promise<{ warnings: Warning[]; socket: net.Socket; channel: RecordingChannel }> {
    const warnings: Warning[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn: (message, fields) => warnings.push({ message, fields }),
      error() {},
    };
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, logger }));
    const socket = cleanup.socket(await rawSocket(server.port));
    await waitFor(() => server.channels.length === 1, "the channel");
    return { warnings, socket, channel: server.channels[0]! };
  }

  it("drops a payload of 200,001 empty maps unread, delivers the ones around it, and keeps the connection", async () => {
    const { warnings, socket, channel } = await connectedChannel();
    const fromServer = receivedBy(socket);

    // 4 values for { action, data }, the rest in data: exactly the default budget.
    const fits = encode({ action: "fits", data: Array.from({ length: DEFAULT_MAX_PAYLOAD_ITEMS - 4 }, () => ({})) });
    const big = encode({ action: "big", data: Array.from({ length: 200_001 }, () => ({})) });
    socket.write(fits);
    socket.write(big);
    socket.write(encode({ action: "normal" }));
    await waitFor(() => channel.received.some((message) => message.action === "normal"), "the normal message");

    expect(channel.received.map((message) => message.action)).toEqual(["fits", "normal"]);
    expect((channel.received[0]!.data as unknown[]).length).toBe(DEFAULT_MAX_PAYLOAD_ITEMS - 4);
    expect(warnings).toEqual([
      {
        message: "dropped",
        fields: expect.objectContaining({
          code: "ERR_PAYLOAD_TOO_COMPLEX",
          reason: `Dropped a ${big.byteLength - 4}-byte payload unread: it holds more than the maxPayloadItems of ${DEFAULT_MAX_PAYLOAD_ITEMS} values`,
        }),
      },
    ]);
    expect(channel.isConnected).toBe(true);
    channel.send({ action: "still-there" });
    await waitFor(() => fromServer.some((message) => (message as IncomingMessage).action === "still-there"));
    expect(socket.destroyed).toBe(false);
  });

  it(`drops a payload of more than ${DEFAULT_MAX_PAYLOAD_KEYS} distinct map keys by default, and delivers a snapshot of many more repeated ones`, async () => {
    const { warnings, socket, channel } = await connectedChannel();

    // 2 keys for { action, data }, the rest in data's maps, 8 different names in each: as many
    // maps as fit within the default, then one more.
    const maps = (count: number): object[] =>
      Array.from({ length: count }, (_, i) =>
        Object.fromEntries(Array.from({ length: 8 }, (__, j) => [`m${i}k${j}`, j])),
      );
    const most = Math.floor((DEFAULT_MAX_PAYLOAD_KEYS - 2) / 8);
    const fits = encode({ action: "fits", data: maps(most) });
    const distinct = encode({ action: "distinct", data: maps(most + 1) });
    const snapshot = encode({
      action: "snapshot",
      data: Array.from({ length: 3_000 }, (_, id) => ({ id, x: 1, y: 2, vx: 0, vy: 0, hp: 100, kind: "orc", team: 1 })),
    });
    socket.write(fits);
    socket.write(distinct);
    socket.write(snapshot);
    await waitFor(() => channel.received.some((message) => message.action === "snapshot"), "the snapshot");

    expect(channel.received.map((message) => message.action)).toEqual(["fits", "snapshot"]);
    expect(warnings).toEqual([
      {
        message: "dropped",
        fields: expect.objectContaining({
          code: "ERR_PAYLOAD_TOO_COMPLEX",
          reason: `Dropped a ${distinct.byteLength - 4}-byte payload unread: it has more than ${DEFAULT_MAX_PAYLOAD_KEYS} distinct map keys (maxPayloadKeys)`,
        }),
      },
    ]);
    expect(channel.isConnected).toBe(true);
  });
});
