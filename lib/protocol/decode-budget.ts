import { DEFAULT_MAX_PAYLOAD_KEYS } from "../constants.js";
import { readUint16, readUint32 } from "./big-endian.js";

/**
 * The most a single payload may cost to decode; see `maxPayloadDepth`, `maxPayloadItems` and
 * `maxPayloadKeys`.
 */
export interface DecodeBudget {
  /** Deepest nesting of arrays and maps. */
  readonly maxDepth: number;
  /**
   * Most values, counting every array element, map key and map value at any depth, an extension
   * value as {@link EXT_VALUE_WEIGHT}.
   */
  readonly maxItems: number;
  /** Most distinct map keys, as `exceedsDecodeBudget` counts them. Default `DEFAULT_MAX_PAYLOAD_KEYS`. */
  readonly maxKeys?: number;
}

/**
 * What an extension value (fixext 1 to 16, ext 8/16/32, msgpack timestamps) counts for in
 * `maxItems`. The decoder makes an `ExtData` or a `Date` of each, several times the cost of any
 * other leaf value: 65,536 of them took 30 to 65 ms against a target of 50, 16,384 take 5 to 11.
 */
export const EXT_VALUE_WEIGHT = 4;

/**
 * Why `payload` would cost more than `budget` to decode, or `null` when it is within it. Run on
 * every payload before it is decoded: decoding allocates about one object per value, so the
 * number of values, not the byte size, bounds what a payload costs in CPU and memory; and every
 * map key that V8 has not seen at that place costs it a new hidden class, so the number of
 * distinct keys bounds the rest.
 *
 * The contract:
 * - **Values** are every array element, map key and map value, nested ones included; the
 *   top-level value itself is not counted. An extension value (`ExtData`, a timestamp) counts as
 *   {@link EXT_VALUE_WEIGHT} values. `{}` holds 0 values, `{ action: "move", x: 1 }` 4,
 *   `{ data: [1, 2] }` 4, `{ at: new Date() }` 5. A payload over `maxItems` values is refused.
 * - **Depth** is that of the deepest array or map, empty ones included: the top-level map is at
 *   depth 1, `{ a: [] }` nests 2 deep, a scalar payload 0. A payload deeper than `maxDepth` is
 *   refused.
 * - **Distinct keys**: a map key is distinct unless an earlier map of the payload had the same key
 *   (the same bytes) after the same keys in the same order, as V8 shares hidden classes: 3,000
 *   `{ id, x, y }` count 3, `{ a, b }` then `{ b, a }` count 4, `{ a: { a: 1 } }` counts 1. Keys
 *   are strings and numbers other than the integers 0 to 4,294,967,294 written as msgpack
 *   integers (those are array indices to V8, stored apart at little cost); keys of other types
 *   are not counted (the decoder rejects them). A payload with more than `maxKeys` distinct keys
 *   (`DEFAULT_MAX_PAYLOAD_KEYS` when absent) is refused. Only the payloads holding more map keys
 *   than that, distinct or not, are looked at key by key.
 * - A container that announces more values than the bytes left in the payload can hold (each
 *   value takes at least one byte) is refused too, whatever the budget: the payload is truncated
 *   or forged, and the decoder would allocate the announced array (`new Array(size)`) before
 *   finding out (100 nested array 16 headers, 300 bytes, would take 50 MiB).
 * - Any other malformed input (truncated strings, the never-used type 0xc1, trailing bytes)
 *   returns `null`: the decoder rejects it without allocating much.
 *
 * Values are counted from container headers, so the scan stops at the first header (or extension
 * value) that takes the payload over a bound. It reads each header once and skips strings,
 * binaries and extensions by their length, reading only the bytes of map keys, and only in the
 * second pass that a payload with more than `maxKeys` map keys takes to tell its distinct ones
 * apart. Between payloads it keeps one stack of counts, as deep as the deepest payload read (at
 * most `maxDepth`), and, for the second pass, one table with room for 4,096 keys (more only while
 * a payload needs them, for a larger `maxKeys`). It costs O(min(values, maxItems)) plus the length
 * of the keys, and never throws, whatever the bytes.
 *
 * @returns a short reason naming the bound ("it nests deeper than the maxPayloadDepth of 64",
 *   "it holds more than the maxPayloadItems of 65536 values", "it has more than 1024 distinct map
 *   keys (maxPayloadKeys)", "it announces 4294967295 values but only 3 bytes remain"), or `null`.
 */
