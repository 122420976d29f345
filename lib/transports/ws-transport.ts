import type * as net from "node:net";
import WebSocket from "ws";
import { HEADER_SIZE } from "../constants.js";
import { ConnectionError, ProtocolError } from "../errors.js";
import type { Address } from "../types.js";
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
  /** The TCP socket under the WebSocket (the upgrade request's), corked to coalesce writes. */
  readonly rawSocket?: net.Socket;
  /** TLS settings of a `wss://` client. */
  readonly tls?: TlsOptions;
}

const DEFAULT_CLOSE_TIMEOUT = 5_000;

/**
 * Msgpack messages over a `ws` WebSocket, on the server side (sockets accepted by a
 * `WsAcceptor`) and on the Node client side ({@link WsTransport.connect}).
 *
 * Each binary message carries exactly one msgpack payload, without the 4-byte length header that
 * TCP needs: `write()` receives a whole TCP frame and sends `frame.subarray(HEADER_SIZE)`, so a
 * broadcast is encoded once for TCP and WebSocket peers alike. Each message stays one WebSocket
 * frame, but the frames written in one turn of the event loop leave in one system call: the first
 * write of a turn corks the TCP socket underneath and a microtask uncorks it.
 *
 * A text message is reported through `invalid` (`ERR_TEXT_FRAME`) and dropped; the connection
 * stays up. A message over `maxPayload` makes `ws` close the connection with code 1009; it is
 * reported as a `ProtocolError` with code `ERR_PAYLOAD_TOO_LARGE`.
 */
export class WsTransport implements Transport {
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
  private readonly uncork = (): void => {
    this.corked = false;
    this.rawSocket?.uncork();
  };

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
    // Buffers, never ArrayBuffers or fragment lists: the payload goes to the decoder as it is.
    socket.binaryType = "nodebuffer";
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
    const socket = this.socket;
    if (socket.readyState === WebSocket.CONNECTING) socket.once("open", () => events.open());
    socket.on("message", (data, isBinary) => {
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
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (this.terminated) return;
      this.failure ??=
        error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
          ? new ProtocolError(
              "ERR_PAYLOAD_TOO_LARGE",
              `Received a WebSocket message over the ${this.maxPayload}-byte maxPayload limit`,
              {
                cause: error,
              },
            )
          : error;
    });
    socket.on("close", (code, reason) => {
      this.clearCloseTimer();
      events.close(this.failure ?? closeCodeError(code, reason.toString()));
    });
  }

  write(frame: Uint8Array): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    const raw = this.rawSocket;
    if (raw !== undefined && !this.corked) {
      this.corked = true;
      raw.cork();
      queueMicrotask(this.uncork);
    }
    this.socket.send(frame.subarray(HEADER_SIZE), { binary: true });
  }

  end(): void {
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
    this.socket.terminate();
  }

  private clearCloseTimer(): void {
    if (this.closeTimer !== undefined) {
      clearTimeout(this.closeTimer);
      this.closeTimer = undefined;
    }
  }
}
