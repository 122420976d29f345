/**
 * The payloads of the decode budget row: for each shape, the message
 * `{ action: "shape", data: <shape> }` written directly as msgpack, as large as a byte limit
 * allows or cut at a number of values and of distinct map keys. These are the shapes that cost the decoder the most per
 * byte or per value (measured with @msgpack/msgpack 3.1 on Node 20), and a few cheap ones for
 * contrast. Values are counted as `exceedsDecodeBudget` counts them: an extension value as
 * EXT_VALUE_WEIGHT.
 */
import { EXT_VALUE_WEIGHT } from "../../lib/protocol/decode-budget.js";

/**
 * The message around every shape: `{ action: "shape", data: ... }` holds 4 values and 2 distinct
 * map keys (`action`, then `data` after it) besides data's.
 */
const ENVELOPE = Uint8Array.of(0x82, 0xa6, ...ascii("action"), 0xa5, ...ascii("shape"), 0xa4, ...ascii("data"));
export const ENVELOPE_VALUES = 4;
export const ENVELOPE_KEYS = 2;

function ascii(text: string): number[] {
  return [...text].map((char) => char.charCodeAt(0));
}

/** A growable byte buffer, big-endian. */
class Writer {
  private bytes: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  byte(value: number): void {
    if (this.length === this.bytes.byteLength) {
      const grown = new Uint8Array(this.bytes.byteLength * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = value;
  }

  uint16(value: number): void {
    this.byte(value >>> 8);
    this.byte(value & 0xff);
  }

  uint32(value: number): void {
    this.uint16(value >>> 16);
    this.uint16(value & 0xffff);
  }

  /** A float 64. */
  float64(value: number): void {
    this.byte(0xcb);
    const bits = new DataView(new ArrayBuffer(8));
    bits.setFloat64(0, value);
    for (let i = 0; i < 8; i++) this.byte(bits.getUint8(i));
  }

  /** A str of at most 31 bytes (fixstr). */
  fixstr(text: string): void {
    this.byte(0xa0 | text.length);
    for (let i = 0; i < text.length; i++) this.byte(text.charCodeAt(i));
  }

  /** Overwrites 4 bytes at `at`. */
  patchUint32(at: number, value: number): void {
    new DataView(this.bytes.buffer).setUint32(at, value);
  }

  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

/** One element of a shape's array: writes itself and says how many values it holds with itself. */
type Element = (out: Writer, index: number) => number;

/** A different ASCII name for every `index`, at least `length` characters long. */
function distinctName(index: number, length: number): string {
  return index.toString(36).padStart(length, "0");
}

/**
 * A payload: the message's bytes, the values it holds and its distinct map keys as
 * `exceedsDecodeBudget` counts them (its envelope's included).
 */
export interface Payload {
  readonly bytes: Uint8Array;
  readonly values: number;
  readonly keys: number;
}

export interface Shape {
  readonly id: string;
  readonly label: string;
  /**
   * The message holding this shape, at most `maxBytes` long and, when given, at most `maxValues`
   * values and `maxKeys` distinct map keys (envelope included). The shapes whose keys differ
   * start over from their first maps when they reach `maxKeys`: the costliest payload of the
   * shape within the bound, not a smaller one. Each `variant` (0 to 25) of a shape with keys
   * names them differently (or orders them differently), at the same size: a payload does not
   * find the hidden classes the one before it made.
   */
  build(maxBytes: number, maxValues?: number, maxKeys?: number, variant?: number): Payload;
}

/** An array32 of elements, added while both limits allow the next one. */
function arrayShape(id: string, label: string, element: Element): Shape {
  return {
    id,
    label,
    build(maxBytes, maxValues = Infinity) {
      const out = new Writer(1024 * 1024);
      for (const byte of ENVELOPE) out.byte(byte);
      out.byte(0xdd);
      const countAt = out.length;
      out.uint32(0);
      let values = ENVELOPE_VALUES;
      let count = 0;
      for (let index = 0; ; index++) {
        const before = out.length;
        const added = element(out, index);
        if (out.length > maxBytes || values + added > maxValues) {
          out.length = before;
          break;
        }
        values += added;
        count++;
      }
      out.patchUint32(countAt, count);
      return { bytes: out.result(), values, keys: ENVELOPE_KEYS };
    },
  };
}

/** A map key: a string (fixstr) or a float 64 (which V8 turns into a property name). */
type Key = string | number;

/** The first character of every key name of a variant. */
function variantPrefix(variant: number): string {
  return String.fromCharCode(0x61 + (variant % 26));
}

/**
 * An array32 of maps with nil values, the keys of map `index` given by `keysOf`. Their distinct
 * keys (every new key sequence) are counted as the maps are added; the first map that would take
 * them over `maxKeys` and every one after are copies of the maps before, taken in turn, which
 * add no distinct key.
 */
function mapsShape(id: string, label: string, keysOf: (index: number, variant: number) => readonly Key[]): Shape {
  return {
    id,
    label,
    build(maxBytes, maxValues = Infinity, maxKeys = Infinity, variant = 0) {
      const out = new Writer(1024 * 1024);
      for (const byte of ENVELOPE) out.byte(byte);
      out.byte(0xdd);
      const countAt = out.length;
      out.uint32(0);
      let values = ENVELOPE_VALUES;
      const sequences = new Set<string>();
      /** Maps made of new keys before the others start over; null while there are none. */
      let fresh: number | null = null;
      let count = 0;
      for (let index = 0; ; index++) {
        const keys = keysOf(fresh === null ? index : index % fresh, variant);
        if (fresh === null) {
          const added: string[] = [];
          let sequence = "";
          for (const key of keys) {
            sequence += `${typeof key === "string" ? "s" : "n"}${String(key)},`;
            if (!sequences.has(sequence)) added.push(sequence);
          }
          if (ENVELOPE_KEYS + sequences.size + added.length > maxKeys) {
            if (index === 0) break;
            fresh = index;
            index--;
            continue;
          }
          for (const sequence of added) sequences.add(sequence);
        }
        const before = out.length;
        out.byte(0x80 | keys.length);
        for (const key of keys) {
          if (typeof key === "string") out.fixstr(key);
          else out.float64(key);
          out.byte(0xc0);
        }
        const added = 1 + 2 * keys.length;
        if (out.length > maxBytes || values + added > maxValues) {
          out.length = before;
          break;
        }
        values += added;
        count++;
      }
      out.patchUint32(countAt, count);
      return { bytes: out.result(), values, keys: ENVELOPE_KEYS + sequences.size };
    },
  };
}

/** The `index`-th permutation of `items`, in lexicographic order (`index` below items.length!). */
function permutation<T>(items: readonly T[], index: number): T[] {
  const left = [...items];
  const result: T[] = [];
  let factorial = 1;
  for (let i = 2; i < left.length; i++) factorial *= i;
  for (let place = left.length - 1; place > 0; place--) {
    const [item] = left.splice(Math.floor(index / factorial) % left.length, 1);
    result.push(item!);
    index %= factorial;
    factorial /= place;
  }
  result.push(left[0]!);
  return result;
}

/**
 * Nested arrays as deep as the default maxPayloadDepth allows inside the envelope (map, data
 * array, then 62 levels): the most containers per byte.
 */
const NESTED_LEVELS = 62;

/** The names of the permuted-keys shape: 8! = 40,320 orders of them. */
const EIGHT_NAMES = ["id", "x", "y", "vx", "vy", "hp", "kind", "team"] as const;

export const SHAPES: readonly Shape[] = [
  arrayShape("nested", "arrays nested 64 deep, side by side", (out) => {
    for (let level = 0; level < NESTED_LEVELS; level++) out.byte(0x91);
    out.byte(0xc0);
    return NESTED_LEVELS + 1;
  }),
  arrayShape("empty-maps", "empty maps", (out) => {
    out.byte(0x80);
    return 1;
  }),
  // Every key a new property name: each costs V8 a new hidden class, the dearest value measured.
  mapsShape("distinct-key-maps", "maps of 8 keys, every key different", (index, variant) =>
    Array.from({ length: 8 }, (_, key) => variantPrefix(variant) + distinctName(index * 8 + key, 4)),
  ),
  // As many maps per byte as maps with keys can be: V8 looks each key up among all the others.
  mapsShape("distinct-key-one", "maps of 1 key, every key different", (index, variant) => [
    variantPrefix(variant) + distinctName(index, 4),
  ]),
  // For contrast, what a game sends: entities with the same fields in the same order.
  mapsShape("snapshot", "maps of the same 8 keys, in the same order (a snapshot)", () => EIGHT_NAMES),
  // Few names, each map a new order of them: every order needs its own hidden classes. Stepping
  // through the orders by a prime makes neighbours share short beginnings, as random orders do.
  mapsShape("permuted-keys", "maps of the same 8 keys, in every order", (index, variant) =>
    permutation(EIGHT_NAMES, (index * 7_919 + variant * 1_009) % 40_320),
  ),
  // A number key that is no array index becomes a property name, converted on every store.
  mapsShape("float-keys", "maps of 1 float key, every key different", (index, variant) => [
    index + 0.5 + variant * 10_000_000,
  ]),
  {
    id: "one-big-map",
    label: "one map, every key different",
    build(maxBytes, maxValues = Infinity, maxKeys = Infinity, variant = 0) {
      const out = new Writer(1024 * 1024);
      for (const byte of ENVELOPE) out.byte(byte);
      out.byte(0xdf);
      const countAt = out.length;
      out.uint32(0);
      let pairs = 0;
      for (let index = 0; ; index++) {
        const before = out.length;
        out.fixstr(variantPrefix(variant) + distinctName(index, 3));
        out.byte(0xc0);
        if (
          out.length > maxBytes ||
          ENVELOPE_VALUES + 2 * (pairs + 1) > maxValues ||
          ENVELOPE_KEYS + pairs + 1 > maxKeys
        ) {
          out.length = before;
          break;
        }
        pairs++;
      }
      out.patchUint32(countAt, pairs);
      return { bytes: out.result(), values: ENVELOPE_VALUES + 2 * pairs, keys: ENVELOPE_KEYS + pairs };
    },
  },
  arrayShape("short-strings", "4-character strings, all different", (out, index) => {
    out.fixstr(distinctName(index, 4));
    return 1;
  }),
  arrayShape("empty-bins", "empty binaries", (out) => {
    out.byte(0xc4);
    out.byte(0);
    return 1;
  }),
  arrayShape("ext", "fixext 1 values (ExtData)", (out) => {
    out.byte(0xd4);
    out.byte(0x01);
    out.byte(0);
    return EXT_VALUE_WEIGHT;
  }),
  arrayShape("timestamps", "timestamps (Date)", (out, index) => {
    out.byte(0xd6);
    out.byte(0xff);
    out.uint32(index);
    return EXT_VALUE_WEIGHT;
  }),
  arrayShape("floats", "float64 numbers", (out, index) => {
    out.float64(index + 0.5);
    return 1;
  }),
  {
    id: "long-string",
    label: "one string of 3-byte characters",
    build(maxBytes) {
      const out = new Writer(maxBytes);
      for (const byte of ENVELOPE) out.byte(byte);
      const room = maxBytes - out.length - 5;
      const text = Buffer.from("\u4e00".repeat(Math.floor(room / 3)));
      out.byte(0xdb);
      out.uint32(text.byteLength);
      for (const byte of text) out.byte(byte);
      return { bytes: out.result(), values: ENVELOPE_VALUES, keys: ENVELOPE_KEYS };
    },
  },
];

/** A TCP frame around `payload`: the 4-byte big-endian length, then the payload. */
export function tcpFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(4 + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 0);
  frame.set(payload, 4);
  return frame;
}
