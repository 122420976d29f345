/**
 * The messages one side of a resumable session has sent and the peer has not yet acknowledged,
 * numbered from 1 in send order. After a dropped connection the peer says how many it received,
 * and everything after that count is sent again, so each message reaches it exactly once.
 *
 * Messages are kept as encoded frames (a broadcast's frame is shared, never copied) and trimmed
 * as acknowledgements arrive. The log is bounded in messages and bytes; `push` reports when a
 * bound is passed, and the session cannot be resumed any more.
 */
export class ReplayLog {
  /** Frames not yet acknowledged; `frames[i]` has number `acked + 1 + i`. */
  private frames: Uint8Array[] = [];
  /** Index of the first frame still kept in `frames` (trimmed lazily to keep `ack` O(1)). */
  private head = 0;
  private bytes = 0;
  private acked = 0;
  private sent = 0;
  private overflowed = false;

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {}

  /** How many messages were sent in all. */
  get sentCount(): number {
    return this.sent;
  }

  /** How many messages the peer has acknowledged. */
  get ackedCount(): number {
    return this.acked;
  }

  /** Bytes kept for replay. */
  get keptBytes(): number {
    return this.bytes;
  }

  /** Messages kept for replay. */
  get keptMessages(): number {
    return this.sent - this.acked;
  }

  /** Whether a bound was passed: from then on frames are only counted, and nothing can be replayed. */
  get isOverflowed(): boolean {
    return this.overflowed;
  }

  /** Numbers and keeps one frame; false once the log is over one of its bounds (it then keeps nothing). */
  push(frame: Uint8Array): boolean {
    this.sent++;
    if (this.overflowed) return false;
    this.frames.push(frame);
    this.bytes += frame.byteLength;
    if (this.keptMessages <= this.maxMessages && this.bytes <= this.maxBytes) return true;
    // Past a bound the log can never serve a replay again: let go of everything at once.
    this.overflowed = true;
    this.frames = [];
    this.head = 0;
    this.bytes = 0;
    return false;
  }

  /**
   * Puts `frame` in the place of message number `n` (numbered from 1), which must not have been
   * handed to any transport yet: a latest-wins message replaced while it waited. The number stays:
   * the peer counts the new frame where it would have counted the old one. False when `n` is no
   * longer kept (acknowledged, or the log overflowed). Passing a bound overflows the log, as `push`.
   */
  replace(n: number, frame: Uint8Array): boolean {
    if (this.overflowed || n <= this.acked || n > this.sent) return false;
    const index = this.head + (n - this.acked - 1);
    this.bytes += frame.byteLength - this.frames[index]!.byteLength;
    this.frames[index] = frame;
    if (this.bytes <= this.maxBytes) return true;
    this.overflowed = true;
    this.frames = [];
    this.head = 0;
    this.bytes = 0;
    return false;
  }

  /**
   * The peer received the first `count` messages: they need never be sent again.
   * @returns false when `count` is not a number this log can take (beyond what was sent): a peer
   *   that claims to have received messages never sent is broken or hostile.
   */
  ack(count: number): boolean {
    if (!Number.isSafeInteger(count) || count > this.sent) return false;
    if (this.overflowed) {
      this.acked = Math.max(this.acked, count);
      return true;
    }
    while (this.acked < count) {
      this.bytes -= this.frames[this.head]!.byteLength;
      this.frames[this.head] = EMPTY;
      this.head++;
      this.acked++;
    }
    // Compact once half the array is spent, so trimming costs O(1) per message amortized. Early
    // (from 64 spent slots): a peer that keeps up leaves only a few frames unacknowledged, and a
    // later threshold would have every session carry a thousand dead slots between compactions.
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ArithmeticOperator,LogicalOperator,BlockStatement: when to compact only costs time and memory; slice(head) keeps the same frames in the same order
    if (this.head > 64 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
    return true;
  }

  /**
   * The frames after the first `received`, in order, to send again after a resume; `null` when
   * they are not all kept (`received` below what was acknowledged, or beyond what was sent).
   */
  since(received: number): Uint8Array[] | null {
    if (this.overflowed || !Number.isSafeInteger(received) || received < this.acked || received > this.sent)
      return null;
    return this.frames.slice(this.head + (received - this.acked));
  }
}

const EMPTY = new Uint8Array(0);
