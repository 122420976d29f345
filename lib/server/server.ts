import type * as http from "node:http";
import { Observable, Subject } from "rxjs";
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_HOST,
  DEFAULT_PORT,
  HEADER_SIZE,
  REFUSED_ACTION,
  REPLY_ACTION,
  HELLO_ACTION,
  SESSION_ACTION,
} from "../constants.js";
import { Channel, type AnyChannel } from "../connections/channel.js";
import type { ChannelLink } from "../connections/channel-link.js";
import { Connection, type ConnectionEvents, type ConnectionOptions } from "../connections/connection.js";
import { resolveLimits, type ResolvedLimits } from "../connections/connection-options.js";
import type { SendOptions } from "../connections/outbox.js";
import { dispatch } from "../dispatch/dispatch.js";
import { requestId } from "../dispatch/requests.js";
import { ProtocolError } from "../errors.js";
import { formatLogLine, isDebugEnabled, isSilent, resolveLogger, type Logger } from "../logging.js";
import { encode, frame } from "../protocol/codec.js";
import { PumpScheduler } from "../scheduling/pump-scheduler.js";
import { ServerHandshake, type Admission, type HandshakeHost } from "../sessions/server-handshake.js";
import { ServerSession } from "../sessions/server-session.js";
import { SessionRegistry } from "../sessions/session-registry.js";
import { isSessionControl } from "../sessions/session-control.js";
import { resolveResume, type Authenticate, type ResumeOptions } from "../sessions/session-options.js";
import { MemoryTransport } from "../transports/memory-transport.js";
import { TcpAcceptor } from "../transports/tcp-acceptor.js";
import type { ConnectorOptions, Transport } from "../transports/transport.js";
import { WsAcceptor, type WebSocketOptions } from "../transports/ws-acceptor.js";
import type { Address, IncomingMessage } from "../types.js";
import type { SchemaValidation } from "../validation/schema-validation.js";
import type { ValidationStage } from "../validation/validation-stage.js";
import {
  Room,
  toExcluded,
  toSendOptions,
  type BroadcastOptions,
  type Except,
  type RoomEvent,
  type RoomHost,
} from "./room.js";
import { checkRoomName, RoomRegistry } from "./room-registry.js";
import type { AdapterHost, ServerAdapter } from "./server-adapter.js";
import {
  validateServerOptions,
  type ChannelClass,
  type ChannelMessage,
  type DispatchMode,
  type ServerOptions,
} from "./server-options.js";

export type { ChannelClass, ChannelMessage, DispatchMode, ServerOptions } from "./server-options.js";

type ServerState = "idle" | "starting" | "listening" | "stopping";

let nextChannelId = 1;

/** Where a new connection's events go until its handshake routes them. */
const IGNORE_EVENTS: ConnectionEvents = { open() {}, message() {}, rtt() {}, close() {} };

const DEFAULT_MAX_CONNECTIONS = 10_000;

/**
 * Accepts clients and creates one channel per connection. Subclass it and override `onConnect`
 * and `onDisconnect`, or subscribe to `connections$`, `disconnections$` and `messages$`.
 *
 * @typeParam C the channel class
 */
export class Server<C extends AnyChannel = AnyChannel> implements RoomHost<C>, AdapterHost {
  /** The class instantiated for each client; may be set as a field in a subclass. */
  channelClass: ChannelClass<C>;
  /** Interface the server listens on. */
  readonly host: string;
  /** Dispatch mode, see {@link ServerOptions.dispatch}. */
  readonly dispatchMode: DispatchMode;
  /** The connection limits in force, defaults applied. */
  readonly limits: ResolvedLimits;
  /** Most clients connected at once. */
  readonly maxConnections: number;
  /** Milliseconds a WebSocket client has to complete its handshake, see {@link ServerOptions.handshakeTimeout}. */
  readonly handshakeTimeout: number;
  /** The scheduler `pump()` flushes (used in `"pump"` dispatch mode). */
  readonly scheduler = new PumpScheduler();
  /** Each new channel, after its `onConnect`. */
  readonly connections$: Observable<C>;
  /** Each channel that has closed, after its `onClose`. */
  readonly disconnections$: Observable<C>;
  /** Every message of every channel, live, with its channel. */
  readonly messages$: Observable<ChannelMessage<C>>;
  /** Each resumable channel that lost its connection and waits for its player, after its `onDrop`. */
  readonly drops$: Observable<C>;
  /** Each resumable channel whose player came back, after its `onResume`. */
  readonly resumes$: Observable<C>;
  /** @internal Every room join, live; per room through `room(name).joins$`. */
  readonly roomJoins$: Observable<RoomEvent<C>>;
  /** @internal Every room leave, live; per room through `room(name).leaves$`. */
  readonly roomLeaves$: Observable<RoomEvent<C>>;

