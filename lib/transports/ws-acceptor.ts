import * as http from "node:http";
import type * as https from "node:https";
import type * as net from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { DEFAULT_HANDSHAKE_TIMEOUT } from "../constants.js";
import type { Logger } from "../logging.js";
import type { Transport } from "./transport.js";
import { WsTransport } from "./ws-transport.js";

/**
 * How a `Server` also accepts WebSocket clients (`new Server({ ws: { port: 8080 } })`). Give
 * exactly one of `port` (a listener of its own) and `server` (attach to an existing HTTP or HTTPS
 * server, which is how `wss://` works: pass an `https.Server` with your certificate).
 *
 * Every WebSocket client gets the same `Channel` class, greeting, hooks and limits as a TCP
 * client; `maxPayload` is the server's, shared with TCP.
 */
export interface WebSocketOptions {
  /**
   * Port of a WebSocket listener of its own. `0` picks a free port, readable as `server.wsPort`
   * after `start()`. Plain HTTP requests to it are answered `426 Upgrade Required`. A connection
   * to it that has not completed the WebSocket handshake within the server's `handshakeTimeout` is
   * closed.
   */
  readonly port?: number;
  /** Interface that listener binds. Default: the server's `host`. Not used with `server`. */
  readonly host?: string;
  /**
   * An existing `http.Server` or `https.Server` (for `wss://`) to accept upgrades from. You start
   * and stop it yourself; the game server only adds and removes its `upgrade` listener, so the
   * same HTTP server can also serve the game's page. `server.wsPort` is its port once it listens.
   * The time a client takes to send its upgrade request is bounded by that server's own
   * `headersTimeout` (Node's default: 60 s); the game server's `handshakeTimeout` counts from the
   * complete request on.
   */
  readonly server?: http.Server | https.Server;
  /**
   * Accept upgrade requests for this path only, e.g. `"/game"` (the query string is ignored).
   * Other paths are answered `404 Not Found`, unless another `upgrade` listener is attached to the
   * same HTTP server (another WebSocket server), in which case they are left to it. Default: any path.
   */
  readonly path?: string;
  /**
   * Browser origins allowed to connect, e.g. `["https://game.example.com", "http://localhost:5173"]`
   * (compared without case and trailing slash). A handshake from any other origin is answered
   * `403 Forbidden`, so a page on another site cannot open a connection with the player's
   * cookies. A handshake without an `Origin` header (a Node bot, a native client, which could send
   * any origin anyway) is accepted. Default: every origin.
   */
  readonly origins?: readonly string[];
  /**
   * Compress messages with permessage-deflate when the client offers it. Default `false`: game
   * messages are small and frequent, and compression costs latency and memory per connection.
   */
  readonly perMessageDeflate?: boolean;
}

/** Options of a {@link WsAcceptor}: the user's options completed by the server. */
export interface WsAcceptorOptions extends WebSocketOptions {
  /** Interface of an own listener (the resolved `host`). */
  readonly host: string;
  /** Largest message accepted from a client, in bytes, as for TCP. */
  readonly maxPayload: number;
  /** Milliseconds a graceful close waits for the client's close frame, as for TCP. */
  readonly closeTimeout?: number;
  /** Milliseconds a client has to finish a message it started, as for TCP (see `WsTransportOptions.frameTimeout`). */
  readonly frameTimeout?: number;
  /**
   * Milliseconds a handshake may take before its socket is destroyed: from the TCP connection
   * with a listener of its own, from the `upgrade` event with an attached `server` (the request's
   * headers are then timed by that server's own `headersTimeout`). Default 10,000.
   */
  readonly handshakeTimeout?: number;
  /**
   * Most connections at once, handshakes in progress included: an upgrade request that would
   * take `openConnections()` plus the handshakes in progress past it is answered
   * `503 Service Unavailable`. Default: no limit.
   */
  readonly maxConnections?: number;
  /** How many connections the server holds open now (its channels), counted against `maxConnections`. */
  readonly openConnections?: () => number;
  /** Where refused and timed-out handshakes are reported. */
  readonly logger?: Logger;
}

/** A handshake in progress (see `WsAcceptor.handshakes`). */
interface Handshake {
  readonly timer: ReturnType<typeof setTimeout>;
  readonly onClose: () => void;
}

