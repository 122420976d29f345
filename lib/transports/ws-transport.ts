import type * as net from "node:net";
import WebSocket from "ws";
import { DEFAULT_FRAME_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, HEADER_SIZE } from "../constants.js";
import { ConnectionError, ProtocolError } from "../errors.js";
import { WsFrameTracker } from "../protocol/ws-frame-tracker.js";
import type { Address } from "../types.js";
import { FrameDeadline, frameTimeoutError } from "./frame-deadline.js";
import type { TlsOptions, Transport, TransportEvents } from "./transport.js";
import { CloseCode, closeCodeError } from "./websocket-close.js";

/** Options of a {@link WsTransport}. */
export interface WsTransportOptions {
  /**
   * Largest payload accepted from the peer, in bytes. `ws` enforces it itself (the socket must be
   * created with the same `maxPayload`); it is repeated here to phrase the error.
   */
  readonly maxPayload: number;
  /** Milliseconds given to the peer to answer our close frame after `end()` before the socket is cut. Default 5,000. */
  readonly closeTimeout?: number;
  /**
   * The TCP socket under the WebSocket (the upgrade request's), corked to coalesce writes and read
   * alongside `ws` for `frameTimeout`. Given by the acceptor; found by {@link WsTransport.connect}.
   */
  readonly rawSocket?: net.Socket;
  /**
   * Milliseconds the peer has to finish a message once its first byte arrived, else the
   * connection is cut with `ERR_FRAME_TIMEOUT`; 0 turns it off. It needs `rawSocket`. Default
   * 30,000 (`DEFAULT_FRAME_TIMEOUT`).
   */
  readonly frameTimeout?: number;
  /**
   * Client side: milliseconds the server has, from the start of the connection (TCP and TLS
   * included), to complete the WebSocket handshake, else the connect fails with
   * `ERR_CONNECT_FAILED`; 0 waits for ever. Default 10,000 (`DEFAULT_HANDSHAKE_TIMEOUT`).
   */
  readonly handshakeTimeout?: number;
  /** TLS settings of a `wss://` client. */
  readonly tls?: TlsOptions;
}

const DEFAULT_CLOSE_TIMEOUT = 5_000;
/** Milliseconds between two looks at a buffer that gives no drain event of its own. */
const DRAIN_POLL_INTERVAL = 10;

/** Where the listeners of a WebSocket and of its raw socket find their transport (see {@link WsTransport.start}). */
const TRANSPORT = Symbol("WsTransport");

type OwnedWebSocket = WebSocket & { [TRANSPORT]?: WsTransport };
type OwnedSocket = net.Socket & { [TRANSPORT]?: WsTransport };

/** Transports that corked their socket in this turn of the event loop, uncorked by one microtask. */
let corkedThisTurn: WsTransport[] = [];

function uncorkAll(): void {
  const corked = corkedThisTurn;
  corkedThisTurn = [];
  for (const transport of corked) transport.uncorkTurn();
}

/**
 * The payload of the last frame written, as the `Buffer` `ws` sends as it is (it would wrap any
 * other `Uint8Array` in a new `Buffer` per send): a broadcast makes one view for all its
 * WebSocket recipients, not one each.
 */
let lastFrame: Uint8Array | null = null;
let lastPayload: Buffer = Buffer.alloc(0);

/**
 * Payloads up to this size are copied into a `Buffer` of their own instead of viewed in place.
 * V8 keeps a small typed array's bytes on its heap, and the first `.buffer` read of such an array
 * moves them off it, which costs several times the copy (about 1 µs against 0.25 µs per message
 * on an echo server). Larger frames are allocated off the heap already, and viewing them is free.
 */
const COPY_BELOW = 64;

function payloadOf(frame: Uint8Array): Buffer {
  if (frame !== lastFrame) {
    lastFrame = frame;
    const size = frame.byteLength - HEADER_SIZE;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: a copy and a view carry the same bytes; the choice is only the cost
    if (size <= COPY_BELOW) {
      // A loop, not subarray() or set(): both would read the frame's .buffer.
      lastPayload = Buffer.allocUnsafe(size);
      for (let i = 0; i < size; i++) lastPayload[i] = frame[HEADER_SIZE + i]!;
    } else {
      lastPayload = Buffer.from(frame.buffer, frame.byteOffset + HEADER_SIZE, size);
    }
  }
  return lastPayload;
}

