import {
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_MAX_INVALID_MESSAGES,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_PAYLOAD_DEPTH,
  DEFAULT_MAX_PAYLOAD_ITEMS,
  DEFAULT_MAX_PAYLOAD_KEYS,
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

/** The budget of one action, in place of the shared message budget (see {@link RateLimitOptions.actions}). */
export interface ActionRateLimit {
  /** Messages of this action per second, over 0 (0.2 is one every 5 seconds). */
  readonly messages: number;
  /** Messages of this action that may arrive at once after a quiet spell. Default: one second's worth (`messages`), at least 1. */
  readonly burst?: number;
}

/**
 * How fast the peer may send: token buckets that refill continuously, one for messages and one
 * for payload bytes, checked as each message arrives and before any handler runs. What goes over
 * is held back, never dropped: see `onExceed`.
 */
export interface RateLimitOptions {
  /**
   * Messages per second, sustained, over 0. Default 5,000: a player sending its input every frame
   * at 144 Hz sends about 150, and a server streaming 80 entity updates per 60 Hz tick to a client
   * sends 4,800; a flooder held to 5,000 tiny messages a second costs a server a few percent of one
   * core, so it cannot take the frame budget of the other players.
   */
  readonly messages?: number;
  /**
   * Messages that may arrive at once after a quiet spell, an integer of at least 1. Default 10,000:
   * two seconds at the default rate, more than a session resume replays (`resume.maxMessages`
   * 4,096) or a join snapshot sends, so that those are never paced.
   */
  readonly burst?: number;
  /**
   * Payload bytes per second, sustained, over 0. Default 8 MiB (8,388,608): far above what a game
   * sends to one peer (a 60 Hz state of 2 KB is 120 KB/s), still a bound on what decoding costs.
   */
  readonly bytes?: number;
  /**
   * Payload bytes that may arrive at once, an integer of at least 1. Default: one second's worth
   * (`bytes`), and never less than `maxPayload`, so that one payload of the largest accepted size
   * passes without waiting. A larger payload still passes, once the budget is full, and its cost
   * is paid back before the next message.
   */
  readonly byteBurst?: number;
  /**
   * Budgets of their own for some actions, in place of the shared message budget (payload bytes
   * still count against `bytes`): lower for what is costly or spammy, e.g.
   * `{ chat: { messages: 5, burst: 10 } }`, or higher for a stream the game needs. Default: none.
   */
  readonly actions?: Readonly<Record<string, ActionRateLimit>>;
  /**
   * What happens to a peer over its budget. `"pause"` (the default): the message over the budget
   * waits, undelivered, and the connection stops reading from the peer until the budget has
   * refilled for it, typically a few milliseconds; then it is delivered and reading resumes.
   * Nothing is lost and the order is kept: TCP and WebSocket flow control make the peer wait, at
   * no cost to this side. What a peer sent before it closed is still delivered, before the close.
   * `"close"`: the same, and a peer that stays over its budget for `closeAfter` milliseconds is
   * cut off with `ERR_RATE_LIMITED`. A browser cannot stop reading a WebSocket: there, what is
   * held waits in memory, and the limit paces its handling only.
   *
   * The library's own control messages (`@ping`, `@pong`, `@hello`, `@ack`, `@session`,
   * `@resumed`, `@resume-failed`, `@refused`) never use the budget: they have one of their own,
   * 1,000 a second with a burst of 2,000 (a ping flood is held like any flood), and heartbeats
   * already read are answered at once, never after held game messages; the others keep their place
   * in the order.
   * Other actions starting with `@` (request replies, unknown ones) reach game code and count like
   * any message.
   */
  readonly onExceed?: "pause" | "close";
  /**
   * With `onExceed: "close"`: milliseconds a peer may stay over its budget (held back without a
   * break of more than 100 ms) before it is cut off with `ERR_RATE_LIMITED`. Default 2,000; 0
   * cuts it off at the first message over the budget.
   */
  readonly closeAfter?: number;
}

/** {@link RateLimitOptions} with every default applied. */
export interface ResolvedRateLimit {
  readonly messages: number;
  readonly burst: number;
  readonly bytes: number;
  readonly byteBurst: number;
  /** The per-action budgets, by action. */
  readonly actions: ReadonlyMap<string, Required<ActionRateLimit>>;
  readonly onExceed: "pause" | "close";
  readonly closeAfter: number;
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
   * byte size does not (4 MiB of empty maps decode into 4 million objects). An extension value
   * counts as 4. Default 65,536.
   */
  readonly maxPayloadItems?: number;
  /**
   * Most distinct map keys accepted in one payload. A key is distinct unless an earlier map of the
   * same payload had the same key after the same keys in the same order: entities that repeat the
   * same fields count them once (a snapshot of 3,000 `{ id, x, y, hp }` counts 4), while the same
   * names in another order count again. Each distinct key costs the JavaScript engine a new object
   * shape, several times what another value costs; a payload with more is dropped unread with
   * `ERR_PAYLOAD_TOO_COMPLEX`. Integer keys from 0 to 4,294,967,294 are not counted. Default 1,024.
   */
  readonly maxPayloadKeys?: number;
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
  /**
   * How many messages and bytes per second the peer may send, checked before any handler runs;
   * what goes over waits (the connection stops reading meanwhile) and is delivered in order once
   * the budget allows, or the peer is cut off (`onExceed: "close"`). It keeps one flooding peer
   * from spending the frame budget of everyone else, and a bot from being flooded by a hostile
   * server. `true` for the defaults, `false` for none. Default on: 5,000 messages/s (burst 10,000)
   * and 8 MiB/s of payload, see {@link RateLimitOptions}.
   */
  readonly rateLimit?: RateLimitOptions | boolean;
  /** Where events go. Default: the logger set by `configureLogging` (silent unless set). */
  readonly logger?: Logger;
}

/** {@link ConnectionLimits} with every default applied. */
export interface ResolvedLimits {
  readonly maxPayload: number;
  readonly maxPayloadDepth: number;
  readonly maxPayloadItems: number;
  readonly maxPayloadKeys: number;
  readonly frameTimeout: number;
  readonly maxPendingAnswers: number;
  readonly maxInvalidMessages: number;
  readonly maxQueuedBytes: number;
  readonly idleTimeout: number;
  readonly closeTimeout: number;
  readonly heartbeat: Required<HeartbeatOptions> | null;
  /** `null` when turned off (`rateLimit: false`). */
  readonly rateLimit: ResolvedRateLimit | null;
}

const DEFAULT_HEARTBEAT: Required<HeartbeatOptions> = { interval: 5_000, timeout: 15_000 };
const DEFAULT_RATE_LIMIT_MESSAGES = 5_000;
const DEFAULT_RATE_LIMIT_BURST = 10_000;
const DEFAULT_RATE_LIMIT_BYTES = 8 * 1024 * 1024;
const DEFAULT_RATE_LIMIT_CLOSE_AFTER = 2_000;

/**
 * Checks and completes the limits, in one place for the server and the client.
 * @throws {TypeError} for a value of the wrong type.
 * @throws {RangeError} for a value out of range.
 */
export function resolveLimits(options: ConnectionLimits): ResolvedLimits {
  const { maxPayload, maxQueuedBytes, idleTimeout, closeTimeout, heartbeat, logger, rateLimit } = options;
  const { maxPayloadDepth, maxPayloadItems, maxPayloadKeys, frameTimeout, maxPendingAnswers, maxInvalidMessages } =
    options;
  if (maxPayload !== undefined) checkInteger("maxPayload", maxPayload, 1, 0xffff_ffff);
  if (maxPayloadDepth !== undefined) checkInteger("maxPayloadDepth", maxPayloadDepth, 1, 100);
  if (maxPayloadItems !== undefined) checkInteger("maxPayloadItems", maxPayloadItems, 1, 0xffff_ffff);
  if (maxPayloadKeys !== undefined) checkInteger("maxPayloadKeys", maxPayloadKeys, 1, 0xffff_ffff);
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
      `options.heartbeat must be true, false or { interval, timeout }, got ${describeOptionValue(heartbeat)}`,
    );
  }
  if (logger !== undefined) {
    for (const level of ["debug", "info", "warn", "error"] as const) {
      if (typeof (logger as Partial<Logger> | null)?.[level] !== "function") {
        throw new TypeError(`options.logger must have debug, info, warn and error methods; ${level} is missing`);
      }
    }
  }
  const resolvedRateLimit = resolveRateLimit(rateLimit, maxPayload ?? DEFAULT_MAX_PAYLOAD);
  return {
    maxPayload: maxPayload ?? DEFAULT_MAX_PAYLOAD,
    maxPayloadDepth: maxPayloadDepth ?? DEFAULT_MAX_PAYLOAD_DEPTH,
    maxPayloadItems: maxPayloadItems ?? DEFAULT_MAX_PAYLOAD_ITEMS,
    maxPayloadKeys: maxPayloadKeys ?? DEFAULT_MAX_PAYLOAD_KEYS,
    frameTimeout: frameTimeout ?? DEFAULT_FRAME_TIMEOUT,
    maxPendingAnswers: maxPendingAnswers ?? DEFAULT_MAX_PENDING_ANSWERS,
    maxInvalidMessages: maxInvalidMessages ?? DEFAULT_MAX_INVALID_MESSAGES,
    maxQueuedBytes: maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
    idleTimeout: idleTimeout ?? 0,
    closeTimeout: closeTimeout ?? 5_000,
    heartbeat: resolvedHeartbeat,
    rateLimit: resolvedRateLimit,
  };
}