export function exceedsDecodeBudget(payload: Uint8Array, budget: DecodeBudget): string | null {
  const reason = scan(payload, budget, null);
  if (reason !== TOO_MANY_KEYS) return reason;
  const paths = keyPaths.begin(payload, budget.maxKeys ?? DEFAULT_MAX_PAYLOAD_KEYS);
  const counted = scan(payload, budget, paths);
  paths.finish();
  return counted;
}

/** Returned by the first pass when the payload holds more map keys than `maxKeys`. */
// Stryker disable next-line StringLiteral: a marker compared by identity with what the first pass returns and never shown; any string that is not a reason does
const TOO_MANY_KEYS = "too many keys to count without telling them apart";

/**
 * Values still to read in each open container, outermost first, while a pass runs: `depth` of them
 * are in use, and entries past it are stale. One array for every pass, which never overlap.
 */
const openCounts: number[] = [];

/**
 * One pass over `payload`. Without `paths`, it counts the map keys announced by headers and
 * returns {@link TOO_MANY_KEYS} as soon as they are more than `maxKeys`; with `paths`, it counts
 * the distinct ones.
 */
function scan(payload: Uint8Array, budget: DecodeBudget, paths: KeyPaths | null): string | null {
  const { maxDepth, maxItems } = budget;
  const maxKeys = budget.maxKeys ?? DEFAULT_MAX_PAYLOAD_KEYS;
  const end = payload.byteLength;
  const left = openCounts;
  let depth = 0;
  /** Values announced by the open containers and not read yet, all of them together. */
  let announced = 0;
  let items = 0;
  /** Map keys announced so far, distinct or not (first pass only). */
  let keys = 0;
  let pos = 0;
  while (pos < end) {
    const start = pos;
    const head = payload[pos++]!;
    /** The map this value is a key of, as its depth; -1 if it is not a map key. */
    let keyOf = -1;
    if (depth > 0) {
      const stillLeft = --left[depth - 1]!;
      announced--;
      // A map's count is twice its pairs and goes down from there: odd just after each key.
      if (paths !== null && paths.stack[depth - 1]! >= 0 && stillLeft % 2 === 1) keyOf = depth - 1;
    }
    /** Values this head announces when it opens an array or a map; -1 for any other value. */
    let count = -1;
    let isMap = false;
    let isExt = false;
    // Stryker disable next-line ConditionalExpression: a positive fixint that missed this branch would take the fixmap one with a negative count, which opens nothing: a scalar all the same
    if (head < 0x80 || head >= 0xe0) {
      // positive or negative fixint
    } else if (head < 0x90) {
      count = (head - 0x80) * 2;
      isMap = true;
    } else if (head < 0xa0) {
      count = head - 0x90;
    } else if (head < 0xc0) {
      pos += head - 0xa0; // fixstr
    } else {
      switch (head) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          break;
        case 0xcc: // uint 8
        case 0xd0: // int 8
          pos += 1;
          break;
        case 0xcd: // uint 16
        case 0xd1: // int 16
          pos += 2;
          break;
        case 0xca: // float 32
        case 0xce: // uint 32
        case 0xd2: // int 32
          pos += 4;
          break;
        case 0xcb: // float 64
        case 0xcf: // uint 64
        case 0xd3: // int 64
          pos += 8;
          break;
        // fixext 1, 2, 4, 8, 16: a type byte, then the data
        case 0xd4:
          pos += 2;
          isExt = true;
          break;
        case 0xd5:
          pos += 3;
          isExt = true;
          break;
        case 0xd6:
          pos += 5;
          isExt = true;
          break;
        case 0xd7:
          pos += 9;
          isExt = true;
          break;
        case 0xd8:
          pos += 17;
          isExt = true;
          break;
        case 0xc4: // bin 8
        case 0xd9: // str 8
          if (pos + 1 > end) return null;
          pos += 1 + payload[pos]!;
          break;
        case 0xc5: // bin 16
        case 0xda: // str 16
          if (pos + 2 > end) return null;
          pos += 2 + readUint16(payload, pos);
          break;
        case 0xc6: // bin 32
        case 0xdb: // str 32
          if (pos + 4 > end) return null;
          pos += 4 + readUint32(payload, pos);
          break;
        // ext 8, 16, 32: the length, a type byte, then the data
        case 0xc7:
          if (pos + 1 > end) return null;
          pos += 2 + payload[pos]!;
          isExt = true;
          break;
        case 0xc8:
          if (pos + 2 > end) return null;
          pos += 3 + readUint16(payload, pos);
          isExt = true;
          break;
        case 0xc9:
          if (pos + 4 > end) return null;
          pos += 5 + readUint32(payload, pos);
          isExt = true;
          break;
        case 0xdc: // array 16
          if (pos + 2 > end) return null;
          count = readUint16(payload, pos);
          pos += 2;
          break;
        case 0xdd: // array 32
          if (pos + 4 > end) return null;
          count = readUint32(payload, pos);
          pos += 4;
          break;
        case 0xde: // map 16
          if (pos + 2 > end) return null;
          count = readUint16(payload, pos) * 2;
          pos += 2;
          isMap = true;
          break;
        case 0xdf: // map 32
          if (pos + 4 > end) return null;
          count = readUint32(payload, pos) * 2;
          pos += 4;
          isMap = true;
          break;
        default: // 0xc1, never used: the decoder rejects it
          return null;
      }
    }
    if (count >= 0) {
      if (depth >= maxDepth) return `it nests deeper than the maxPayloadDepth of ${maxDepth}`;
      announced += count;
      if (announced > end - pos) return `it announces ${announced} values but only ${end - pos} bytes remain`;
      items += count;
      if (items > maxItems) return `it holds more than the maxPayloadItems of ${maxItems} values`;
      if (isMap && paths === null) {
        keys += count / 2;
        if (keys > maxKeys) return TOO_MANY_KEYS;
      }
      if (count > 0) {
        // A map's keys start a new sequence (0: no key yet); an array has none (-1).
        if (paths !== null) paths.stack[depth] = isMap ? 0 : -1;
        left[depth++] = count;
        continue;
      }
    } else if (isExt && depth > 0) {
      items += EXT_VALUE_WEIGHT - 1;
      if (items > maxItems) return `it holds more than the maxPayloadItems of ${maxItems} values`;
    } else if (keyOf >= 0) {
      if (pos > end) return null; // truncated: the decoder rejects it
      if (isNamedKey(payload, head, start + 1)) {
        const path = paths!.add(paths!.stack[keyOf]!, start, pos);
        // Stryker disable next-line EqualityOperator: add() returns an entry from 1, or -1: never 0
        if (path < 0) return `it has more than ${maxKeys} distinct map keys (maxPayloadKeys)`;
        paths!.stack[keyOf] = path;
      }
    }
    // A whole value was read: close every container it was the last value of.
    // Stryker disable next-line ConditionalExpression,EqualityOperator: left[-1] is never set, so at depth 0 the loop stops all the same
    while (depth > 0 && left[depth - 1] === 0) depth--;
    if (depth === 0) return null;
  }
  return null;
}