  /** Where this server's events go. */
  readonly logger: Logger;
  /** The adapter relaying broadcasts to other servers, or `null`. */
  readonly adapter: ServerAdapter | null;
  readonly #requestedPort: number;
  readonly #channels: C[] = [];
  /** Each channel's link: its connection, or its resumable session. */
  readonly #connections = new Map<C, ChannelLink>();
  /** New connections still in their login or hello handshake: they hold a slot, no channel. */
  readonly #handshakes = new Set<ServerHandshake>();
  /** The resumable seats, by token, with the `resume` option. */
  readonly #sessions: SessionRegistry | null;
  readonly #authenticate: Authenticate<unknown> | null;
  /** The schema check of what clients send (the `validation` option), or `null`. */
  readonly #validation: SchemaValidation | null;
  readonly #dropsSubject = new Subject<AnyChannel>();
  readonly #resumesSubject = new Subject<AnyChannel>();
  // Typed with the base channel, not C: a subject's observers take C as a parameter, which would
  // make Server<GameChannel> unassignable to Server. The public streams are typed with C.
  readonly #connectionsSubject = new Subject<AnyChannel>();
  readonly #disconnectionsSubject = new Subject<AnyChannel>();
  readonly #messagesSubject = new Subject<ChannelMessage<AnyChannel>>();
  readonly #rooms: RoomRegistry<AnyChannel>;
  #acceptor: TcpAcceptor | null = null;
  readonly #wsOptions: WebSocketOptions | null;
  #wsAcceptor: WsAcceptor | null = null;
  #state: ServerState = "idle";
  /** Whether `listenLocal()` was called since the last `stop()`: local clients also get in while `start()` binds. */
  #local = false;
  #drained: (() => void) | null = null;
  /** The errors that ended connections, passed to `onError`, which the default one does not print. */
  readonly #disconnections = new WeakSet<object>();

