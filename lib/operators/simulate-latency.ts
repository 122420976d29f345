import { asyncScheduler, Subject, Subscription, type Observable, type SchedulerLike } from "rxjs";
import type { ConnectionListenerApi } from "../connections/connection-listener.js";
import { HEADER_SIZE } from "../constants.js";
import type { ActionMap } from "../types.js";
import { checkSendOptions } from "../connections/outbox.js";
import { encode, isPlainObject } from "../protocol/codec.js";
import { DelayLine, type Lag } from "./delay-line.js";

/** The lag of one direction, in milliseconds. */
export interface LagOptions {
  /** How long every message waits. Default: the top-level `delay`. */
  readonly delay?: number;
  /** Up to how much longer, at random, each message waits. Default: the top-level `jitter`. */
  readonly jitter?: number;
}

/** Options of {@link simulateLatency}. */
export interface LatencyOptions {
  /**
   * How long every message waits in each direction, in milliseconds: a round trip takes twice
   * this, so 75 feels like a 150 ms ping. Default 0.
   */
  readonly delay?: number;
  /** Up to how much longer, at random, each message waits, in milliseconds. Default 0. */
  readonly jitter?: number;
  /** The lag of what the server sends, when it differs. */
  readonly incoming?: LagOptions;
  /** The lag of what this listener sends, when it differs. */
  readonly outgoing?: LagOptions;
  /** Where the waits are timed. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Random numbers from 0 to 1 for the jitter. Default `Math.random`. */
  readonly random?: () => number;
}

// The listener's members this wraps, writable (its `readonly` is for games, not for this tool).
interface Wrapped {
  messages$: Observable<unknown>;
  send: ConnectionListenerApi["send"];
  readonly scheduler: { enqueue(work: (state: unknown) => void, state: unknown): void };
  readonly connection: unknown;
}

/**
 * A development tool that makes a listener feel far from its server, to try interpolation and
 * prediction on localhost: everything it sends waits before it leaves, and everything that
 * arrives waits before its handlers run and before `messages$` and `on()` emit it. Jitter varies
 * the waits, but never the order: a message never overtakes an earlier one, as over TCP and
 * WebSocket. Heartbeats are answered below the listener and keep the true round trip; the game's
 * own work on `listener.scheduler` (`observeOn`, request timeouts) is not delayed.
 *
 * Call it right after creating the listener, before subscribing to its streams; unsubscribe the
 * returned subscription to stop: what still waits goes at once, in order, and the streams taken
 * from `messages$` or `on()` meanwhile complete. `send()` returns the size of the encoded
 * message (it goes later), or 0 when not connected.
 *
 * ```ts
 * const lag = Number(new URLSearchParams(location.search).get("lag") ?? 0);
 * if (lag > 0) simulateLatency(listener, { delay: lag / 2, jitter: lag / 10 });
 * ```
 */
export function simulateLatency<In extends ActionMap, Out extends ActionMap>(
  listener: ConnectionListenerApi<In, Out>,
  options: LatencyOptions = {},
): Subscription {
  const target = listener as unknown as Wrapped;
  const scheduler = options.scheduler ?? asyncScheduler;
  const random = options.random ?? Math.random;
  const incoming = new DelayLine(lagOf(options, options.incoming, "incoming"), scheduler, random);
  const outgoing = new DelayLine(lagOf(options, options.outgoing, "outgoing"), scheduler, random);

  // A message reaches both the pump queue and `messages$`: it is given one time for both.
  const dueOf = new WeakMap<object, number>();
  const timeFor = (message: unknown): number => {
    if (typeof message !== "object" || message === null) return incoming.due();
    let due = dueOf.get(message);
    if (due === undefined) dueOf.set(message, (due = incoming.due()));
    return due;
  };

  const pump = target.scheduler;
  const enqueue = pump.enqueue;
  const restoreEnqueue = replace(pump, "enqueue", (work, state) => {
    // Only what came from the network waits: a decoded message (a plain object), and the number
    // marking where a lost connection's requests end, which must stay behind its `disconnected`.
    // The game's own work on this scheduler (`observeOn`, a request's timeout) runs as usual.
    if (typeof state === "number" || isPlainObject(state)) {
      incoming.push(() => enqueue.call(pump, work, state), timeFor(state));
    } else enqueue.call(pump, work, state);
  });

  const live$ = target.messages$;
  const delayed = new Subject<unknown>();
  const feed = live$.subscribe((message) => incoming.push(() => delayed.next(message), timeFor(message)));
  const restoreMessages = replace(target, "messages$", delayed.asObservable());

  const send = target.send;
  const restoreSend = replace(target, "send", (message, sendOptions) => {
    // Checked now, so that bad input throws at the call as it does without the simulator (and
    // the delayed send cannot throw).
    checkSendOptions(sendOptions);
    const bytes = encode(message).byteLength + HEADER_SIZE;
    outgoing.push(() => send.call(listener, message, sendOptions));
    return target.connection === null ? 0 : bytes;
  });

  return new Subscription(() => {
    restoreEnqueue();
    restoreSend();
    restoreMessages();
    feed.unsubscribe();
    outgoing.flush();
    incoming.flush();
    delayed.complete();
  });
}

/** Puts `value` in place of `object[key]`; returns how to put back what was there. */
function replace<T extends object, K extends keyof T>(object: T, key: K, value: T[K]): () => void {
  const own = Object.getOwnPropertyDescriptor(object, key);
  Object.defineProperty(object, key, { value, writable: true, configurable: true });
  return () => {
    if (own === undefined) delete object[key];
    else Object.defineProperty(object, key, own);
  };
}

/** One direction's lag, checked. */
function lagOf(options: LatencyOptions, direction: LagOptions | undefined, name: string): Lag {
  const delay = direction?.delay ?? options.delay ?? 0;
  const jitter = direction?.jitter ?? options.jitter ?? 0;
  for (const [field, value] of [
    ["delay", delay],
    ["jitter", jitter],
  ] as const) {
    if (!(typeof value === "number" && value >= 0 && value < Infinity)) {
      throw new RangeError(`${name} ${field} must be a number of milliseconds of at least 0, got ${String(value)}`);
    }
  }
  return { delay, jitter };
}