/** The options of every send: one object, not one per message. */
const BINARY = { binary: true } as const;

/**
 * Msgpack messages over a `ws` WebSocket, on the server side (sockets accepted by a
 * `WsAcceptor`) and on the Node client side ({@link WsTransport.connect}).
 *
 * Each binary message carries exactly one msgpack payload, without the 4-byte length header that
 * TCP needs: `write()` receives a whole TCP frame and sends the payload after the header, so a
 * broadcast is encoded once for TCP and WebSocket peers alike. Each message stays one WebSocket
 * frame, but the frames written in one turn of the event loop leave in one system call: the first
 * write of a turn corks the TCP socket underneath and one microtask uncorks every socket corked
 * in the turn.
 *
 * A text message is reported through `invalid` (`ERR_TEXT_FRAME`) and dropped; the connection
 * stays up. A message over `maxPayload` makes `ws` close the connection with code 1009; it is
 * reported as a `ProtocolError` with code `ERR_PAYLOAD_TOO_LARGE`.
 *
 * A peer that starts a message and does not finish it within `frameTimeout` is cut off with
 * `ERR_FRAME_TIMEOUT`; one that sends nothing is not. `ws` only reports whole messages, so the
 * bytes under it are followed by a {@link WsFrameTracker} reading the same socket.
 */
export class WsTransport implements Transport {
  readonly kind = "ws";
  readonly remote: Address;
  private readonly socket: WebSocket;
  private readonly maxPayload: number;
  private readonly closeTimeout: number;
  private failure: Error | undefined;
  /** Set by `destroy()`: the errors `ws` reports while being torn down are our own doing. */
  private terminated = false;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private rawSocket: net.Socket | undefined;
  private corked = false;
  private readonly frameTimeout: number;
  /**
   * Times a message left partial; created when the first one is (or when reading pauses), and
   * only with a tracker: most connections of a server only ever receive whole messages, or
   * nothing, and do without it.
   */
  private deadline: FrameDeadline | null = null;
  private tracker: WsFrameTracker | null = null;
  private events: TransportEvents | null = null;
  /** The mark a `drain` is awaited below (`watchDrain`); 0 when none is. */
  private drainBelow = 0;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  /** The raw socket whose `drain` is listened to. */
  private drainSource: net.Socket | undefined;
  /** @internal The turn is over: its frames leave in one system call (see {@link uncorkAll}). */
  uncorkTurn(): void {
    this.corked = false;
    this.rawSocket?.uncork();
    // The turn's frames are with the kernel now, usually all of them: the outbox may go on.
    if (this.drainBelow !== 0) this.checkDrain();
  }

  /**
   * @param socket an open socket (accepted by a server) or a connecting one (client side)
   * @param remote the peer's address, which `ws` does not expose
   */
  constructor(socket: WebSocket, remote: Address, options: WsTransportOptions) {
    this.socket = socket;
    this.remote = remote;
    this.maxPayload = options.maxPayload;
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.rawSocket = options.rawSocket;
    this.frameTimeout = options.frameTimeout ?? DEFAULT_FRAME_TIMEOUT;
    // Buffers, never ArrayBuffers or fragment lists: the payload goes to the decoder as it is.
    socket.binaryType = "nodebuffer";
    // An accepted socket: `ws` has just attached its reader, in this same turn, so no byte has
    // been read yet. Watching from start() instead could miss the first chunks.
    if (socket.readyState === WebSocket.OPEN) this.watchFrames();
  }