  constructor(options: ServerOptions<C> = {}) {
    validateServerOptions(options);
    this.host = options.host ?? DEFAULT_HOST;
    this.#requestedPort = options.port ?? DEFAULT_PORT;
    this.channelClass = options.channelClass ?? (Channel as unknown as ChannelClass<C>);
    this.dispatchMode = options.dispatch ?? "live";
    this.limits = resolveLimits(options);
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    this.#wsOptions = options.ws ?? null;
    this.logger = resolveLogger(options.logger);
    this.#connectionOptions = { ...this.limits, logger: this.logger, open: true, expectGreeting: false };
    this.adapter = options.adapter ?? null;
    this.#authenticate = (options.authenticate as Authenticate<unknown> | undefined) ?? null;
    const resume = resolveResume(options.resume as ResumeOptions | boolean | undefined);
    this.#sessions = resume === null ? null : new SessionRegistry(resume);
    this.#validation = options.validation ?? null;
    this.drops$ = this.#dropsSubject.asObservable() as Observable<C>;
    this.resumes$ = this.#resumesSubject.asObservable() as Observable<C>;
    this.connections$ = this.#connectionsSubject.asObservable() as Observable<C>;
    this.disconnections$ = this.#disconnectionsSubject.asObservable() as Observable<C>;
    this.messages$ = this.#messagesSubject.asObservable() as Observable<ChannelMessage<C>>;
    this.#rooms = new RoomRegistry<AnyChannel>({
      created: (name) => this.adapter?.roomCreated(name),
      deleted: (name) => this.adapter?.roomDeleted(name),
    });
    this.roomJoins$ = this.#rooms.joins$ as Observable<RoomEvent<C>>;
    this.roomLeaves$ = this.#rooms.leaves$ as Observable<RoomEvent<C>>;
  }

  /** The TCP port: the bound one once started (useful with `port: 0`), else the requested one. */
  get port(): number {
    return this.#acceptor?.port ?? this.#requestedPort;
  }

  /**
   * The port WebSocket clients connect to once started (the bound one with `ws.port: 0`, the
   * attached HTTP server's port with `ws.server`), or `null` without the `ws` option.
   */
  get wsPort(): number | null {
    return this.#wsAcceptor?.port ?? null;
  }

  /** Whether the server is listening. */
  get isListening(): boolean {
    return this.#state === "listening";
  }

  /** The connected channels, live: a channel is added before `onConnect` and removed when it closes. */
  get channels(): readonly C[] {
    return this.#channels;
  }

  /**
   * Starts listening; resolves once the port is bound.
   * @throws {Error} when already started, or when the port cannot be bound (the message says why).
   */
  async start(): Promise<void> {
    if (this.#acceptor !== null || this.#state === "starting" || this.#state === "stopping") {
      throw new Error(`Server is already ${this.#state}; call stop() before start()`);
    }
    // "idle", or "listening" for local clients only: what a failed start() returns to.
    const previous = this.#state;
    this.#state = "starting";
    const acceptor = new TcpAcceptor({
      host: this.host,
      port: this.#requestedPort,
      maxPayload: this.limits.maxPayload,
      closeTimeout: this.limits.closeTimeout,
      frameTimeout: this.limits.frameTimeout,
    });
    try {
      await acceptor.listen((transport) => this.#accept(transport));
      this.#wsAcceptor = await this.#listenWebSocket();
    } catch (error) {
      await acceptor.close();
      this.#state = previous;
      throw error;
    }
    this.#acceptor = acceptor;
    this.#state = "listening";
    if (this.adapter !== null) {
      try {
        await this.adapter.start(this);
      } catch (error) {
        await this.stop();
        throw error;
      }
    }
    this.logger.info("listening", { host: this.host, port: this.port });
  }

  /**
   * Stops accepting, closes every channel gracefully (each receives everything already sent to it),
   * runs their `onClose`/`onDisconnect` hooks (and, in pump mode, whatever was still queued), then
   * resolves. Calling it on a server that is not running resolves at once.
   */
  async stop(): Promise<void> {
    if (this.#state === "idle" || this.#state === "stopping") return;
    this.#state = "stopping";
    const acceptor = this.#acceptor;
    const closed = acceptor?.close();
    const wsClosed = this.#wsAcceptor?.close();
    this.#wsAcceptor = null;
    for (const handshake of [...this.#handshakes]) handshake.abort();
    await this.#closeAllChannels();
    await closed;
    await wsClosed;
    this.#acceptor = null;
    this.#drainPumpQueue();
    this.#sessions?.clear();
    await this.adapter?.stop();
    this.#local = false;
    this.#state = "idle";
    this.logger.info("stopped", { host: this.host });
  }

  /** Starts accepting WebSocket clients when the `ws` option asks for it; `null` otherwise. */
  async #listenWebSocket(): Promise<WsAcceptor | null> {
    const options = this.#wsOptions;
    if (options === null) return null;
    const host = options.host ?? this.host;
    const acceptor = new WsAcceptor({
      ...options,
      host,
      maxPayload: this.limits.maxPayload,
      closeTimeout: this.limits.closeTimeout,
      frameTimeout: this.limits.frameTimeout,
      handshakeTimeout: this.handshakeTimeout,
      // Handshakes in progress count against maxConnections together with the open channels.
      maxConnections: this.maxConnections,
      openConnections: () => this.#connections.size,
      logger: this.logger,
    });
    await acceptor.listen((transport, request) => this.#accept(transport, false, request));
    this.logger.info("listening", {
      protocol: "ws",
      ...(options.server ? {} : { host }),
      port: acceptor.port,
      path: options.path ?? "*",
    });
    return acceptor;
  }

  /**
   * Accepts in-process clients (`listener.connect(server)`) without opening any port: a game
   * hosted in the same process as its local players, bots in single-player, hot-seat, and fast
   * tests. Local clients get the same greeting, hooks, limits, rooms and pump semantics as TCP
   * ones. A started server accepts local clients too; `stop()` ends both.
   */
  listenLocal(): void {
    this.#local = true;
    if (this.#state === "idle") this.#state = "listening";
  }

  /**
   * @internal Opens an in-process connection to this server and returns the client's end;
   * `ConnectionListener.connect(server)` calls it.
   * @throws {Error} when the server accepts no connections (call `listenLocal()` or `start()`).
   */
  openLocal(options: ConnectorOptions): Transport {
    if (!this.#acceptsLocal()) {
      throw new Error(
        "The server accepts no local connections: call server.listenLocal() or await server.start() first",
      );
    }
    const [client, server] = MemoryTransport.pair(options.maxPayload, this.limits.maxPayload);
    this.#accept(server, true);
    return client;
  }

  #acceptsLocal(): boolean {
    return this.#state === "listening" || (this.#state === "starting" && this.#local);
  }

  /**
   * Starts, then runs until the process receives SIGINT (Ctrl+C) or SIGTERM, then stops cleanly.
   * Resolves once stopped.
   */
  async launch(): Promise<void> {
    await this.start();
    await new Promise<void>((resolve) => {
      const onSignal = (): void => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        resolve();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    });
    await this.stop();
  }

  /**
   * In `"pump"` dispatch mode, runs the handlers and hooks of everything that arrived before this
   * call, in global arrival order, and returns how many ran. A handler's exception goes to its
   * channel's `onError` and the following messages still run. In `"live"` mode there is nothing
   * queued and it returns 0.
   */
  pump(): number {
    return this.scheduler.flush();
  }

  /**
   * Sends one message to every connected channel but `except`; it is encoded once however many
   * receive it, with `volatile` or `latest` applied by each channel's connection (see
   * {@link BroadcastOptions}; other servers behind an adapter deliver it as an ordinary message).
   * Returns the number of channels it was queued for (a volatile message dropped for a channel
   * that has a backlog does not count).
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded, or for
   *   options of the wrong type.
   */
  sendToAll(message: object, options: BroadcastOptions<C> = {}): number {
    return this.broadcastTo(this.#connections.keys(), message, options.except, undefined, options);
  }

  /**
   * A live view of the room `name`: its members, their count, a broadcast to them, and streams
   * of joins and leaves. Channels enter rooms with `channel.join(name)`.
   * @throws {TypeError} for a name that is not a non-empty string.
   */
  room(name: string): Room<C> {
    checkRoomName(name);
    return new Room(name, this);
  }

  /** The names of the rooms that have members now. */
  get roomNames(): readonly string[] {
    return this.#rooms.names;
  }

  /** @internal */
  roomMembers(name: string): ReadonlySet<C> | undefined {
    return this.#rooms.members(name) as ReadonlySet<C> | undefined;
  }

  /**
   * @internal Encodes once, writes to every channel of `channels` not in `except`, and hands the
   * payload to the adapter for the other servers (`room` undefined: everyone).
   */
  broadcastTo(
    channels: Iterable<C>,
    message: object,
    except: Except<C>,
    room: string | undefined,
    options?: SendOptions,
  ): number {
    const bytes = encode(message);
    const sendOptions = toSendOptions(options);
    this.adapter?.publish(bytes.subarray(HEADER_SIZE), room);
    return this.#writeToChannels(channels, bytes, toExcluded(except), sendOptions);
  }

  /** @internal A broadcast made on another server: framed once, written to the local channels. */
  deliverRemote(payload: Uint8Array, room: string | undefined): void {
    const channels = room === undefined ? this.#connections.keys() : this.roomMembers(room);
    if (channels === undefined) return;
    this.#writeToChannels(channels, frame(payload), null, undefined);
  }

  #writeToChannels(
    channels: Iterable<C>,
    frame: Uint8Array,
    excluded: ReadonlySet<C> | null,
    options: SendOptions | undefined,
  ): number {
    let count = 0;
    for (const channel of channels) {
      if (excluded !== null && excluded.has(channel)) continue;
      const link = this.#connections.get(channel);
      // The same frame for every channel: a backlog holds a reference to it, never a copy.
      if (link !== undefined && link.sendFrame(frame, options) > 0) count++;
    }
    return count;
  }

  /** @internal Called by `channel.join(name)`; returns false if it was already a member. */
  joinRoom(channel: C, name: string): boolean {
    checkRoomName(name);
    return this.#connections.has(channel) && this.#rooms.join(channel, name);
  }

  /** @internal Called by `channel.leave(name)` and when a channel closes; an empty room disappears. */
  leaveRoom(channel: C, name: string): boolean {
    return this.#rooms.leave(channel, name);
  }

  /** Called after a channel's `onConnect`. Default: does nothing. */
  onConnect(channel: C, addr: Address): void {
    void channel;
    void addr;
  }

  /** Called after a channel's `onClose`. Default: does nothing. */
  onDisconnect(channel: C): void {
    void channel;
  }

  /**
   * @internal The default `Channel.onError`: the logger when one is configured, `console.error`
   * otherwise, so a failing handler is never silent.
   */
  reportChannelError(channel: AnyChannel, error: unknown): void {
    const fields = { channel: channel.id, peer: `${channel.addr.host}:${channel.addr.port}`, reason: error };
    // A peer that resets, vanishes or is cut off by a limit is an ordinary disconnection, already
    // logged as "disconnected" with its reason: no stack trace on the console for it.
    if (this.#disconnections.has(error as object)) return;
    if (isSilent(this.logger)) {
      console.error(formatLogLine("error", "channel error", fields), error);
    } else {
      this.logger.error("channel error", fields);
    }
  }

  #accept(transport: Transport, local = false, request?: http.IncomingMessage): void {
    if (local ? !this.#acceptsLocal() : this.#state !== "listening") {
      transport.destroy();
      return;
    }
    if (this.#connections.size + this.#handshakes.size >= this.maxConnections) {
      this.#refuse(
        transport,
        `Server is full: it already has ${this.maxConnections} clients (maxConnections); try again later`,
      );
      return;
    }
    const connection = new Connection(transport, IGNORE_EVENTS, this.#connectionOptions);
    if (this.#authenticate === null && this.#sessions === null) {
      this.#admit(connection, { data: undefined, session: false, greeted: false, pending: [] });
      return;
    }
    const context = { transport: transport.kind, remote: transport.remote, request };
    const handshake = new ServerHandshake(
      connection,
      context,
      {
        authenticate: this.#authenticate,
        resume: this.#sessions?.resume ?? null,
        handshakeTimeout: this.handshakeTimeout,
      },
      this.#handshakeHost,
    );
    if (!handshake.isSettled) this.#handshakes.add(handshake);
  }

  /**
   * The options of every connection this server accepts: one object for all of them, not one
   * each. They are the same for every connection, and an object built per connection by spreading
   * the limits gets a hidden class of its own in V8 (over 500 bytes a connection).
   */
  readonly #connectionOptions: ConnectionOptions;

  /** What the routes of the channels' connections call on this server (see {@link ChannelRoute}). */
  readonly #routeHost: RouteHost<AnyChannel> = {
    receive: (channel, message) => this.#receive(channel as C, message),
    release: (channel, error) => this.#release(channel as C, error),
  };

  /** Where the handshakes of new connections end. */
  readonly #handshakeHost: HandshakeHost = {
    admit: (connection, admission) => this.#admit(connection, admission),
    session: (token) => this.#sessions?.seat(token),
    ended: (token) => this.#sessions?.ended(token),
    resumed: (session, stale) => this.#sessions?.resumed(session, stale),
    refuse: (connection, code, reason) => {
      this.logger.warn("refused", { peer: `${connection.remote.host}:${connection.remote.port}`, code, reason });
      connection.send({ action: REFUSED_ACTION, code, reason });
      connection.close();
    },
    settled: (handshake) => this.#handshakes.delete(handshake),
  };

  /**
   * Creates the channel of a new player: through a resumable session when the client asked for
   * one, else straight on its connection. Greets it (unless the handshake already did), announces
   * it, then dispatches what it sent during the handshake.
   */
  #admit(connection: Connection, admission: Admission): void {
    // The link reports to the channel, which needs the link to be built: its events arrive
    // asynchronously, after the route's `channel` is set below.
    const route = new ChannelRoute<C>(this.#routeHost, connection);
    let link: ChannelLink;
    let session: ServerSession | null = null;
    const seats = admission.session ? this.#sessions : null;
    if (seats !== null) {
      session = new ServerSession(connection, admission.data, seats.resume);
      link = session;
    } else {
      connection.route(route);
      link = connection;
    }
    // With the `validation` option, every message passes its channel's schema check first.
    const stage =
      this.#validation?.channelStage(link, {
        logger: this.logger,
        maxInvalidMessages: this.limits.maxInvalidMessages,
        deliver: (message) => this.#receive(channel, message),
      }) ?? null;
    route.stage = stage;
    const channel = new this.channelClass({
      link,
      server: this,
      id: nextChannelId++,
      data: admission.data,
      ...(stage === null ? {} : { validation: stage }),
    });
    route.channel = channel;
    if (session !== null) {
      const seat = session;
      const registry = seats!;
      registry.add(seat);
      seat.start({
        message: (message) => route.receive(message),
        rtt: (milliseconds) => channel.emitRtt(milliseconds),
        drop: (error) => this.#drop(channel, error),
        resume: () => this.#resumed(channel),
        confirmed: (spent) => registry.confirmed(spent),
        end: (error) => {
          registry.end(seat, error);
          stage?.end();
          this.#release(channel, error);
        },
      });
    }
    this.#channels.push(channel);
    this.#connections.set(channel, link);
    if (!admission.greeted) connection.send({ action: "connected" });
    if (session !== null) {
      connection.send({ action: SESSION_ACTION, token: session.token, window: seats!.resume.window });
    }
    this.logger.info("connected", { channel: channel.id, peer: `${channel.addr.host}:${channel.addr.port}` });
    const accepted = channel;
    this.#run(() => {
      this.#guard(accepted, () => accepted.onConnect());
      this.#guard(accepted, () => this.onConnect(accepted, accepted.addr));
      this.#connectionsSubject.next(accepted);
    });
    for (const message of admission.pending) {
      if (session !== null) session.receive(message);
      else route.receive(message);
    }
  }

  /** A resumable channel lost its connection: its seat is held for the resume window. */
  #drop(channel: C, error: Error): void {
    this.logger.info("dropped", {
      channel: channel.id,
      peer: `${channel.addr.host}:${channel.addr.port}`,
      reason: error.message,
    });
    this.#run(() => {
      this.#guard(channel, () => channel.onDrop(error));
      this.#dropsSubject.next(channel);
    });
  }

  /** The player of a held seat came back; runs before any message it replays is dispatched. */
  #resumed(channel: C): void {
    this.logger.info("resumed", { channel: channel.id, peer: `${channel.addr.host}:${channel.addr.port}` });
    this.#run(() => {
      this.#guard(channel, () => channel.onResume());
      this.#resumesSubject.next(channel);
    });
  }

  /** Tells the client why (a repod-rx client reports it as an `error`), then closes without a channel. */
  #refuse(transport: Transport, reason: string): void {
    this.logger.warn("refused", { peer: `${transport.remote.host}:${transport.remote.port}`, reason });
    transport.start({ open: () => {}, payload: () => {}, invalid: () => {}, close: () => {} });
    transport.write(encode({ action: REFUSED_ACTION, code: "ERR_SERVER_FULL", reason }));
    transport.end();
  }

  #receive(channel: C, message: IncomingMessage): void {
    channel.emitMessage(message);
    // Per-message allocation only when someone listens: this is the server's hottest path.
    if (this.#messagesSubject.observed) this.#messagesSubject.next({ channel, message });
    if (this.dispatchMode === "live") this.#deliver(channel, message);
    else this.scheduler.enqueue(this.#deliverQueued, { channel, message });
  }

  readonly #deliverQueued = ({ channel, message }: ChannelMessage<AnyChannel>): void =>
    this.#deliver(channel as C, message);

  #deliver(channel: C, message: IncomingMessage): void {
    if (isDebugEnabled(this.logger)) this.logger.debug("dispatched", { channel: channel.id, action: message.action });
    if (message.action === REPLY_ACTION) {
      channel.settleReply(message);
      return;
    }
    const id = requestId(message);
    if (id !== undefined) {
      channel.answer(id, () => dispatch(channel, message));
      return;
    }
    try {
      this.#watch(channel, dispatch(channel, message));
    } catch (error) {
      this.#reportToChannel(channel, error);
    }
  }

  #release(channel: C, error: Error | undefined): void {
    const index = this.#channels.indexOf(channel);
    if (index >= 0) this.#channels.splice(index, 1);
    this.#connections.delete(channel);
    for (const name of [...channel.rooms]) channel.leave(name);
    channel.completeMessages();
    this.logger.info("disconnected", {
      channel: channel.id,
      peer: `${channel.addr.host}:${channel.addr.port}`,
      ...(error ? { reason: error.message } : {}),
    });
    if (error) this.#disconnections.add(error);
    this.#run(() => {
      if (error) this.#guard(channel, () => channel.onError(error));
      this.#guard(channel, () => channel.onClose());
      this.#guard(channel, () => this.onDisconnect(channel));
      this.#disconnectionsSubject.next(channel);
    });
    if (this.#connections.size === 0) this.#drained?.();
  }

  /** Runs hook code now in live mode, inside the next `pump()` in pump mode. */
  #run(work: () => void): void {
    if (this.dispatchMode === "live") work();
    else this.scheduler.enqueue(work, undefined);
  }

  /** Calls user code for a channel; an exception goes to the channel's `onError`, never further. */
  #guard(channel: C, work: () => unknown): void {
    try {
      this.#watch(channel, work());
    } catch (error) {
      this.#reportToChannel(channel, error);
    }
  }

  /**
   * An async handler or hook that rejects is reported like one that throws, instead of becoming
   * an unhandled rejection, which ends a Node process.
   */
  #watch(channel: C, result: unknown): void {
    if (result instanceof Promise) result.catch((error: unknown) => this.#reportToChannel(channel, error));
  }

  #reportToChannel(channel: C, error: unknown): void {
    try {
      channel.onError(error);
    } catch (secondary) {
      this.logger.error("onError threw", { channel: channel.id, reason: secondary });
    }
  }

  #closeAllChannels(): Promise<void> {
    if (this.#connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = () => {
        this.#drained = null;
        resolve();
      };
      for (const link of this.#connections.values()) link.close();
    });
  }

  /** After stop(), in pump mode: run what is still queued so every hook runs exactly once. */
  #drainPumpQueue(): void {
    for (let rounds = 0; rounds < 100 && this.scheduler.size > 0; rounds++) this.scheduler.flush();
  }
}

