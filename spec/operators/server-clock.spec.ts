import { firstValueFrom, map, skip, take, type Observable } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionListener } from "../../lib/index.js";
import { serverClock, type ClockEstimate, type ClockSample } from "../../lib/operators.js";
import { Cleanup } from "../helpers/cleanup.js";
import { hostileServer, rawLinkTo } from "../helpers/hostile.js";
import { startServer, waitFor } from "../helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

function newTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** A round trip of `rtt` ms ending at local time `at`, whose server answered at the midpoint, `offset` ahead. */
function sample(offset: number, rtt: number, at = 10_000): ClockSample {
  return { rtt, peerTime: at - rtt / 2 + offset, receivedAt: at };
}

/** The numbers of each estimate (its functions cannot be compared). */
function numbers(estimates: Observable<ClockEstimate>): Observable<Pick<ClockEstimate, "offset" | "rtt" | "samples">> {
  return estimates.pipe(map(({ offset, rtt, samples }) => ({ offset, rtt, samples })));
}

describe("serverClock", () => {
  it("turns each round trip into an estimate of server time minus local time", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const samples = cold("a-b-c|", { a: sample(500, 20), b: sample(500, 40), c: sample(500, 30) });
      expectObservable(numbers(samples.pipe(serverClock()))).toBe("a-b-c|", {
        a: { offset: 500, rtt: 20, samples: 1 },
        b: { offset: 500, rtt: 30, samples: 2 },
        c: { offset: 500, rtt: 30, samples: 3 },
      });
    });
  });

  it("is hardly moved by slow round trips: the fast ones say more", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      // The slow ones are skewed (the server answered late in the trip), which assuming halfway gets wrong.
      const samples = cold("abcd|", {
        a: sample(100, 10),
        b: sample(100 + 150, 400),
        c: sample(100 + 140, 380),
        d: sample(104, 12),
      });
      expectObservable(numbers(samples.pipe(serverClock())).pipe(map((estimate) => estimate.offset))).toBe("abcd|", {
        a: 100,
        b: 100,
        c: 100,
        // [97, 111] narrows [94, 106] (each range widened by a millisecond of clock resolution).
        d: 101.5,
      });
    });
  });

  it("forgets the samples older than the window", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const samples = cold("abc|", { a: sample(0, 10), b: sample(4, 10), c: sample(8, 10) });
      expectObservable(numbers(samples.pipe(serverClock({ window: 2 })))).toBe("abc|", {
        // Ranges [-6, 6], [-2, 10], [2, 14]: all three would agree on [2, 6]; a and c alone do not.
        a: { offset: 0, rtt: 10, samples: 1 },
        b: { offset: 2, rtt: 10, samples: 2 },
        c: { offset: 6, rtt: 10, samples: 2 },
      });
    });
  });

  it("follows a clock jump after `jumpAfter` samples in a row contradict it, and not after one", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const samples = cold("ab-x-c-jk-l|", {
        a: sample(0, 10),
        b: sample(1, 10),
        // One sample that cannot be right with the clocks unchanged: left out, nothing emitted.
        x: sample(5_000, 10),
        c: sample(0, 10),
        // The local clock was set back an hour: the server now reads 3,600,000 ms ahead.
        j: sample(3_600_000, 12),
        k: sample(3_600_001, 10),
        l: sample(3_600_000, 10),
      });
      expectObservable(numbers(samples.pipe(serverClock())).pipe(map((estimate) => estimate.offset))).toBe(
        "ab---c--k-l|",
        { a: 0, b: 0.5, c: 0.5, k: 3_600_001, l: 3_600_000.5 },
      );
    });
  });

  it("converts server times to local times and back", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const samples = cold("a|", { a: sample(250, 20) });
      const conversions = samples.pipe(
        serverClock(),
        map((clock) => [clock.toLocal(10_250), clock.toServer(1_000), clock.uncertainty]),
      );
      expectObservable(conversions).toBe("a|", { a: [10_000, 1_250, 11] });
    });
  });

  it("skips samples that cannot be used; completes empty; passes errors on", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const bad = cold("abc|", {
        a: { rtt: -1, peerTime: 5, receivedAt: 5 },
        b: { rtt: 5, peerTime: Number.NaN, receivedAt: 5 },
        c: sample(7, 2),
      });
      expectObservable(numbers(bad.pipe(serverClock()))).toBe("--c|", { c: { offset: 7, rtt: 2, samples: 1 } });
      expectObservable(cold<ClockSample>("|").pipe(serverClock())).toBe("|");
      expectObservable(cold<ClockSample>("#", {}, new Error("lost")).pipe(serverClock())).toBe(
        "#",
        {},
        new Error("lost"),
      );
    });
  });

  it("keeps a window per subscription", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const estimates = cold("ab|", { a: sample(10, 10), b: sample(12, 10) }).pipe(serverClock());
      const offsets = estimates.pipe(map((estimate) => estimate.samples));
      expectObservable(offsets).toBe("ab|", { a: 1, b: 2 });
      expectObservable(offsets).toBe("ab|", { a: 1, b: 2 });
    });
  });

  it("checks its options", () => {
    expect(() => serverClock({ window: 0 })).toThrow(
      new RangeError("options.window must be an integer of at least 1, got 0"),
    );
    expect(() => serverClock({ jumpAfter: 1.5 })).toThrow(
      new RangeError("options.jumpAfter must be an integer of at least 1, got 1.5"),
    );
  });

  it("estimates the offset of a real server over TCP from the listener's clockSamples$ (same machine: about 0)", async () => {
    const server = cleanup.server(await startServer());
    const listener = cleanup.listener(new ConnectionListener());
    const estimates = listener.clockSamples$.pipe(serverClock());
    const third = firstValueFrom(estimates.pipe(skip(2), take(1)));
    listener.connect("127.0.0.1", server.port, { heartbeat: { interval: 20 } });
    const clock = await third;
    expect(clock.samples).toBe(3);
    expect(clock.rtt).toBeGreaterThanOrEqual(0);
    // One machine, one clock: the offset is within what the round trips allow (plus a millisecond of rounding).
    expect(Math.abs(clock.offset)).toBeLessThanOrEqual(clock.uncertainty + 1);
    const now = Date.now();
    expect(Math.abs(clock.toLocal(clock.toServer(now)) - now)).toBeLessThan(1e-6);
  });

  it("rides on the heartbeat: a ping with clock: 1 gets the server's Date.now(), a bare ping the bare pong", async () => {
    const server = cleanup.server(await startServer());
    const link = await rawLinkTo(cleanup, "tcp", server.port);
    const before = Date.now();
    link.sendMessage({ action: "@ping", id: 1 });
    link.sendMessage({ action: "@ping", id: 2, clock: 1 });
    const timed = await link.next((message) => message.id === 2, "the pong with the time");
    expect(link.received.filter((message) => message.action === "@pong")[0]).toEqual({ action: "@pong", id: 1 });
    expect(Object.keys(timed).sort()).toEqual(["action", "id", "time"]);
    expect(timed.time).toBeGreaterThanOrEqual(before);
    expect(timed.time).toBeLessThanOrEqual(Date.now());
  });

  it("gives no sample for a pong without a usable time (an older peer), and still counts the round trip", async () => {
    const peer = await hostileServer(cleanup, "tcp");
    const listener = cleanup.listener(new ConnectionListener());
    const samples: number[] = [];
    const rtts: number[] = [];
    listener.clockSamples$.subscribe((sample) => samples.push(sample.peerTime));
    // Slow enough that each answer comes before the next ping (a late answer is not counted).
    listener.connect(peer.url, { heartbeat: { interval: 150 } });
    const link = await peer.link(0);
    link.sendMessage({ action: "connected" });
    listener.connection!.rtt$.subscribe((rtt) => rtts.push(rtt));
    const answered = new Set<unknown>();
    const answer = (time: unknown): Promise<void> =>
      link
        .next((message) => message.action === "@ping" && !answered.has(message.id), "a ping")
        .then((ping) => {
          answered.add(ping.id);
          expect(ping.clock).toBe(1);
          link.sendMessage(
            time === undefined ? { action: "@pong", id: ping.id } : { action: "@pong", id: ping.id, time },
          );
        });
    await answer(undefined);
    await answer("noon");
    await answer(Number.POSITIVE_INFINITY);
    await answer(1_234);
    await waitFor(() => samples.length === 1, "the one usable sample");
    expect(samples).toEqual([1_234]);
    expect(rtts.length).toBe(4);
  });
});
