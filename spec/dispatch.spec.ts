import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { dispatch, findHandler } from "../lib/dispatch/dispatch.js";
import type { IncomingMessage } from "../lib/index.js";

/** A dispatch target that records which method received which message. */
class Recorder {
  calls: [string, IncomingMessage][] = [];
  [name: string]: unknown;

  networkReceived(message: IncomingMessage): void {
    this.calls.push(["networkReceived", message]);
  }
}

class Game extends Recorder {
  Network_chat(message: IncomingMessage): string {
    this.calls.push(["Network_chat", message]);
    return "handled";
  }
}

/** Bytes the heap holds after a full garbage collection. */
function heldBytes(): number {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  return process.memoryUsage().heapUsed;
}

// The handler-name cache is shared by the whole process: what hostile peers send must not grow
// it without bound. These come first, while it is still empty.
describe("dispatch of what peers choose to send", () => {
  let runs = 0;
  /** A prefix no action of an earlier run (a retry included) had: the cache has not seen them. */
  function fresh(): string {
    return `run${++runs}-`;
  }

  /** A target that counts what it receives and keeps none of it. */
  function counter(): { count: number; networkReceived(): void } {
    return {
      count: 0,
      networkReceived() {
        this.count++;
      },
    };
  }

  it("keeps no memory for long actions, however many distinct ones arrive", () => {
    const target = counter();
    const run = fresh();
    const before = heldBytes();
    for (let i = 0; i < 3_000; i++) dispatch(target, { action: `${run}${i}:`.padEnd(1_000, "x") });
    expect(heldBytes() - before).toBeLessThan(1_000_000);
    expect(target.count).toBe(3_000);
  });

  it("keeps bounded memory for endless distinct short actions", () => {
    const target = counter();
    const before = heldBytes();
    const run = fresh();
    for (let i = 0; i < 100_000; i++) dispatch(target, { action: `${run}action-${i}-of-a-flood` });
    expect(heldBytes() - before).toBeLessThan(3_000_000);
    expect(target.count).toBe(100_000);
  });
});

describe("dispatch", () => {
  it("calls Network_<action> with the message, bound to the target, and returns its result", () => {
    const game = new Game();
    const message = { action: "chat", text: "hi" };
    expect(dispatch(game, message)).toBe("handled");
    expect(game.calls).toEqual([["Network_chat", message]]);
  });

  it("finds handlers inherited from a base class", () => {
    class Level extends Game {}
    const level = new Level();
    dispatch(level, { action: "chat" });
    expect(level.calls).toEqual([["Network_chat", { action: "chat" }]]);
  });

  it.each([
    ["an unknown action", { action: "nobody" }],
    ["no action", { text: "hi" }],
    ["a numeric action", { action: 3 }],
    ["a null action", { action: null }],
    ["an object action", { action: { name: "chat" } }],
    ["an empty action", { action: "" }],
  ])("falls back to networkReceived for %s", (_name, message) => {
    const game = new Game();
    dispatch(game, message);
    expect(game.calls).toEqual([["networkReceived", message]]);
  });

  it("falls back to networkReceived when Network_<action> is not a function", () => {
    const game = new Game();
    game.Network_score = 10;
    dispatch(game, { action: "score" });
    expect(game.calls).toEqual([["networkReceived", { action: "score" }]]);
  });

  it("calls Network_player_move for player.move when Network_player.move is absent", () => {
    const game = new Game();
    game.Network_player_move = (m: IncomingMessage) => game.calls.push(["Network_player_move", m]);
    dispatch(game, { action: "player.move", x: 1 });
    expect(game.calls).toEqual([["Network_player_move", { action: "player.move", x: 1 }]]);
  });

  it("prefers Network_player.move over Network_player_move when both exist", () => {
    const game = new Game();
    game["Network_player.move"] = (m: IncomingMessage) => game.calls.push(["Network_player.move", m]);
    game.Network_player_move = (m: IncomingMessage) => game.calls.push(["Network_player_move", m]);
    dispatch(game, { action: "player.move" });
    expect(game.calls).toEqual([["Network_player.move", { action: "player.move" }]]);
  });

  it("replaces every dot of a dotted action with an underscore", () => {
    const game = new Game();
    game.Network_a_b_c = (m: IncomingMessage) => game.calls.push(["Network_a_b_c", m]);
    dispatch(game, { action: "a.b.c" });
    expect(game.calls.map(([name]) => name)).toEqual(["Network_a_b_c"]);
  });

  it("falls back to networkReceived for a dotted action whose underscored name is not a method", () => {
    const game = new Game();
    game.Network_player_move = "not a method";
    expect(findHandler(game, "player.move")).toBeUndefined();
    dispatch(game, { action: "player.move" });
    expect(game.calls).toEqual([["networkReceived", { action: "player.move" }]]);
  });

  it("does not map underscores to dots: player_move is not handled by Network_player.move", () => {
    const game = new Game();
    game["Network_player.move"] = (m: IncomingMessage) => game.calls.push(["Network_player.move", m]);
    dispatch(game, { action: "player_move" });
    expect(game.calls.map(([name]) => name)).toEqual(["networkReceived"]);
  });

  it("looks handlers up at dispatch time, so handlers added or removed at run time take effect", () => {
    const game = new Game();
    dispatch(game, { action: "late" });
    game.Network_late = (m: IncomingMessage) => game.calls.push(["Network_late", m]);
    dispatch(game, { action: "late" });
    delete game.Network_late;
    dispatch(game, { action: "late" });
    expect(game.calls.map(([name]) => name)).toEqual(["networkReceived", "Network_late", "networkReceived"]);
  });

  it("lets a handler's exception propagate to the caller", () => {
    const game = new Game();
    const boom = new Error("boom");
    game.Network_fail = () => {
      throw boom;
    };
    expect(() => dispatch(game, { action: "fail" })).toThrow(boom);
  });

  it("keeps dispatching correctly for more distinct actions than its name cache holds", () => {
    const game = new Game();
    for (let i = 0; i < 5_000; i++) dispatch(game, { action: `a${i}.x` });
    game.Network_a4999_x = (m: IncomingMessage) => game.calls.push(["Network_a4999_x", m]);
    dispatch(game, { action: "a4999.x" });
    expect(game.calls.at(-1)?.[0]).toBe("Network_a4999_x");
  });
});

describe("findHandler", () => {
  it("returns undefined for a non-string action", () => {
    expect(findHandler(new Game(), 42)).toBeUndefined();
    expect(findHandler(new Game(), undefined)).toBeUndefined();
  });

  it("returns the method for a known action", () => {
    const game = new Game();
    expect(findHandler(game, "chat")).toBe(game.Network_chat);
  });
});
