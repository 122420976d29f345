import type { Transport } from "../transports/transport.js";
import { describeOptionValue } from "./connection-options.js";

/**
 * How far a transport's own buffer (bytes handed to it and not yet taken by the operating system:
 * a socket's write buffer, a WebSocket's `bufferedAmount`) may fill before the outbox stops handing
 * it frames and keeps the rest itself: 64 KiB. Below it every frame goes straight to the transport,
 * which still coalesces a turn's frames into one system call; above it frames wait in the outbox,
 * where a latest-wins message can replace an older one with the same key and a volatile one can be
 * dropped, instead of in a socket buffer where nothing can be taken back.
 *
 * 64 KiB keeps a fast link busy between two drain events. It does not bound what a slow link
 * holds beyond the library's reach: the kernels' socket buffers below it (on Linux, up to several
 * MiB between two processes on one machine, grown automatically) take frames as long as they have
 * room. Only the peer's acknowledgements tell how much of that is still unread: see
 * {@link Outbox.pace}.
 */
export const HIGH_WATER_MARK = 64 * 1024;

/**
 * Bytes accepted in earlier turns that may still wait without the peer counting as behind: 4 KiB,
 * or a quarter of `maxQueuedBytes` when that is less (so that a small bound stays a bound). Some links deliver in their own rhythm and hold a few small messages for a moment although the
 * peer keeps up (the in-memory transport delivers once per event-loop turn, a browser's WebSocket
 * on its network thread), and WebSocket framing adds a few bytes per message that TCP framing
 * does not count.
 */
export const BEHIND_SLACK = 4 * 1024;

/**
 * How a message is sent, for `send()` on a channel, a client, a listener, and for broadcasts. The
 * wire format is the same whatever the options: the peer cannot tell them apart.
 */
export interface SendOptions {
  /**
   * Drop the message instead of letting it wait: when this connection already holds a backlog
   * (earlier messages wait for a peer that reads slowly), when its transport's buffer is at the
   * high-water mark (64 KiB), while a client is connecting or reconnecting, while a resumable
   * session is in a gap, and while its peer has more unacknowledged than the session's pacing
   * allows (`resume.maxInFlightBytes`, 64 KiB), `send()` returns 0 and the message is gone for good (never queued, never
   * replayed). Otherwise it is sent like any other message. For state that the next update
   * supersedes anyway (a position streamed at 60 Hz). Default `false`.
   */
  readonly volatile?: boolean;
  /**
   * Latest wins: while a message sent with the same key still waits unsent in this connection's
   * backlog, the new message replaces it in its place in the queue, so a slow peer gets the newest
   * state instead of a queue of stale ones, and the backlog does not grow. A message that left for
   * the transport already is not replaced: the new one queues behind it.
   *
   * Order: the new message takes the replaced one's slot. Messages sent between the two without
   * this key (or with another key) were queued behind that slot, so the peer receives the newest
   * keyed message before them: for `send(A1, { latest: "a" })`, `send(B)`, `send(A2, { latest: "a" })`
   * while a backlog exists, the peer receives A2 then B (A1 never). Without a backlog every message
   * goes out at once, in send order. Default: none (an ordinary message).
   */
  readonly latest?: string;
}

/**
 * Checks the options of a `send()` up front, whatever the state of the connection, so a mistake
 * shows the first time it is made and not only once a backlog exists.
 * @throws {TypeError} for options that are not an object, a `volatile` that is not a boolean or a
 *   `latest` that is not a string.
 */
export function checkSendOptions(options: SendOptions | undefined): void {
  if (options === undefined) return;
  if (
    typeof options !== "object" ||
    options === null ||
    (options.volatile !== undefined && typeof options.volatile !== "boolean") ||
    (options.latest !== undefined && typeof options.latest !== "string")
  ) {
    throw new TypeError(
      `send options must be { volatile?: boolean, latest?: string }, got ${describeOptionValue(options)}`,
    );
  }
}

/** A latest-wins frame that waits: replaced in place while it waits. */
export interface LatestSlot {
  frame: Uint8Array;
  readonly key: string;
  /** What the sender attached to the frame (a session's number for it), kept across replacements. */
  readonly tag: number;
}