/** What a {@link ChannelRoute} needs of its server: one object per server. */
interface RouteHost<C extends AnyChannel> {
  /** A valid message of `channel` (schema-checked, when the server validates): dispatch it. */
  receive(channel: C, message: IncomingMessage): void;
  /** `channel`'s connection or seat has ended. */
  release(channel: C, error: Error | undefined): void;
}

/**
 * Takes a channel's messages to its server: the events of the channel's connection (without
 * session resume), and the messages of its seat (with it). One small object per channel with its
 * methods on the prototype, rather than a closure per event: a server holding thousands of idle
 * players pays for each of them.
 */
class ChannelRoute<C extends AnyChannel> implements ConnectionEvents {
  /** Set as soon as the channel is built, before any event can arrive (they come asynchronously). */
  channel!: C;
  /** The channel's schema check, with the `validation` option. */
  stage: ValidationStage | null = null;

  constructor(
    private readonly host: RouteHost<C>,
    private readonly connection: Connection,
  ) {}

  open(): void {}

  message(message: IncomingMessage): void {
    if (isSessionControl(message)) {
      // A repod-rx client says hello to every server: one without sessions ignores it.
      if (message.action !== HELLO_ACTION) {
        this.connection.reject(
          new ProtocolError("ERR_INVALID_CONTROL", `Dropped a ${String(message.action)} outside a session`),
        );
      }
      return;
    }
    this.receive(message);
  }

  rtt(milliseconds: number): void {
    this.channel.emitRtt(milliseconds);
  }

  close(error?: Error): void {
    this.stage?.end();
    this.host.release(this.channel, error);
  }

  /** A message from the player, through the schema check first when there is one. */
  receive(message: IncomingMessage): void {
    const stage = this.stage;
    if (stage === null) this.host.receive(this.channel, message);
    else stage.receive(message);
  }
}