/**
 * Whether a map key whose head byte is `head` (data from `at`) is counted: strings and numbers
 * become named properties, each new one a hidden class, except the integers 0 to 2^32 - 2, which
 * V8 stores as array elements; those are recognised only when written as msgpack integers (a
 * float key always counts, even an integral one: counting too many is safe). Keys of other types
 * are not counted: the decoder throws on them before it has used them.
 */
function isNamedKey(bytes: Uint8Array, head: number, at: number): boolean {
  if (head >= 0xa0 && head < 0xc0) return true; // fixstr
  if (head >= 0xe0) return true; // negative fixint
  switch (head) {
    case 0xd9: // str 8, 16, 32
    case 0xda:
    case 0xdb:
    case 0xca: // float 32, 64
    case 0xcb:
      return true;
    case 0xce: // uint 32: only 2^32 - 1 is not an index
      return readUint32(bytes, at) === 0xffff_ffff;
    case 0xcf: // uint 64, int 64: an index if the high half is 0 and the low half not 2^32 - 1
    case 0xd3:
      return readUint32(bytes, at) !== 0 || readUint32(bytes, at + 4) === 0xffff_ffff;
    case 0xd0: // int 8, 16, 32: negative ones are names
    case 0xd1:
    case 0xd2:
      return bytes[at]! >= 0x80;
    default: // positive fixint, uint 8 and 16 (indices), and types the decoder rejects as keys
      return false;
  }
}

