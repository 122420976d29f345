import { BehaviorSubject, distinctUntilChanged, type Observable } from "rxjs";
import { backoffDelay, type ReconnectPolicy } from "../connections/reconnect-policy.js";
import { RepodError } from "../errors.js";
import type { Logger } from "../logging.js";
import {
  closeClient,
  loadCreateClient,
  withTimeout,
  type RedisClientLike,
  type RedisConnectOptions,
} from "./redis-client.js";

/**
 * `idle` (not started or stopped), `connecting` (in `start()`), `connected`, `reconnecting`
 * (Redis went away: local delivery goes on, cross-server messages are dropped), `stopping`.
 */
export type RedisAdapterState = "idle" | "connecting" | "connected" | "reconnecting" | "stopping";

/** How a {@link RedisConnection} is set up; the adapter has already applied the defaults. */
export interface RedisConnectionOptions {
  readonly url: string;
  /** Names the clients (`CLIENT LIST`) and the log lines. */
  readonly serverId: string;
  /** Only for the log lines. */
  readonly prefix: string;
  /** Milliseconds `open()` waits for both clients, and each connection attempt. */
  readonly connectTimeout: number;
  /** Delays between reconnection attempts; its `maxAttempts` is ignored (never gives up). */
  readonly backoff: ReconnectPolicy;
  /** The client factory; `undefined` loads node-redis's `createClient` on the first `open()`. */
  readonly createClient: ((options: RedisConnectOptions) => RedisClientLike) | undefined;
  /**
   * Brings the subscriptions up to date. Called once connected, and after every reconnection
   * before the state goes back to `connected`, so that no room is missed.
   */
  readonly resync: () => Promise<void>;
}

/** What binds one `open()` ... `close()` run to the server the adapter serves. */
export interface RedisSession {
  /** The client factory is loaded and the clients are about to be made: bind to the server; returns the logger to use. */
  attach(): Logger;
  /** The clients are closed, by `close()` or by a failed `open()`: unbind from the server. */
  detach(): void;
}

/**
 * The two Redis connections of an adapter (a publisher, and a subscriber, since a subscribed
 * connection can do nothing else) and the adapter's state machine built on them:
 *
 * `idle` → `connecting` → `connected` ⇄ `reconnecting`, and any of these → `stopping` → `idle`.
 *
 * node-redis reconnects each client by itself (with our backoff) and resubscribes its channels;
 * this class turns the clients' events into one state, logs an outage once with how long it
 * lasted and how much it dropped, and publishes without ever queueing: a cross-server message is
 * not worth delivering late, so while Redis is away it is dropped and counted instead.
 */
export class RedisConnection {
  /** The state now and on every change. */
  readonly state$: Observable<RedisAdapterState>;

  readonly #options: RedisConnectionOptions;
  readonly #state = new BehaviorSubject<RedisAdapterState>("idle");
  #session: RedisSession | null = null;
  #logger: Logger | null = null;
  #pub: RedisClientLike | null = null;
  #sub: RedisClientLike | null = null;
  #dropped = 0;
  #outage: { readonly since: number; readonly dropped: number } | null = null;

  constructor(options: RedisConnectionOptions) {
    this.#options = options;
    this.state$ = this.#state.pipe(distinctUntilChanged());
  }

  /** The state now. */
  get state(): RedisAdapterState {
    return this.#state.value;
  }

  /** Messages not published because Redis was unreachable, since this connection was created. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The logger of the latest session; `null` before the first `open()` has loaded the client factory. */
  get logger(): Logger | null {
    return this.#logger;
  }

  /** The publisher client, `null` when not started. It may be disconnected: check `isReady`. */
  get pub(): RedisClientLike | null {
    return this.#pub;
  }

  /** The subscriber client, `null` when not started. It may be disconnected: check `isReady`. */
  get sub(): RedisClientLike | null {
    return this.#sub;
  }

