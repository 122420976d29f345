import type { Observable } from "rxjs";
import type { AnyChannel, Channel, ChannelInit } from "../connections/channel.js";
import type { Authenticate, ResumeOptions } from "../sessions/session-options.js";
import { checkInteger, describeOptionValue, type ConnectionLimits } from "../connections/connection-options.js";
import type { WebSocketOptions } from "../transports/ws-acceptor.js";
import type { ActionsOf, IncomingMessage } from "../types.js";
import type { ServerAdapter } from "./server-adapter.js";
import { SchemaValidation } from "../validation/schema-validation.js";
import type { ValidationFor } from "../validation/validation-option.js";

/** A channel class the server can instantiate. */
export type ChannelClass<C extends AnyChannel> = new (init?: ChannelInit) => C;

/** The type of `channel.data` for a channel class: what `authenticate` returns. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ChannelData<C> = C extends Channel<any, any, any, infer D> ? D : unknown;

// The protocol is read back from the messages the channel receives and sends: inferring `In`
// from `Channel<S, In>` itself would go through the `keyof In` of `Message<In>` and lose the fields.

/** The protocol a channel class receives: its `In`, e.g. `ChannelIn<GameChannel>`. */
export type ChannelIn<C extends AnyChannel> = ActionsOf<C["messages$"] extends Observable<infer U> ? U : never>;

/** The protocol a channel class sends: its `Out`, e.g. `ChannelOut<GameChannel>`. */
export type ChannelOut<C extends AnyChannel> = ActionsOf<Parameters<C["send"]>[0]>;

/**
 * The `validation` option of a server whose channels are `C`s: what `schemaValidation` made, whose
 * schemas output what `C` receives ({@link ChannelIn}) for each action, and whose `replies`
 * output the replies `C` declares for what it sends ({@link ChannelOut}); see `ValidationFor`.
 * Any validation fits an untyped channel.
 */
export type ChannelValidation<C extends AnyChannel> = SchemaValidation & ValidationFor<ChannelIn<C>, ChannelOut<C>>;

/** When channel handlers run: as messages arrive, or inside `server.pump()`. */
export type DispatchMode = "live" | "pump";

/** Options of a {@link Server}; every field is optional. The connection limits apply to every channel. */
export interface ServerOptions<C extends AnyChannel = AnyChannel> extends ConnectionLimits {
  /** Interface to listen on. Default `"127.0.0.1"` (loopback only; use `"0.0.0.0"` to accept remote players). */
  readonly host?: string;
  /** TCP port. Default `5071`; `0` picks a free port, readable as `server.port` after `start()`. */
  readonly port?: number;
  /** The class instantiated for each client. Default `Channel`; a subclass's `channelClass` field wins. */
  readonly channelClass?: ChannelClass<C>;
  /**
   * `"live"` (default): channel handlers run as each message arrives. `"pump"`: every channel's
   * messages, and the `onConnect`/`onClose`/`onDisconnect` hooks, wait for `server.pump()` and run
   * there in global arrival order: the fixed-tick simulation loop of a server-authoritative game.
   */
  readonly dispatch?: DispatchMode;
  /**
   * Most clients connected at once. One more is refused: it receives
   * `{ action: "@refused", reason }` (a repod-rx client turns it into an `error`) and is closed,
   * without a channel. Default 10,000.
   */
  readonly maxConnections?: number;
  /**
   * Milliseconds a WebSocket client has, from its TCP connection, to complete the upgrade
   * handshake, and, with `authenticate`, any client has to log in; one that takes longer is cut off. Upgrades in progress count against
   * `maxConnections`. Default 10,000. (With `ws.server`, the time before the upgrade request's
   * headers are complete is your HTTP server's own `headersTimeout`.)
   */
  readonly handshakeTimeout?: number;
  /**
   * Checks every client's login before it gets a channel: called with the `auth` the client sent
   * in its first message (`{ action: "@hello", auth }`, which a repod-rx client sends from its
   * `connect(..., { auth })` option) and a context (transport, address, and for WebSocket the
   * HTTP upgrade request with its cookies). It returns the player's data, which becomes
   * `channel.data`, or a Promise or an Observable of it; a throw, a rejection, an error or
   * `undefined` refuses the client with `ERR_UNAUTHORIZED` and the error's message. Until it has
   * answered the client has no channel: no greeting, no hook, no dispatch, no room. It must log
   * in within `handshakeTimeout`. Default: none, everyone gets in, nothing is asked of clients.
   */
  readonly authenticate?: Authenticate<ChannelData<C>>;
  /**
   * Session resume: a client that loses its connection without a close (a phone that drops its
   * Wi-Fi) keeps its channel, rooms and data for `window` ms, and when it comes back every message
   * sent in either direction in the meantime reaches its handler exactly once, in order. `true`
   * for the defaults. Only repod-rx clients ask for it; Python repod clients are served as before.
   * Default: off.
   */
  readonly resume?: ResumeOptions<ChannelData<C>> | boolean;
  /**
   * Relays broadcasts (`sendToAll`, room broadcasts) to other servers so that several processes
   * or machines act as one game, e.g. `redisAdapter({ url })`. Default: none (one process).
   */
  readonly adapter?: ServerAdapter;
  /**
   * Also accept WebSocket clients (browsers): on a port of their own, `{ port: 8080 }`, or on an
   * existing HTTP(S) server, `{ server, path: "/game" }` (the way to `wss://`). They get the same
   * channels, greeting, hooks and limits as TCP clients. See {@link WebSocketOptions} for the
   * fields and their defaults. Default: none (TCP only).
   */
  readonly ws?: WebSocketOptions;
  /**
   * Checks every message clients send against the schema of its action before any handler,
   * `messages$` or hook sees it: `schemaValidation({ move: v.object({ x: v.number() }) })`, with
   * zod, valibot or any Standard Schema library. What fails is dropped and logged (or closes the
   * connection, with `onInvalid: "close"`), counted in `channel.rejectedMessages`; handlers get the
   * schema's output. Actions without a schema are delivered as before. With
   * `schemaValidation(clientSchemas, { replies: serverSchemas })`, the clients' replies to
   * `channel.request` are checked too. The compiler checks the map against the channel class's
   * protocol ({@link ChannelValidation}). Default: none.
   */
  readonly validation?: NoInfer<ChannelValidation<C>>;
}

