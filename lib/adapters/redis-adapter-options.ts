import { checkInteger } from "../connections/connection-options.js";
import type { Logger } from "../logging.js";
import type { RedisClientLike, RedisConnectOptions } from "./redis-client.js";

/** Options of `redisAdapter()`; every field is optional. */
export interface RedisAdapterOptions {
  /** Where Redis is: `redis[s]://[[user][:password]@]host[:port][/db]`. Default `"redis://127.0.0.1:6379"`. */
  readonly url?: string;
  /**
   * Namespace of the Redis pub/sub channels, shared by the servers of one game; two games on one
   * Redis need two prefixes. Default `"repod-rx"`.
   */
  readonly prefix?: string;
  /** Where the adapter's events go (connection lost, reconnected...). Default: the server's logger. */
  readonly logger?: Logger;
  /** Milliseconds `start()` waits for Redis before it fails (and the server with it). Default 10,000. */
  readonly connectTimeout?: number;
  /** Milliseconds `roomSize()` waits for the other servers' answers by default. Default 5,000. */
  readonly requestTimeout?: number;
  /**
   * Backoff between reconnection attempts after Redis went away: starts at `initialDelay` ms,
   * doubles up to `maxDelay` ms, half of it random. The adapter never gives up. Defaults 100
   * and 5,000.
   */
  readonly reconnect?: {
    /** Milliseconds before the first attempt. Default 100. */
    readonly initialDelay?: number;
    /** Bound of the backoff, in milliseconds. Default 5,000. */
    readonly maxDelay?: number;
  };
  /**
   * Makes a Redis client (called twice: a publisher and a subscriber). Default: `createClient` of
   * the `redis` package. Pass your own to add TLS, credentials or RESP2, keeping the options
   * given: `(options) => createClient({ ...options, password })`. Each call must return a new,
   * unconnected client.
   */
  readonly createClient?: (options: RedisConnectOptions) => RedisClientLike;
}

/** Largest delay a timer accepts, in milliseconds. */
export const MAX_TIMER = 2 ** 31 - 1;

/**
 * Checks the options before anything starts.
 * @throws {TypeError} for a value of the wrong type.
 * @throws {RangeError} for a value out of range.
 */
export function validateRedisAdapterOptions(options: RedisAdapterOptions): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError('redisAdapter options must be an object such as { url: "redis://127.0.0.1:6379" }');
  }
  const { url, prefix, logger, connectTimeout, requestTimeout, reconnect, createClient } = options;
  if (url !== undefined && (typeof url !== "string" || !/^rediss?:\/\//.test(url))) {
    throw new TypeError(`options.url must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  }
  if (prefix !== undefined && (typeof prefix !== "string" || prefix === "")) {
    throw new TypeError(`options.prefix must be a non-empty string, got ${JSON.stringify(prefix)}`);
  }
  if (logger !== undefined && (typeof logger !== "object" || logger === null || typeof logger.warn !== "function")) {
    throw new TypeError("options.logger must have debug, info, warn and error methods");
  }
  if (connectTimeout !== undefined) checkInteger("connectTimeout", connectTimeout, 1, MAX_TIMER);
  if (requestTimeout !== undefined) checkInteger("requestTimeout", requestTimeout, 1, MAX_TIMER);
  if (reconnect !== undefined) {
    if (typeof reconnect !== "object" || reconnect === null) {
      throw new TypeError("options.reconnect must be an object such as { initialDelay: 100, maxDelay: 5000 }");
    }
    if (reconnect.initialDelay !== undefined)
      checkInteger("reconnect.initialDelay", reconnect.initialDelay, 1, MAX_TIMER);
    if (reconnect.maxDelay !== undefined) checkInteger("reconnect.maxDelay", reconnect.maxDelay, 1, MAX_TIMER);
  }
  if (createClient !== undefined && typeof createClient !== "function") {
    throw new TypeError("options.createClient must be a function returning a new Redis client");
  }
}
