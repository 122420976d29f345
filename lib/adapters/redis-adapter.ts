import { randomBytes } from "node:crypto";
import { BehaviorSubject, distinctUntilChanged, Subject, type Observable } from "rxjs";
import { HEADER_SIZE } from "../constants.js";
import { backoffDelay, resolveReconnectPolicy, type ReconnectPolicy } from "../connections/reconnect-policy.js";
import { checkInteger } from "../connections/connection-options.js";
import { RepodError } from "../errors.js";
import type { Logger } from "../logging.js";
import { decode, encode, isPlainObject } from "../protocol/codec.js";
import type { AdapterHost, ServerAdapter } from "../server/server-adapter.js";
import type { IncomingMessage } from "../types.js";
import { ENVELOPE_HEADER_SIZE, EnvelopeKind, envelope, isFrom, numericEnvelope, SERVER_ID_LENGTH } from "./adapter-envelope.js";
import { closeClient, loadCreateClient, withTimeout, type RedisClientLike, type RedisConnectOptions } from "./redis-client.js";
import { MAX_TIMER, validateRedisAdapterOptions, type RedisAdapterOptions } from "./redis-adapter-options.js";
import { SizeQueries } from "./size-queries.js";

export type { RedisAdapterOptions } from "./redis-adapter-options.js";

/**
 * `idle` (not started or stopped), `connecting` (in `start()`), `connected`, `reconnecting`
 * (Redis went away: local delivery goes on, cross-server messages are dropped), `stopping`.
 */
export type RedisAdapterState = "idle" | "connecting" | "connected" | "reconnecting" | "stopping";

/** A message another server sent with `sendToServers` or `sendToServer`. */
export interface ServerMessage {
  /** The sender's `adapter.serverId`, to answer it with `sendToServer(from, ...)`. */
  readonly from: string;
  readonly message: IncomingMessage;
}

/** Options of `roomSize()`. */
export interface RoomSizeOptions {
  /** Milliseconds to wait for every server's answer. Default: the adapter's `requestTimeout`. */
  readonly timeout?: number;
}

const DEFAULT_URL = "redis://127.0.0.1:6379";
const DEFAULT_PREFIX = "repod-rx";

/**
 * Makes servers in several processes or on several machines act as one game through Redis
 * pub/sub. Give each `Server` its own: `new Server({ adapter: redisAdapter({ url }) })`.
 *
 * - `sendToAll` and room broadcasts reach the channels of every server; each server frames a
 *   broadcast once for all its channels. Room traffic goes only to the servers with members.
 * - What one server broadcasts reaches every client in the order it was sent.
 * - If Redis goes away, every server keeps serving its own players, logs it, reconnects with
 *   backoff and resumes; what was broadcast in between is not relayed (nothing is buffered).
 *
 * @throws {TypeError} or {RangeError} for a bad option.
 */
export function redisAdapter(options: RedisAdapterOptions = {}): RedisAdapter {
  return new RedisAdapter(options);
}

/** The adapter {@link redisAdapter} returns. */
export class RedisAdapter implements ServerAdapter {
  /** This server's id among the servers of the game: 16 hexadecimal characters. */
  readonly serverId: string;
  /** The namespace of the Redis channels. */
  readonly prefix: string;
  /** The connection state, now and on every change. */
  readonly state$: Observable<RedisAdapterState>;
  /**
   * Messages other servers sent with `sendToServers` (or to this one with `sendToServer`), live,
   * as they arrive from Redis; a server does not receive its own `sendToServers`.
   */
  readonly serverMessages$: Observable<ServerMessage>;

  readonly #url: string;
  readonly #connectTimeout: number;
  readonly #requestTimeout: number;
  readonly #backoff: ReconnectPolicy;
  readonly #createClient: RedisAdapterOptions["createClient"];
  readonly #ownLogger: Logger | undefined;
  readonly #id: Buffer;
  readonly #allChannel: string;
  readonly #allChannelBytes: Buffer;
  readonly #serversChannel: string;
  readonly #ownChannel: string;
  readonly #roomPrefix: string;
  readonly #roomPrefixBytes: Buffer;
  readonly #state = new BehaviorSubject<RedisAdapterState>("idle");
  readonly #serverMessages = new Subject<ServerMessage>();
  readonly #rooms = new Set<string>();
  readonly #sizeQueries = new SizeQueries();
  #host: AdapterHost | null = null;
  #logger: Logger | null = null;
  #pub: RedisClientLike | null = null;
  #sub: RedisClientLike | null = null;
  #reconciling: Promise<void> | null = null;
  #dirty = false;
  #dropped = 0;
  #outage: { readonly since: number; readonly dropped: number } | null = null;

