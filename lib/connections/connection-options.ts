import {
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_MAX_INVALID_MESSAGES,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_PAYLOAD_DEPTH,
  DEFAULT_MAX_PAYLOAD_ITEMS,
  DEFAULT_MAX_PENDING_ANSWERS,
  DEFAULT_MAX_QUEUED_BYTES,
} from "../constants.js";
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
   * Deepest nesting of arrays and maps accepted in one payload. A deeper payload is dropped unread
   * with `ERR_PAYLOAD_TOO_COMPLEX`, like an unreadable one. Default 64.
   */
  readonly maxPayloadDepth?: number;
  /**
   * Most values accepted in one payload, counting every array element, map key and map value at
   * any depth. A payload with more is dropped unread with `ERR_PAYLOAD_TOO_COMPLEX` before
   * decoding allocates anything: it bounds what one payload costs in CPU and memory, which its
   * byte size does not (4 MiB of empty maps decode into 4 million objects). Default 100,000.
   */
  readonly maxPayloadItems?: number;
  /**
   * Milliseconds a peer has to finish a frame once it has sent its first byte; a peer that starts
   * a frame and stops (a half-open connection, a slow-loris attack) is cut off with
   * `ERR_FRAME_TIMEOUT`. A peer that sends nothing at all is not affected. Default 30,000; 0 turns
   * it off.
   */
  readonly frameTimeout?: number;
  /**
   * Answers to the peer's requests that may be in progress at once (Promises and Observables a
   * handler returned that have not given their value yet). A request beyond it gets an error reply
   * with code `ERR_TOO_MANY_REQUESTS` at once and runs no handler. Answers still in progress when
   * the connection ends are dropped. Default 100.
   */
  readonly maxPendingAnswers?: number;
  /**
   * Invalid messages (unreadable, not a map, too complex, forged lifecycle or control messages,
   * WebSocket text) the peer may send over the connection's life: they are dropped, and the one
   * past this budget closes the connection with `ERR_TOO_MANY_INVALID`. Default 100.
   */
  readonly maxInvalidMessages?: number;
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
  readonly maxPayloadDepth: number;
  readonly maxPayloadItems: number;
  readonly frameTimeout: number;
  readonly maxPendingAnswers: number;
  readonly maxInvalidMessages: number;
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
  const { maxPayloadDepth, maxPayloadItems, frameTimeout, maxPendingAnswers, maxInvalidMessages } = options;
  if (maxPayload !== undefined) checkInteger("maxPayload", maxPayload, 1, 0xffff_ffff);
  if (maxPayloadDepth !== undefined) checkInteger("maxPayloadDepth", maxPayloadDepth, 1, 100);
  if (maxPayloadItems !== undefined) checkInteger("maxPayloadItems", maxPayloadItems, 1, 0xffff_ffff);
  if (frameTimeout !== undefined) checkInteger("frameTimeout", frameTimeout, 0, 2 ** 31 - 1);
  if (maxPendingAnswers !== undefined) checkInteger("maxPendingAnswers", maxPendingAnswers, 1, 0xffff_ffff);
  if (maxInvalidMessages !== undefined) checkInteger("maxInvalidMessages", maxInvalidMessages, 0, 0xffff_ffff);
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
    maxPayloadDepth: maxPayloadDepth ?? DEFAULT_MAX_PAYLOAD_DEPTH,
    maxPayloadItems: maxPayloadItems ?? DEFAULT_MAX_PAYLOAD_ITEMS,
    frameTimeout: frameTimeout ?? DEFAULT_FRAME_TIMEOUT,
    maxPendingAnswers: maxPendingAnswers ?? DEFAULT_MAX_PENDING_ANSWERS,
    maxInvalidMessages: maxInvalidMessages ?? DEFAULT_MAX_INVALID_MESSAGES,
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
