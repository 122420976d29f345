import type { SchedulerLike, Subscription } from "rxjs";

/** How long something waits on a {@link DelayLine}: `delay` plus up to `jitter` more, in milliseconds. */
export interface Lag {
  readonly delay: number;
  readonly jitter: number;
}

/**
 * Runs work after a delay with jitter, never out of order: a piece never runs before one pushed
 * earlier, as over TCP or a WebSocket, where a late frame holds back every frame behind it. One
 * timer at a time, armed for the piece at the head. Pieces must not throw: an exception leaves
 * through the scheduler (the others keep their times).
 */
export class DelayLine {
  #queue: { readonly due: number; readonly run: () => void }[] = [];
  #lastDue = -Infinity;
  #timer: Subscription | null = null;
  #running = false;

  constructor(
    private readonly lag: Lag,
    private readonly scheduler: SchedulerLike,
    private readonly random: () => number,
  ) {}

  /** How many pieces wait. */
  get size(): number {
    return this.#queue.length;
  }

  /** When a piece pushed now would run; pieces that must run together push with the same `due`. */
  due(): number {
    const wait = this.lag.delay + this.lag.jitter * this.random();
    return Math.max(this.#lastDue, this.scheduler.now() + wait);
  }

  /** Runs `run` at `due` (see {@link due}), after everything pushed before. */
  push(run: () => void, due = this.due()): void {
    this.#lastDue = Math.max(this.#lastDue, due);
    this.#queue.push({ due: this.#lastDue, run });
    if (this.#timer === null && !this.#running) this.#arm();
  }

  /** Runs everything still waiting now, in order, and stops the timer. */
  flush(): void {
    this.#timer?.unsubscribe();
    this.#timer = null;
    try {
      this.#release(Infinity);
    } finally {
      this.#arm();
    }
  }

  #arm(): void {
    const head = this.#queue[0];
    if (head === undefined) return;
    this.#timer = this.scheduler.schedule(
      () => {
        this.#timer = null;
        try {
          this.#release(this.scheduler.now());
        } finally {
          this.#arm();
        }
      },
      Math.max(0, head.due - this.scheduler.now()),
    );
  }

  #release(until: number): void {
    this.#running = true;
    try {
      while (this.#queue.length > 0 && this.#queue[0]!.due <= until) this.#queue.shift()!.run();
    } finally {
      this.#running = false;
    }
  }
}
