import {
  ACK_ACTION,
  HELLO_ACTION,
  PING_ACTION,
  PONG_ACTION,
  REFUSED_ACTION,
  RESUME_FAILED_ACTION,
  RESUMED_ACTION,
  SESSION_ACTION,
} from "../constants.js";
import { ProtocolError } from "../errors.js";
import type { IncomingMessage } from "../types.js";
import type { ResolvedRateLimit } from "./connection-options.js";

/** A clock in milliseconds; injectable so that tests can move time by hand. */
export type Clock = () => number;

const monotonic: Clock = () => performance.now();

/**
 * The library's own control messages: they never use the game's budget, so that a flood of game
 * messages cannot delay a heartbeat or a login. They reach no game code, and have a budget of
 * their own ({@link CONTROL_RATE}): a ping costs a pong, and a peer that pings as fast as it can
 * would otherwise have the server answer at line rate. Other `@` actions (`@reply`) carry game
 * data to game code and count like any message.
 */
const CONTROL_ACTIONS: ReadonlySet<unknown> = new Set([
  PING_ACTION,
  PONG_ACTION,
  HELLO_ACTION,
  ACK_ACTION,
  SESSION_ACTION,
  RESUMED_ACTION,
  RESUME_FAILED_ACTION,
  REFUSED_ACTION,
]);

/**
 * The budget of control messages, per connection: 1,000 per second with a burst of 2,000. A
 * repod-rx peer sends a heartbeat every few seconds and an acknowledgement per 16 KiB it reads (a
 * few hundred a second at the most a session is paced to), so only a flooder reaches it, and is
 * then held like any peer over its budget.
 */
export const CONTROL_RATE = { messages: 1_000, burst: 2_000 } as const;

/**
 * A token bucket: `capacity` tokens, refilled continuously at `rate` per second. A cost larger than
 * the capacity is let through when the bucket is full, leaving it in debt, so that the long-run
 * rate holds for any cost and nothing ever waits for ever.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  /**
   * @param rate tokens per second, over 0
   * @param capacity the most tokens kept, at least 1; the bucket starts full
   */
  constructor(
    readonly rate: number,
    readonly capacity: number,
    private readonly now: Clock = monotonic,
  ) {
    this.tokens = capacity;
    this.updatedAt = now();
  }

  /** Tokens there now (negative while in debt). */
  get available(): number {
    this.refill(this.now());
    return this.tokens;
  }

  /** Milliseconds until `cost` could be taken: 0 when it can be now. Takes nothing. */
  wait(cost: number, now = this.now()): number {
    this.refill(now);
    const needed = Math.min(cost, this.capacity);
    // Stryker disable next-line EqualityOperator: with exactly the tokens needed, the formula gives 0 as well
    return this.tokens >= needed ? 0 : ((needed - this.tokens) * 1000) / this.rate;
  }

  /** Takes `cost` tokens, after `wait(cost)` said 0. */
  take(cost: number): void {
    this.tokens -= cost;
  }

  private refill(now: number): void {
    const elapsed = now - this.updatedAt;
    // Stryker disable next-line EqualityOperator: a refill over 0 ms adds nothing and moves nothing
    if (elapsed <= 0) return;
    this.updatedAt = now;
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.rate) / 1000);
  }
}

/** `{ action: "@ping"` or `"@pong"` as the first key of a msgpack map: how every repod-rx peer sends them. */
const HEARTBEAT_PREFIXES = [PING_ACTION, PONG_ACTION].map((action) =>
  Uint8Array.from([
    0xa6,
    ...new TextEncoder().encode("action"),
    0xa0 | action.length,
    ...new TextEncoder().encode(action),
  ]),
);

/**
 * Whether `payload` is, at a glance, a heartbeat: a map whose first key is `action`, valued
 * `"@ping"` or `"@pong"`. Only a hint for what may skip the queue without being decoded first; a
 * heartbeat written otherwise waits its turn, like any message.
 */
export function looksLikeHeartbeat(payload: Uint8Array): boolean {
  // Stryker disable next-line ConditionalExpression: a fast path: a shorter payload misses every prefix below, whose bytes past its end read as undefined
  if (payload.length < 14 || (payload[0]! & 0xf0) !== 0x80) return false;
  next: for (const prefix of HEARTBEAT_PREFIXES) {
    for (let i = 0; i < prefix.length; i++) if (payload[i + 1] !== prefix[i]) continue next;
    return true;
  }
  return false;
}

/** Whether `action` is one of the library's control messages, which no rate limit applies to. */
export function isControlAction(action: unknown): boolean {
  return CONTROL_ACTIONS.has(action);
}

/**
 * The budgets of one connection's inbound traffic (`rateLimit`): messages and payload bytes per
 * second, with per-action message budgets in place of the shared one. Control messages are free.
 */