  /**
   * Opens a WebSocket to `url` (`ws://` or `wss://`); `open` or `close(error)` reports the
   * outcome. permessage-deflate is not offered: game messages are small and latency matters more.
   */
  static connect(url: string, remote: Address, options: WsTransportOptions): WsTransport {
    const socket = new WebSocket(url, {
      ...(options.tls as object | undefined),
      maxPayload: options.maxPayload,
      perMessageDeflate: false,
      // Text frames are dropped unread, so checking their UTF-8 would only turn a droppable
      // message into a closed connection.
      skipUTF8Validation: true,
    });
    const transport = new WsTransport(socket, remote, options);
    socket.once("upgrade", (response) => {
      transport.rawSocket = response.socket as net.Socket;
    });
    // Emitted by ws once its reader is attached to the socket, in the same turn: no byte read yet.
    socket.once("open", () => transport.watchFrames());
    // A server that accepts the TCP connection and never answers the upgrade would otherwise hold
    // the client for ever. Timed here rather than by ws's own handshakeTimeout, which measures
    // inactivity and so lets a server that trickles its answer byte by byte go on.
    const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    if (handshakeTimeout > 0) {
      const timer = setTimeout(
        () =>
          transport.destroy(
            new ConnectionError(
              "ERR_CONNECT_FAILED",
              `The server at ${url} did not complete the WebSocket handshake within ${handshakeTimeout} ms`,
            ),
          ),
        handshakeTimeout,
      );
      timer.unref?.();
      const settle = (): void => clearTimeout(timer);
      socket.once("open", settle);
      socket.once("close", settle);
    }
    socket.on("unexpected-response", (_request, response) => {
      // A refused handshake (403 from an origin allow-list, 404 for a wrong path...) deserves a
      // clearer reason than ws's "Unexpected server response".
      transport.failure ??= new ConnectionError(
        "ERR_CONNECT_FAILED",
        `The server at ${url} refused the WebSocket handshake: HTTP ${response.statusCode} ${response.statusMessage ?? ""}`.trimEnd(),
      );
      response.resume();
      socket.terminate();
    });
    return transport;
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  start(events: TransportEvents): void {
    this.events = events;
    const socket = this.socket as OwnedWebSocket;
    if (socket.readyState === WebSocket.CONNECTING) socket.once("open", () => events.open());
    // The same three listeners for every socket, which finds its transport through TRANSPORT,
    // rather than three closures per connection.
    socket[TRANSPORT] = this;
    socket.on("message", WsTransport.onMessage);
    socket.on("error", WsTransport.onError);
    socket.on("close", WsTransport.onClose);
  }

  private static onMessage(this: OwnedWebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    const events = this[TRANSPORT]!.events!;
    const bytes = data as Buffer;
    if (!isBinary) {
      events.invalid(
        new ProtocolError(
          "ERR_TEXT_FRAME",
          `Dropped a ${bytes.byteLength}-byte WebSocket text message: only binary messages carry msgpack`,
        ),
      );
      return;
    }
    events.payload(bytes);
  }

  private static onError(this: OwnedWebSocket, error: NodeJS.ErrnoException): void {
    const transport = this[TRANSPORT]!;
    if (transport.terminated) return;
    transport.failure ??=
      error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
        ? new ProtocolError(
            "ERR_PAYLOAD_TOO_LARGE",
            `Received a WebSocket message over the ${transport.maxPayload}-byte maxPayload limit`,
            {
              cause: error,
            },
          )
        : error;
  }

  private static onClose(this: OwnedWebSocket, code: number, reason: Buffer): void {
    const transport = this[TRANSPORT]!;
    transport.clearCloseTimer();
    transport.deadline?.stop();
    transport.stopDrainWatch();
    transport.events!.close(transport.failure ?? closeCodeError(code, reason.toString()));
  }

  write(frame: Uint8Array): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    const raw = this.rawSocket;
    if (raw !== undefined && !this.corked) {
      this.corked = true;
      raw.cork();
      // One microtask for every socket corked in this turn: a broadcast to many is one, not many.
      if (corkedThisTurn.push(this) === 1) queueMicrotask(uncorkAll);
    }
    this.socket.send(payloadOf(frame), BINARY);
  }

