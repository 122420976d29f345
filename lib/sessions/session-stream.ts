import { ACK_ACTION } from "../constants.js";
import type { Connection } from "../connections/connection.js";
import type { SendOptions } from "../connections/outbox.js";
import { encode } from "../protocol/codec.js";
import { ReplayLog } from "./replay-log.js";

/** Messages received before an acknowledgement is sent at once. */
const ACK_EVERY = 32;
/**
 * Bytes received before an acknowledgement is sent at once: a quarter of the default
 * `maxInFlightBytes`, so that a peer reading at full speed acknowledges well before the sender's
 * pacing would hold anything back.
 */
const ACK_BYTES = 16 * 1024;
/** Milliseconds an acknowledgement waits for more messages before it is sent anyway. */
const ACK_DELAY = 200;

/** Bounds of what a session keeps for replay. */
export interface SessionBounds {
  readonly maxMessages: number;
  readonly maxBytes: number;
  /** Bytes handed to the transport and not yet acknowledged, past which sends wait (see the class comment). */
  readonly maxInFlightBytes: number;
}

/**
 * The exactly-once bookkeeping one side of a session shares with the other, whatever carries it:
 * the messages it sent, numbered and kept until acknowledged; the count of messages it received;
 * and the acknowledgements (`@ack`) that let the peer trim what it keeps. Both ends of a session
 * hold one, the server's in its seat, the client's in its client.
 *
 * A connection is attached while the transport lives; without one, sends are only kept. On
 * attach, the peer's count of received messages says where the replay starts: nothing is sent
 * twice, nothing is skipped. Control messages (acks, pings) are not numbered.
 *
 * Send options keep the count exact, because the peer counts every message it receives and
 * cannot tell a volatile or latest-wins one from another (the wire format is the same):
 * - `volatile`: dropped, never numbered, during a gap (no connection) or when the connection
 *   holds a backlog (see `Connection.isClear`); otherwise numbered and kept like any message, so
 *   it reaches the peer exactly once even across a drop.
 * - `latest`: numbered when sent, like any message. While it has not been handed to a transport
 *   (it waits in the connection's backlog, or it was sent during a gap) a newer message with the
 *   same key takes its place and its number, in the backlog and in the replay log alike: the
 *   replaced message never reaches the peer and consumes no number of its own. Once handed to a
 *   transport it may have reached the peer: a newer message is numbered and queued after it.
 *
 * Pacing: once the peer has acknowledged anything (so it is known to acknowledge), a frame goes to
 * the transport only while the bytes handed to it and not yet acknowledged are under
 * `maxInFlightBytes`; the rest waits in the connection's backlog. A slow reader then holds at most
 * that much unread beyond the library's reach (the socket buffers of both kernels), and what
 * waits in the backlog can still be replaced (latest-wins) or dropped (volatile). Staleness for a
 * reader of R bytes per second is then about `maxInFlightBytes / R`, whatever the kernels buffer.
 */
export class SessionStream {
  private readonly log: ReplayLog;
  private receivedCount = 0;
  private ackedToPeer = 0;
  /** The connection's `receivedBytes` when the last acknowledgement went to the peer. */
  private ackedBytesToPeer = 0;
  /** Whether the peer acknowledges (it did once): pacing waits for it. */
  private peerAcknowledges = false;
  private readonly maxInFlightBytes: number;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private connection: Connection | null = null;
  /**
   * The latest-wins messages sent since the connection was lost, by key: their numbers. Never
   * handed to a transport, so a newer one with the same key replaces them in the log.
   */
  private gapSlots: Map<string, number> | null = null;

  constructor(bounds: SessionBounds) {
    this.log = new ReplayLog(bounds.maxMessages, bounds.maxBytes);
    this.maxInFlightBytes = bounds.maxInFlightBytes;
  }

  /** Messages received from the peer, in all. */
  get received(): number {
    return this.receivedCount;
  }

  /** Whether more was kept than the bounds allow: the session can no longer be resumed. */
  get isOverflowed(): boolean {
    return this.log.isOverflowed;
  }

  /** Bytes kept for replay. */
  get keptBytes(): number {
    return this.log.keptBytes;
  }

  /**
   * Bytes this side holds for the peer, `connection` being the one it writes to now (if any): what
   * is kept for a resume, which includes the kept frames still waiting in the connection (its
   * backlog, its socket's buffer), or what the connection holds if that is more (control frames
   * and a WebSocket's frame headers are not kept). The sum of the two would count a frame twice.
   */
  bufferedAmount(connection: Connection | null): number {
    return Math.max(this.log.keptBytes, connection?.bufferedAmount ?? 0);
  }

