import { checkInteger, describeOptionValue } from "./connection-options.js";

/** Opt-in client reconnection: exponential backoff with jitter. */
export interface ReconnectOptions {
  /** Failed attempts in a row before giving up; `Infinity` never gives up. Default 10. */
  readonly maxAttempts?: number;
  /** Milliseconds before the first attempt. Default 250. */
  readonly initialDelay?: number;
  /** Upper bound of the delay between attempts, in milliseconds. Default 10,000. */
  readonly maxDelay?: number;
  /** Growth of the delay from one attempt to the next. Default 2. */
  readonly factor?: number;
  /**
   * Share of each delay that is random, from 0 (none) to 1, so that a thousand clients cut off
   * together do not all come back in the same millisecond. Default 0.5.
   */
  readonly jitter?: number;
  /**
   * Bytes of messages `send()` queues while reconnecting; they go out, in order, once the
   * connection is back. Past this bound `send()` returns 0. Default 1 MiB (1,048,576); 0 refuses
   * every message while disconnected.
   */
  readonly maxQueuedBytes?: number;
}

/** A reconnection policy with every default applied. */
export interface ReconnectPolicy {
  readonly maxAttempts: number;
  readonly initialDelay: number;
  readonly maxDelay: number;
  readonly factor: number;
  readonly jitter: number;
  readonly maxQueuedBytes: number;
}

/**
 * The backoff of a client coming back to its session when it has no reconnection policy of its
 * own: quick at first (a dropped Wi-Fi is often back in a second), never giving up before the
 * server's window ends.
 */
export const DEFAULT_RESUME_POLICY: ReconnectPolicy = {
  maxAttempts: Infinity,
  initialDelay: 100,
  maxDelay: 2_000,
  factor: 2,
  jitter: 0.5,
  maxQueuedBytes: 0,
};

/**
 * Checks and completes reconnection options; `undefined` or `false` means no reconnection.
 * @throws {TypeError} or {RangeError} for a bad value.
 */
export function resolveReconnectPolicy(options: ReconnectOptions | boolean | undefined): ReconnectPolicy | null {
  if (options === undefined || options === false) return null;
  if (options !== true && (typeof options !== "object" || options === null)) {
    throw new TypeError(`options.reconnect must be true, false or an object, got ${describeOptionValue(options)}`);
  }
  const given = options === true ? {} : options;
  const policy: ReconnectPolicy = {
    maxAttempts: given.maxAttempts ?? 10,
    initialDelay: given.initialDelay ?? 250,
    maxDelay: given.maxDelay ?? 10_000,
    factor: given.factor ?? 2,
    jitter: given.jitter ?? 0.5,
    maxQueuedBytes: given.maxQueuedBytes ?? 1024 * 1024,
  };
  if (policy.maxAttempts !== Infinity)
    checkInteger("reconnect.maxAttempts", policy.maxAttempts, 0, Number.MAX_SAFE_INTEGER);
  checkInteger("reconnect.initialDelay", policy.initialDelay, 0, 2 ** 31 - 1);
  checkInteger("reconnect.maxDelay", policy.maxDelay, 0, 2 ** 31 - 1);
  checkInteger("reconnect.maxQueuedBytes", policy.maxQueuedBytes, 0, Number.MAX_SAFE_INTEGER);
  checkNumber("reconnect.factor", policy.factor, "a number >= 1", policy.factor >= 1);
  checkNumber("reconnect.jitter", policy.jitter, "a number from 0 to 1", policy.jitter >= 0 && policy.jitter <= 1);
  return policy;
}

/**
 * @throws {TypeError} unless `value` is a number, {RangeError} unless `inRange`; `expected` says
 * what it must be.
 */
function checkNumber(name: string, value: unknown, expected: string, inRange: boolean): void {
  if (typeof value !== "number") {
    throw new TypeError(`options.${name} must be ${expected}, got ${describeOptionValue(value)}`);
  }
  if (!inRange) throw new RangeError(`options.${name} must be ${expected}, got ${value}`);
}

/**
 * Milliseconds to wait before attempt number `attempt` (1 for the first retry):
 * `min(maxDelay, initialDelay * factor^(attempt-1))`, of which a `jitter` share is random.
 */
export function backoffDelay(policy: ReconnectPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** (attempt - 1));
  return Math.round(base * (1 - policy.jitter * random()));
}
