import { Observable, type Subscriber } from "rxjs";
import { REPLY_ID_KEY, REQUEST_ID_KEY } from "../constants.js";
import { ConnectionError, RepodError } from "../errors.js";
import type { IncomingMessage } from "../types.js";
import { isThenable } from "../validation/standard-schema.js";
import type { ReplyValidator, ReplyVerdict } from "../validation/validation-option.js";

/** Options of `request()`. */
export interface RequestOptions {
  /** Milliseconds to wait for the reply before the Observable errors with `ERR_REQUEST_TIMEOUT`. Default 10,000. */
  readonly timeout?: number;
}

/**
 * The reply's `error` field, raised by the requester's Observable. Its code is
 * `ERR_TOO_MANY_REQUESTS` when the peer had too many answers in progress to run the handler,
 * `ERR_INVALID_MESSAGE` when the request failed the peer's schema (or the reply failed the reply
 * schema of the requester's `replies` validation), `ERR_REQUEST_FAILED` otherwise.
 */
export class RequestError extends RepodError {
  /** Always `"RequestError"`. */
  override readonly name = "RequestError";
}

/** Default time a request waits for its reply, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT = 10_000;

interface Pending {
  readonly subscriber: Subscriber<unknown>;
  readonly timer: ReturnType<typeof setTimeout>;
  /** The request's action, for the check of its reply. */
  readonly action: unknown;
  /** The check of the reply, from the connection the request went out on; `null` for none. */
  readonly replies: ReplyValidator | null;
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
   * @param defer Runs the delivery of a timeout error, or of a reply whose check settled later (an
   *   async reply schema); a listener passes one that queues it for `pump()`, so a game loop sees
   *   them at the same point as replies. Default: at once.
   * @param replies The check of replies to the requests sent now: asked at each request, so that
   *   a reply is judged by the validation of the connection its request went out on. Default: none.
   */
  constructor(
    private readonly defer: (deliver: () => void) => void = (deliver) => deliver(),
    private readonly replies: () => ReplyValidator | null = () => null,
  ) {}

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
   * the reply's `result` once (as the reply schema outputs it, when there is one), then completes.
   * It errors with `ERR_REQUEST_TIMEOUT` after `timeout` ms, with a {@link RequestError} for an
   * error reply or a reply that fails its schema, with `ERR_NOT_CONNECTED` when `send` cannot
   * send, and with `ERR_CONNECTION_LOST` if the connection ends first. Unsubscribing cancels the
   * wait; a late reply is then dropped silently.
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
      const replies = this.replies();
      if (send({ ...message, [REQUEST_ID_KEY]: id }) === 0) {
        subscriber.error(
          new ConnectionError("ERR_NOT_CONNECTED", `Cannot send the request ${String(action)}: not connected`),
        );
        return;
      }
      const timer = setTimeout(() => {
        // From now on a late reply is dropped, whenever the error itself is delivered.
        this.pending.delete(id);
        this.defer(() =>
          subscriber.error(
            new RepodError("ERR_REQUEST_TIMEOUT", `No reply to the request ${String(action)} within ${timeout} ms`),
          ),
        );
      }, timeout);
      this.pending.set(id, { subscriber: subscriber as Subscriber<unknown>, timer, action, replies });
      return () => {
        const entry = this.pending.get(id);
        if (entry !== undefined) {
          clearTimeout(entry.timer);
          this.pending.delete(id);
        }
      };
    });
  }

  /**
   * Settles the request a reply answers; a reply nobody waits for is dropped silently. A result
   * goes through the check of the request's connection first: the requester gets what the reply
   * schema outputs, or a {@link RequestError} coded `ERR_INVALID_MESSAGE`. An error reply is not
   * checked.
   */
  settle(reply: IncomingMessage): void {
    const id = reply[REPLY_ID_KEY];
    if (typeof id !== "number") return;
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    // Stryker disable next-line CallExpression: the subscription's teardown, run by the error or completion below, deletes it too
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if (reply.error !== undefined) {
      // The peer's words, when it sent words: anything else is not printed (a hostile map could
      // even make String() throw).
      const reason = typeof reply.error === "string" ? reply.error : "The peer answered with an error";
      const code =
        reply.code === "ERR_TOO_MANY_REQUESTS" || reply.code === "ERR_INVALID_MESSAGE"
          ? reply.code
          : "ERR_REQUEST_FAILED";
      entry.subscriber.error(new RequestError(code, reason));
      return;
    }
    const verdict =
      entry.replies !== null && typeof entry.action === "string"
        ? entry.replies.checkReply(entry.action, reply.result)
        : undefined;
    if (verdict === undefined) {
      entry.subscriber.next(reply.result);
      entry.subscriber.complete();
    } else if (isThenable(verdict)) {
      // The reply came in time: no timeout any more, and an unsubscribed requester gets nothing.
      verdict.then((settled) => this.defer(() => deliver(entry.subscriber, settled)));
    } else deliver(entry.subscriber, verdict);
  }

  /**
   * Fails the waiting requests whose id is below `before` (every one by default): the connection
   * they were sent on is gone.
   */
  failAll(reason: string, before = Infinity): void {
    const entries: Pending[] = [];
    for (const [id, entry] of this.pending) {
      if (id >= before) continue;
      // Stryker disable next-line CallExpression: the subscription's teardown, run by the error below, deletes it too
      this.pending.delete(id);
      entries.push(entry);
    }
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.subscriber.error(new ConnectionError("ERR_CONNECTION_LOST", reason));
    }
  }
}

/** Hands a checked reply to its requester: the schema's output, or why the reply was refused. */
function deliver(subscriber: Subscriber<unknown>, verdict: ReplyVerdict): void {
  if ("reason" in verdict) {
    subscriber.error(new RequestError("ERR_INVALID_MESSAGE", verdict.reason));
    return;
  }
  subscriber.next(verdict.value);
  subscriber.complete();
}

/** The request id a message carries, or `undefined` for an ordinary message. */
export function requestId(message: IncomingMessage): unknown {
  return message[REQUEST_ID_KEY];
}
