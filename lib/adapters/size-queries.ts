import { RepodError } from "../errors.js";

interface PendingSize {
  readonly room: string;
  /** Servers subscribed to the room when the query was published; `-1` until Redis says. */
  expected: number;
  answers: number;
  total: number;
  readonly resolve: (size: number) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * The `roomSize()` questions a server is waiting on. A query settles once as many servers have
 * answered as Redis said were subscribed to the room (answers may arrive before Redis says how
 * many to expect), or fails on its timeout.
 */
export class SizeQueries {
  readonly #pending = new Map<number, PendingSize>();
  #nextId = 0;

  /** Opens a query about `room`; `result` rejects with `ERR_REQUEST_TIMEOUT` after `timeout` ms. */
  open(room: string, timeout: number): { id: number; result: Promise<number> } {
    this.#nextId = (this.#nextId % 0xffff_ffff) + 1;
    const id = this.#nextId;
    const result = new Promise<number>((resolve, reject) => {
      const pending: PendingSize = {
        room,
        expected: -1,
        answers: 0,
        total: 0,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#pending.delete(id);
          const of = pending.expected < 0 ? "?" : String(pending.expected);
          reject(
            new RepodError(
              "ERR_REQUEST_TIMEOUT",
              `roomSize(${JSON.stringify(room)}): ${pending.answers} of ${of} servers answered within ${timeout} ms`,
            ),
          );
        }, timeout),
      };
      this.#pending.set(id, pending);
    });
    return { id, result };
  }

  /** Redis delivered the query to `servers` servers: that many answers complete it. */
  expect(id: number, servers: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    pending.expected = servers;
    this.#settle(id, pending);
  }

  /** One server's count of local members. A late answer (after the timeout) is ignored. */
  answer(id: number, count: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    pending.answers++;
    pending.total += count;
    this.#settle(id, pending);
  }

  /** Fails one query, e.g. when Redis could not take it. */
  fail(id: number, error: (room: string) => Error): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.reject(error(pending.room));
  }

  /** Fails every query still waiting (the adapter stops). */
  failAll(error: (room: string) => Error): void {
    for (const id of [...this.#pending.keys()]) this.fail(id, error);
  }

  #settle(id: number, pending: PendingSize): void {
    if (pending.expected < 0 || pending.answers < pending.expected) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(pending.total);
  }
}
