import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, pumpUntil } from "./helpers/net.js";
import { FixtureProcess } from "./helpers/fixture-process.js";
import { RedisServer } from "./helpers/redis-server.js";
import { switchProxy } from "./helpers/switch-proxy.js";
import { until } from "./helpers/until.js";
import { Recorder } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const FIXTURE = "spec/fixtures/redis-session-server.ts";
/** How long each server holds a dropped seat: short, so the test sees server A's seat expire. */
const WINDOW = 2_500;

/** What a server says in `@resume-failed` for a token it does not hold. */
const UNKNOWN_REASON =
  "This server holds no session for that token: it expired, was already resumed, or belongs to another server or an earlier run";

interface SeatView {
  readonly id: number;
  readonly isConnected: boolean;
  readonly rooms: string[];
  readonly moves: number[];
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, index) => from + index);

describe("session resume in a game scaled out over a real redis-server", () => {
  const redis = new RedisServer();
  let A: FixtureProcess;
  let B: FixtureProcess;

  beforeAll(async () => {
    await redis.start();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: "spec-sessions", RESUME_WINDOW: String(WINDOW) };
    [A, B] = await FixtureProcess.startAll(["A", "B"], FIXTURE, env);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await redis.dispose();
    for (const server of [A, B]) expect(server?.of("fatal") ?? [], `${server?.name} crashed`).toEqual([]);
  }, 20_000);

  it(
    "tells a client whose resume lands on another server ERR_RESUME_UNKNOWN, disconnected, then connected there, and ends the first server's seat after its window",
    { timeout: 20_000 },
    async () => {
      // A load balancer in front of the cluster: the player's first connection goes to A.
      const proxy = await switchProxy(cleanup, A.port);
      const player = cleanup.listener(new Recorder());
      player.connect("127.0.0.1", proxy.port, { resume: true });
      const actions = (): unknown[] => player.actions;
      await pumpUntil(player, () => player.of("welcome").length === 1, "the welcome from A");
      const seatId = player.of("welcome")[0]!.id as number;
      expect(player.of("welcome")[0]).toEqual({ action: "welcome", server: "A", id: seatId });
      player.send({ action: "join", room: "table" });
      for (let n = 0; n < 5; n++) player.send({ action: "move", n });
      await pumpUntil(player, () => player.of("joined").length === 1, "the join on A");
      await until(
        async () => (await A.request<SeatView[]>("channels"))[0]?.moves.length === 5,
        "A to have the 5 moves",
      );

      // The network fails; the balancer sends the player's next connection to B.
      proxy.retarget(B.port);
      proxy.cut();
      await pumpUntil(player, () => player.of("welcome").length === 2, "the welcome from B", 5_000);
      expect(proxy.routed).toEqual([A.port, B.port]);

      // Nothing silent: the resume failed, said so with its code, ended the session, and a new
      // one began on B, in that order, each through the handlers in pump().
      expect(actions()).toEqual([
        "connected",
        "socketConnect",
        "welcome",
        "joined",
        "dropped",
        "error",
        "disconnected",
        "connected",
        "socketConnect",
        "welcome",
      ]);
      expect(player.of("dropped")).toEqual([
        { action: "dropped", error: expect.any(String) as string, code: "ERR_CONNECTION_LOST" },
      ]);
      expect(player.of("error")).toEqual([{ action: "error", error: UNKNOWN_REASON, code: "ERR_RESUME_UNKNOWN" }]);
      expect(player.of("welcome")[1]).toMatchObject({ action: "welcome", server: "B" });
      expect(player.connection!.state).toBe("open");
      expect(B.of("connect")).toHaveLength(1);
      expect(B.of("resume")).toEqual([]);

      // A holds the dropped seat, in its room, for its window; the cluster counts it.
      await until(() => A.of("drop").length === 1, "A to see the drop");
      expect(A.of("drop")[0]).toMatchObject({ id: seatId, code: "ERR_CONNECTION_LOST", rooms: ["table"] });
      expect(await A.request<SeatView[]>("channels")).toEqual([
        { id: seatId, isConnected: false, rooms: ["table"], moves: range(0, 5) },
      ]);
      player.send({ action: "join", room: "table" });
      await pumpUntil(player, () => player.of("joined").length === 2, "the join on B");
      expect(player.of("joined")[1]).toEqual({ action: "joined", room: "table", server: "B" });
      expect(await B.request("roomSize", { room: "table" })).toBe(2);

      // The window passes: A's seat ends, once, as expired; the room is the player's on B alone.
      await until(() => A.of("close").length > 0, "A's seat to end", WINDOW + 3_000);
      const closed = A.of("close")[0]!;
      const dropped = A.of("drop")[0]!;
      expect(closed.id).toBe(seatId);
      // Held for the window, and not much longer (a timer's lateness on a busy machine aside).
      expect(closed.at - dropped.at).toBeGreaterThanOrEqual(WINDOW - 50);
      expect(closed.at - dropped.at).toBeLessThan(WINDOW + 1_000);
      expect(A.of("channelError")).toEqual([
        {
          event: "channelError",
          id: seatId,
          code: "ERR_RESUME_EXPIRED",
          message: `The player did not come back within the resume window of ${WINDOW} ms`,
        },
      ]);
      expect(await A.request("channels")).toEqual([]);
      expect(await B.request("roomSize", { room: "table" })).toBe(1);
      await delay(WINDOW / 2);
      expect(A.of("close")).toHaveLength(1);
      expect(A.of("resume")).toEqual([]);

      // The session on B is a real one: the next drop resumes there, without a word of error.
      const before = player.log.length;
      for (let n = 100; n < 103; n++) player.send({ action: "move", n });
      proxy.cut();
      for (let n = 103; n < 106; n++) player.send({ action: "move", n });
      await until(() => B.of("resume").length === 1, "B to resume the player");
      await pumpUntil(player, () => player.of("resumed").length === 1, "resumed");
      await until(
        async () => (await B.request<SeatView[]>("channels"))[0]?.moves.length === 6,
        "B to have the 6 moves",
      );
      expect(player.actions.slice(before)).toEqual(["dropped", "resumed"]);
      expect((await B.request<SeatView[]>("channels"))[0]!.moves).toEqual(range(100, 106));
      expect(B.of("close")).toEqual([]);
    },
  );
});