  watchDrain(below: number): void {
    this.drainBelow = below;
    const raw = this.rawSocket;
    if (raw !== undefined && this.drainSource !== raw) {
      this.drainSource = raw;
      raw.on("drain", () => this.checkDrain());
    }
    // Frames corked for this turn: looked at once they are written.
    if (this.corked) return;
    queueMicrotask(() => this.checkDrain());
  }

  end(): void {
    this.stopDrainWatch();
    const socket = this.socket;
    if (this.closeTimer !== undefined || socket.readyState === WebSocket.CLOSED) return;
    if (socket.readyState === WebSocket.CONNECTING) {
      // Nothing can be flushed to a peer we never reached.
      this.destroy();
      return;
    }
    // ws sends the close frame after every message already queued.
    if (socket.readyState === WebSocket.OPEN) socket.close(CloseCode.NORMAL);
    this.closeTimer = setTimeout(() => socket.terminate(), this.closeTimeout);
    this.closeTimer.unref?.();
  }

  destroy(error?: Error): void {
    if (error) this.failure ??= error;
    this.terminated = true;
    this.stopDrainWatch();
    this.socket.terminate();
  }

  pause(): void {
    // Pauses the TCP socket under the WebSocket (and so the frame tracker reading it); `ws` still
    // reports the messages of the chunk it is parsing, which the connection queues.
    this.socket.pause();
    this.frameDeadline()?.hold();
  }

  resume(): void {
    this.deadline?.release();
    this.socket.resume();
  }

  /**
   * Starts following the frames the peer sends on the raw socket, for `frameTimeout`. Must run in
   * the turn `ws` attached its own reader, so that both see every byte from the first.
   */
  private watchFrames(): void {
    const raw = this.rawSocket;
    const timeout = this.frameTimeout;
    if (raw === undefined || timeout === 0 || this.tracker !== null) return;
    this.tracker = new WsFrameTracker();
    // Shared listeners, as on the WebSocket (see start()).
    (raw as OwnedSocket)[TRANSPORT] = this;
    raw.on("data", WsTransport.onRawData);
    // `on`, not `once`: a socket closes once, and `once` wraps the listener in two more objects.
    raw.on("close", WsTransport.onRawClose);
  }

  private static onRawData(this: OwnedSocket, chunk: Buffer): void {
    const transport = this[TRANSPORT]!;
    const tracker = transport.tracker!;
    const began = tracker.push(chunk);
    if (tracker.partial) transport.frameDeadline()?.update(true, began);
    else transport.deadline?.update(false, began);
  }

  private static onRawClose(this: OwnedSocket): void {
    this[TRANSPORT]!.deadline?.stop();
  }

  /** The deadline of partial messages, created on first use; `null` without a tracker. */
  private frameDeadline(): FrameDeadline | null {
    const tracker = this.tracker;
    if (this.deadline === null && tracker !== null) {
      const timeout = this.frameTimeout;
      this.deadline = new FrameDeadline(timeout, (elapsed) =>
        this.destroy(frameTimeoutError(tracker.describeProgress(), elapsed, timeout)),
      );
    }
    return this.deadline;
  }

  /** Reports `drain` if it is awaited and the buffer is below the mark; else waits for room. */
  private checkDrain(): void {
    const below = this.drainBelow;
    if (below === 0 || this.socket.readyState !== WebSocket.OPEN) return;
    if (this.bufferedAmount < below) {
      this.drainBelow = 0;
      this.events?.drain?.();
      return;
    }
    // A full raw socket reports its `drain`. What ws holds itself (a message being compressed)
    // and a socket without its raw socket known give no event: looked at again shortly.
    if (this.drainSource?.writableNeedDrain === true || this.drainTimer !== undefined) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.checkDrain();
    }, DRAIN_POLL_INTERVAL);
    this.drainTimer.unref?.();
  }

  private stopDrainWatch(): void {
    this.drainBelow = 0;
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
  }

  private clearCloseTimer(): void {
    if (this.closeTimer !== undefined) {
      clearTimeout(this.closeTimer);
      this.closeTimer = undefined;
    }
  }
}
