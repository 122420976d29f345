import { Subscription, type SchedulerAction, type SchedulerLike } from "rxjs";

type Work = (state: unknown) => void;

/**
 * A `SchedulerLike` whose work runs only when `flush()` is called: the frame tick of a game loop.
 *
 * - `flush()` runs, in the order it was queued, exactly the work queued before it began. Work
 *   queued while it runs (by a handler, by a re-entrant `schedule`) waits for the next flush, so
 *   every frame is bounded and a flush always terminates.
 * - An exception thrown by a piece of work leaves `flush()` like any synchronous call. That piece
 *   counts as run; everything queued after it stays queued for the next flush. Because the work is
 *   called from this loop and not from a subscriber's `next`, the exception never turns into an
 *   unhandled RxJS error.
 * - `flush()` called from inside a flush (a handler calling `pump()`) is a no-op.
 *
 * It can be passed to any RxJS API that takes a scheduler (`observeOn(listener.scheduler)`), and
 * it is what `ConnectionListener.pump()` and `Server.pump()` flush.
 */
export class PumpScheduler implements SchedulerLike {
  /** The queue: `works[i](states[i])`, in order. Two arrays, so queueing allocates nothing. */
  private works: Work[] = [];
  private states: unknown[] = [];
  private flushing = false;

  /** @param clock The clock returned by `now()`; injectable for tests. Default `Date.now`. */
  constructor(readonly clock: () => number = Date.now) {}

  /** Milliseconds from this scheduler's clock, as `SchedulerLike` requires. */
  now(): number {
    return this.clock();
  }

  /** How many pieces of work wait for the next flush. */
  get size(): number {
    return this.works.length;
  }

  /**
   * Queues `work` for the next flush (after `delay` milliseconds have passed, if given). The
   * returned subscription cancels it.
   */
  schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
    const action = new PumpAction<T>(this, work);
    return action.schedule(state, delay);
  }

  /**
   * Queues a plain function call for the next flush without creating a subscription; the fast
   * path used by the dispatch of every incoming message.
   * @internal
   */
  enqueue<T>(work: (state: T) => void, state: T): void {
    this.works.push(work as Work);
    this.states.push(state);
  }

  /**
   * Runs the work queued before this call, in order, and returns how many pieces ran.
   * @throws whatever a piece of work throws; the pieces after it stay queued.
   */
  flush(): number {
    const works = this.works;
    const count = works.length;
    // Stryker disable next-line ConditionalExpression: with nothing queued, running the empty batch returns 0 all the same
    if (this.flushing || count === 0) return 0;
    const states = this.states;
    // The batch is taken whole: what is queued while it runs goes to fresh arrays, for the next flush.
    this.works = [];
    this.states = [];
    this.flushing = true;
    let i = 0;
    try {
      for (; i < count; i++) works[i]!(states[i]);
    } finally {
      this.flushing = false;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: once every piece ran, both slices are empty and the queue is unchanged
      if (i < count) {
        // Work i threw: it counts as run; the rest of the batch goes back before anything newer.
        this.works = works.slice(i + 1).concat(this.works);
        this.states = states.slice(i + 1).concat(this.states);
      }
    }
    return count;
  }

  /** Drops every queued piece of work without running it. */
  clear(): void {
    this.works = [];
    this.states = [];
  }
}

/** The `SchedulerAction` behind `PumpScheduler.schedule`: runs once per schedule, cancellable. */
class PumpAction<T> extends Subscription implements SchedulerAction<T> {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pending = false;
  private state: T | undefined;

  constructor(
    private readonly scheduler: PumpScheduler,
    private readonly work: (this: SchedulerAction<T>, state?: T) => void,
  ) {
    super();
    this.add(() => this.cancelTimer());
  }

  schedule(state?: T, delay = 0): Subscription {
    if (this.closed) return this;
    this.cancelTimer();
    if (delay > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.queue(state);
      }, delay);
    } else {
      this.queue(state);
    }
    return this;
  }

  /** A reschedule before the flush replaces the state and keeps the place in the queue. */
  private queue(state: T | undefined): void {
    this.state = state;
    if (this.pending) return;
    this.pending = true;
    this.scheduler.enqueue(runAction, this as PumpAction<unknown>);
  }

  /** @internal */
  execute(): void {
    this.pending = false;
    if (this.closed) return;
    this.work.call(this, this.state);
  }

  private cancelTimer(): void {
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) does nothing
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

function runAction(action: PumpAction<unknown>): void {
  action.execute();
}