  constructor(options: RedisAdapterOptions = {}) {
    validateRedisAdapterOptions(options);
    this.#url = options.url ?? DEFAULT_URL;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#connectTimeout = options.connectTimeout ?? 10_000;
    this.#requestTimeout = options.requestTimeout ?? 5_000;
    this.#backoff = resolveReconnectPolicy({ initialDelay: 100, maxDelay: 5_000, ...options.reconnect, maxAttempts: Infinity })!;
    this.#createClient = options.createClient;
    this.#ownLogger = options.logger;
    this.serverId = randomBytes(SERVER_ID_LENGTH / 2).toString("hex");
    this.#id = Buffer.from(this.serverId, "latin1");
    this.#allChannel = `${this.prefix}#all`;
    this.#allChannelBytes = Buffer.from(this.#allChannel);
    this.#serversChannel = `${this.prefix}#servers`;
    this.#ownChannel = this.serverChannel(this.serverId);
    this.#roomPrefix = `${this.prefix}#room#`;
    this.#roomPrefixBytes = Buffer.from(this.#roomPrefix);
    this.state$ = this.#state.pipe(distinctUntilChanged());
    this.serverMessages$ = this.#serverMessages.asObservable();
  }

  /** The connection state now. */
  get state(): RedisAdapterState {
    return this.#state.value;
  }

  /**
   * How many broadcasts and server messages were not relayed to the other servers because Redis
   * was unreachable, since this adapter was created. Their local delivery was not affected.
   */
  get dropped(): number {
    return this.#dropped;
  }

  /** The Redis channel carrying the broadcasts to the room `name`. */
  roomChannel(name: string): string {
    return this.#roomPrefix + name;
  }

  /** The Redis channel of the server `serverId` (size answers and `sendToServer`). */
  serverChannel(serverId: string): string {
    return `${this.prefix}#server#${serverId}`;
  }

