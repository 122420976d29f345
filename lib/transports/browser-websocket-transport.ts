import { HEADER_SIZE } from "../constants.js";
import { ConnectionError, ProtocolError } from "../errors.js";
import type { Address } from "../types.js";
import type { Transport, TransportEvents } from "./transport.js";
import { CloseCode, closeCodeError } from "./websocket-close.js";

/**
 * What this transport needs of a WebSocket: the browser's native one, or any class with the same
 * API (injectable, so tests can run it without a browser).
 */
export type WebSocketConstructor = new (url: string) => WebSocket;

/** Options of a {@link BrowserWebSocketTransport}. */
export interface BrowserWebSocketTransportOptions {
  /**
   * Largest message accepted from the server, in bytes. A browser has already received a message
   * when the page sees it, so this cannot save memory as on TCP; it keeps the same contract: a
   * larger message ends the connection with `ERR_PAYLOAD_TOO_LARGE`.
   */
  readonly maxPayload: number;
  /** Milliseconds to wait for the server to answer our close frame after `end()`. Default 5,000. */
  readonly closeTimeout?: number;
  /** The WebSocket class. Default: the global `WebSocket`. */
  readonly WebSocket?: WebSocketConstructor;
}

const DEFAULT_CLOSE_TIMEOUT = 5_000;
/**
 * Milliseconds between two looks at `bufferedAmount` while a drain is awaited: a browser's
 * WebSocket has no drain event, so it is polled, only while the connection holds a backlog.
 */
const DRAIN_POLL_INTERVAL = 10;

// readyState values, read from the spec rather than from the injected class's statics.
const CONNECTING = 0;
const OPEN = 1;

const noop = (): void => {};

/**
 * Msgpack messages over the browser's native `WebSocket` (binaryType `"arraybuffer"`): each binary
 * message carries exactly one msgpack payload, as with the Node `WsTransport`. Imports nothing
 * from Node.
 *
 * Browsers hide why a connection failed from scripts (the console shows it), so failures are
 * reported as `ERR_CONNECT_FAILED` (never opened) or `ERR_CONNECTION_LOST` (lost after opening),
 * with the URL and the close code.
 *
 * A browser's `WebSocket` cannot stop reading: while paused (the rate limit), messages are kept in
 * order and delivered on `resume()`, or before `close` if the server leaves first. This paces
 * their handling; it cannot make the server wait.
 */
