import * as net from "node:net";
import { ConnectionError } from "../errors.js";
import { FrameDecoder } from "../protocol/frame-decoder.js";
import type { Address } from "../types.js";
import type { Transport, TransportEvents } from "./transport.js";

/** Options of a {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** Largest payload accepted from the peer, in bytes. */
  readonly maxPayload: number;
  /** Whether the socket is already connected (accepted by a server). */
  readonly connected: boolean;
  /** Milliseconds given to the peer to close after `end()` before the socket is destroyed. */
  readonly closeTimeout?: number;
}

const DEFAULT_CLOSE_TIMEOUT = 5_000;

/**
 * Length-prefixed msgpack frames over a `net.Socket`.
 *
 * Writes made in one turn of the event loop are coalesced into one `socket.write` when the turn
 * ends (a microtask): a game answering a burst of messages or broadcasting a tick pays for one
 * system call per socket, not one per message. One microtask flushes every transport written to
 * in the turn, so a broadcast to 500 sockets schedules one, not 500.
 */
export class TcpTransport implements Transport {
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

  constructor(socket: net.Socket, options: TcpTransportOptions) {
    this.socket = socket;
    this.decoder = new FrameDecoder(options.maxPayload);
    this.opened = options.connected;
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
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
    socket.on("data", (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, events.payload);
      } catch (error) {
        this.destroy(error as Error);
      }
    });
    socket.on("error", (error) => {
      this.failure ??= error;
    });
    socket.on("close", () => {
      this.clearCloseTimer();
      this.queued = [];
      this.queuedBytes = 0;
      events.close(this.failure);
    });
    socket.on("end", () => {
      // A peer that stops in the middle of a frame crashed or was killed: say so instead of
      // ending as cleanly as a peer that quit.
      const partial = this.decoder.bufferedBytes;
      if (partial > 0) {
        this.failure ??= new ConnectionError(
          "ERR_CONNECTION_LOST",
          `The peer closed the connection in the middle of a frame; dropped the ${partial} bytes received of it`,
        );
      }
      // The peer finished sending; finish ours too (what we queued still goes out first).
      this.end();
    });
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

  end(): void {
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
    this.socket.destroy();
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