  /**
   * Connects both clients and syncs the subscriptions; ends `connected`, or `reconnecting` when a
   * client was lost again already (its next 'ready' resumes, as after any outage).
   * @throws {Error} when not `idle`, or when the `redis` package is missing (back to `idle`).
   * @throws {RepodError} `ERR_CONNECT_FAILED` when Redis cannot be reached within `connectTimeout`
   *   (the clients are closed, the session detached, and the state back to `idle`).
   */
  async open(session: RedisSession): Promise<void> {
    if (this.state !== "idle") {
      throw new Error(`This Redis adapter is ${this.state}; give each server its own redisAdapter()`);
    }
    const { url, connectTimeout } = this.#options;
    this.#session = session;
    this.#state.next("connecting");
    let createClient = this.#options.createClient;
    try {
      createClient ??= await loadCreateClient();
    } catch (error) {
      this.#state.next("idle");
      throw error;
    }
    this.#logger = session.attach();
    try {
      this.#pub = this.#makeClient(createClient, "pub");
      this.#sub = this.#makeClient(createClient, "sub");
      const connected = Promise.all([this.#pub.connect(), this.#sub.connect()]);
      connected.catch(() => {}); // still rejects later when the timeout below closes the clients
      await withTimeout(connected, connectTimeout);
      await this.#options.resync();
    } catch (cause) {
      this.#state.next("stopping");
      await this.#closeClients();
      session.detach();
      this.#state.next("idle");
      throw new RepodError(
        "ERR_CONNECT_FAILED",
        `Cannot reach Redis at ${redact(url)} within ${connectTimeout} ms: ${errorReason(cause)}`,
        { cause },
      );
    }
    this.#logger.info("redis connected", {
      url: redact(url),
      prefix: this.#options.prefix,
      server: this.#options.serverId,
    });
    if (this.#bothReady()) {
      this.#state.next("connected");
    } else {
      this.#outage = { since: Date.now(), dropped: this.#dropped };
      this.#state.next("reconnecting");
    }
  }

  /**
   * Closes both clients and detaches the session; does nothing when `idle` or `stopping`.
   * @param cancel Runs once the state is `stopping`, before the clients close: fails what waits on Redis.
   */
  async close(cancel: () => void): Promise<void> {
    if (this.state === "idle" || this.state === "stopping") return;
    this.#state.next("stopping");
    cancel();
    await this.#closeClients();
    this.#session?.detach();
    this.#outage = null;
    this.#state.next("idle");
  }

  /**
   * Publishes `bytes` on `channel` without waiting. Returns false, and counts a drop, when the
   * publisher is not ready; a publish that fails later is counted and logged (debug) too.
   */
  publish(channel: string, bytes: Buffer): boolean {
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

  #bothReady(): boolean {
    return this.#pub?.isReady === true && this.#sub?.isReady === true;
  }

  #makeClient(createClient: (options: RedisConnectOptions) => RedisClientLike, role: "pub" | "sub"): RedisClientLike {
    const { backoff, connectTimeout } = this.#options;
    const client = createClient({
      url: this.#options.url,
      name: `repod-rx-${this.#options.serverId}-${role}`,
      // Cross-server messages are not worth delivering late: a publish while Redis is away fails
      // at once (and is counted) instead of piling up in memory.
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries) => backoffDelay(backoff, retries + 1), connectTimeout },
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
    if (this.state === "connected" && !this.#bothReady()) {
      this.#outage = { since: Date.now(), dropped: this.#dropped };
      this.#state.next("reconnecting");
      logger.warn(
        "redis connection lost; local delivery continues, cross-server messages are dropped until it is back",
        {
          connection: role,
          ...(error ? { reason: error } : {}),
        },
      );
    } else if (error !== undefined) {
      if (this.state === "connected") logger.error("redis error", { connection: role, reason: error });
      else logger.debug("redis connection attempt failed", { connection: role, state: this.state, reason: error });
    }
  }

  /** A connection is back (node-redis has resubscribed its channels): resync the rooms, then resume. */
  #onReady(): void {
    if (this.state !== "reconnecting") return;
    this.#options.resync().then(
      () => {
        if (this.state !== "reconnecting" || !this.#bothReady()) return;
        const outage = this.#outage;
        this.#outage = null;
        this.#logger?.info("redis reconnected; cross-server delivery resumes", {
          ...(outage ? { downMs: Date.now() - outage.since, dropped: this.#dropped - outage.dropped } : {}),
        });
        this.#state.next("connected");
      },
      (error: unknown) =>
        this.#logger?.debug("redis resubscription failed; retrying on the next reconnection", { reason: error }),
    );
  }

  /** Closes both clients: gracefully when they are up (1 s at most), at once otherwise. */
  async #closeClients(): Promise<void> {
    const clients = [this.#pub, this.#sub];
    this.#pub = null;
    this.#sub = null;
    await Promise.all(clients.map((client) => (client === null ? undefined : closeClient(client))));
  }
}

/** The message of `error`, for error messages that wrap it. */
export function errorReason(error: unknown): string {
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
