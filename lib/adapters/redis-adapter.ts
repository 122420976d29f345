import { randomBytes } from "node:crypto";
import { Subject, type Observable } from "rxjs";
import { HEADER_SIZE } from "../constants.js";
import { checkInteger } from "../connections/connection-options.js";
import { resolveReconnectPolicy } from "../connections/reconnect-policy.js";
import { RepodError } from "../errors.js";
import { encode } from "../protocol/codec.js";
import type { AdapterHost, ServerAdapter } from "../server/server-adapter.js";
import { EnvelopeKind, envelope, numericEnvelope, SERVER_ID_LENGTH } from "./adapter-envelope.js";
import { MAX_TIMER, validateRedisAdapterOptions, type RedisAdapterOptions } from "./redis-adapter-options.js";
import { RedisChannels } from "./redis-channels.js";
import { errorReason, RedisConnection, type RedisAdapterState } from "./redis-connection.js";
import { RedisMessageRouter, type ServerMessage } from "./redis-message-router.js";
import { RoomSubscriptions } from "./room-subscriptions.js";
import { SizeQueries } from "./size-queries.js";

export type { RedisAdapterOptions } from "./redis-adapter-options.js";
export type { RedisAdapterState } from "./redis-connection.js";
export type { ServerMessage } from "./redis-message-router.js";

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