/** A message together with the channel it came from, as emitted by `server.messages$`. */
export interface ChannelMessage<C> {
  /** The channel the message came from. */
  readonly channel: C;
  /** The message, as its `Network_*` handler receives it. */
  readonly message: IncomingMessage;
}

/**
 * Checks the server's own options before anything starts, so a typo fails at construction with a
 * message saying what is allowed, not later with a confusing socket error. Connection limits are
 * checked by `resolveLimits`.
 * @throws {TypeError} for a value of the wrong type.
 * @throws {RangeError} for a value out of range.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function validateServerOptions(options: ServerOptions<any>): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError('Server options must be an object such as { host: "127.0.0.1", port: 5071 }');
  }
  const { host, port, channelClass, dispatch, maxConnections, handshakeTimeout, authenticate } = options;
  if (host !== undefined && (typeof host !== "string" || host === "")) {
    throw new TypeError(`options.host must be a non-empty string, got ${describeOptionValue(host)}`);
  }
  if (port !== undefined) checkInteger("port", port, 0, 65535);
  if (channelClass !== undefined && typeof channelClass !== "function") {
    throw new TypeError("options.channelClass must be a class extending Channel");
  }
  if (dispatch !== undefined && dispatch !== "live" && dispatch !== "pump") {
    throw new TypeError(`options.dispatch must be "live" or "pump", got ${describeOptionValue(dispatch)}`);
  }
  if (maxConnections !== undefined) checkInteger("maxConnections", maxConnections, 1, Number.MAX_SAFE_INTEGER);
  if (handshakeTimeout !== undefined) checkInteger("handshakeTimeout", handshakeTimeout, 1, 2 ** 31 - 1);
  if (options.ws !== undefined) validateWebSocketOptions(options.ws);
  if (authenticate !== undefined && typeof authenticate !== "function") {
    throw new TypeError("options.authenticate must be a function (auth, context) => player data");
  }
  if (options.validation !== undefined && !(options.validation instanceof SchemaValidation)) {
    throw new TypeError(
      "options.validation must be made by schemaValidation(schemas), such as schemaValidation({ move: v.object({ x: v.number() }) })",
    );
  }
}

/**
 * Checks the `ws` option: exactly one of `port` and `server`, and the right type for each field.
 * @throws {TypeError} for a value of the wrong type or a contradictory combination.
 * @throws {RangeError} for a port out of range.
 */
export function validateWebSocketOptions(ws: unknown): void {
  const example = '{ port: 8080 } or { server: httpServer, path: "/game" }';
  if (typeof ws !== "object" || ws === null || Array.isArray(ws)) {
    throw new TypeError(`options.ws must be an object such as ${example}`);
  }
  const { port, host, server, path, origins, perMessageDeflate } = ws as Record<string, unknown>;
  if ((port === undefined) === (server === undefined)) {
    throw new TypeError(
      `options.ws needs exactly one of port (a WebSocket port of its own) and server (an existing http or https server), such as ${example}`,
    );
  }
  if (port !== undefined) checkInteger("ws.port", port, 0, 65535);
  if (server !== undefined) {
    const candidate = server as { on?: unknown; address?: unknown } | null;
    if (
      typeof candidate !== "object" ||
      candidate === null ||
      typeof candidate.on !== "function" ||
      typeof candidate.address !== "function"
    ) {
      throw new TypeError("options.ws.server must be an http.Server or https.Server");
    }
    if (host !== undefined) {
      throw new TypeError(
        "options.ws.host is only used with ws.port; an attached ws.server listens where you started it",
      );
    }
  }
  if (host !== undefined && (typeof host !== "string" || host === "")) {
    throw new TypeError(`options.ws.host must be a non-empty string, got ${describeOptionValue(host)}`);
  }
  if (path !== undefined && (typeof path !== "string" || !path.startsWith("/"))) {
    throw new TypeError(
      `options.ws.path must be a string starting with "/", such as "/game", got ${describeOptionValue(path)}`,
    );
  }
  if (
    origins !== undefined &&
    (!Array.isArray(origins) || !origins.every((origin) => typeof origin === "string" && origin !== ""))
  ) {
    throw new TypeError(
      `options.ws.origins must be an array of origins such as ["https://game.example.com"], got ${describeOptionValue(origins)}`,
    );
  }
  if (perMessageDeflate !== undefined && typeof perMessageDeflate !== "boolean") {
    throw new TypeError(
      `options.ws.perMessageDeflate must be true or false, got ${describeOptionValue(perMessageDeflate)}`,
    );
  }
}