export class RateLimiter {
  /**
   * The budgets of game messages, created with the first one: a connection may send none, or only
   * a hello (a control message). A bucket starts full and one never charged stays full, so
   * creating it late changes nothing.
   */
  private messages: TokenBucket | null = null;
  private bytes: TokenBucket | null = null;
  /** The per-action budgets; without any (the usual case), one empty map for every limiter. */
  private readonly actions: ReadonlyMap<string, TokenBucket> = NO_ACTIONS;
  private readonly control: TokenBucket;

  constructor(
    readonly limit: ResolvedRateLimit,
    private readonly now: Clock = monotonic,
  ) {
    this.control = new TokenBucket(CONTROL_RATE.messages, CONTROL_RATE.burst, now);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: with no per-action budget the map built here stays empty, and behaves as the shared empty one
    if (limit.actions.size > 0) {
      const actions = new Map<string, TokenBucket>();
      for (const [action, budget] of limit.actions)
        actions.set(action, new TokenBucket(budget.messages, budget.burst, now));
      this.actions = actions;
    }
  }

  /**
   * Charges one message of `bytes` payload bytes if its budgets allow it now and returns 0;
   * otherwise charges nothing and returns the milliseconds until they would.
   */
  charge(action: unknown, bytes: number): number {
    if (CONTROL_ACTIONS.has(action)) {
      const wait = this.control.wait(1, this.now());
      if (wait === 0) this.control.take(1);
      return wait;
    }
    const { limit, now: clock } = this;
    let count = (this.messages ??= new TokenBucket(limit.messages, limit.burst, clock));
    const byteBudget = (this.bytes ??= new TokenBucket(limit.bytes, limit.byteBurst, clock));
    // Stryker disable next-line ConditionalExpression,EqualityOperator: a fast path: with no per-action budget, or for an action that is no string, the lookup finds none and the shared budget applies
    if (this.actions.size > 0 && typeof action === "string") count = this.actions.get(action) ?? count;
    const now = this.now();
    const wait = Math.max(count.wait(1, now), byteBudget.wait(bytes, now));
    if (wait > 0) return wait;
    count.take(1);
    byteBudget.take(bytes);
    return 0;
  }
}

const NO_ACTIONS: ReadonlyMap<string, TokenBucket> = new Map();

/** What an {@link InboundGate} needs of its connection. */
export interface GateHost {
  /** Stops reading from the peer (`Transport.pause`). */
  pause(): void;
  /** Reads again (`Transport.resume`). */
  resume(): void;
  /** Whether the connection still takes the peer's messages (not closing or closed). */
  isOpen(): boolean;
  /** Decodes a payload held back undecoded; `null` if it was invalid (and dropped). */
  decode(payload: Uint8Array): IncomingMessage | null;
  /** Handles a message that was held back, now that its budget allows it. */
  deliver(message: IncomingMessage): void;
  /** The peer stayed over its budget for `closeAfter` (`onExceed: "close"`): cut it off with `error`. */
  exceed(error: ProtocolError): void;
}

/** A pause that starts within this many ms of the end of the previous one continues it, for `closeAfter`. */
const CONTINUED_WITHIN = 100;
/**
 * The shortest pause, in ms: at thousands of messages a second, the next message's budget is back
 * in a fraction of a millisecond; waking up for each would cost more than the messages do.
 */
const MIN_PAUSE = 4;

/**
 * Applies a {@link RateLimiter} to the messages of one connection, in arrival order. A message
 * within its budget passes at once. One over it is held, the transport is paused, and held
 * messages are delivered, in order, as the budget refills; when none is left the transport resumes.
 * What the transport still delivers while paused (the rest of a chunk it had already read) is held
 * behind it undecoded (`hold`), and decoded at its turn: decoding thousands of tiny messages at
 * once would spend in one go what the limit spreads out. Heartbeats jump the queue: answering a
 * ping does not depend on the game messages before it. Other control messages wait their turn (a
 * login must stay first), free.
 */
