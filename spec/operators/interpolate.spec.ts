import { map } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { interpolate, lerpAngle, type ClockEstimate, type TimedSnapshot } from "../../lib/operators.js";

function newTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

type Ball = { x: number };

/** A snapshot with one entity, the ball at `x`, taken at server time `time`. */
function ball(time: number, x: number): TimedSnapshot<Ball> {
  return { time, entities: { ball: { x } } };
}

/** A clock estimate saying the server is `offset` ms ahead. */
function clockAhead(offset: number): ClockEstimate {
  return {
    offset,
    rtt: 0,
    uncertainty: 0,
    samples: 1,
    toLocal: (serverTime) => serverTime - offset,
    toServer: (localTime = 0) => localTime + offset,
  };
}

describe("interpolate", () => {
  it("emits, on each tick, the entities `delay` behind the server, blended linearly between the snapshots around that time", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      // Snapshots every 10 ms, arriving as they are taken (the server's clock is inferred from them).
      const snapshots = hot("a 9ms b 9ms c", { a: ball(0, 0), b: ball(10, 100), c: ball(20, 200) });
      const ticks = hot("   10ms t 4ms t 4ms t 4ms t 4ms t 4ms t");
      expectObservable(snapshots.pipe(interpolate({ ticks, delay: 10 }))).toBe("10ms a 4ms b 4ms c 4ms d 4ms e 4ms f", {
        a: ball(0, 0),
        b: ball(5, 50),
        c: ball(10, 100),
        d: ball(15, 150),
        // Past the newest snapshot: its states are held, nothing is guessed.
        e: ball(20, 200),
        f: ball(20, 200),
      });
    });
  });

  it("shows the entities exactly `delay` behind the server's clock when given one", () => {
    newTestScheduler().run(({ hot, cold, expectObservable }) => {
      // The server's clock is 1,000 ms ahead; snapshots take 5 ms to arrive.
      const snapshots = hot("5ms a 9ms b 9ms c", { a: ball(1_000, 0), b: ball(1_010, 10), c: ball(1_020, 20) });
      const ticks = hot("    26ms t 2ms t");
      const clock = cold("c", { c: clockAhead(1_000) });
      expectObservable(snapshots.pipe(interpolate({ ticks, delay: 10, clock }))).toBe("26ms a 2ms b", {
        a: ball(1_016, 16),
        b: ball(1_019, 19),
      });
    });
  });

  it("holds the last states through a gap, then blends again once snapshots resume", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const snapshots = hot("a 9ms b 39ms c 9ms d", {
        a: ball(0, 0),
        b: ball(10, 10),
        c: ball(50, 50),
        d: ball(60, 60),
      });
      const ticks = hot("   20ms t 19ms t 19ms t 4ms t");
      expectObservable(snapshots.pipe(interpolate({ ticks, delay: 5 }))).toBe("20ms a 19ms b 19ms c 4ms d", {
        a: ball(10, 10),
        b: ball(10, 10),
        // At 55 between the snapshots of 50 and 60.
        c: ball(55, 55),
        d: ball(60, 60),
      });
    });
  });

  it("puts a late snapshot in its place and ignores duplicates and snapshots older than what is shown", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const snapshots = hot("a 19ms c b d 9ms z", {
        a: ball(0, 0),
        c: ball(20, 200),
        // Taken at 10, arrives after 20: still in time to be shown.
        b: ball(10, 50),
        // The snapshot of 20 again, with other content: the first one stays.
        d: ball(20, 999),
        // Older than anything buffered by then.
        z: ball(5, -1),
      });
      const ticks = hot("   23ms t 9ms t");
      expectObservable(snapshots.pipe(interpolate({ ticks, delay: 8 }))).toBe("23ms a 9ms b", {
        // Halfway from b to c (from a to c it would be 150).
        a: ball(15, 125),
        b: ball(20, 200),
      });
    });
  });

  it("snaps an entity that moved farther than snapDistance instead of sliding it", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const snapshots = hot<TimedSnapshot<Ball>>("a 9ms b", {
        a: { time: 0, entities: { ball: { x: 0 }, paddle: { x: 0 } } },
        b: { time: 10, entities: { ball: { x: 400 }, paddle: { x: 10 } } },
      });
      const ticks = hot("   12ms t 4ms t");
      expectObservable(snapshots.pipe(interpolate({ ticks, delay: 7, snapDistance: 100 }))).toBe("12ms a 4ms b", {
        a: { time: 5, entities: { ball: { x: 0 }, paddle: { x: 5 } } },
        b: { time: 10, entities: { ball: { x: 400 }, paddle: { x: 10 } } },
      });
    });
  });

  it("uses the lerp given, e.g. lerpAngle for rotations", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const snapshots = hot("a 9ms b", {
        a: { time: 0, entities: { ship: 3 * (Math.PI / 2) } },
        b: { time: 10, entities: { ship: 0 } },
      });
      const ticks = hot("   15ms t");
      const frames = snapshots.pipe(
        interpolate({ ticks, delay: 10, lerp: lerpAngle }),
        map((frame) => Math.round((frame.entities.ship! * 180) / Math.PI)),
      );
      // From 270° to 0° the short way, through 315°, not back through 135°.
      expectObservable(frames).toBe("15ms a", { a: 315 });
    });
  });

  it("keeps an entity that left until the next snapshot's time, and shows a new one from its first snapshot's time", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const snapshots = hot<TimedSnapshot<Ball>>("a 9ms b", {
        a: { time: 0, entities: { left: { x: 0 }, gone: { x: 7 } } },
        b: { time: 10, entities: { left: { x: 10 }, fresh: { x: 3 } } },
      });
      const ticks = hot("   15ms t 4ms t");
      expectObservable(snapshots.pipe(interpolate({ ticks, delay: 10 }))).toBe("15ms a 4ms b", {
        a: { time: 5, entities: { left: { x: 5 }, gone: { x: 7 } } },
        b: { time: 10, entities: { left: { x: 10 }, fresh: { x: 3 } } },
      });
    });
  });

  it("starts over when the server's clock jumps, instead of sliding across the jump", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const hour = 3_600_000;
      const snapshots = hot("a 9ms b 9ms c 9ms d", {
        a: ball(0, 0),
        b: ball(10, 10),
        // The server's clock was set an hour ahead.
        c: ball(hour + 20, 20),
        d: ball(hour + 30, 30),
      });
      const ticks = hot("   15ms t 9ms t 6ms t 7ms t");
      expectObservable(snapshots.pipe(interpolate({ ticks, delay: 5 }))).toBe("15ms a 9ms b 6ms c 7ms d", {
        a: ball(10, 10),
        b: ball(hour + 20, 20),
        c: ball(hour + 27, 27),
        d: ball(hour + 30, 30),
      });
    });
  });

  it("emits nothing before the first snapshot, and completes with an empty stream of snapshots", () => {
    newTestScheduler().run(({ hot, cold, expectObservable }) => {
      const ticks = hot("t 4ms t 4ms t");
      expectObservable(cold<TimedSnapshot<Ball>>("10ms |").pipe(interpolate({ ticks }))).toBe("10ms |");
    });
  });

  it("completes when the snapshots or the ticks complete", () => {
    newTestScheduler().run(({ hot, cold, expectObservable }) => {
      const snapshots = cold("a 4ms |", { a: ball(0, 1) });
      expectObservable(snapshots.pipe(interpolate({ ticks: hot("--t 9ms t") }))).toBe("--a--|", { a: ball(0, 1) });
      expectObservable(cold("a", { a: ball(0, 1) }).pipe(interpolate({ ticks: cold("--t|") }))).toBe("--a|", {
        a: ball(0, 1),
      });
    });
  });

  it("errors when the snapshots, the ticks or the clock error", () => {
    newTestScheduler().run(({ hot, cold, expectObservable }) => {
      const error = new Error("lost");
      const ticks = hot("-t-t-t");
      expectObservable(cold<TimedSnapshot<Ball>>("--#", {}, error).pipe(interpolate({ ticks }))).toBe("--#", {}, error);
      expectObservable(cold("a", { a: ball(0, 1) }).pipe(interpolate({ ticks: cold("-t#", {}, error) }))).toBe(
        "-a#",
        { a: ball(0, 1) },
        error,
      );
      const clock = cold<ClockEstimate>("--#", {}, error);
      expectObservable(cold("a", { a: ball(0, 1) }).pipe(interpolate({ ticks, clock }))).toBe(
        "-a#",
        { a: ball(0, 1) },
        error,
      );
    });
  });

  it("unsubscribes from the snapshots, the ticks and the clock when unsubscribed", () => {
    newTestScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const snapshots = hot("a", { a: ball(0, 1) });
      const ticks = hot("-t-t-t-t");
      const clock = hot<ClockEstimate>("--------");
      expectObservable(snapshots.pipe(interpolate({ ticks, clock })), "^---!").toBe("-a-a", { a: ball(0, 1) });
      expectSubscriptions(snapshots.subscriptions).toBe("^---!");
      expectSubscriptions(ticks.subscriptions).toBe("^---!");
      expectSubscriptions(clock.subscriptions).toBe("^---!");
    });
  });

  it("checks its options", () => {
    const ticks = new TestScheduler(() => {}).createColdObservable("");
    expect(() => interpolate({} as never)).toThrow(
      new TypeError("interpolate() needs options.ticks, an Observable of frame ticks (e.g. animationFrames())"),
    );
    expect(() => interpolate({ ticks, delay: -1 })).toThrow(
      new RangeError("options.delay must be a number of milliseconds of at least 0, got -1"),
    );
    expect(() => interpolate({ ticks, snapDistance: 0 })).toThrow(
      new RangeError("options.snapDistance must be a positive number (Infinity to never snap), got 0"),
    );
    expect(() => interpolate({ ticks, maxSnapshots: 1 })).toThrow(
      new RangeError("options.maxSnapshots must be an integer of at least 2, got 1"),
    );
  });
});