const RATE_LIMIT_KEYS: ReadonlySet<string> = new Set([
  "messages",
  "burst",
  "bytes",
  "byteBurst",
  "actions",
  "onExceed",
  "closeAfter",
]);
const RATE_LIMIT_EXAMPLE = "{ messages: 5000, burst: 10000, actions: { chat: { messages: 5 } } }";

/** Checks and completes `rateLimit`; `null` when it is turned off. */
function resolveRateLimit(value: unknown, maxPayload: number): ResolvedRateLimit | null {
  if (value === false) return null;
  const options = value === undefined || value === true ? {} : value;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(
      `options.rateLimit must be true, false or an object such as ${RATE_LIMIT_EXAMPLE}, got ${describeOptionValue(value)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!RATE_LIMIT_KEYS.has(key)) {
      throw new TypeError(
        `options.rateLimit has no ${JSON.stringify(key)} option; it takes ${[...RATE_LIMIT_KEYS].join(", ")}`,
      );
    }
  }
  const { messages, burst, bytes, byteBurst, actions, onExceed, closeAfter } = options as RateLimitOptions;
  if (messages !== undefined) checkRate("rateLimit.messages", messages);
  if (burst !== undefined) checkInteger("rateLimit.burst", burst, 1, 0xffff_ffff);
  if (bytes !== undefined) checkRate("rateLimit.bytes", bytes);
  if (byteBurst !== undefined) checkInteger("rateLimit.byteBurst", byteBurst, 1, Number.MAX_SAFE_INTEGER);
  if (onExceed !== undefined && onExceed !== "pause" && onExceed !== "close") {
    throw new TypeError(`options.rateLimit.onExceed must be "pause" or "close", got ${describeOptionValue(onExceed)}`);
  }
  if (closeAfter !== undefined) checkInteger("rateLimit.closeAfter", closeAfter, 0, 2 ** 31 - 1);
  const perAction = new Map<string, Required<ActionRateLimit>>();
  if (actions !== undefined) {
    if (typeof actions !== "object" || actions === null || Array.isArray(actions)) {
      throw new TypeError(
        `options.rateLimit.actions must map action names to { messages, burst }, such as { chat: { messages: 5, burst: 10 } }`,
      );
    }
    for (const [action, limit] of Object.entries(actions as Record<string, unknown>)) {
      const name = `rateLimit.actions[${JSON.stringify(action)}]`;
      if (typeof limit !== "object" || limit === null || Array.isArray(limit)) {
        throw new TypeError(`options.${name} must be { messages, burst? }, got ${describeOptionValue(limit)}`);
      }
      for (const key of Object.keys(limit)) {
        if (key !== "messages" && key !== "burst") {
          throw new TypeError(`options.${name} has no ${JSON.stringify(key)} option; it takes messages and burst`);
        }
      }
      const { messages: rate, burst: actionBurst } = limit as Partial<ActionRateLimit>;
      if (rate === undefined) throw new TypeError(`options.${name}.messages is required: messages per second`);
      checkRate(`${name}.messages`, rate);
      if (actionBurst !== undefined) checkInteger(`${name}.burst`, actionBurst, 1, 0xffff_ffff);
      perAction.set(action, { messages: rate, burst: actionBurst ?? Math.max(1, Math.ceil(rate)) });
    }
  }
  const bytesPerSecond = bytes ?? DEFAULT_RATE_LIMIT_BYTES;
  return {
    messages: messages ?? DEFAULT_RATE_LIMIT_MESSAGES,
    burst: burst ?? DEFAULT_RATE_LIMIT_BURST,
    bytes: bytesPerSecond,
    byteBurst: byteBurst ?? Math.max(Math.ceil(bytesPerSecond), maxPayload),
    actions: perAction,
    onExceed: onExceed ?? "pause",
    closeAfter: closeAfter ?? DEFAULT_RATE_LIMIT_CLOSE_AFTER,
  };
}

/** @throws {TypeError} or {RangeError} unless `value` is a finite number over 0 (a rate per second). */
function checkRate(name: string, value: unknown): void {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`options.${name} must be a number per second, got ${describeOptionValue(value)}`);
  }
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(
      `options.${name} must be a finite number per second over 0, got ${value}; rateLimit: false turns the limit off`,
    );
  }
}

/** @throws {TypeError} or {RangeError} unless `value` is an integer in `[min, max]`. */
export function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`options.${name} must be an integer, got ${describeOptionValue(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`options.${name} must be between ${min} and ${max}, got ${value}`);
  }
}

/**
 * A bad value as an error message shows it: numbers and bigints as written (`NaN`, which JSON
 * would turn into `null`; `7n`, on which JSON throws and would hide the mistake the message is
 * about), the rest as JSON, or as `String()` gives it (a function, a cycle); cut after 100
 * characters.
 */
export function describeOptionValue(value: unknown): string {
  let text: string | undefined;
  try {
    if (typeof value !== "number" && typeof value !== "bigint") text = JSON.stringify(value, jsonBigInt);
  } catch {
    // A cycle: String() gives its kind.
  }
  text ??= typeof value === "bigint" ? `${value}n` : String(value);
  return text.length > 100 ? `${text.slice(0, 100)}… (${text.length} characters)` : text;
}

function jsonBigInt(_key: string, item: unknown): unknown {
  return typeof item === "bigint" ? `${item}n` : item;
}
