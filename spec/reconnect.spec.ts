import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionListener, type ClientState, type IncomingMessage, type ReconnectOptions } from "../lib/index.js";
import { backoffDelay, resolveReconnectPolicy } from "../lib/connections/reconnect-policy.js";
import { Cleanup } from "./helpers/cleanup.js";
import { restartableServer } from "./helpers/restartable-server.js";
import { closedPort, delay, pumpUntil, waitFor } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Retries every few milliseconds, long enough to survive a server restart. */
const FAST: ReconnectOptions = { initialDelay: 10, maxDelay: 50, jitter: 0, maxAttempts: 200 };

/** A listener that records the lifecycle handlers it runs (inside `pump()`). */
class Player extends ConnectionListener {
  readonly calls: string[] = [];

  Network_connected(): void {
    this.calls.push("connected");
  }

  Network_disconnected(): void {
    this.calls.push("disconnected");
  }

  Network_error(message: IncomingMessage): void {
    this.calls.push(`error ${String(message.code)}`);
  }
}

function connectPlayer(
  port: number,
  reconnect: ReconnectOptions | boolean,
): { player: Player; states: ClientState[]; completed: () => boolean } {
  const player = cleanup.listener(new Player());
  player.connect("127.0.0.1", port, { reconnect });
  const states: ClientState[] = [];
  let completed = false;
  cleanup.subscription(
    player.connection!.state$.subscribe({ next: (state) => states.push(state), complete: () => (completed = true) }),
  );
  return { player, states, completed: () => completed };
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length;
}