/**
 * The adapter {@link redisAdapter} returns. It puts together the pieces, each in its own file:
 * the two Redis clients and the state machine (`RedisConnection`), the channel names
 * (`RedisChannels`), the room subscriptions (`RoomSubscriptions`), the receiving
 * side (`RedisMessageRouter`) and the pending `roomSize()` questions (`SizeQueries`);
 * what is here is the sending side and the `ServerAdapter` contract.
 */
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

  readonly #requestTimeout: number;
  readonly #ownLogger: RedisAdapterOptions["logger"];
  readonly #id: Buffer;
  readonly #channels: RedisChannels;
  readonly #connection: RedisConnection;
  readonly #subscriptions: RoomSubscriptions;
  readonly #serverMessages = new Subject<ServerMessage>();
  readonly #sizeQueries = new SizeQueries();
  #host: AdapterHost | null = null;

  constructor(options: RedisAdapterOptions = {}) {
    validateRedisAdapterOptions(options);
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#requestTimeout = options.requestTimeout ?? 5_000;
    this.#ownLogger = options.logger;
    this.serverId = randomBytes(SERVER_ID_LENGTH / 2).toString("hex");
    this.#id = Buffer.from(this.serverId, "latin1");
    this.#channels = new RedisChannels(this.prefix, this.serverId);
    this.#connection = new RedisConnection({
      url: options.url ?? DEFAULT_URL,
      serverId: this.serverId,
      prefix: this.prefix,
      connectTimeout: options.connectTimeout ?? 10_000,
      backoff: resolveReconnectPolicy({
        initialDelay: 100,
        maxDelay: 5_000,
        ...options.reconnect,
        maxAttempts: Infinity,
      })!,
      createClient: options.createClient,
      resync: () => this.#subscriptions.sync(),
    });
    const router = new RedisMessageRouter({
      serverId: this.serverId,
      id: this.#id,
      channels: this.#channels,
      host: () => this.#host,
      logger: () => this.#connection.logger,
      sizeQueries: this.#sizeQueries,
      serverMessage: (message) => this.#serverMessages.next(message),
      publish: (channel, bytes) => this.#connection.publish(channel, bytes),
    });
    this.#subscriptions = new RoomSubscriptions(this.#channels, () => this.#connection.sub, router.listener);
    this.state$ = this.#connection.state$;
    this.serverMessages$ = this.#serverMessages.asObservable();
  }

  /** The connection state now. */
  get state(): RedisAdapterState {
    return this.#connection.state;
  }

  /**
   * How many broadcasts and server messages were not relayed to the other servers because Redis
   * was unreachable, since this adapter was created. Their local delivery was not affected.
   */
  get dropped(): number {
    return this.#connection.dropped;
  }

  /** The Redis channel carrying the broadcasts to the room `name`. */
  roomChannel(name: string): string {
    return this.#channels.room(name);
  }

  /** The Redis channel of the server `serverId` (size answers and `sendToServer`). */
  serverChannel(serverId: string): string {
    return this.#channels.server(serverId);
  }

  /**
   * Connects to Redis (a publisher and a subscriber connection) and subscribes to the shared
   * channels and to the rooms the server has. Called by `server.start()`.
   * @throws {RepodError} `ERR_CONNECT_FAILED` when Redis cannot be reached within `connectTimeout`.
   * @throws {Error} when the adapter is already started (each server needs its own adapter), or
   *   when the `redis` package is not installed (the message says how to install it).
   */
  start(host: AdapterHost): Promise<void> {
    return this.#connection.open({
      attach: () => {
        this.#host = host;
        this.#subscriptions.reset(host.roomNames);
        return this.#ownLogger ?? host.logger;
      },
      detach: () => {
        this.#host = null;
      },
    });
  }

  /** Closes both Redis connections; pending `roomSize()` calls fail with `ERR_NOT_CONNECTED`. Called by `server.stop()`. */
  stop(): Promise<void> {
    return this.#connection.close(() =>
      this.#sizeQueries.failAll(
        (room) =>
          new RepodError("ERR_NOT_CONNECTED", `roomSize(${JSON.stringify(room)}) was cancelled: the adapter stopped`),
      ),
    );
  }

  /**
   * Relays a broadcast the server has just written to its own channels. Never throws: while
   * Redis is unreachable the relay is dropped (and counted in `dropped`).
   */
  publish(payload: Uint8Array, room: string | undefined): void {
    const channel = room === undefined ? this.#channels.all : this.#channels.room(room);
    this.#connection.publish(channel, envelope(EnvelopeKind.Broadcast, this.#id, payload));
  }

  /** Subscribes to the room's channel: its first local member has joined. */
  roomCreated(room: string): void {
    this.#subscriptions.add(room);
    this.#syncSubscriptions();
  }

  /** Unsubscribes from the room's channel: its last local member has left. */
  roomDeleted(room: string): void {
    this.#subscriptions.delete(room);
    this.#syncSubscriptions();
  }

  /**
   * Sends `message` to every other server of the game (e.g. for matchmaking); they receive it on
   * `serverMessages$`. Returns false, and sends nothing, while Redis is unreachable.
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded.
   */
  sendToServers(message: object): boolean {
    return this.#connection.publish(this.#channels.servers, this.#serverEnvelope(message));
  }

  /**
   * Sends `message` to the server whose `serverId` is given (e.g. `from` of a message it sent).
   * Returns false, and sends nothing, while Redis is unreachable.
   * @throws {TypeError} for a malformed server id or a message that cannot be encoded.
   */
  sendToServer(serverId: string, message: object): boolean {
    if (typeof serverId !== "string" || !/^[0-9a-f]{16}$/.test(serverId)) {
      throw new TypeError(
        `A server id is 16 hexadecimal characters (adapter.serverId), got ${JSON.stringify(serverId)}`,
      );
    }
    return this.#connection.publish(this.#channels.server(serverId), this.#serverEnvelope(message));
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
    const pub = this.#connection.pub;
    if (this.state !== "connected" || pub === null || !pub.isReady) {
      return Promise.reject(
        new RepodError(
          "ERR_NOT_CONNECTED",
          `roomSize(${JSON.stringify(name)}) needs Redis, which is unreachable now (state ${this.state}); server.room(name).size counts this server's members`,
        ),
      );
    }
    const { id, result } = this.#sizeQueries.open(name, timeout);
    // Not through `connection.publish`: the number of receivers Redis returns is the number of
    // answers to wait for, and a failure must fail this call rather than count as a drop.
    pub.publish(this.#channels.room(name), numericEnvelope(EnvelopeKind.SizeQuery, this.#id, id)).then(
      (receivers) => this.#sizeQueries.expect(id, Number(receivers)),
      (error: unknown) =>
        this.#sizeQueries.fail(
          id,
          (room) =>
            new RepodError(
              "ERR_NOT_CONNECTED",
              `roomSize(${JSON.stringify(room)}) could not ask Redis: ${errorReason(error)}`,
              { cause: error },
            ),
        ),
    );
    return result;
  }

  /**
   * How many servers of the game (this prefix) are connected to Redis now.
   * @throws {RepodError} `ERR_NOT_CONNECTED` while Redis is unreachable.
   */
  async serverCount(): Promise<number> {
    const pub = this.#connection.pub;
    if (pub === null || !pub.isReady) {
      throw new RepodError(
        "ERR_NOT_CONNECTED",
        `serverCount() needs Redis, which is unreachable now (state ${this.state})`,
      );
    }
    const servers = this.#channels.servers;
    const counts = await pub.pubSubNumSub([servers]);
    return Number(counts[servers] ?? 0);
  }

  /** Applies a room change now when Redis is there; otherwise the sync after (re)connecting does. */
  #syncSubscriptions(): void {
    if (this.state !== "connected" && this.state !== "reconnecting") return;
    this.#subscriptions
      .sync()
      .catch((error: unknown) =>
        this.#connection.logger?.debug("redis subscription change failed; retried on reconnection", { reason: error }),
      );
  }

  /** A server message: the msgpack map without the frame's length header, after the envelope header. */
  #serverEnvelope(message: object): Buffer {
    return envelope(EnvelopeKind.ServerMessage, this.#id, encode(message).subarray(HEADER_SIZE));
  }
}
