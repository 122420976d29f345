import { ACK_ACTION } from "../constants.js";
import type { Connection } from "../connections/connection.js";
import { encode } from "../protocol/codec.js";
import { ReplayLog } from "./replay-log.js";

/** Messages received before an acknowledgement is sent at once. */
const ACK_EVERY = 32;
/** Milliseconds an acknowledgement waits for more messages before it is sent anyway. */
const ACK_DELAY = 200;

/** Bounds of what a session keeps for replay. */
export interface SessionBounds {
  readonly maxMessages: number;
  readonly maxBytes: number;
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
 */
export class SessionStream {
  private readonly log: ReplayLog;
  private receivedCount = 0;
  private ackedToPeer = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private connection: Connection | null = null;

  constructor(bounds: SessionBounds) {
    this.log = new ReplayLog(bounds.maxMessages, bounds.maxBytes);
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
   * Numbers and keeps one frame, and writes it if a connection is attached (a connection still
   * opening queues it). Returns the frame's size: once kept, it reaches the peer, now or after a
   * resume, even if the connection cuts a peer that does not read.
   */
  send(frame: Uint8Array): number {
    this.log.push(frame);
    this.connection?.sendFrame(frame);
    return frame.byteLength;
  }

  /** Counts one message received from the peer, and acknowledges in batches. */
  countReceived(): void {
    this.receivedCount++;
    if (this.receivedCount - this.ackedToPeer >= ACK_EVERY) this.sendAck();
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
    return typeof count === "number" && this.log.ack(count);
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
    // The resume handshake told the peer our count: it stands for an acknowledgement.
    this.ackedToPeer = this.receivedCount;
    for (const frame of missed) {
      if (connection.sendFrame(frame) === 0) break;
    }
    return true;
  }

  /** The connection is gone; sends are only kept until the next `attach`. */
  detach(): void {
    this.connection = null;
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
    connection.sendFrame(encode({ action: ACK_ACTION, n: this.receivedCount }));
  }

  private stopAckTimer(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }
}
