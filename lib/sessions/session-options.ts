import type * as http from "node:http";
import type { Observable } from "rxjs";
import { checkInteger, describeOptionValue } from "../connections/connection-options.js";
import type { Address } from "../types.js";

/** What `authenticate` knows of a client besides what it sent. */
export interface AuthContext {
  /** How the client is connected. */
  readonly transport: "tcp" | "ws" | "memory";
  /** The client's address. */
  readonly remote: Address;
  /**
   * For a WebSocket client, the HTTP upgrade request: `headers` (with `cookie`), `url` (with its
   * query string). Undefined on TCP and in memory.
   */
  readonly request?: http.IncomingMessage;
  /** Whether this login resumes a session (the player's token is checked again on every resume). */
  readonly resuming: boolean;
}

/**
 * Checks a client's credentials and returns the player's data, which becomes `channel.data`. A
 * throw, a rejection, an Observable that errors or completes empty, or `undefined`, refuses the
 * client with `ERR_UNAUTHORIZED` and the error's message as the reason the client reads.
 *
 * @param auth what the client sent as `auth` (its `connect(..., { auth })` option), or
 *   `undefined` if it sent none (a cookie-based login reads `context.request` instead)
 */
export type Authenticate<D> = (
  auth: unknown,
  context: AuthContext,
) => D | undefined | Promise<D | undefined> | Observable<D | undefined>;

/** Session resume: a dropped player keeps their seat for a while and loses nothing. */
export interface ResumeOptions<D = unknown> {
  /** Milliseconds a dropped player's seat is held for them. Default 30,000. */
  readonly window?: number;
  /**
   * Messages kept per seat for replay until the peer acknowledges them: sent while the player
   * was away, or sent and not yet known to have arrived. Past it the seat cannot be resumed and
   * ends with `ERR_RESUME_OVERFLOW`. Default 4,096.
   */
  readonly maxMessages?: number;
  /** Bytes kept per seat for replay, as `maxMessages`. Default 1 MiB (1,048,576). */
  readonly maxBytes?: number;
  /**
   * Bytes sent to a player and not yet acknowledged by its client, past which further sends wait
   * in the channel's backlog (where `latest` sends replace each other and `volatile` ones are
   * dropped) until it acknowledges more. This is what bounds how stale a slow reader's view gets,
   * about this many bytes divided by the rate it reads, since the kernels' socket buffers would
   * otherwise take megabytes beyond the library's reach; and it caps one player's throughput at
   * about this much per round trip (64 KiB per 100 ms is 5 Mbit/s). Clients acknowledge every
   * 16 KiB or 32 messages, or 200 ms after the first unacknowledged one. Default 64 KiB (65,536).
   */
  readonly maxInFlightBytes?: number;
  /**
   * Without `authenticate`, how long a new connection may take to say hello (repod-rx clients
   * do so at once) before the server takes it for a client that knows nothing of sessions (a
   * Python repod client) and announces its channel. The greeting is sent at once either way.
   * Default 1,000 ms.
   */
  readonly helloWindow?: number;
  /**
   * Whether the player who resumes is the one who left, from what `authenticate` returned the
   * first time and now. Default: the two are equal as JSON. Without `authenticate`, the token
   * alone decides.
   */
  readonly samePlayer?: (before: D, now: D) => boolean;
}

/** {@link ResumeOptions} with every default applied. */
export interface ResolvedResume<D = unknown> {
  readonly window: number;
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly maxInFlightBytes: number;
  readonly helloWindow: number;
  readonly samePlayer: (before: D, now: D) => boolean;
}

/**
 * The longest resume window, in ms: the longest a timer waits (past it, `setTimeout` fires at
 * once). A server's `resume.window` is checked against it, and so is the window a server grants.
 */
export const MAX_RESUME_WINDOW = 2 ** 31 - 1;

const DEFAULT_RESUME = {
  window: 30_000,
  maxMessages: 4_096,
  maxBytes: 1024 * 1024,
  maxInFlightBytes: 64 * 1024,
  helloWindow: 1_000,
} as const;

/**
 * Checks and completes the `resume` option; `undefined` or `false` is no resume.
 * @throws {TypeError} or {RangeError} for a bad value.
 */
export function resolveResume<D>(resume: ResumeOptions<D> | boolean | undefined): ResolvedResume<D> | null {
  if (resume === undefined || resume === false) return null;
  if (resume !== true && (typeof resume !== "object" || resume === null)) {
    throw new TypeError(
      `options.resume must be true, false or { window, maxMessages, maxBytes, maxInFlightBytes, helloWindow, samePlayer }, got ${describeOptionValue(resume)}`,
    );
  }
  const given: ResumeOptions<D> = resume === true ? {} : resume;
  const resolved: ResolvedResume<D> = {
    window: given.window ?? DEFAULT_RESUME.window,
    maxMessages: given.maxMessages ?? DEFAULT_RESUME.maxMessages,
    maxBytes: given.maxBytes ?? DEFAULT_RESUME.maxBytes,
    maxInFlightBytes: given.maxInFlightBytes ?? DEFAULT_RESUME.maxInFlightBytes,
    helloWindow: given.helloWindow ?? DEFAULT_RESUME.helloWindow,
    samePlayer: given.samePlayer ?? sameJson,
  };
  checkInteger("resume.window", resolved.window, 1, MAX_RESUME_WINDOW);
  checkInteger("resume.maxMessages", resolved.maxMessages, 1, Number.MAX_SAFE_INTEGER);
  checkInteger("resume.maxBytes", resolved.maxBytes, 1, Number.MAX_SAFE_INTEGER);
  checkInteger("resume.maxInFlightBytes", resolved.maxInFlightBytes, 1, Number.MAX_SAFE_INTEGER);
  checkInteger("resume.helloWindow", resolved.helloWindow, 0, 2 ** 31 - 1);
  if (typeof resolved.samePlayer !== "function") throw new TypeError("options.resume.samePlayer must be a function");
  return resolved;
}

function sameJson(before: unknown, now: unknown): boolean {
  try {
    return JSON.stringify(before) === JSON.stringify(now);
  } catch {
    return false; // a cycle or a BigInt: not comparable, so not provably the same player
  }
}
