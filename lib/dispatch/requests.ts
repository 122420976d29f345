import { isObservable, Observable, take, type Subscriber, type Subscription } from "rxjs";
import { REPLY_ACTION, REPLY_ID_KEY, REQUEST_ID_KEY } from "../constants.js";
import { ConnectionError, RepodError } from "../errors.js";
import type { IncomingMessage } from "../types.js";

/** Options of `request()`. */
export interface RequestOptions {
  /** Milliseconds to wait for the reply before the Observable errors with `ERR_REQUEST_TIMEOUT`. Default 10,000. */
  readonly timeout?: number;
}

/** The reply's `error` field, raised by the requester's Observable. */
export class RequestError extends RepodError {
  override readonly name = "RequestError";
}

/** Default time a request waits for its reply, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT = 10_000;

interface Pending {
  readonly subscriber: Subscriber<unknown>;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * The requests one side of a connection is waiting on. A request is the message with a reserved
 * `"@req": id` key; the reply is `{ action: "@reply", "@re": id, result }` or
 * `{ action: "@reply", "@re": id, error: "reason" }`. Peers that do not know these keys (Python
 * repod) ignore them, and can answer by hand.
 */
export class PendingRequests {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /**
   * @param deferTimeout Runs the delivery of a timeout error; a listener passes one that queues it
   *   for `pump()`, so a game loop sees timeouts at the same point as replies. Default: at once.
   */
  constructor(private readonly deferTimeout: (deliver: () => void) => void = (deliver) => deliver()) {}

  /** How many requests wait for a reply. */
  get size(): number {
    return this.pending.size;
  }

  /** The id the next request will get: every request sent so far has a smaller one. */
  get nextRequestId(): number {
    return this.nextId;
  }

  /**
   * A cold Observable: each subscription sends `message` with a fresh id through `send` and emits
   * the reply's `result` once, then completes. It errors with `ERR_REQUEST_TIMEOUT` after
   * `timeout` ms, with a {@link RequestError} for an error reply, with `ERR_NOT_CONNECTED` when
   * `send` cannot send, and with `ERR_CONNECTION_LOST` if the connection ends first.
   * Unsubscribing cancels the wait; a late reply is then dropped silently.
   *
   * @throws {TypeError} synchronously for a message that is not a plain object.
   */
  request<R>(send: (message: object) => number, message: object, options: RequestOptions = {}): Observable<R> {
    const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT;
    if (!Number.isInteger(timeout) || timeout < 1) {
      throw new RangeError(`options.timeout must be a positive integer of milliseconds, got ${String(timeout)}`);
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      throw new TypeError('A request must be a plain object such as { action: "getScore" }');
    }
    return new Observable<R>((subscriber) => {
      const id = this.nextId++;
      const action = (message as { action?: unknown }).action;
      if (send({ ...message, [REQUEST_ID_KEY]: id }) === 0) {
        subscriber.error(
          new ConnectionError("ERR_NOT_CONNECTED", `Cannot send the request ${String(action)}: not connected`),
        );
        return;
      }
      const timer = setTimeout(() => {
        // From now on a late reply is dropped, whenever the error itself is delivered.
        this.pending.delete(id);
        this.deferTimeout(() =>
          subscriber.error(
            new RepodError("ERR_REQUEST_TIMEOUT", `No reply to the request ${String(action)} within ${timeout} ms`),
          ),
        );
      }, timeout);
      this.pending.set(id, { subscriber: subscriber as Subscriber<unknown>, timer });
      return () => {
        const entry = this.pending.get(id);
        if (entry !== undefined) {
          clearTimeout(entry.timer);
          this.pending.delete(id);
        }
      };
    });
  }

  /** Settles the request a reply answers; a reply nobody waits for is dropped silently. */
  settle(reply: IncomingMessage): void {
    const id = reply[REPLY_ID_KEY];
    if (typeof id !== "number") return;
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if (reply.error !== undefined) {
      entry.subscriber.error(new RequestError("ERR_REQUEST_FAILED", String(reply.error)));
    } else {
      entry.subscriber.next(reply.result);
      entry.subscriber.complete();
    }
  }

  /**
   * Fails the waiting requests whose id is below `before` (every one by default): the connection
   * they were sent on is gone.
   */
  failAll(reason: string, before = Infinity): void {
    const entries: Pending[] = [];
    for (const [id, entry] of this.pending) {
      if (id >= before) continue;
      this.pending.delete(id);
      entries.push(entry);
    }
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.subscriber.error(new ConnectionError("ERR_CONNECTION_LOST", reason));
    }
  }
}

/** Whether `message` is a reply to a request. */
export function isReply(message: IncomingMessage): boolean {
  return message.action === REPLY_ACTION;
}

/** The request id a message carries, or `undefined` for an ordinary message. */
export function requestId(message: IncomingMessage): unknown {
  return message[REQUEST_ID_KEY];
}

/**
 * Sends the answer of a handler to a request: its return value, or what its Promise or Observable
 * gives first. A thrown error, a rejection or an erroring Observable sends an error reply.
 * `undefined` (a handler that returns nothing) sends no reply. An Observable's subscription is
 * added to `pending`, which the caller ends with the connection.
 */
export function answer(
  send: (message: object) => number,
  id: unknown,
  run: () => unknown,
  pending?: Subscription,
): void {
  const reply = (result: unknown): void => {
    if (result === undefined) return;
    try {
      send({ action: REPLY_ACTION, [REPLY_ID_KEY]: id, result });
    } catch (error) {
      fail(error); // the result cannot be encoded: say so instead of leaving the requester waiting
    }
  };
  function fail(error: unknown): void {
    try {
      send({ action: REPLY_ACTION, [REPLY_ID_KEY]: id, error: error instanceof Error ? error.message : String(error) });
    } catch {
      // The id itself cannot be encoded (a peer sent one nested deeper than msgpack encodes): no
      // reply can name it. Never throw here: from a Promise or an Observable it would crash the process.
    }
  }
  let result: unknown;
  try {
    result = run();
  } catch (error) {
    fail(error);
    return;
  }
  if (isObservable(result)) {
    // Held by `pending` (the connection's), so an Observable that never emits is dropped when
    // the connection ends instead of being listened to forever.
    const subscription = result.pipe(take(1)).subscribe({ next: reply, error: fail });
    pending?.add(subscription);
  } else if (result instanceof Promise) {
    result.then(reply, fail);
  } else {
    reply(result);
  }
}