/** Random once per process, so that which keys share a slot of the table cannot be foreseen. */
const SEED = randomSeed();

function randomSeed(): number {
  const crypto = (globalThis as { crypto?: { getRandomValues?(array: Uint32Array): Uint32Array } }).crypto;
  if (typeof crypto?.getRandomValues === "function") return crypto.getRandomValues(new Uint32Array(1))[0]! | 0;
  // Stryker disable next-line ArithmeticOperator: never runs in Node (it has crypto.getRandomValues); and the seed only decides which keys share slots, never what is counted
  return (Math.random() * 0x1_0000_0000) | 0;
}

/**
 * Entries the table keeps room for between payloads: the default limit and more. A table grown
 * past it for a larger limit is given back after the payload.
 */
const RETAINED_CAPACITY = 4_096;

/**
 * Slots a lookup may probe before it counts the key as distinct without a slot. In a table at most
 * a quarter full, a run of 64 taken slots has a probability under 1e-15 per lookup: no honest
 * payload gets there (at half full with 32, one payload of 4,096 distinct keys in two hundred
 * was refused).
 */
const MAX_PROBES = 64;

const NO_PAYLOAD = new Uint8Array(0);

/**
 * The distinct key sequences of one payload, exactly: entry `n` (from 1; 0 is the empty sequence
 * every map starts from) is the sequence of entry `parents[n]` followed by the key whose encoded
 * bytes are `payload[starts[n], ends[n])`. Entries are found by a seeded hash in an
 * open-addressing table at most a quarter full, and told apart by comparing their bytes, so a hash
 * collision never merges two keys. A lookup that probes {@link MAX_PROBES} slots in vain counts its
 * key as new without finding a slot for it: with a random seed only a crafted payload gets there,
 * and it can only count more keys, never fewer, while each lookup stays bounded.
 *
 * There is one table, used by one payload at a time (the scan is synchronous) and kept between
 * payloads: besides sparing the allocations, an object that lives on keeps its hidden class, so
 * the optimised code that uses it is not thrown away by the next full garbage collection (which
 * made the first payload after each one cost ten times as much).
 */
class KeyPaths {
  /** The sequence of keys read so far in each open map, by depth; -1 for an open array. */
  readonly stack: number[] = [];
  private payload: Uint8Array = NO_PAYLOAD;
  private limit = 0;
  private count = 0;
  /** Entries that fit before the arrays below must grow. */
  private capacity = 0;
  private hashes = new Int32Array(1);
  private parents = new Int32Array(1);
  private starts = new Float64Array(1);
  private ends = new Float64Array(1);
  /** Entry numbers by hash slot; 0 is an empty slot. */
  private slots = new Int32Array(1);

  /** Starts counting the keys of `payload`, at most `limit` of them. */
  begin(payload: Uint8Array, limit: number): this {
    this.payload = payload;
    this.limit = limit;
    this.count = 0;
    const wanted = Math.max(1, Math.min(limit, RETAINED_CAPACITY));
    if (this.capacity < wanted) this.resize(wanted);
    else this.slots.fill(0);
    this.hashes[0] = SEED;
    return this;
  }

  /** Lets go of the payload, and of the room grown past {@link RETAINED_CAPACITY}. */
  finish(): void {
    this.payload = NO_PAYLOAD;
    if (this.capacity > RETAINED_CAPACITY) {
      this.count = 0;
      this.resize(RETAINED_CAPACITY);
    }
  }

