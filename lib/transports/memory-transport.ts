import { HEADER_SIZE } from "../constants.js";
import { ProtocolError } from "../errors.js";
import type { Address } from "../types.js";
import type { Transport, TransportEvents } from "./transport.js";

/** Runs `work` in a later turn of the event loop, in Node and in browsers alike. */
const nextTurn: (work: () => void) => void =
  typeof setImmediate === "function" ? (work) => setImmediate(work) : (work) => setTimeout(work, 0);

const LOCAL_ADDRESS: Address = Object.freeze({ host: "local", port: 0 });

/**
 * One end of an in-process connection: a server and its players in one process, with no socket.
 *
 * Frames still go through the codec and are delivered in a later turn of the event loop, in
 * order, batched per turn like TCP reads, so that what works locally works on the wire, and two
 * bots answering each other cannot starve timers and I/O the way a microtask loop would.
 *
 * `frameTimeout` does not apply: frames are handed over whole, so none is ever partial.
 *
 * `pause()` keeps what arrives undelivered until `resume()`; those bytes count in the sending
 * end's `bufferedAmount`, as unread bytes fill a socket's buffers, so a peer that keeps writing to
 * a paused end meets its own `maxQueuedBytes`.
 */
export class MemoryTransport implements Transport {
  readonly kind = "memory";
  readonly remote: Address = LOCAL_ADDRESS;
  private peer!: MemoryTransport;
  private events: TransportEvents | null = null;
  private opened: boolean;
  private closed = false;
  private ending = false;
  /** Frames written and not yet delivered to the peer. */
  private outgoing: Uint8Array[] = [];
  private outgoingBytes = 0;
  private flushScheduled = false;
  /** Frames that reached this end before it was started and opened, or while it is paused. */
  private inbox: (Uint8Array | undefined)[] = [];
  /** Where the undelivered part of `inbox` starts. */
  private inboxHead = 0;
  /** Bytes of the undelivered frames in `inbox`. */
  private inboxBytes = 0;
  private paused = false;
  /** Why a client end created by {@link MemoryTransport.failed} cannot connect. */
  private failure: Error | undefined;
  /** The mark a `drain` is awaited below (`watchDrain`); 0 when none is. */
  private drainBelow = 0;

  private constructor(
    private readonly maxPayload: number,
    opened: boolean,
  ) {
    this.opened = opened;
  }

  /**
   * Two connected ends: the client's (which opens in a later turn, like a socket) and the
   * server's (open at once).
   */
  static pair(clientMaxPayload: number, serverMaxPayload: number): [client: MemoryTransport, server: MemoryTransport] {
    const client = new MemoryTransport(clientMaxPayload, false);
    const server = new MemoryTransport(serverMaxPayload, true);
    client.peer = server;
    server.peer = client;
    return [client, server];
  }

  /**
   * A client end that fails to connect: it reports `close(error)` in a later turn, as a socket
   * reports a refused connection, and never opens.
   */
  static failed(error: Error): MemoryTransport {
    const [client, server] = MemoryTransport.pair(0, 0);
    server.closed = true;
    client.failure = error;
    return client;
  }

  get bufferedAmount(): number {
    return this.outgoingBytes + this.peer.inboxBytes;
  }

  start(events: TransportEvents): void {
    this.events = events;
    if (this.failure !== undefined) {
      this.finish(this.failure);
    } else if (!this.opened) {
      nextTurn(() => {
        if (this.closed) return;
        this.opened = true;
        events.open();
        this.drainInbox();
      });
    } else {
      this.drainInbox();
    }
  }

  write(frame: Uint8Array): void {
    if (this.closed || this.ending) return;
    this.outgoing.push(frame);
    this.outgoingBytes += frame.byteLength;
    this.scheduleFlush();
  }

  watchDrain(below: number): void {
    this.drainBelow = below;
    // A flush to come, or a paused peer that reads what waits for it, says when there is room.
    if (this.flushScheduled || this.peer.inboxBytes > 0) return;
    nextTurn(() => this.checkDrain());
  }

  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.scheduleFlush();
  }

  destroy(error?: Error): void {
    this.outgoing = [];
    this.outgoingBytes = 0;
    // What this end has not read yet is dropped with it, as a destroyed socket drops its buffer.
    this.clearInbox();
    this.finish(error);
    this.peer.finish(undefined);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.events !== null && this.opened && !this.closed) this.drainInbox();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    nextTurn(() => {
      this.flushScheduled = false;
      // A socket's peer is connected before it reads anything: frames (and the end) wait for the
      // client's end to open, or a greeting then close (a refusal, a kick) would be lost with it.
      if (this.peer.events !== null && !this.peer.opened && !this.peer.closed) {
        this.scheduleFlush();
        return;
      }
      const frames = this.outgoing;
      this.outgoing = [];
      this.outgoingBytes = 0;
      for (const frame of frames) this.peer.receive(frame);
      this.checkDrain();
      if (this.ending) {
        this.finish(undefined);
        this.peer.finish(undefined);
      }
    });
  }

  private receive(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.events === null || !this.opened || this.paused) {
      this.inbox.push(frame);
      this.inboxBytes += frame.byteLength;
      return;
    }
    this.deliver(frame);
  }

  private deliver(frame: Uint8Array): void {
    const length = frame.byteLength - HEADER_SIZE;
    if (length > this.maxPayload) {
      this.destroy(
        new ProtocolError(
          "ERR_PAYLOAD_TOO_LARGE",
          `Frame header announces a ${length}-byte payload, over the ${this.maxPayload}-byte maxPayload limit`,
        ),
      );
      return;
    }
    this.events!.payload(frame.subarray(HEADER_SIZE));
  }

  /** Delivers what waits in `inbox`, in order, until it is empty or the receiver pauses again. */
  private drainInbox(): void {
    while (this.inboxHead < this.inbox.length) {
      if (this.closed || this.paused) break;
      const frame = this.takeFromInbox();
      this.deliver(frame);
    }
    if (this.inboxHead === this.inbox.length) this.clearInbox();
    // What the sending end counted as not yet taken was read: it may send more.
    this.peer.checkDrain();
  }

  /** Reports `drain` if it is awaited and what waits for the peer is below the mark. */
  private checkDrain(): void {
    const below = this.drainBelow;
    if (below === 0 || this.closed || this.ending) return;
    if (this.bufferedAmount < below) {
      this.drainBelow = 0;
      this.events?.drain?.();
    }
  }

  private takeFromInbox(): Uint8Array {
    const frame = this.inbox[this.inboxHead]!;
    this.inbox[this.inboxHead++] = undefined;
    this.inboxBytes -= frame.byteLength;
    return frame;
  }

  private clearInbox(): void {
    this.inbox = [];
    this.inboxHead = 0;
    this.inboxBytes = 0;
  }

  private finish(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    const events = this.events;
    // What a paused end has not delivered yet arrived before the close: it is still delivered, in
    // order and first, as a socket delivers what it received before the peer's close. Frames for
    // an end that never opened are dropped (nobody reads them).
    const unread: Uint8Array[] = [];
    if (events !== null && this.opened) while (this.inboxHead < this.inbox.length) unread.push(this.takeFromInbox());
    this.clearInbox();
    if (events !== null) {
      nextTurn(() => {
        for (const frame of unread) this.deliver(frame);
        events.close(error);
      });
    }
  }
}