  /**
   * Numbers and keeps one frame, and writes it if a connection is attached (a connection still
   * opening queues it). Returns the frame's size: once kept, it reaches the peer, now or after a
   * resume, even if the connection cuts a peer that does not read. A volatile frame that would
   * wait returns 0, unnumbered; a latest-wins frame that replaces a waiting one keeps its number
   * (see the class comment).
   */
  send(frame: Uint8Array, options?: SendOptions): number {
    if (options === undefined) {
      this.log.push(frame);
      this.connection?.sendFrame(frame);
      return frame.byteLength;
    }
    const connection = this.connection;
    if (options.volatile === true && (connection === null || !connection.isClear)) return 0;
    const key = options.latest;
    if (key === undefined) {
      this.log.push(frame);
      connection?.sendFrame(frame);
      return frame.byteLength;
    }
    if (connection !== null) {
      const slot = connection.replaceLatest(key, frame);
      if (slot !== null) {
        this.log.replace(slot.tag, frame);
        return frame.byteLength;
      }
      this.log.push(frame);
      connection.sendFrame(frame, { latest: key }, this.log.sentCount);
      return frame.byteLength;
    }
    const gapSlots = (this.gapSlots ??= new Map());
    const waiting = gapSlots.get(key);
    if (waiting !== undefined && this.log.replace(waiting, frame)) return frame.byteLength;
    this.log.push(frame);
    gapSlots.set(key, this.log.sentCount);
    return frame.byteLength;
  }

  /** Counts one message received from the peer, and acknowledges in batches. */
  countReceived(): void {
    this.receivedCount++;
    if (
      this.receivedCount - this.ackedToPeer >= ACK_EVERY ||
      (this.connection !== null && this.connection.receivedBytes - this.ackedBytesToPeer >= ACK_BYTES)
    )
      this.sendAck();
    else if (this.ackTimer === undefined) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        this.sendAck();
      }, ACK_DELAY);
      this.ackTimer.unref?.();
    }
  }

  /** The peer's `@ack`: false for a count it cannot have (a broken or hostile peer). */
  acknowledge(count: unknown): boolean {
    if (typeof count !== "number" || !this.log.ack(count)) return false;
    this.peerAcknowledges = true;
    this.connection?.acknowledged();
    return true;
  }

  /**
   * Whether the peer has room for more: the bytes handed to the transport (those kept for replay
   * less those still waiting in the connection's backlog, `backlogBytes`) and not yet
   * acknowledged are under `maxInFlightBytes`. Always, before the peer first acknowledges and once
   * the log overflowed (it no longer knows what is unacknowledged).
   */
  private hasRoom(connection: Connection, backlogBytes: number): boolean {
    if (!this.peerAcknowledges || connection !== this.connection || this.log.isOverflowed) return true;
    return this.log.keptBytes - backlogBytes < this.maxInFlightBytes;
  }

  /** Whether every message after the peer's first `peerReceived` is still kept. */
  canReplay(peerReceived: unknown): peerReceived is number {
    return typeof peerReceived === "number" && this.log.since(peerReceived) !== null;
  }

  /**
   * Attaches a new connection and sends again what the peer has not received (`peerReceived` is
   * its count). False, with nothing attached, when those messages are not all kept any more.
   */
  attach(connection: Connection, peerReceived: number): boolean {
    const missed = this.log.since(peerReceived);
    if (missed === null) return false;
    this.log.ack(peerReceived);
    this.connection = connection;
    this.ackedBytesToPeer = connection.receivedBytes;
    connection.pace((backlogBytes) => this.hasRoom(connection, backlogBytes));
    // The resume handshake told the peer our count: it stands for an acknowledgement.
    this.ackedToPeer = this.receivedCount;
    // The latest-wins messages of the gap go out still replaceable while they wait, under their
    // numbers; the keys are looked up by number.
    const gapKeys = this.gapKeys();
    let n = peerReceived;
    for (const frame of missed) {
      n++;
      const key = gapKeys?.get(n);
      const sent = key === undefined ? connection.sendFrame(frame) : connection.sendFrame(frame, { latest: key }, n);
      if (sent === 0) break;
    }
    return true;
  }

  /** The numbers of the gap's latest-wins messages, with their keys; the gap is over. */
  private gapKeys(): Map<number, string> | null {
    const gapSlots = this.gapSlots;
    this.gapSlots = null;
    if (gapSlots === null) return null;
    const keys = new Map<number, string>();
    for (const [key, n] of gapSlots) keys.set(n, key);
    return keys;
  }

  /** The connection is gone; sends are only kept until the next `attach`. */
  detach(): void {
    this.connection = null;
    this.gapSlots = null;
    this.stopAckTimer();
  }

  /** The session ended: nothing more is sent or kept. */
  end(): void {
    this.detach();
    this.log.ack(this.log.sentCount);
  }

  /** Acknowledges at once (after a resume, it also tells the server the new token arrived). */
  acknowledgeNow(): void {
    this.sendAck();
  }

  private sendAck(): void {
    this.stopAckTimer();
    const connection = this.connection;
    if (connection === null || connection.state !== "open") return;
    this.ackedToPeer = this.receivedCount;
    this.ackedBytesToPeer = connection.receivedBytes;
    connection.sendFrame(encode({ action: ACK_ACTION, n: this.receivedCount }));
  }

  private stopAckTimer(): void {
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) does nothing
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }
}
