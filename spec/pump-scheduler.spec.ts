import {
  defer,
  delay,
  finalize,
  interval,
  map,
  observeOn,
  of,
  subscribeOn,
  take,
  type SchedulerAction,
  type Subscription,
} from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PumpScheduler } from "../lib/index.js";

afterEach(() => {
  vi.useRealTimers();
});

function newTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe("PumpScheduler", () => {
  it("runs nothing until flush(), then runs the queued work in order and returns how many ran", () => {
    const scheduler = new PumpScheduler();
    const ran: string[] = [];
    scheduler.schedule(() => ran.push("a"));
    scheduler.schedule(() => ran.push("b"));
    scheduler.schedule(() => ran.push("c"));
    expect(ran).toEqual([]);
    expect(scheduler.size).toBe(3);
    expect(scheduler.flush()).toBe(3);
    expect(ran).toEqual(["a", "b", "c"]);
    expect(scheduler.size).toBe(0);
  });

  it("flush() with nothing queued is a no-op returning 0", () => {
    const scheduler = new PumpScheduler();
    expect(scheduler.flush()).toBe(0);
    scheduler.schedule(() => {});
    scheduler.flush();
    expect(scheduler.flush()).toBe(0);
  });

  it("passes the scheduled state to the work", () => {
    const scheduler = new PumpScheduler();
    const seen: unknown[] = [];
    scheduler.schedule((state) => seen.push(state), 0, { x: 1 });
    scheduler.flush();
    expect(seen).toEqual([{ x: 1 }]);
  });

  it("runs only the work queued before the flush began; work queued during it waits for the next flush", () => {
    const scheduler = new PumpScheduler();
    const ran: string[] = [];
    scheduler.schedule(() => {
      ran.push("first");
      scheduler.schedule(() => ran.push("queued by first"));
    });
    scheduler.schedule(() => ran.push("second"));
    expect(scheduler.flush()).toBe(2);
    expect(ran).toEqual(["first", "second"]);
    expect(scheduler.flush()).toBe(1);
    expect(ran).toEqual(["first", "second", "queued by first"]);
  });

  it("always terminates, even when every piece of work reschedules itself", () => {
    const scheduler = new PumpScheduler();
    let runs = 0;
    scheduler.schedule(function (this: SchedulerAction<unknown>) {
      runs++;
      this.schedule();
    });
    expect(scheduler.flush()).toBe(1);
    expect(scheduler.flush()).toBe(1);
    expect(runs).toBe(2);
    expect(scheduler.size).toBe(1);
  });

  it("flush() from inside a flush is a no-op returning 0", () => {
    const scheduler = new PumpScheduler();
    const ran: string[] = [];
    let inner: number | undefined;
    scheduler.schedule(() => {
      ran.push("a");
      inner = scheduler.flush();
    });
    scheduler.schedule(() => ran.push("b"));
    expect(scheduler.flush()).toBe(2);
    expect(inner).toBe(0);
    expect(ran).toEqual(["a", "b"]);
  });

  it("a flush() from inside a flush leaves the work queued meanwhile for the next frame", () => {
    const scheduler = new PumpScheduler();
    const ran: string[] = [];
    let inner: number | undefined;
    scheduler.schedule(() => {
      ran.push("a");
      scheduler.schedule(() => ran.push("queued by a"));
      inner = scheduler.flush();
      ran.push("a done");
    });
    expect(scheduler.flush()).toBe(1);
    expect(inner).toBe(0);
    expect(ran).toEqual(["a", "a done"]);
    expect(scheduler.size).toBe(1);
    expect(scheduler.flush()).toBe(1);
    expect(ran).toEqual(["a", "a done", "queued by a"]);
  });

  it("lets an exception leave flush(); the work after it stays queued and runs on the next flush", () => {
    const scheduler = new PumpScheduler();
    const ran: string[] = [];
    const boom = new Error("boom");
    scheduler.schedule(() => ran.push("a"));
    scheduler.schedule(() => {
      throw boom;
    });
    scheduler.schedule(() => ran.push("c"));
    scheduler.schedule(() => ran.push("d"));
    expect(() => scheduler.flush()).toThrow(boom);
    expect(ran).toEqual(["a"]);
    expect(scheduler.size).toBe(2);
    expect(scheduler.flush()).toBe(2);
    expect(ran).toEqual(["a", "c", "d"]);
  });

  it("can be flushed again after an exception (the re-entrancy guard is released)", () => {
    const scheduler = new PumpScheduler();
    scheduler.schedule(() => {
      throw new Error("boom");
    });
    expect(() => scheduler.flush()).toThrow("boom");
    let ran = false;
    scheduler.schedule(() => (ran = true));
    expect(scheduler.flush()).toBe(1);
    expect(ran).toBe(true);
  });

  it("cancels queued work when its subscription is unsubscribed before the flush", () => {
    const scheduler = new PumpScheduler();
    const ran: string[] = [];
    scheduler.schedule(() => ran.push("a"));
    const cancelled = scheduler.schedule(() => ran.push("b"));
    scheduler.schedule(() => ran.push("c"));
    cancelled.unsubscribe();
    scheduler.flush();
    expect(ran).toEqual(["a", "c"]);
  });

  it("clear() drops every queued piece of work without running it", () => {
    const scheduler = new PumpScheduler();
    let ran = false;
    scheduler.schedule(() => (ran = true));
    scheduler.clear();
    expect(scheduler.size).toBe(0);
    expect(scheduler.flush()).toBe(0);
    expect(ran).toBe(false);
  });

  it("after clear(), runs exactly the work queued since, each with its own state", () => {
    const scheduler = new PumpScheduler();
    const seen: unknown[] = [];
    scheduler.schedule((state) => seen.push(state), 0, "dropped");
    scheduler.schedule((state) => seen.push(state), 0, "dropped too");
    scheduler.clear();
    scheduler.schedule((state) => seen.push(state), 0, "first");
    scheduler.schedule((state) => seen.push(state), 0, "second");
    expect(scheduler.size).toBe(2);
    expect(scheduler.flush()).toBe(2);
    expect(seen).toEqual(["first", "second"]);
  });

  it("keeps its place in the queue when the same action is rescheduled before the flush, with the latest state", () => {
    const scheduler = new PumpScheduler();
    const seen: unknown[] = [];
    const action = scheduler.schedule((state) => seen.push(state), 0, 1) as unknown as SchedulerAction<number>;
    scheduler.schedule(() => seen.push("other"));
    action.schedule(2);
    expect(scheduler.size).toBe(2);
    scheduler.flush();
    expect(seen).toEqual([2, "other"]);
  });

  it("now() reads the injected clock", () => {
    let time = 1_000;
    const scheduler = new PumpScheduler(() => time);
    expect(scheduler.now()).toBe(1_000);
    time = 1_016;
    expect(scheduler.now()).toBe(1_016);
  });

  it("now() defaults to Date.now", () => {
    vi.useFakeTimers({ now: 123_456 });
    expect(new PumpScheduler().now()).toBe(123_456);
  });

  describe("delayed work", () => {
    it("queues delayed work only once its delay has passed, then runs it on the next flush", () => {
      vi.useFakeTimers();
      const scheduler = new PumpScheduler();
      const ran: string[] = [];
      scheduler.schedule(() => ran.push("late"), 50);
      scheduler.schedule(() => ran.push("now"));
      expect(scheduler.flush()).toBe(1);
      expect(ran).toEqual(["now"]);
      vi.advanceTimersByTime(49);
      expect(scheduler.flush()).toBe(0);
      vi.advanceTimersByTime(1);
      expect(ran).toEqual(["now"]);
      expect(scheduler.flush()).toBe(1);
      expect(ran).toEqual(["now", "late"]);
    });

    it("a delayed reschedule replaces the pending delay: the work runs once, after the new one", () => {
      vi.useFakeTimers();
      const scheduler = new PumpScheduler();
      const seen: unknown[] = [];
      const action = scheduler.schedule((state) => seen.push(state), 20, "first") as unknown as SchedulerAction<string>;
      action.schedule("second", 50);
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(30);
      expect(scheduler.flush()).toBe(0);
      vi.advanceTimersByTime(20);
      expect(scheduler.flush()).toBe(1);
      vi.advanceTimersByTime(100);
      expect(scheduler.flush()).toBe(0);
      expect(seen).toEqual(["second"]);
    });

    it("a cancelled action ignores a later reschedule: nothing is queued, no timer set", () => {
      vi.useFakeTimers();
      const scheduler = new PumpScheduler();
      let ran = false;
      const action = scheduler.schedule(() => (ran = true), 10) as unknown as SchedulerAction<unknown> & Subscription;
      action.unsubscribe();
      action.schedule(undefined, 10);
      action.schedule();
      expect(vi.getTimerCount()).toBe(0);
      expect(scheduler.size).toBe(0);
      vi.advanceTimersByTime(20);
      expect(scheduler.flush()).toBe(0);
      expect(ran).toBe(false);
    });

    it("cancels delayed work and its timer when unsubscribed before the delay has passed", () => {
      vi.useFakeTimers();
      const scheduler = new PumpScheduler();
      let ran = false;
      const subscription = scheduler.schedule(() => (ran = true), 50);
      expect(vi.getTimerCount()).toBe(1);
      subscription.unsubscribe();
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(100);
      expect(scheduler.flush()).toBe(0);
      expect(ran).toBe(false);
    });

    it("cancels delayed work unsubscribed after its delay but before the flush", () => {
      vi.useFakeTimers();
      const scheduler = new PumpScheduler();
      let ran = false;
      const subscription = scheduler.schedule(() => (ran = true), 10);
      vi.advanceTimersByTime(10);
      subscription.unsubscribe();
      scheduler.flush();
      expect(ran).toBe(false);
    });
  });

  describe("as an RxJS SchedulerLike", () => {
    it("observeOn(scheduler) delivers values and completion only inside flush(), in order", () => {
      const scheduler = new PumpScheduler();
      const seen: unknown[] = [];
      const subscription = of(1, 2, 3)
        .pipe(observeOn(scheduler))
        .subscribe({ next: (v) => seen.push(v), complete: () => seen.push("done") });
      expect(seen).toEqual([]);
      scheduler.flush();
      expect(seen).toEqual([1, 2, 3, "done"]);
      subscription.unsubscribe();
    });

    it("unsubscribing an observeOn pipeline cancels what it had queued", () => {
      const scheduler = new PumpScheduler();
      const seen: number[] = [];
      of(1, 2, 3)
        .pipe(observeOn(scheduler))
        .subscribe((v) => seen.push(v))
        .unsubscribe();
      scheduler.flush();
      expect(seen).toEqual([]);
    });

    it("subscribeOn(scheduler) defers the subscription to the next flush", () => {
      const scheduler = new PumpScheduler();
      const seen: number[] = [];
      const subscription = of(7)
        .pipe(subscribeOn(scheduler))
        .subscribe((v) => seen.push(v));
      expect(seen).toEqual([]);
      scheduler.flush();
      expect(seen).toEqual([7]);
      subscription.unsubscribe();
    });

    it("delay(ms, scheduler) emits in the first flush after the delay", () => {
      vi.useFakeTimers();
      const scheduler = new PumpScheduler();
      const seen: string[] = [];
      const subscription = of("x")
        .pipe(delay(30, scheduler))
        .subscribe((v) => seen.push(v));
      vi.advanceTimersByTime(29);
      scheduler.flush();
      expect(seen).toEqual([]);
      vi.advanceTimersByTime(1);
      scheduler.flush();
      expect(seen).toEqual(["x"]);
      subscription.unsubscribe();
    });

    it("interval(ms, scheduler) emits at most once per flush and stops when unsubscribed", () => {
      vi.useFakeTimers();
      const scheduler = new PumpScheduler();
      const seen: number[] = [];
      const subscription = interval(10, scheduler).subscribe((v) => seen.push(v));
      vi.advanceTimersByTime(10);
      scheduler.flush();
      vi.advanceTimersByTime(10);
      scheduler.flush();
      expect(seen).toEqual([0, 1]);
      subscription.unsubscribe();
      vi.advanceTimersByTime(100);
      scheduler.flush();
      expect(seen).toEqual([0, 1]);
      expect(vi.getTimerCount()).toBe(0);
    });

    it("delivers on each frame tick exactly the values that arrived since the previous tick (marbles)", () => {
      newTestScheduler().run(({ hot, expectObservable }) => {
        const scheduler = new PumpScheduler();
        const messages = hot("a-b--c-d|");
        const ticks = hot("   ---t----t-t|");
        const frames = defer(() => {
          const arrived: string[] = [];
          const subscription = messages.pipe(observeOn(scheduler)).subscribe((v) => arrived.push(v));
          return ticks.pipe(
            map(() => {
              scheduler.flush();
              return arrived.splice(0);
            }),
            finalize(() => subscription.unsubscribe()),
          );
        });
        expectObservable(frames).toBe("---x----y-z|", { x: ["a", "b"], y: ["c", "d"], z: [] });
      });
    });

    it("a tick whose work throws delivers the rest on the next tick (marbles)", () => {
      newTestScheduler().run(({ cold, expectObservable }) => {
        const scheduler = new PumpScheduler();
        const ran: string[] = [];
        scheduler.schedule(() => ran.push("a"));
        scheduler.schedule(() => {
          throw new Error("boom");
        });
        scheduler.schedule(() => ran.push("c"));
        const ticks = cold("-t-t-t|");
        const frames = ticks.pipe(
          take(3),
          map(() => {
            try {
              return `${scheduler.flush()} ran, ${ran.join("")}`;
            } catch (error) {
              return `threw ${(error as Error).message}, ${ran.join("")}`;
            }
          }),
        );
        expectObservable(frames).toBe("-x-y-(z|)", { x: "threw boom, a", y: "1 ran, ac", z: "0 ran, ac" });
      });
    });
  });
});