export class InboundGate {
  /** Held messages, oldest first; `payload` until decoded, then `message`. */
  private held: ({ message?: IncomingMessage; payload?: Uint8Array; readonly bytes: number } | undefined)[] = [];
  private head = 0;
  /** Heartbeats among the held messages: a newer one waits behind them, not to overtake them. */
  private heartbeatsHeld = 0;
  private paused = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When the peer went over its budget, for `closeAfter`; -1 never. */
  // Stryker disable next-line UnaryOperator: the first overrun also finds resumedAt at -Infinity, which starts the count whatever this is
  private overSince = -1;
  /** When the transport last resumed. */
  private resumedAt = Number.NEGATIVE_INFINITY;
  private readonly limit: ResolvedRateLimit;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly host: GateHost,
    private readonly now: Clock = monotonic,
  ) {
    this.limit = limiter.limit;
  }

  /** Whether messages are held back (the transport is paused). */
  get holding(): boolean {
    return this.head < this.held.length;
  }

  /**
   * Offers one decoded message of `bytes` payload bytes: `true` if the caller handles it now,
   * `false` if it was held and will be handed to `host.deliver` later.
   */
  admit(message: IncomingMessage, bytes: number): boolean {
    const action = message.action;
    const heartbeat = action === PING_ACTION || action === PONG_ACTION;
    if (this.holding) {
      // Heartbeats jump the queue of game messages, within the control budget and in their own
      // order: a ping flood waits like any flood.
      if (heartbeat && this.heartbeatsHeld === 0 && this.limiter.charge(action, bytes) === 0) return true;
      this.held.push({ message, bytes });
      if (heartbeat) this.heartbeatsHeld++;
      return false;
    }
    const wait = this.limiter.charge(action, bytes);
    if (wait === 0) return true;
    this.held.push({ message, bytes });
    if (heartbeat) this.heartbeatsHeld++;
    const now = this.now();
    if (this.overSince < 0 || now - this.resumedAt > CONTINUED_WITHIN) this.overSince = now;
    // Stryker disable next-line ConditionalExpression: pausing a paused transport does nothing (Transport.pause); and with nothing held the gate is paused only once its connection has closed
    if (!this.paused) {
      this.paused = true;
      this.host.pause();
    }
    this.schedule(wait, now);
    return false;
  }

  /** Queues a payload, undecoded, behind the held messages; only while `holding`. */
  hold(payload: Uint8Array): void {
    this.held.push({ payload, bytes: payload.byteLength });
  }

  /**
   * Delivers every held message at once, budget or not: the peer has gone, what it sent before
   * leaving is delivered as a socket delivers what it had read.
   */
  flush(): void {
    this.clearTimer();
    while (this.holding && this.host.isOpen()) {
      const message = this.decodeHead();
      this.held[this.head++] = undefined;
      if (message !== null) this.host.deliver(message);
    }
    this.held = [];
    this.head = 0;
    this.heartbeatsHeld = 0;
  }

  /** Drops what is held and lets the transport read again (to see the peer's close); for closing. */
  stop(): void {
    this.clearTimer();
    this.held = [];
    this.head = 0;
    this.heartbeatsHeld = 0;
    // Stryker disable next-line ConditionalExpression: resuming a transport that is not paused does nothing (Transport.resume)
    if (this.paused) {
      // Stryker disable next-line BooleanLiteral: stop() is for closing: no message is admitted after it, so this is never read again
      this.paused = false;
      this.host.resume();
    }
  }

  /** The oldest held message, decoded now if it was not yet; `null` if it was invalid. */
  private decodeHead(): IncomingMessage | null {
    const entry = this.held[this.head]!;
    if (entry.message === undefined) {
      const message = this.host.decode(entry.payload!);
      if (message === null) return null;
      entry.message = message;
      entry.payload = undefined;
    }
    return entry.message;
  }

  private schedule(wait: number, now: number): void {
    let delay = Math.max(MIN_PAUSE, Math.ceil(wait));
    if (this.limit.onExceed === "close") {
      const left = this.overSince + this.limit.closeAfter - now;
      if (left <= 0) {
        this.exceed(now);
        return;
      }
      delay = Math.min(delay, Math.ceil(left));
    }
    this.timer = setTimeout(this.release, delay);
  }

  private readonly release = (): void => {
    this.timer = undefined;
    while (this.holding) {
      if (!this.host.isOpen()) return;
      const message = this.decodeHead();
      if (message === null) {
        this.held[this.head++] = undefined;
        continue;
      }
      const wait = this.limiter.charge(message.action, this.held[this.head]!.bytes);
      if (wait > 0) {
        this.schedule(wait, this.now());
        return;
      }
      this.held[this.head++] = undefined;
      if (message.action === PING_ACTION || message.action === PONG_ACTION) this.heartbeatsHeld--;
      this.host.deliver(message);
    }
    this.held = [];
    this.head = 0;
    this.heartbeatsHeld = 0;
    if (!this.host.isOpen()) return;
    this.resumedAt = this.now();
    this.paused = false;
    this.host.resume();
  };

  private exceed(now: number): void {
    const { messages, bytes, closeAfter } = this.limit;
    const error = new ProtocolError(
      "ERR_RATE_LIMITED",
      `Closed the connection: the peer kept sending faster than its rate limit (${messages} messages/s, ` +
        `${bytes} bytes/s, or an action's own budget) for ${Math.round(now - this.overSince)} ms, ` +
        `over rateLimit.closeAfter of ${closeAfter} ms`,
    );
    // Stryker disable next-line CallExpression: exceed() runs from schedule(), called by admit() while nothing is held or by release() once its timer fired: no timer is pending
    this.clearTimer();
    this.held = [];
    this.head = 0;
    this.heartbeatsHeld = 0;
    this.host.exceed(error);
  }

  private clearTimer(): void {
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) does nothing
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
