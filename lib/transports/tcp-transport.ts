import * as net from "node:net";
import { DEFAULT_FRAME_TIMEOUT, HEADER_SIZE } from "../constants.js";
import { ConnectionError } from "../errors.js";
import { FrameDecoder } from "../protocol/frame-decoder.js";
import type { Address } from "../types.js";
import { FrameDeadline, frameTimeoutError } from "./frame-deadline.js";
import type { Transport, TransportEvents } from "./transport.js";

/** Options of a {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** Largest payload accepted from the peer, in bytes. */
  readonly maxPayload: number;
  /** Whether the socket is already connected (accepted by a server). */
  readonly connected: boolean;
  /** Milliseconds given to the peer to close after `end()` before the socket is destroyed. */
  readonly closeTimeout?: number;
  /**
   * Milliseconds the peer has to finish a frame once its first byte arrived, else the connection
   * is destroyed with `ERR_FRAME_TIMEOUT`; 0 turns it off. Default 30,000 (`DEFAULT_FRAME_TIMEOUT`).
   */
  readonly frameTimeout?: number;
}

const DEFAULT_CLOSE_TIMEOUT = 5_000;
/** Milliseconds between two looks at a buffer that gives no drain event of its own. */
const DRAIN_POLL_INTERVAL = 10;

/** Where a socket's listeners find their transport (see {@link TcpTransport.start}). */
const TRANSPORT = Symbol("TcpTransport");

type OwnedSocket = net.Socket & { [TRANSPORT]?: TcpTransport };

/**
 * Length-prefixed msgpack frames over a `net.Socket`.
 *
 * Writes made in one turn of the event loop are coalesced into one `socket.write` when the turn
 * ends (a microtask): a game answering a burst of messages or broadcasting a tick pays for one
 * system call per socket, not one per message. One microtask flushes every transport written to
 * in the turn, so a broadcast to 500 sockets schedules one, not 500.
 *
 * A peer that starts a frame and does not finish it within `frameTimeout` (a half-open connection,
 * a slow-loris attack) is cut off with `ERR_FRAME_TIMEOUT`; one that sends nothing, like a Python
 * client that only listens, is not.
 */