describe("reconnection", () => {
  it("runs disconnected then connected again when the server comes back on the same port", async () => {
    const game = await restartableServer(cleanup);
    const { player } = connectPlayer(game.port, FAST);
    await pumpUntil(player, () => player.calls.length === 1, "connected");

    await game.stop();
    await pumpUntil(player, () => player.calls.length === 2, "disconnected");
    expect(player.connection!.state).toBe("reconnecting");
    await game.start();
    await pumpUntil(player, () => player.calls.length === 3, "connected again");
    expect(player.calls).toEqual(["connected", "disconnected", "connected"]);

    player.send({ action: "back" });
    await waitFor(() => game.received.length === 1, "a message on the new connection");
    expect(game.received).toEqual([{ action: "back" }]);
    expect(game.current!.channels).toHaveLength(1);
  });

  it("shows connecting, open, reconnecting, open, closing, closed on state$", async () => {
    const game = await restartableServer(cleanup);
    const { player, states, completed } = connectPlayer(game.port, FAST);
    await waitFor(() => states.at(-1) === "open", "open");
    await game.stop();
    await waitFor(() => states.at(-1) === "reconnecting", "reconnecting");
    await game.start();
    await waitFor(() => states.at(-1) === "open", "open again");
    player.close();
    await waitFor(completed, "state$ to complete");
    expect(states).toEqual(["connecting", "open", "reconnecting", "open", "closing", "closed"]);
  });

  it("delivers the messages sent while reconnecting, in order, before the ones sent after", async () => {
    const game = await restartableServer(cleanup);
    const { player, states } = connectPlayer(game.port, FAST);
    await waitFor(() => states.at(-1) === "open", "open");
    player.send({ action: "seq", n: 0 });
    await waitFor(() => game.received.length === 1, "the first message");

    await game.stop();
    await waitFor(() => states.at(-1) === "reconnecting", "reconnecting");
    for (let n = 1; n <= 100; n++) expect(player.send({ action: "seq", n })).toBeGreaterThan(0);
    await game.start();
    await waitFor(() => states.at(-1) === "open", "open again");
    for (let n = 101; n <= 200; n++) player.send({ action: "seq", n });

    await waitFor(() => game.received.length === 201, "every message");
    expect(game.received.map((message) => message.n)).toEqual(Array.from({ length: 201 }, (_, n) => n));
  });

  it("is already reconnecting when disconnected is emitted, so a send() made on it is queued, not refused", async () => {
    const game = await restartableServer(cleanup);
    const { player, states } = connectPlayer(game.port, FAST);
    await waitFor(() => states.at(-1) === "open", "open");
    const sentOnDisconnect: number[] = [];
    cleanup.subscription(
      player.on("disconnected").subscribe(() => sentOnDisconnect.push(player.send({ action: "seq", n: "after-drop" }))),
    );

    await game.stop();
    await waitFor(() => sentOnDisconnect.length === 1, "the disconnected message");
    expect(sentOnDisconnect[0]).toBeGreaterThan(0);
    await game.start();
    await waitFor(() => game.received.length === 1, "the queued message");
    expect(game.received).toEqual([{ action: "seq", n: "after-drop" }]);
  });

  it("refuses with 0 what does not fit in reconnect.maxQueuedBytes, and delivers the rest", async () => {
    const game = await restartableServer(cleanup);
    const bounded = connectPlayer(game.port, { ...FAST, maxQueuedBytes: 100 });
    const refusing = connectPlayer(game.port, { ...FAST, maxQueuedBytes: 0 });
    await waitFor(() => [bounded, refusing].every(({ states }) => states.at(-1) === "open"), "both open");

    await game.stop();
    await waitFor(
      () => [bounded, refusing].every(({ states }) => states.at(-1) === "reconnecting"),
      "both reconnecting",
    );
    const sizes: number[] = [];
    for (let n = 0; n < 10; n++) sizes.push(bounded.player.send({ action: "seq", n, pad: "abcdefghij" }));
    const accepted = sizes.filter((size) => size > 0);
    expect(accepted.length).toBeGreaterThan(0);
    expect(sizes.slice(accepted.length).every((size) => size === 0)).toBe(true);
    expect(accepted.reduce((sum, size) => sum + size, 0)).toBeLessThanOrEqual(100);
    expect(refusing.player.send({ action: "seq", n: -1 })).toBe(0);

    await game.start();
    await waitFor(() => [bounded, refusing].every(({ states }) => states.at(-1) === "open"), "both open again");
    bounded.player.send({ action: "done" });
    await waitFor(() => game.received.some((message) => message.action === "done"), "the last message");
    expect(game.received.map((message) => message.n ?? message.action)).toEqual([
      ...Array.from({ length: accepted.length }, (_, n) => n),
      "done",
    ]);
  });

  it("gives up after maxAttempts with one error ERR_RECONNECT_FAILED and state closed", async () => {
    const game = await restartableServer(cleanup);
    const { player, states, completed } = connectPlayer(game.port, {
      initialDelay: 5,
      factor: 1,
      jitter: 0,
      maxAttempts: 3,
    });
    await pumpUntil(player, () => player.calls.length === 1, "connected");

    await game.stop();
    await waitFor(completed, "the client to give up");
    player.pump();
    expect(player.calls).toEqual(["connected", "disconnected", "error ERR_RECONNECT_FAILED"]);
    expect(states).toEqual(["connecting", "open", "reconnecting", "closed"]);
    expect(player.connection!.state).toBe("closed");
    expect(player.send({ action: "late" })).toBe(0);
  });

  it("counts maxAttempts per outage: a client that got back in starts counting anew at the next drop", async () => {
    const game = await restartableServer(cleanup);
    // One attempt per outage, after 300 ms: the server is back long before.
    const { player, states } = connectPlayer(game.port, { initialDelay: 300, factor: 1, jitter: 0, maxAttempts: 1 });
    await waitFor(() => states.at(-1) === "open", "open");
    for (let outage = 1; outage <= 3; outage++) {
      await game.stop();
      await waitFor(() => states.at(-1) === "reconnecting", `reconnecting after outage ${outage}`);
      await game.start();
      await waitFor(() => states.at(-1) === "open", `open again after outage ${outage}`);
    }
    player.pump();
    expect(player.calls).toEqual(["connected", ...Array(3).fill(["disconnected", "connected"]).flat()]);
  });

  it("gives up on a server that never answers with one error and no disconnected", async () => {
    const port = await closedPort();
    const player = cleanup.listener(new Player());
    const log: IncomingMessage[] = [];
    cleanup.subscription(player.messages$.subscribe((message) => log.push(message)));
    player.connect("127.0.0.1", port, { reconnect: { initialDelay: 5, jitter: 0, maxAttempts: 2 } });
    await waitFor(() => player.connection!.state === "closed", "the client to give up");
    expect(log).toEqual([
      {
        action: "error",
        code: "ERR_RECONNECT_FAILED",
        error: `Gave up reconnecting to 127.0.0.1:${port} after 2 attempts: connect ECONNREFUSED 127.0.0.1:${port}`,
      },
    ]);
  });

  it("stops reconnecting on close(), leaving no timer behind", async () => {
    const game = await restartableServer(cleanup);
    const { player, states, completed } = connectPlayer(game.port, { initialDelay: 300, jitter: 0 });
    await pumpUntil(player, () => player.calls.length === 1, "connected");
    const before = timers();

    // Close in the microtask right after the backoff timer was set: no load can let it fire first.
    const counts = new Promise<{ waiting: number; closed: number }>((resolve) => {
      player.connection!.state$.subscribe((state) => {
        if (state !== "reconnecting") return;
        queueMicrotask(() => {
          const waiting = timers();
          player.close();
          resolve({ waiting, closed: timers() });
        });
      });
    });
    await game.stop();
    expect(await counts).toEqual({ waiting: before + 1, closed: before });
    expect(completed()).toBe(true);
    expect(states).toEqual(["connecting", "open", "reconnecting", "closed"]);

    const revived = await game.start();
    await delay(600); // twice the backoff delay
    expect(revived.channels).toEqual([]);
    player.pump();
    expect(player.calls).toEqual(["connected", "disconnected"]);
  });
});