  /**
   * Connects to Redis (a publisher and a subscriber connection) and subscribes to the shared
   * channels and to the rooms the server has. Called by `server.start()`.
   * @throws {RepodError} `ERR_CONNECT_FAILED` when Redis cannot be reached within `connectTimeout`.
   * @throws {Error} when the adapter is already started (each server needs its own adapter), or
   *   when the `redis` package is not installed (the message says how to install it).
   */
  async start(host: AdapterHost): Promise<void> {
    if (this.state !== "idle") {
      throw new Error(`This Redis adapter is ${this.state}; give each server its own redisAdapter()`);
    }
    this.#state.next("connecting");
    let createClient = this.#createClient;
    try {
      createClient ??= await loadCreateClient();
    } catch (error) {
      this.#state.next("idle");
      throw error;
    }
    this.#host = host;
    this.#logger = this.#ownLogger ?? host.logger;
    this.#rooms.clear();
    for (const name of host.roomNames) this.#rooms.add(name);
    try {
      this.#pub = this.#makeClient(createClient, "pub");
      this.#sub = this.#makeClient(createClient, "sub");
      const connected = Promise.all([this.#pub.connect(), this.#sub.connect()]);
      connected.catch(() => {}); // still rejects later when the timeout below closes the clients
      await withTimeout(connected, this.#connectTimeout);
      await this.#reconcile();
    } catch (cause) {
      this.#state.next("stopping");
      await this.#closeClients();
      this.#host = null;
      this.#state.next("idle");
      throw new RepodError("ERR_CONNECT_FAILED", `Cannot reach Redis at ${redact(this.#url)} within ${this.#connectTimeout} ms: ${reason(cause)}`, { cause });
    }
    this.#logger.info("redis connected", { url: redact(this.#url), prefix: this.prefix, server: this.serverId });
    if (this.#pub?.isReady === true && this.#sub?.isReady === true) {
      this.#state.next("connected");
    } else {
      // Lost again already: the next 'ready' resumes, as after any outage.
      this.#outage = { since: Date.now(), dropped: this.#dropped };
      this.#state.next("reconnecting");
    }
  }

  /** Closes both Redis connections; pending `roomSize()` calls fail with `ERR_NOT_CONNECTED`. Called by `server.stop()`. */
  async stop(): Promise<void> {
    if (this.state === "idle" || this.state === "stopping") return;
    this.#state.next("stopping");
    this.#sizeQueries.failAll((room) => new RepodError("ERR_NOT_CONNECTED", `roomSize(${JSON.stringify(room)}) was cancelled: the adapter stopped`));
    await this.#closeClients();
    this.#host = null;
    this.#outage = null;
    this.#state.next("idle");
  }

  /**
   * Relays a broadcast the server has just written to its own channels. Never throws: while
   * Redis is unreachable the relay is dropped (and counted in `dropped`).
   */
  publish(payload: Uint8Array, room: string | undefined): void {
    const channel = room === undefined ? this.#allChannel : this.#roomPrefix + room;
    this.#publish(channel, envelope(EnvelopeKind.Broadcast, this.#id, payload));
  }

  /** Subscribes to the room's channel: its first local member has joined. */
  roomCreated(room: string): void {
    this.#rooms.add(room);
    this.#scheduleReconcile();
  }

  /** Unsubscribes from the room's channel: its last local member has left. */
  roomDeleted(room: string): void {
    this.#rooms.delete(room);
    this.#scheduleReconcile();
  }

  /**
   * Sends `message` to every other server of the game (e.g. for matchmaking); they receive it on
   * `serverMessages$`. Returns false, and sends nothing, while Redis is unreachable.
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded.
   */
  sendToServers(message: object): boolean {
    return this.#publish(this.#serversChannel, this.#serverEnvelope(message));
  }

  /**
   * Sends `message` to the server whose `serverId` is given (e.g. `from` of a message it sent).
   * Returns false, and sends nothing, while Redis is unreachable.
   * @throws {TypeError} for a malformed server id or a message that cannot be encoded.
   */
  sendToServer(serverId: string, message: object): boolean {
    if (typeof serverId !== "string" || !/^[0-9a-f]{16}$/.test(serverId)) {
      throw new TypeError(`A server id is 16 hexadecimal characters (adapter.serverId), got ${JSON.stringify(serverId)}`);
    }
    return this.#publish(this.serverChannel(serverId), this.#serverEnvelope(message));
  }

  /**
   * How many channels are in the room `name` on all the servers of the game now. The question
   * goes through the room's Redis channel, so only the servers with members answer, and Redis
   * says how many answers to wait for; a server that dies in between makes it time out.
   * @throws {TypeError} for a room name that is not a non-empty string.
   * @throws {RepodError} `ERR_NOT_CONNECTED` while Redis is unreachable; `ERR_REQUEST_TIMEOUT`
   *   when a server did not answer within the timeout.
   */
  roomSize(name: string, options: RoomSizeOptions = {}): Promise<number> {
    if (typeof name !== "string" || name === "") {
      return Promise.reject(new TypeError(`A room name must be a non-empty string, got ${JSON.stringify(name)}`));
    }
    const timeout = options.timeout ?? this.#requestTimeout;
    try {
      checkInteger("timeout", timeout, 1, MAX_TIMER);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const pub = this.#pub;
    if (this.state !== "connected" || pub === null || !pub.isReady) {
      return Promise.reject(new RepodError("ERR_NOT_CONNECTED", `roomSize(${JSON.stringify(name)}) needs Redis, which is unreachable now (state ${this.state}); server.room(name).size counts this server's members`));
    }
    const { id, result } = this.#sizeQueries.open(name, timeout);
    pub.publish(this.roomChannel(name), numericEnvelope(EnvelopeKind.SizeQuery, this.#id, id)).then(
      (receivers) => this.#sizeQueries.expect(id, Number(receivers)),
      (error: unknown) => this.#sizeQueries.fail(id, (room) => new RepodError("ERR_NOT_CONNECTED", `roomSize(${JSON.stringify(room)}) could not ask Redis: ${reason(error)}`, { cause: error })),
    );
    return result;
  }

  /**
   * How many servers of the game (this prefix) are connected to Redis now.
   * @throws {RepodError} `ERR_NOT_CONNECTED` while Redis is unreachable.
   */
  async serverCount(): Promise<number> {
    const pub = this.#pub;
    if (pub === null || !pub.isReady) {
      throw new RepodError("ERR_NOT_CONNECTED", `serverCount() needs Redis, which is unreachable now (state ${this.state})`);
    }
    const counts = await pub.pubSubNumSub([this.#serversChannel]);
    return Number(counts[this.#serversChannel] ?? 0);
  }

  #makeClient(createClient: (options: RedisConnectOptions) => RedisClientLike, role: "pub" | "sub"): RedisClientLike {
    const client = createClient({
      url: this.#url,
      name: `repod-rx-${this.serverId}-${role}`,
      // Cross-server messages are not worth delivering late: a publish while Redis is away fails
      // at once (and is counted) instead of piling up in memory.
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries) => backoffDelay(this.#backoff, retries + 1), connectTimeout: this.#connectTimeout },
    });
    // Without an 'error' listener an EventEmitter throws: every failure is handled here.
    client.on("error", (error: Error) => this.#onConnectionChange(role, error));
    client.on("reconnecting", () => this.#onConnectionChange(role, undefined));
    client.on("ready", () => this.#onReady());
    return client;
  }

  /** A connection failed or is retrying: leave `connected` once, log it once per outage. */
  #onConnectionChange(role: "pub" | "sub", error: Error | undefined): void {
    const logger = this.#logger;
    if (logger === null) return;
    const bothReady = this.#pub?.isReady === true && this.#sub?.isReady === true;
    if (this.state === "connected" && !bothReady) {
      this.#outage = { since: Date.now(), dropped: this.#dropped };
      this.#state.next("reconnecting");
      logger.warn("redis connection lost; local delivery continues, cross-server messages are dropped until it is back", {
        connection: role,
        ...(error ? { reason: error } : {}),
      });
    } else if (error !== undefined) {
      if (this.state === "connected") logger.error("redis error", { connection: role, reason: error });
      else logger.debug("redis connection attempt failed", { connection: role, state: this.state, reason: error });
    }
  }

  /** A connection is back (node-redis has resubscribed its channels): resync the rooms, then resume. */
  #onReady(): void {
    if (this.state !== "reconnecting") return;
    this.#reconcile().then(
      () => {
        if (this.state !== "reconnecting" || this.#pub?.isReady !== true || this.#sub?.isReady !== true) return;
        const outage = this.#outage;
        this.#outage = null;
        this.#logger?.info("redis reconnected; cross-server delivery resumes", {
          ...(outage ? { downMs: Date.now() - outage.since, dropped: this.#dropped - outage.dropped } : {}),
        });
        this.#state.next("connected");
      },
      (error: unknown) => this.#logger?.debug("redis resubscription failed; retrying on the next reconnection", { reason: error }),
    );
  }

  #scheduleReconcile(): void {
    if (this.state !== "connected" && this.state !== "reconnecting") return;
    this.#reconcile().catch((error: unknown) => this.#logger?.debug("redis subscription change failed; retried on reconnection", { reason: error }));
  }

  /**
   * Makes the subscriber's channels match what is wanted now: the shared channels plus one per
   * room with local members. One run at a time; a change during a run triggers one more run, so
   * rooms created or deleted while Redis was away are caught up after the reconnection.
   */
  #reconcile(): Promise<void> {
    if (this.#reconciling !== null) {
      this.#dirty = true;
      return this.#reconciling;
    }
    const run = async (): Promise<void> => {
      do {
        this.#dirty = false;
        const sub = this.#sub;
        if (sub === null || !sub.isReady) return;
        const wanted = new Set([this.#allChannel, this.#serversChannel, this.#ownChannel]);
        for (const room of this.#rooms) wanted.add(this.#roomPrefix + room);
        const current = sub.getPubSubListeners("CHANNELS");
        const add = [...wanted].filter((channel) => !current.has(channel));
        const remove = [...current.keys()].filter((channel) => !wanted.has(channel));
        if (add.length > 0) await sub.subscribe(add, this.#onMessage, true);
        if (remove.length > 0) await sub.unsubscribe(remove);
      } while (this.#dirty);
    };
    this.#reconciling = run().finally(() => {
      this.#reconciling = null;
    });
    return this.#reconciling;
  }

  #publish(channel: string, bytes: Buffer): boolean {
    const pub = this.#pub;
    if (pub === null || !pub.isReady) {
      this.#dropped++;
      return false;
    }
    pub.publish(channel, bytes).catch(this.#onPublishFailed);
    return true;
  }

  readonly #onPublishFailed = (error: unknown): void => {
    this.#dropped++;
    this.#logger?.debug("redis publish failed", { reason: error });
  };

  #serverEnvelope(message: object): Buffer {
    return envelope(EnvelopeKind.ServerMessage, this.#id, encode(message).subarray(HEADER_SIZE));
  }

  /** Every message of every subscribed channel; an exception here would reach node-redis's parser. */
  readonly #onMessage = (bytes: Buffer, channel: Buffer): void => {
    try {
      this.#route(bytes, channel);
    } catch (error) {
      this.#logger?.error("redis adapter could not handle a message", { channel: channel.toString(), reason: error });
    }
  };

  #route(bytes: Buffer, channel: Buffer): void {
    const host = this.#host;
    if (host === null || bytes.length < ENVELOPE_HEADER_SIZE) return;
    const kind = bytes[0];
    // The hot path first: a broadcast from another server, framed once for all local channels.
    if (kind === EnvelopeKind.Broadcast) {
      if (isFrom(bytes, this.#id)) return;
      const room = this.#roomOf(channel);
      if (room !== null) host.deliverRemote(bytes.subarray(ENVELOPE_HEADER_SIZE), room);
      return;
    }
    const origin = bytes.toString("latin1", 1, ENVELOPE_HEADER_SIZE);
    const body = bytes.subarray(ENVELOPE_HEADER_SIZE);
    if (kind === EnvelopeKind.ServerMessage) {
      if (origin === this.serverId && channel.toString() === this.#serversChannel) return;
      const message = decode(body);
      if (!isPlainObject(message)) {
        this.#logger?.warn("dropped a server message that is not a map", { from: origin });
        return;
      }
      this.#serverMessages.next({ from: origin, message });
    } else if (kind === EnvelopeKind.SizeQuery && body.length >= 4) {
      const room = this.#roomOf(channel);
      if (room === null || room === undefined) return;
      const id = body.readUInt32BE(0);
      const count = host.roomMembers(room)?.size ?? 0;
      if (origin === this.serverId) this.#sizeQueries.answer(id, count);
      else this.#publish(this.serverChannel(origin), numericEnvelope(EnvelopeKind.SizeAnswer, this.#id, id, count));
    } else if (kind === EnvelopeKind.SizeAnswer && body.length >= 8) {
      this.#sizeQueries.answer(body.readUInt32BE(0), body.readUInt32BE(4));
    }
  }

  /** `undefined` for the all-servers channel, the room name for a room channel, `null` otherwise. */
  #roomOf(channel: Buffer): string | undefined | null {
    if (channel.equals(this.#allChannelBytes)) return undefined;
    const prefix = this.#roomPrefixBytes;
    if (channel.length > prefix.length && channel.compare(prefix, 0, prefix.length, 0, prefix.length) === 0) {
      return channel.toString("utf8", prefix.length);
    }
    return null;
  }

  /** Closes both connections: gracefully when they are up (1 s at most), at once otherwise. */
  async #closeClients(): Promise<void> {
    const clients = [this.#pub, this.#sub];
    this.#pub = null;
    this.#sub = null;
    await Promise.all(clients.map((client) => (client === null ? undefined : closeClient(client))));
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The URL without its password, for logs and error messages. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable url)";
  }
}