export class TcpTransport implements Transport {
  readonly kind = "tcp";
  readonly remote: Address;
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly closeTimeout: number;
  private events: TransportEvents | null = null;
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Whether this transport waits in `dirty` for the end of the turn. */
  private flushPending = false;
  private opened: boolean;
  private failure: Error | undefined;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly frameTimeout: number;
  /**
   * Times a frame left partial; created when the first one is (or when reading pauses), never
   * with `frameTimeout: 0`. Most connections of a server only ever receive whole frames, or
   * nothing: they do without it.
   */
  private deadline: FrameDeadline | null = null;
  /** Whether the socket's `drain` is listened to: from the first `watchDrain` on. */
  private drainListened = false;
  /** The mark a `drain` is awaited below (`watchDrain`); 0 when none is. */
  private drainBelow = 0;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: net.Socket, options: TcpTransportOptions) {
    this.socket = socket;
    this.decoder = new FrameDecoder(options.maxPayload);
    this.opened = options.connected;
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.frameTimeout = options.frameTimeout ?? DEFAULT_FRAME_TIMEOUT;
    this.remote = { host: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
    if (options.connected) socket.setNoDelay(true);
  }

  /** Opens a TCP connection to `host:port`; `open` or `close(error)` reports the outcome. */
  static connect(host: string, port: number, options: Omit<TcpTransportOptions, "connected">): TcpTransport {
    const socket = net.connect({ host, port });
    const transport = new TcpTransport(socket, { ...options, connected: false });
    (transport as { remote: Address }).remote = { host, port };
    return transport;
  }

  get bufferedAmount(): number {
    return this.queuedBytes + this.socket.writableLength;
  }

  start(events: TransportEvents): void {
    this.events = events;
    const socket = this.socket;
    if (!this.opened) {
      socket.once("connect", () => {
        this.opened = true;
        socket.setNoDelay(true);
        events.open();
      });
    }
    // The same four listeners for every socket, which finds its transport through TRANSPORT,
    // rather than four closures per connection.
    (socket as OwnedSocket)[TRANSPORT] = this;
    socket.on("data", TcpTransport.onData);
    socket.on("error", TcpTransport.onError);
    socket.on("close", TcpTransport.onClose);
    socket.on("end", TcpTransport.onEnd);
  }

  private static onData(this: OwnedSocket, chunk: Buffer): void {
    const transport = this[TRANSPORT]!;
    const decoder = transport.decoder;
    const before = decoder.partialBytes;
    try {
      decoder.push(chunk, transport.events!.payload);
    } catch (error) {
      transport.destroy(error as Error);
      return;
    }
    const after = decoder.partialBytes;
    // A partial frame that grew by exactly the chunk is the one already timed; any other is new
    // (see FrameDecoder.partialBytes).
    if (after > 0) transport.frameDeadline()?.update(true, before === 0 || after !== before + chunk.byteLength);
    else transport.deadline?.update(false, false);
  }

  private static onError(this: OwnedSocket, error: Error): void {
    const transport = this[TRANSPORT]!;
    transport.failure ??= error;
  }

  private static onClose(this: OwnedSocket): void {
    const transport = this[TRANSPORT]!;
    transport.clearCloseTimer();
    transport.deadline?.stop();
    transport.stopDrainWatch();
    transport.queued = [];
    transport.queuedBytes = 0;
    transport.events!.close(transport.failure);
  }

  private static onEnd(this: OwnedSocket): void {
    const transport = this[TRANSPORT]!;
    // A peer that stops in the middle of a frame crashed or was killed: say so instead of
    // ending as cleanly as a peer that quit.
    const partial = transport.decoder.bufferedBytes;
    if (partial > 0) {
      transport.failure ??= new ConnectionError(
        "ERR_CONNECTION_LOST",
        `The peer closed the connection in the middle of a frame; dropped the ${partial} bytes received of it`,
      );
    }
    // The peer finished sending; finish ours too (what we queued still goes out first).
    transport.end();
  }

  write(frame: Uint8Array): void {
    if (this.socket.destroyed) return;
    this.queued.push(frame);
    this.queuedBytes += frame.byteLength;
    if (!this.flushPending) {
      this.flushPending = true;
      dirty.push(this);
      if (dirty.length === 1) queueMicrotask(flushDirty);
    }
  }

  watchDrain(below: number): void {
    this.drainBelow = below;
    if (!this.drainListened) {
      // Listened to from the first time a backlog waits for room, not for every connection: the
      // `drain`s emitted before mattered to nobody (nothing waited for them).
      this.drainListened = true;
      this.socket.on("drain", () => this.checkDrain());
    }
    // A write pending for this turn says after it is made; a full socket says with its `drain`.
    if (this.flushPending || this.socket.writableNeedDrain) return;
    queueMicrotask(() => this.checkDrain());
  }

  end(): void {
    this.stopDrainWatch();
    this.flushQueued();
    if (this.socket.destroyed || this.closeTimer !== undefined) return;
    this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.closeTimeout);
    this.closeTimer.unref?.();
  }

  destroy(error?: Error): void {
    if (error) this.failure ??= error;
    this.queued = [];
    this.queuedBytes = 0;
    this.stopDrainWatch();
    this.socket.destroy();
  }

  pause(): void {
    // Node stops reading from the socket once its small read buffer is full: the kernel's buffers
    // fill next, then TCP's window closes and the peer's writes wait.
    this.socket.pause();
    this.frameDeadline()?.hold();
  }

  resume(): void {
    this.deadline?.release();
    this.socket.resume();
  }

  /** @internal Writes what the turn queued, as one chunk; called by `flushDirty` and `end()`. */
  flushQueued(): void {
    this.flushPending = false;
    const queued = this.queued;
    if (queued.length === 0 || this.socket.destroyed || this.socket.writableEnded) return;
    let chunk: Uint8Array;
    if (queued.length === 1) {
      chunk = queued[0]!;
    } else {
      chunk = Buffer.allocUnsafe(this.queuedBytes);
      let offset = 0;
      for (const frame of queued) {
        chunk.set(frame, offset);
        offset += frame.byteLength;
      }
    }
    this.queued = [];
    this.queuedBytes = 0;
    this.socket.write(chunk);
    // The kernel usually takes the whole chunk at once: then the outbox may hand over more in
    // this same turn (one more system call per high-water mark's worth, not one per frame).
    if (this.drainBelow !== 0) this.checkDrain();
  }

  /** Reports `drain` if it is awaited and the buffer is below the mark; else waits for the socket's. */
  private checkDrain(): void {
    const below = this.drainBelow;
    if (below === 0 || this.socket.destroyed) return;
    if (this.bufferedAmount < below) {
      this.drainBelow = 0;
      this.events?.drain?.();
      return;
    }
    // Above the mark with nothing pending for this turn, the socket's buffer is past its own
    // (smaller) high-water mark, so its `drain` follows. Should it not (a socket that stopped
    // writing), a slow poll keeps the backlog from waiting for ever.
    if (!this.flushPending && !this.socket.writableNeedDrain && this.drainTimer === undefined) {
      this.drainTimer = setTimeout(() => {
        this.drainTimer = undefined;
        this.checkDrain();
      }, DRAIN_POLL_INTERVAL);
      this.drainTimer.unref?.();
    }
  }

  private stopDrainWatch(): void {
    this.drainBelow = 0;
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
  }

  /** The deadline of partial frames, created on first use; `null` with `frameTimeout: 0`. */
  private frameDeadline(): FrameDeadline | null {
    const timeout = this.frameTimeout;
    if (this.deadline === null && timeout > 0) {
      this.deadline = new FrameDeadline(timeout, (elapsed) =>
        this.destroy(frameTimeoutError(this.frameProgress(), elapsed, timeout)),
      );
    }
    return this.deadline;
  }

  /** What arrived of the partial frame, for the `ERR_FRAME_TIMEOUT` message. */
  private frameProgress(): string {
    const received = this.decoder.partialBytes;
    const announced = this.decoder.announcedBytes;
    return announced === 0
      ? `${received} of its ${HEADER_SIZE} header bytes`
      : `${received} of the ${announced} bytes its header announced (header included)`;
  }

  private clearCloseTimer(): void {
    if (this.closeTimer !== undefined) {
      clearTimeout(this.closeTimer);
      this.closeTimer = undefined;
    }
  }
}

/** The transports written to in the current turn, flushed together by one microtask. */
let dirty: TcpTransport[] = [];

function flushDirty(): void {
  const transports = dirty;
  dirty = [];
  for (const transport of transports) transport.flushQueued();
}
