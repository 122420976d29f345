/** A listener of a channel subscribed in buffer mode: the message and the channel, as bytes. */
export type RedisMessageListener = (message: Buffer, channel: Buffer) => void;

/**
 * What the adapter gives the client factory; a node-redis `createClient` accepts it as is, and a
 * custom factory spreads it into its own options.
 */
export interface RedisConnectOptions {
  /** The adapter's `url` option: `redis://` or `rediss://`, with credentials if any. */
  readonly url: string;
  /** Shown by `CLIENT LIST`: `repod-rx-<serverId>-pub` or `-sub`. */
  readonly name: string;
  /** Fail commands at once while disconnected instead of queueing them. */
  readonly disableOfflineQueue: boolean;
  /** How the client connects and reconnects. */
  readonly socket: {
    /** Milliseconds before the next attempt, given the attempts that failed in a row (0 first). */
    readonly reconnectStrategy: (retries: number, cause: Error) => number;
    /** Milliseconds a connection attempt may take: the adapter's `connectTimeout` option. */
    readonly connectTimeout: number;
  };
}

/**
 * The part of a node-redis (`redis` package, v5 or v6) client the adapter uses. A client from
 * `createClient()` fits; tests may pass a stand-in.
 */
export interface RedisClientLike {
  /** Whether the client is connected and ready for commands. */
  readonly isReady: boolean;
  /** Connects; rejects if the first connection fails. */
  connect(): Promise<unknown>;
  /** `PUBLISH`: resolves to the number of subscribers (servers) that received the message. */
  publish(channel: string, message: Buffer): Promise<number>;
  /** `SUBSCRIBE` in buffer mode: `listener` gets each message and its channel as bytes. */
  subscribe(channels: string[], listener: RedisMessageListener, bufferMode: true): Promise<void>;
  /** `UNSUBSCRIBE` from `channels`. */
  unsubscribe(channels: string[]): Promise<void>;
  /** The channels subscribed now (confirmed by Redis), by name. */
  getPubSubListeners(type: "CHANNELS"): ReadonlyMap<string, unknown>;
  /** `PUBSUB NUMSUB`: the number of subscribers of each channel. */
  pubSubNumSub(channels: string[]): Promise<Record<string, number>>;
  /** Listens to the client's errors (a lost connection, a failed attempt). */
  on(event: "error", listener: (error: Error) => void): unknown;
  /** Listens to the client becoming ready, or starting to reconnect. */
  on(event: "ready" | "reconnecting", listener: () => void): unknown;
  /** Closes gracefully, after the commands sent so far. */
  close(): Promise<unknown>;
  /** Closes at once, dropping what is in flight. */
  destroy(): void;
}

/**
 * `createClient` of the `redis` package, loaded on first use: the package is an optional peer
 * dependency that only `repod-rx/redis` users install.
 * @throws {Error} saying how to install it when it is missing.
 */
export async function loadCreateClient(): Promise<(options: RedisConnectOptions) => RedisClientLike> {
  let redis: typeof import("redis");
  try {
    redis = await import("redis");
  } catch (cause) {
    throw new Error('repod-rx/redis needs the "redis" package (node-redis): npm install redis', { cause });
  }
  return (options) => redis.createClient(options);
}

/** Closes `client`: gracefully when it is up (1 s at most), at once otherwise; never throws. */
export async function closeClient(client: RedisClientLike): Promise<void> {
  try {
    if (client.isReady) {
      const closed = client.close().then(
        () => true,
        () => false,
      );
      if (await withTimeout(closed, 1_000).catch(() => false)) return;
    }
    client.destroy();
  } catch {
    // Already closed or destroyed: nothing left to release.
  }
}

/** Resolves or rejects as `promise` does, or rejects after `ms` milliseconds. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error as Error);
      },
    );
  });
}
