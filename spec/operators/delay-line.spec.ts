import { asyncScheduler, type Observable } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { DelayLine } from "../../lib/operators/delay-line.js";

function newTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** A random source that returns `values` in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

/** Pushes each value of `source` onto `line` and records when each one comes out: `[time, value]`. */
function through(source: Observable<string>, line: DelayLine): [number, string][] {
  const out: [number, string][] = [];
  source.subscribe((value) => line.push(() => out.push([asyncScheduler.now(), value])));
  return out;
}

describe("DelayLine", () => {
  it("runs each piece `delay` later", () => {
    let out: [number, string][] = [];
    newTestScheduler().run(({ cold }) => {
      const line = new DelayLine({ delay: 10, jitter: 0 }, asyncScheduler, Math.random);
      out = through(cold("a-b 20ms c"), line);
    });
    expect(out).toEqual([
      [10, "a"],
      [12, "b"],
      [33, "c"],
    ]);
  });

  it("adds up to `jitter` at random, but never lets a piece overtake an earlier one", () => {
    let out: [number, string][] = [];
    newTestScheduler().run(({ cold }) => {
      // Waits of 10 + 10, 10 + 0, 10 + 5 and 10 + 2.
      const line = new DelayLine({ delay: 10, jitter: 10 }, asyncScheduler, sequence(1, 0, 0.5, 0.2));
      out = through(cold("abc 20ms d"), line);
    });
    expect(out).toEqual([
      [20, "a"],
      [20, "b"],
      [20, "c"],
      [35, "d"],
    ]);
  });

  it("flush() runs everything waiting at once, in order, and later pieces keep their times", () => {
    let out: [number, string][] = [];
    newTestScheduler().run(({ cold }) => {
      const line = new DelayLine({ delay: 10, jitter: 0 }, asyncScheduler, Math.random);
      out = through(cold("ab 5ms c"), line);
      cold("---x").subscribe(() => line.flush());
      expect(line.size).toBe(0);
    });
    expect(out).toEqual([
      [3, "a"],
      [3, "b"],
      [17, "c"],
    ]);
  });
});