type Entry = Uint8Array | LatestSlot;

/**
 * Frames waiting in order, some of them latest-wins slots that a newer frame with the same key
 * replaces in place. Used for a connection's backlog and for what a client queues while it
 * reconnects. Frames are kept as given: a broadcast's frame is shared by every queue that holds it.
 */
export class FrameQueue {
  #entries: (Entry | undefined)[] = [];
  /** Where the waiting part of `entries` starts (trimmed lazily, so that `shift` is O(1)). */
  #head = 0;
  /** The slot that waits for each key; only keys of waiting slots are here. */
  #slots: Map<string, LatestSlot> | null = null;
  /** Bytes of the waiting frames. */
  bytes = 0;

  get isEmpty(): boolean {
    return this.#head === this.#entries.length;
  }

  /** Frames waiting. */
  get length(): number {
    return this.#entries.length - this.#head;
  }

  /** Appends one frame; with a `key`, as the slot newer frames with that key will replace. */
  push(frame: Uint8Array, key?: string, tag = 0): void {
    if (key === undefined) {
      this.#entries.push(frame);
    } else {
      const slot: LatestSlot = { frame, key, tag };
      this.#entries.push(slot);
      (this.#slots ??= new Map()).set(key, slot);
    }
    this.bytes += frame.byteLength;
  }

  /** The slot waiting with `key`, if any. */
  slot(key: string): LatestSlot | undefined {
    return this.#slots?.get(key);
  }

  /** Puts `frame` in the place of the slot's frame. */
  replace(slot: LatestSlot, frame: Uint8Array): void {
    this.bytes += frame.byteLength - slot.frame.byteLength;
    slot.frame = frame;
  }

  /** The first waiting frame, taken out of the queue. Only when not empty. */
  shift(): Uint8Array {
    return this.frameOf(this.shiftEntry());
  }

  /** The first waiting entry (a slot keeps its key), taken out of the queue. Only when not empty. */
  shiftEntry(): Entry {
    const entry = this.#entries[this.#head]!;
    this.#entries[this.#head++] = undefined;
    let frame: Uint8Array;
    if (entry instanceof Uint8Array) {
      frame = entry;
    } else {
      frame = entry.frame;
      // Left for good: a newer frame with this key queues anew.
      if (this.#slots!.get(entry.key) === entry) this.#slots!.delete(entry.key);
    }
    this.bytes -= frame.byteLength;
    // Stryker disable next-line ConditionalExpression,BlockStatement: memory only: an emptied queue that keeps its spent entries reads the same (isEmpty, length, the next push), and the compaction below frees them
    if (this.#head === this.#entries.length) {
      // Stryker disable ConditionalExpression,LogicalOperator,EqualityOperator,ArithmeticOperator,BlockStatement: the compaction below is for memory and time only: compacting sooner, later, on every frame or never leaves the same frames waiting in the same order
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      // Compacted once half the array is spent: O(1) per frame amortized.
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    // Stryker restore ConditionalExpression,LogicalOperator,EqualityOperator,ArithmeticOperator,BlockStatement
    return entry;
  }

  /** The frame of an entry. */
  frameOf(entry: Entry): Uint8Array {
    return entry instanceof Uint8Array ? entry : entry.frame;
  }

  /** Drops everything. */
  clear(): void {
    this.#entries = [];
    this.#head = 0;
    this.#slots = null;
    this.bytes = 0;
  }
}

/**
 * The current turn of the event loop, as a number: it changes once the microtasks of the turn
 * have run. The transports coalesce a turn's writes on the same boundary, so a "turn" here is
 * what leaves in one system call.
 */
let turn = 0;
let turnEnding = false;

function endTurn(): void {
  turn++;
  turnEnding = false;
}

function currentTurn(): number {
  if (!turnEnding) {
    turnEnding = true;
    queueMicrotask(endTurn);
  }
  return turn;
}

/**
 * The sending side of one connection: hands frames to the transport while the transport's own
 * buffer is below {@link HIGH_WATER_MARK}, and keeps the rest, in order, until the transport
 * reports that it drained (TCP: the socket's `drain`; WebSocket: the socket under it; in-memory:
 * delivery to the peer; a browser's WebSocket: `bufferedAmount`, polled only while a backlog
 * exists). With no backlog, a frame costs one comparison more than a plain `transport.write`.
 *
 * `maxQueuedBytes` bounds the backlog plus the transport's buffer, but not what the current turn
 * wrote: a synchronous burst to a peer that keeps up is never cut off, whatever its size. A peer is
 * behind when bytes accepted in earlier turns still wait (more than {@link BEHIND_SLACK}); a frame
 * that would then take what waits past `maxQueuedBytes` is refused and the peer cut off
 * (`ERR_SEND_QUEUE_FULL`). So a peer that stops reading holds at most `maxQueuedBytes`, or the
 * slack plus what one turn wrote before it fell behind if that is more.
 *
 * Until {@link Outbox.start} (a client's transport still opening) everything waits, within
 * `maxQueuedBytes`, refused (not cut off) past it.
 */
export class Outbox {
  readonly #backlog = new FrameQueue();
  /** Whether frames may go to the transport: it is open and nothing closed it. */
  #flowing = false;
  /** Whether a `drain` was asked of the transport and has not come yet. */
  // Stryker disable next-line BooleanLiteral: never read before start(), whose drain() sets it false: a drain is asked only while frames flow
  #watching = false;
  /** The turn `turnBytes` counts, and the bytes accepted in it. */
  #turn = -1;
  #turnBytes = 0;
  /** What waited when the turn's first frame came: bytes of earlier turns. */
  #carried = 0;
  /** {@link BEHIND_SLACK} for this bound. */
  readonly #slack: number;
  /** Whether the peer may be handed more, given the bytes that wait here (see {@link pace}). */
  #gate: ((backlogBytes: number) => boolean) | null = null;

  readonly #transport: Transport;
  readonly #maxQueuedBytes: number;

  constructor(transport: Transport, maxQueuedBytes: number) {
    this.#transport = transport;
    this.#maxQueuedBytes = maxQueuedBytes;
    this.#slack = Math.min(BEHIND_SLACK, Math.floor(maxQueuedBytes / 4));
  }

  /** Bytes waiting in the backlog. */
  get backlogBytes(): number {
    return this.#backlog.bytes;
  }

  /** Frames waiting in the backlog. */
  get backlogLength(): number {
    return this.#backlog.length;
  }

  /** Bytes waiting here and in the transport's buffer. */
  get bufferedAmount(): number {
    return this.#backlog.bytes + this.#transport.bufferedAmount;
  }

  /** Whether a frame offered now goes to the transport at once (what a volatile frame needs). */
  get isClear(): boolean {
    return (
      this.#flowing &&
      this.#backlog.isEmpty &&
      this.#transport.bufferedAmount < HIGH_WATER_MARK &&
      (this.#gate === null || this.#gate(0))
    );
  }

  /**
   * Paces the connection by what the peer has acknowledged: from now on a frame goes to the
   * transport only while `gate(backlogBytes)` says the peer has room (a resumable session counts
   * the bytes sent and not yet acknowledged, see `SessionStream`), and waits in the backlog
   * otherwise, where latest-wins frames replace each other and volatile ones are dropped. The
   * transport's high-water mark alone cannot do this: the kernels' socket buffers under it take
   * megabytes that can never be taken back. Whoever paces calls {@link drain} when the peer
   * acknowledges; no drain of the transport reopens a closed gate.
   */
  pace(gate: (backlogBytes: number) => boolean): void {
    this.#gate = gate;
  }

  /**
   * Takes one frame: hands it to the transport, keeps it in the backlog, or, with a `key`, puts
   * it in the place of the waiting frame with that key. Returns the bytes accepted; 0 when it does
   * not fit before the transport opened; -1 when it would take a peer that is behind past
   * `maxQueuedBytes` (the caller cuts it off). `tag` is kept with a keyed frame (see {@link replace}).
   */
  offer(frame: Uint8Array, key?: string, tag = 0): number {
    const size = frame.byteLength;
    if (this.#flowing && this.#backlog.isEmpty) {
      // The fast path: nothing waits, so nothing can be replaced and the order is kept.
      const buffered = this.#transport.bufferedAmount;
      if (buffered < HIGH_WATER_MARK && (this.#gate === null || this.#gate(0))) {
        if (buffered + size > this.#maxQueuedBytes && this.#isBehind(buffered)) return -1;
        this.#count(size, buffered);
        this.#transport.write(frame);
        return size;
      }
    }
    if (key !== undefined) {
      const slot = this.#backlog.slot(key);
      if (slot !== undefined) return this.#replaceIn(slot, frame) ? size : this.#refusal();
    }
    if (!this.#fits(size)) return this.#refusal();
    this.#count(size, this.bufferedAmount);
    this.#backlog.push(frame, key, tag);
    if (this.#flowing) this.#watch();
    return size;
  }

  /**
   * Puts `frame` in the place of the waiting frame with `key`. Returns that slot (its `tag` is what
   * was given with the first frame), `null` when no frame with `key` waits, or `undefined` when
   * the bigger frame would take a peer that is behind past `maxQueuedBytes`.
   */
  replace(key: string, frame: Uint8Array): LatestSlot | null | undefined {
    const slot = this.#backlog.slot(key);
    if (slot === undefined) return null;
    return this.#replaceIn(slot, frame) ? slot : undefined;
  }

  /** The transport opened: what waits goes out, within the high-water mark. */
  start(): void {
    this.#flowing = true;
    this.drain();
  }

  /** The transport reported room in its buffer: more frames go out, in order. */
  drain(): void {
    this.#watching = false;
    if (!this.#flowing) return;
    const backlog = this.#backlog;
    const transport = this.#transport;
    const gate = this.#gate;
    while (!backlog.isEmpty && transport.bufferedAmount < HIGH_WATER_MARK) {
      // The peer's next acknowledgement drains again; the transport's drain would not help.
      if (gate !== null && !gate(backlog.bytes)) return;
      transport.write(backlog.shift());
    }
    if (!backlog.isEmpty) this.#watch();
  }

  /**
   * Hands the whole backlog to the transport, whatever its buffer holds, and stops: the connection
   * closes gracefully, and the transport delivers what it holds before it closes (or cuts the
   * peer after `closeTimeout`).
   */
  flushAll(): void {
    const backlog = this.#backlog;
    if (this.#flowing) while (!backlog.isEmpty) this.#transport.write(backlog.shift());
    this.stop();
  }

  /** Drops what waits and takes nothing more. */
  stop(): void {
    this.#flowing = false;
    this.#backlog.clear();
  }

  #replaceIn(slot: LatestSlot, frame: Uint8Array): boolean {
    const growth = frame.byteLength - slot.frame.byteLength;
    if (growth > 0) {
      if (!this.#fits(growth)) return false;
      this.#count(growth, this.bufferedAmount);
    }
    this.#backlog.replace(slot, frame);
    return true;
  }

  /** Whether `size` more bytes may wait. */
  #fits(size: number): boolean {
    const buffered = this.bufferedAmount;
    if (buffered + size <= this.#maxQueuedBytes) return true;
    // Before the transport opens the bound is strict; after, only a peer that is behind meets it.
    return this.#flowing && !this.#isBehind(buffered);
  }

  /** 0 (refused) before the transport opened, -1 (cut off) after. */
  #refusal(): number {
    return this.#flowing ? -1 : 0;
  }

  /**
   * Whether more than {@link BEHIND_SLACK} bytes accepted before this turn still wait. Bytes leave
   * in order, so of the `buffered` bytes waiting, the newest are this turn's and any beyond them
   * older; and no more of them can wait than waited when the turn began.
   */
  #isBehind(buffered: number): boolean {
    const earlier = this.#turn === currentTurn() ? Math.min(this.#carried, buffered - this.#turnBytes) : buffered;
    return earlier > this.#slack;
  }

  /** Counts `size` bytes accepted now; `buffered` is what waited before them. */
  #count(size: number, buffered: number): void {
    const now = currentTurn();
    if (this.#turn === now) {
      this.#turnBytes += size;
    } else {
      this.#turn = now;
      this.#turnBytes = size;
      this.#carried = buffered;
    }
  }

  #watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#transport.watchDrain(HIGH_WATER_MARK);
  }
}