describe("backoffDelay", () => {
  const policy = resolveReconnectPolicy({ initialDelay: 100, factor: 2, maxDelay: 1_000, jitter: 0.5 })!;

  it("grows exponentially up to maxDelay", () => {
    const noJitter = (): number => 0;
    expect([1, 2, 3, 4, 5, 6, 50].map((attempt) => backoffDelay(policy, attempt, noJitter))).toEqual([
      100, 200, 400, 800, 1_000, 1_000, 1_000,
    ]);
  });

  it("takes a jitter share of each delay off at random", () => {
    expect(backoffDelay(policy, 1, () => 1)).toBe(50);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(300);
    expect(backoffDelay(policy, 9, () => 0.9)).toBe(550);
  });

  it("stays within [base * (1 - jitter), base] for any attempt and random value", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, random, jitter) => {
          const custom = resolveReconnectPolicy({ initialDelay: 250, maxDelay: 10_000, factor: 2, jitter })!;
          const base = Math.min(10_000, 250 * 2 ** (attempt - 1));
          const wait = backoffDelay(custom, attempt, () => random);
          expect(wait).toBeGreaterThanOrEqual(Math.floor(base * (1 - jitter)));
          expect(wait).toBeLessThanOrEqual(base);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("rejects a bad policy up front", () => {
    expect(() => resolveReconnectPolicy({ jitter: 2 })).toThrow(RangeError);
    expect(() => resolveReconnectPolicy({ factor: 0.5 })).toThrow(RangeError);
    expect(() => resolveReconnectPolicy({ maxAttempts: -1 })).toThrow(RangeError);
    expect(() => resolveReconnectPolicy("always" as unknown as boolean)).toThrow(TypeError);
    expect(resolveReconnectPolicy(false)).toBeNull();
    expect(resolveReconnectPolicy(true)).toEqual({
      maxAttempts: 10,
      initialDelay: 250,
      maxDelay: 10_000,
      factor: 2,
      jitter: 0.5,
      maxQueuedBytes: 1_048_576,
    });
  });
});
