import { isObservable, take, type Subscription } from "rxjs";
import { REPLY_ACTION, REPLY_ID_KEY } from "../constants.js";

/**
 * The answers one side of a connection is computing for its peer's requests. A handler answers a
 * request by returning a value, a Promise or an Observable; the first two are answered at once or
 * when the Promise settles, the last with its first value.
 *
 * What the peer can make us hold is bounded: at most `max` answers are in progress at once (a
 * request beyond that gets an error reply coded `ERR_TOO_MANY_REQUESTS` and runs no handler), and
 * `close()`, called when the connection ends, unsubscribes the Observables and cuts every
 * in-progress answer off from the connection, so a Promise that settles late (or never) holds
 * nothing of it and sends nothing.
 */
export class PendingAnswers {
  #send: ((message: object) => number) | null;
  readonly #max: number;
  /** One entry per answer in progress: its Observable's subscription, or `null` for a Promise. */
  readonly #inProgress = new Set<Slot>();

  /**
   * @param send writes a reply on the connection the requests came from
   * @param max answers that may be in progress at once (`maxPendingAnswers`)
   */
  constructor(send: (message: object) => number, max: number) {
    this.#send = send;
    this.#max = max;
  }

  /** How many answers are in progress. */
  get size(): number {
    return this.#inProgress.size;
  }

  /**
   * Answers the request `id` with what `run` (the handler) returns. A thrown error, a rejection or
   * an erroring Observable sends an error reply; `undefined` (a handler that returns nothing)
   * sends no reply.
   */
  answer(id: unknown, run: () => unknown): void {
    if (this.#send === null) return;
    if (this.#inProgress.size >= this.#max) {
      this.#reply(id, {
        error: `Too many requests in progress: ${this.#max} answers are still being computed for this connection (maxPendingAnswers); try again later`,
        code: "ERR_TOO_MANY_REQUESTS",
      });
      return;
    }
    let result: unknown;
    try {
      result = run();
    } catch (error) {
      this.#fail(id, error);
      return;
    }
    if (isObservable(result)) {
      const slot: Slot = { subscription: null };
      this.#inProgress.add(slot);
      const done = (): void => {
        this.#inProgress.delete(slot);
      };
      const subscription = result.pipe(take(1)).subscribe({
        next: (value) => {
          // Stryker disable next-line CallExpression: take(1) completes right after the value, which frees the slot as well
          done();
          this.#result(id, value);
        },
        error: (error: unknown) => {
          done();
          this.#fail(id, error);
        },
        complete: done,
      });
      // Still in progress after subscribing (not answered synchronously): keep it to end it with the connection.
      // Stryker disable next-line ConditionalExpression: a slot answered synchronously is out of #inProgress, so close() never reaches its subscription
      if (this.#inProgress.has(slot)) slot.subscription = subscription;
    } else if (result instanceof Promise) {
      const slot: Slot = { subscription: null };
      this.#inProgress.add(slot);
      // The callbacks reach the connection only through `this`, which `close()` cuts off.
      result.then(
        (value: unknown) => {
          if (this.#inProgress.delete(slot)) this.#result(id, value);
        },
        (error: unknown) => {
          // Stryker disable next-line ConditionalExpression: only close() takes a slot out first, and after it #reply sends nothing
          if (this.#inProgress.delete(slot)) this.#fail(id, error);
        },
      );
    } else {
      this.#result(id, result);
    }
  }

  /** The connection ended: drops every answer in progress and answers nothing from now on. */
  close(): void {
    this.#send = null;
    const slots = [...this.#inProgress];
    this.#inProgress.clear();
    for (const slot of slots) slot.subscription?.unsubscribe();
  }

  #result(id: unknown, result: unknown): void {
    if (result === undefined) return;
    const failure = this.#reply(id, { result });
    // The result cannot be encoded: say why instead of leaving the requester waiting.
    if (failure !== undefined) this.#fail(id, failure);
  }

  #fail(id: unknown, error: unknown): void {
    this.#reply(id, { error: describeError(error) });
  }

  /**
   * Sends one reply; returns the encoding error when it could not be sent. Never throws: it may
   * run from a Promise's callback, where a throw would become an unhandled rejection.
   */
  #reply(id: unknown, fields: object): unknown {
    if (this.#send === null) return undefined;
    try {
      this.#send({ action: REPLY_ACTION, [REPLY_ID_KEY]: id, ...fields });
      return undefined;
    } catch (error) {
      return error ?? new Error("encoding failed");
    }
  }
}

interface Slot {
  subscription: Subscription | null;
}

/** The text of an error reply: a handler may throw anything, even a value `String()` rejects. */
function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return "the handler failed";
  }
}