type UpgradeListener = (request: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Accepts WebSocket clients, on a port of its own or on an existing HTTP(S) server, and hands each
 * one, wrapped in a {@link WsTransport}, to `onTransport`. The upgrade requests go through our own
 * listener (`ws` in `noServer` mode) so that the path and origin checks answer with the right HTTP
 * status before `ws` sees the request.
 *
 * Handshakes are bounded in time and number: one not completed within `handshakeTimeout` has its
 * socket destroyed (with a listener of its own, from the TCP connection: a peer that connects and
 * never sends its request is covered), and the handshakes in progress count against
 * `maxConnections` with the server's open connections, an upgrade past it being answered `503`.
 */
export class WsAcceptor {
  private httpServer: http.Server | https.Server | null = null;
  private wss: WebSocketServer | null = null;
  private upgradeListener: UpgradeListener | null = null;
  private readonly origins: ReadonlySet<string> | null;
  /**
   * Sockets whose handshake is in progress, with the timer that destroys them at
   * `handshakeTimeout` and the listener of their `close` that settles it.
   */
  private readonly handshakes = new Map<Duplex, Handshake>();

  constructor(private readonly options: WsAcceptorOptions) {
    this.origins = options.origins === undefined ? null : new Set(options.origins.map(normalizeOrigin));
  }

  /**
   * The port WebSocket clients connect to: the bound port of an own listener (useful with
   * `port: 0`), or the attached server's port once it listens; `null` otherwise.
   */
  get port(): number | null {
    const address = this.httpServer?.address();
    return typeof address === "object" && address !== null ? address.port : null;
  }

  /**
   * Starts accepting; resolves once an own listener is bound (at once when attached).
   * @throws {Error} with the reason and what to do, e.g. when the port is already in use.
   */
  listen(onTransport: (transport: Transport, request: http.IncomingMessage) => void): Promise<void> {
    const { maxPayload, perMessageDeflate = false } = this.options;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload,
      perMessageDeflate,
      // The game server tracks its channels; a second list would only hold sockets longer.
      clientTracking: false,
      // Text messages are dropped unread: validating their UTF-8 would only turn a droppable
      // message into a closed connection.
      skipUTF8Validation: true,
    });
    const server = this.options.server ?? this.createOwnServer();
    const upgradeListener: UpgradeListener = (request, socket, head) => {
      const refusal = this.check(request, server);
      if (refusal === "ignore") return;
      const remote = { host: request.socket.remoteAddress ?? "", port: request.socket.remotePort ?? 0 };
      const peer = `${remote.host}:${remote.port}`;
      // An own listener times the socket from its TCP connection; an attached server from here.
      if (!this.handshakes.has(socket)) this.timeHandshake(socket, peer);
      const refused = refusal ?? this.checkCapacity();
      if (refused !== null) {
        this.options.logger?.warn("refused", { peer, reason: refused.reason });
        rejectHandshake(socket, refused.status, refused.reason);
        return;
      }
      wss.handleUpgrade(request, socket, head, (webSocket) => {
        this.settleHandshake(socket);
        onTransport(
          new WsTransport(webSocket, remote, {
            maxPayload,
            closeTimeout: this.options.closeTimeout,
            frameTimeout: this.options.frameTimeout,
            rawSocket: socket as net.Socket,
          }),
          request,
        );
      });
    };
    server.on("upgrade", upgradeListener);
    this.httpServer = server;
    this.wss = wss;
    this.upgradeListener = upgradeListener;
    if (this.options.server !== undefined) return Promise.resolve();
    return this.listenOwn(server);
  }

  /**
   * Stops accepting: detaches from an attached server (which keeps running), closes an own
   * listener. Connections already accepted are left to their owners.
   */
  close(): Promise<void> {
    const server = this.httpServer;
    const own = this.options.server === undefined;
    if (server !== null && this.upgradeListener !== null) server.off("upgrade", this.upgradeListener);
    this.wss?.close();
    // Handshakes in progress can no longer complete; an own listener's close() would wait for them.
    for (const [socket, { timer }] of this.handshakes) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.handshakes.clear();
    this.httpServer = null;
    this.wss = null;
    this.upgradeListener = null;
    if (server === null || !own || !server.listening) return Promise.resolve();
    // Resolves once the accepted sockets have closed too, which their owners see to.
    return new Promise((resolve) => server.close(() => resolve()));
  }

  /**
   * The listener of `ws.port`. Every TCP connection to it counts as a handshake in progress until
   * it is upgraded or closed, and is destroyed if it is still neither after `handshakeTimeout`: a
   * peer that connects and sends nothing, or sends its request slowly, cannot hold a slot for
   * long. Node's own `headersTimeout` and `requestTimeout` are set to the same value, a backstop
   * that answers `408` (Node checks them only every 30 s, hence the timer of our own).
   */
  private createOwnServer(): http.Server {
    const timeout = this.options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    const server = http.createServer({ headersTimeout: timeout, requestTimeout: timeout }, answerUpgradeRequired);
    server.on("connection", (socket: net.Socket) => {
      this.timeHandshake(socket, `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`);
    });
    return server;
  }

  /** Destroys `socket` unless it is upgraded or closed within `handshakeTimeout`, logging why once. */
  private timeHandshake(socket: Duplex, peer: string): void {
    const timeout = this.options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    const timer = setTimeout(() => {
      this.handshakes.delete(socket);
      this.options.logger?.warn("handshake timeout", {
        peer,
        reason: `No WebSocket connection within the handshakeTimeout of ${timeout} ms; closed`,
      });
      socket.destroy();
    }, timeout);
    // The socket keeps the process alive while it is open; this timer must not on its own.
    timer.unref?.();
    const onClose = (): void => this.settleHandshake(socket);
    this.handshakes.set(socket, { timer, onClose });
    socket.on("close", onClose);
  }

  /**
   * Ends the timing of a handshake: the socket was upgraded or has closed. The `close` listener
   * goes too: an upgraded socket lives on for the whole game, and would hold it (and what it
   * holds) for nothing.
   */
  private settleHandshake(socket: Duplex): void {
    const handshake = this.handshakes.get(socket);
    if (handshake === undefined) return;
    clearTimeout(handshake.timer);
    socket.off("close", handshake.onClose);
    this.handshakes.delete(socket);
  }

  /**
   * Refuses an upgrade when the server's open connections plus the handshakes in progress (this
   * one included) would exceed `maxConnections`, so a crowd of unfinished handshakes cannot make
   * the server accept more than it should, nor hold every slot for long (see `handshakeTimeout`).
   */
  private checkCapacity(): { status: number; reason: string } | null {
    const { maxConnections, openConnections } = this.options;
    if (maxConnections === undefined) return null;
    const open = openConnections?.() ?? 0;
    const others = this.handshakes.size - 1;
    if (open + others < maxConnections) return null;
    return {
      status: 503,
      reason: `Server is full: it has ${open} clients and ${others} other WebSocket handshakes in progress, for ${maxConnections} maxConnections; try again later`,
    };
  }

  private listenOwn(server: http.Server | https.Server): Promise<void> {
    const { host, port = 0 } = this.options;
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        this.close().catch(() => {});
        const hint =
          error.code === "EADDRINUSE"
            ? "another process is listening there; stop it or choose another ws.port (port 0 picks a free one)"
            : error.code === "EACCES"
              ? "this user may not listen there; choose a ws.port above 1023"
              : "check ws.host and ws.port";
        reject(
          new Error(`Cannot listen for WebSocket clients on ${host}:${port}: ${error.message}; ${hint}`, {
            cause: error,
          }),
        );
      };
      server.once("error", onError);
      server.listen(port, host, () => {
        server.off("error", onError);
        server.on("error", () => {});
        resolve();
      });
    });
  }

  /** Why a handshake is refused, `null` to accept it, `"ignore"` to leave it to another listener. */
  private check(
    request: http.IncomingMessage,
    server: net.Server,
  ): { status: number; reason: string } | null | "ignore" {
    const { path } = this.options;
    if (path !== undefined) {
      const url = request.url ?? "/";
      const query = url.indexOf("?");
      const pathname = query === -1 ? url : url.slice(0, query);
      if (pathname !== path) {
        // Another WebSocket server attached to the same HTTP server may own that path.
        if (server.listenerCount("upgrade") > 1) return "ignore";
        return { status: 404, reason: `No WebSocket endpoint at ${pathname}; this server accepts ${path}` };
      }
    }
    const origin = request.headers.origin;
    if (this.origins !== null && origin !== undefined && !this.origins.has(normalizeOrigin(origin))) {
      return { status: 403, reason: `Origin ${origin} is not in the server's ws.origins allow-list` };
    }
    return null;
  }
}

function normalizeOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, "");
}

/** What an own listener answers to a plain HTTP request: it only speaks WebSocket. */
function answerUpgradeRequired(_request: http.IncomingMessage, response: http.ServerResponse): void {
  const body = "This port accepts WebSocket connections only";
  response.writeHead(426, {
    "Content-Type": "text/plain",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  });
  response.end(body);
}

/** Answers an upgrade request with an HTTP error and closes the socket, before any WebSocket exists. */
function rejectHandshake(socket: Duplex, status: number, reason: string): void {
  socket.on("error", () => {});
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\n` +
      "Connection: close\r\nContent-Type: text/plain\r\n" +
      `Content-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
  );
}
