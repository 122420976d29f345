import { DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_QUEUED_BYTES } from "../constants.js";
import type { Logger } from "../logging.js";

/** Opt-in ping/pong that detects a vanished peer and measures the round-trip time. */
export interface HeartbeatOptions {
  /** Milliseconds between two pings. Default 5,000. */
  readonly interval?: number;
  /**
   * Milliseconds without any message from a peer that has answered pings before, after which it
   * is considered gone and its connection ends with `ERR_HEARTBEAT_TIMEOUT`. Default 15,000.
   * A peer that never answers pings (a Python repod peer) is never timed out by the heartbeat.
   */
  readonly timeout?: number;
}

/** The limits shared by both ends of a connection. */
export interface ConnectionLimits {
  /** Largest payload accepted from the peer, in bytes. Default 4 MiB (4,194,304). */
  readonly maxPayload?: number;
  /**
   * Bytes that may wait for a peer that does not read before its connection is closed with
   * `ERR_SEND_QUEUE_FULL` (other connections are unaffected). Default 16 MiB (16,777,216).
   */
  readonly maxQueuedBytes?: number;
  /**
   * Milliseconds of silence from the peer after which its connection is closed with
   * `ERR_IDLE_TIMEOUT`. Default 0: off, because a Python repod client that only listens sends
   * nothing; turn it on (or use `heartbeat`) on servers open to the internet.
   */
  readonly idleTimeout?: number;
  /**
   * Milliseconds a graceful close (`close()`, `server.stop()`) waits for the peer to close its side
   * after everything queued was sent, before the connection is cut. Default 5,000.
   */
  readonly closeTimeout?: number;
  /** Pings sent to the peer; `true` for the defaults. Default off (pings are always answered). */
  readonly heartbeat?: HeartbeatOptions | boolean;
  /** Where events go. Default: the logger set by `configureLogging` (silent unless set). */
  readonly logger?: Logger;
}

/** {@link ConnectionLimits} with every default applied. */
export interface ResolvedLimits {
  readonly maxPayload: number;
  readonly maxQueuedBytes: number;
  readonly idleTimeout: number;
  readonly closeTimeout: number;
  readonly heartbeat: Required<HeartbeatOptions> | null;
}

const DEFAULT_HEARTBEAT: Required<HeartbeatOptions> = { interval: 5_000, timeout: 15_000 };

/**
 * Checks and completes the limits, in one place for the server and the client.
 * @throws {TypeError} for a value of the wrong type.
 * @throws {RangeError} for a value out of range.
 */
export function resolveLimits(options: ConnectionLimits): ResolvedLimits {
  const { maxPayload, maxQueuedBytes, idleTimeout, closeTimeout, heartbeat, logger } = options;
  if (maxPayload !== undefined) checkInteger("maxPayload", maxPayload, 1, 0xffff_ffff);
  if (maxQueuedBytes !== undefined) checkInteger("maxQueuedBytes", maxQueuedBytes, 1, Number.MAX_SAFE_INTEGER);
  if (idleTimeout !== undefined) checkInteger("idleTimeout", idleTimeout, 0, 2 ** 31 - 1);
  if (closeTimeout !== undefined) checkInteger("closeTimeout", closeTimeout, 0, 2 ** 31 - 1);
  let resolvedHeartbeat: Required<HeartbeatOptions> | null = null;
  if (heartbeat === true) resolvedHeartbeat = DEFAULT_HEARTBEAT;
  else if (typeof heartbeat === "object" && heartbeat !== null) {
    const interval = heartbeat.interval ?? DEFAULT_HEARTBEAT.interval;
    const timeout = heartbeat.timeout ?? Math.max(DEFAULT_HEARTBEAT.timeout, 3 * interval);
    checkInteger("heartbeat.interval", interval, 1, 2 ** 31 - 1);
    checkInteger("heartbeat.timeout", timeout, 1, 2 ** 31 - 1);
    resolvedHeartbeat = { interval, timeout };
  } else if (heartbeat !== undefined && heartbeat !== false) {
    throw new TypeError(
      `options.heartbeat must be true, false or { interval, timeout }, got ${JSON.stringify(heartbeat)}`,
    );
  }
  if (logger !== undefined) {
    for (const level of ["debug", "info", "warn", "error"] as const) {
      if (typeof (logger as Partial<Logger> | null)?.[level] !== "function") {
        throw new TypeError(`options.logger must have debug, info, warn and error methods; ${level} is missing`);
      }
    }
  }
  return {
    maxPayload: maxPayload ?? DEFAULT_MAX_PAYLOAD,
    maxQueuedBytes: maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
    idleTimeout: idleTimeout ?? 0,
    closeTimeout: closeTimeout ?? 5_000,
    heartbeat: resolvedHeartbeat,
  };
}

/** @throws {TypeError} or {RangeError} unless `value` is an integer in `[min, max]`. */
export function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`options.${name} must be an integer, got ${JSON.stringify(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`options.${name} must be between ${min} and ${max}, got ${value}`);
  }
}