export class BrowserWebSocketTransport implements Transport {
  readonly kind = "ws";
  readonly remote: Address;
  private readonly url: string;
  private readonly socket: WebSocket | null;
  private readonly maxPayload: number;
  private readonly closeTimeout: number;
  private events: TransportEvents | null = null;
  private failure: Error | undefined;
  private opened = false;
  private closed = false;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private paused = false;
  /** Payloads received while paused, in order. */
  private kept: Uint8Array[] = [];
  /** The mark a `drain` is awaited below (`watchDrain`); 0 when none is. */
  private drainBelow = 0;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string, remote: Address, options: BrowserWebSocketTransportOptions) {
    this.url = url;
    this.remote = remote;
    this.maxPayload = options.maxPayload;
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    let socket: WebSocket | null = null;
    try {
      const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
      if (typeof WebSocketClass !== "function") throw new Error("this environment has no WebSocket");
      socket = new WebSocketClass(url);
      socket.binaryType = "arraybuffer";
    } catch (cause) {
      // A malformed URL, or ws:// from an https:// page (mixed content): reported like any
      // other failed connect, after start(), never synchronously.
      const reason = cause instanceof Error ? cause.message : String(cause);
      this.failure = new ConnectionError("ERR_CONNECT_FAILED", `Cannot open a WebSocket to ${url}: ${reason}`, {
        cause,
      });
    }
    this.socket = socket;
  }

  get bufferedAmount(): number {
    return this.socket?.bufferedAmount ?? 0;
  }

  start(events: TransportEvents): void {
    this.events = events;
    const socket = this.socket;
    if (socket === null) {
      setTimeout(() => this.finish(this.failure), 0);
      return;
    }
    socket.onopen = () => {
      this.opened = true;
      events.open();
    };
    socket.onmessage = (event: MessageEvent<unknown>) => this.receive(event.data);
    socket.onerror = () => {
      this.failure ??= this.opened
        ? new ConnectionError("ERR_CONNECTION_LOST", `The WebSocket connection to ${this.url} failed`)
        : new ConnectionError("ERR_CONNECT_FAILED", `Cannot connect to ${this.url}: the WebSocket connection failed`);
    };
    socket.onclose = (event: CloseEvent) => {
      let error = this.failure ?? closeCodeError(event.code, event.reason);
      // A socket that closes before it opened never reached a server: always an error.
      if (error === undefined && !this.opened) {
        error = new ConnectionError(
          "ERR_CONNECT_FAILED",
          `Cannot connect to ${this.url}: closed with code ${event.code} before it opened`,
        );
      }
      this.finish(error);
    };
  }

  write(frame: Uint8Array): void {
    if (this.socket === null || this.socket.readyState !== OPEN) return;
    // A view: only the payload's bytes go out, the shared frame is not copied.
    this.socket.send(frame.subarray(HEADER_SIZE) as Uint8Array<ArrayBuffer>);
  }

  watchDrain(below: number): void {
    this.drainBelow = below;
    if (this.drainTimer === undefined && !this.closed) this.pollDrain();
  }

  end(): void {
    this.stopDrainWatch();
    const socket = this.socket;
    if (socket === null || this.closed || this.closeTimer !== undefined) return;
    if (socket.readyState === CONNECTING) {
      // Nothing can be flushed to a server we never reached.
      this.destroy();
      return;
    }
    // Browsers send the close frame after every message already queued.
    if (socket.readyState === OPEN) socket.close(CloseCode.NORMAL);
    // A server that never answers must not keep the connection open forever.
    this.closeTimer = setTimeout(() => this.finish(this.failure), this.closeTimeout);
  }

  destroy(error?: Error): void {
    if (error) this.failure ??= error;
    if (this.closed) return;
    this.stopDrainWatch();
    // Browsers cannot drop what is queued nor cut a socket: close it and stop listening to it.
    // The connection hears `close` in a later turn, as from every other transport.
    this.kept = [];
    const socket = this.socket;
    if (socket !== null) {
      this.detach(socket);
      socket.close();
    }
    setTimeout(() => this.finish(this.failure), 0);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const kept = this.kept;
    let next = 0;
    while (next < kept.length && !this.paused && !this.closed) this.events?.payload(kept[next++]!);
    // Paused again half-way: the rest waits, ahead of anything newer.
    this.kept = this.closed ? [] : kept.slice(next);
  }

  private receive(data: unknown): void {
    if (typeof data === "string") {
      this.events?.invalid(
        new ProtocolError(
          "ERR_TEXT_FRAME",
          `Dropped a WebSocket text message of ${data.length} characters: only binary messages carry msgpack`,
        ),
      );
      return;
    }
    const payload = new Uint8Array(data as ArrayBuffer);
    if (payload.byteLength > this.maxPayload) {
      this.destroy(
        new ProtocolError(
          "ERR_PAYLOAD_TOO_LARGE",
          `Received a ${payload.byteLength}-byte WebSocket message, over the ${this.maxPayload}-byte maxPayload limit`,
        ),
      );
      return;
    }
    if (this.paused) this.kept.push(payload);
    else this.events?.payload(payload);
  }

  /** Reports `close` once, whatever reported it first: the socket, `destroy()` or the close timer. */
  private finish(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.stopDrainWatch();
    if (this.closeTimer !== undefined) {
      clearTimeout(this.closeTimer);
      this.closeTimer = undefined;
    }
    if (this.socket !== null) this.detach(this.socket);
    // What arrived before the close is delivered before it (a destroy() of ours has dropped it).
    const kept = this.kept;
    this.kept = [];
    for (const payload of kept) this.events?.payload(payload);
    this.events?.close(error);
  }

  private pollDrain(): void {
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      const below = this.drainBelow;
      if (below === 0 || this.closed) return;
      if (this.bufferedAmount < below) {
        this.drainBelow = 0;
        this.events?.drain?.();
      } else {
        this.pollDrain();
      }
    }, DRAIN_POLL_INTERVAL);
  }

  private stopDrainWatch(): void {
    this.drainBelow = 0;
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
  }

  private detach(socket: WebSocket): void {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    // Kept as a no-op: some WebSocket implementations (ws in Node) throw an error event that has
    // no listener.
    socket.onerror = noop;
  }
}