  /**
   * The entry of sequence `parent` followed by the key at `payload[start, end)`, added if new;
   * -1 if it is new and there are `limit` entries already.
   */
  add(parent: number, start: number, end: number): number {
    const { payload, slots, hashes } = this;
    // FNV-1a over the key's bytes, started from the parent's hash (the seed for the empty
    // sequence), then mixed so that the low bits that pick the slot depend on every byte.
    let hash = hashes[parent]! ^ Math.imul(end - start, 0x9e37_79b1);
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ payload[i]!, 0x0100_0193);
    hash = mix(hash);
    const mask = slots.length - 1;
    let slot = hash & mask;
    // Stryker disable next-line EqualityOperator,UpdateOperator: differs only after 64 taken slots in a row, which a table at most a quarter full reaches only with keys crafted for the secret seed
    for (let probe = 0; probe < MAX_PROBES; probe++) {
      const entry = slots[slot]!;
      // Stryker disable next-line ConditionalExpression: nothing is ever removed, so no entry sits past an empty slot of its run: probing on finds nothing more, it only costs time
      if (entry === 0) break;
      // Stryker disable next-line ConditionalExpression: a key of the same bytes after a different parent has the same hash only if the parents' hashes collide (32 bits), which cannot be built without the secret seed
      if (hashes[entry] === hash && this.parents[entry] === parent && this.sameKey(entry, start, end)) return entry;
      slot = (slot + 1) & mask;
    }
    if (this.count === this.limit) return -1;
    if (this.count === this.capacity) this.resize(Math.min(this.limit, this.capacity * 2));
    const entry = ++this.count;
    this.hashes[entry] = hash;
    this.parents[entry] = parent;
    this.starts[entry] = start;
    this.ends[entry] = end;
    this.place(entry);
    return entry;
  }

  private sameKey(entry: number, start: number, end: number): boolean {
    const other = this.starts[entry]!;
    // Stryker disable next-line ConditionalExpression,BooleanLiteral: reached only for an entry of the same hash and parent, a different key only after a 32-bit collision, which cannot be built without the secret seed; and the bytes compared next include the key's length
    if (this.ends[entry]! - other !== end - start) return false;
    const { payload } = this;
    // Stryker disable next-line ConditionalExpression,EqualityOperator,BooleanLiteral: reached only for an entry of the same hash and parent, a different key only after a 32-bit collision, which cannot be built without the secret seed
    for (let i = 0; i < end - start; i++) if (payload[other + i] !== payload[start + i]) return false;
    return true;
  }

  /** Puts `entry` in the first free slot of its probe sequence, if there is one within reach. */
  private place(entry: number): void {
    const { slots } = this;
    const mask = slots.length - 1;
    let slot = this.hashes[entry]! & mask;
    // Stryker disable next-line EqualityOperator,UpdateOperator: differs only after 64 taken slots in a row, which a table at most a quarter full reaches only with keys crafted for the secret seed
    for (let probe = 0; probe < MAX_PROBES; probe++) {
      if (slots[slot] === 0) {
        slots[slot] = entry;
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  /** Makes room for `capacity` entries, keeping the current ones, in a new table. */
  private resize(capacity: number): void {
    const size = capacity + 1;
    this.hashes = copied(this.hashes, new Int32Array(size), this.count);
    this.parents = copied(this.parents, new Int32Array(size), this.count);
    this.starts = copied(this.starts, new Float64Array(size), this.count);
    this.ends = copied(this.ends, new Float64Array(size), this.count);
    this.slots = new Int32Array(slotsFor(capacity));
    this.capacity = capacity;
    for (let entry = 1; entry <= this.count; entry++) this.place(entry);
  }
}

const keyPaths = new KeyPaths();

/** `to` with the entries 0 to `count` of `from`. */
function copied<T extends Int32Array | Float64Array>(from: T, to: T, count: number): T {
  to.set(from.subarray(0, count + 1));
  return to;
}

function slotsFor(entries: number): number {
  let slots = 16;
  // Stryker disable next-line EqualityOperator: a table twice as large when the entries fill exactly a quarter of it is only sparser: the same counts
  while (slots < entries * 4) slots *= 2;
  return slots;
}

/** The last step of MurmurHash3: every bit of the result depends on every bit of `hash`. */
function mix(hash: number): number {
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85eb_ca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2_ae35);
  return hash ^ (hash >>> 16);
}
