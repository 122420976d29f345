import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { numberInputs, predict, type AuthoritativeState, type NumberedInput } from "../../lib/operators.js";

function newTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** A paddle's position; each input moves it by its value, as the server does. */
const apply = (y: number, dy: number): number => y + dy;

const input = (seq: number, dy = 1): NumberedInput<number> => ({ seq, input: dy });
const server = (state: number, lastInput: number): AuthoritativeState<number> => ({ state, lastInput });

describe("predict", () => {
  it("applies each input at once, and replays the unacknowledged ones on every authoritative state", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const inputs = hot("    -abc-----", { a: input(1), b: input(2), c: input(3) });
      const states = hot("    s----tu-v|", {
        s: server(0, 0),
        // Inputs 2 and 3 are still on their way: 1 + 2 more.
        t: server(1, 1),
        // The server moved the paddle (a collision): 5 after input 2, and input 3 on top.
        u: server(5, 2),
        v: server(9, 3),
      });
      expectObservable(states.pipe(predict({ inputs, apply }))).toBe("sabc-tu-v|", {
        s: 0,
        a: 1,
        b: 2,
        c: 3,
        t: 3,
        u: 6,
        v: 9,
      });
    });
  });

  it("ignores an authoritative state older than one already received", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const inputs = hot("    -ab---", { a: input(1), b: input(2) });
      const states = hot("    s--tu-", { s: server(0, 0), t: server(2, 2), u: server(1, 1) });
      expectObservable(states.pipe(predict({ inputs, apply }))).toBe("sabt--", { s: 0, a: 1, b: 2, t: 2 });
    });
  });

  it("keeps the inputs made before the first authoritative state and applies them to it", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const inputs = hot("    ab---c", { a: input(1), b: input(2, 10), c: input(3) });
      const states = hot("    ---s--", { s: server(100, 1) });
      // Input 1 is already in the server's 100; input 2 is not.
      expectObservable(states.pipe(predict({ inputs, apply }))).toBe("---s-c", { s: 110, c: 111 });
    });
  });

  it("ignores an input whose number was already seen or already acknowledged", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const inputs = hot("    -aab--c", { a: input(1), b: input(2), c: input(3) });
      const states = hot("    s---t--", { s: server(0, 0), t: server(4, 3) });
      // Input 3 arrives after the server said it applied it: it is in 4 already.
      expectObservable(states.pipe(predict({ inputs, apply }))).toBe("sa-bt--", { s: 0, a: 1, b: 2, t: 4 });
    });
  });

  it("forgets the oldest inputs past maxPending", () => {
    newTestScheduler().run(({ hot, expectObservable }) => {
      const inputs = hot("    -abc--", { a: input(1), b: input(2), c: input(3) });
      const states = hot("    s----t", { s: server(0, 0), t: server(0, 0) });
      // Only inputs 2 and 3 are kept to replay.
      expectObservable(states.pipe(predict({ inputs, apply, maxPending: 2 }))).toBe("sabc-t", {
        s: 0,
        a: 1,
        b: 2,
        c: 3,
        t: 2,
      });
    });
  });

  it("completes with the authoritative states, not with the inputs; an empty stream emits nothing", () => {
    newTestScheduler().run(({ hot, cold, expectObservable }) => {
      const inputs = hot("    -a|", { a: input(1) });
      expectObservable(cold("s---t|", { s: server(0, 0), t: server(3, 1) }).pipe(predict({ inputs, apply }))).toBe(
        "sa--t|",
        { s: 0, a: 1, t: 3 },
      );
      expectObservable(cold<AuthoritativeState<number>>("|").pipe(predict({ inputs, apply }))).toBe("|");
    });
  });

  it("errors when either stream errors, and unsubscribes from both", () => {
    newTestScheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const error = new Error("lost");
      const inputs = hot<NumberedInput<number>>("    ---#", {}, error);
      const states = hot("    s-----", { s: server(0, 0) });
      expectObservable(states.pipe(predict({ inputs, apply }))).toBe("s--#", { s: 0 }, error);
      expectSubscriptions(states.subscriptions).toBe("^--!");
      expectSubscriptions(inputs.subscriptions).toBe("^--!");
      expectObservable(
        cold<AuthoritativeState<number>>("-#", {}, error).pipe(
          predict({ inputs: cold<NumberedInput<number>>("-"), apply }),
        ),
      ).toBe("-#", {}, error);
    });
  });

  it("checks its options", () => {
    const inputs = new TestScheduler(() => {}).createColdObservable<NumberedInput<number>>("");
    expect(() => predict({ apply } as never)).toThrow(
      new TypeError("predict() needs options.inputs, an Observable of numbered inputs (see numberInputs())"),
    );
    expect(() => predict({ inputs } as never)).toThrow(
      new TypeError("predict() needs options.apply, a function (state, input) => state"),
    );
    expect(() => predict({ inputs, apply, maxPending: 0 })).toThrow(
      new RangeError("options.maxPending must be an integer of at least 1, got 0"),
    );
  });
});

describe("numberInputs", () => {
  it("numbers the inputs from 1, per subscription", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const keys = cold("ab-c|", { a: -1, b: 1, c: 0 }).pipe(numberInputs());
      const numbered = { a: input(1, -1), b: input(2, 1), c: input(3, 0) };
      expectObservable(keys).toBe("ab-c|", numbered);
      expectObservable(keys).toBe("ab-c|", numbered);
    });
  });
});
