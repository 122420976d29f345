import { afterEach, describe, expect, it } from "vitest";
import { Server, type DispatchMode, type LocalServer } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, waitFor } from "./helpers/net.js";
import { tcpProxy } from "./helpers/proxy.js";
import {
  droppableLocal,
  newChannel,
  openPlayer,
  pumpEvery,
  range,
  RecordingPlayer,
  RecordingSeat,
  seededRandom,
  sessionGranted,
} from "./helpers/sessions.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Numbered messages each side sends. */
const TOTAL = 10_000;
/** Messages each side sends per tick of its game loop. */
const BATCH = 50;
/** Every this many messages, each side also asks the other something. */
const ASK_EVERY = 100;

type Via = "tcp" | "ws" | "memory";

/** What one side of the chaos sent and heard back. */
interface Side {
  sent: number;
  /** The answer to each of its requests, by question, or the error that ended one. */
  readonly answers: Map<number, unknown>;
}

/**
 * Streams TOTAL numbered messages each way, with requests both ways, through a proxy that resets
 * the connection (or, in memory, through a link that fails) `cuts` times at seeded random
 * moments; returns once everything has arrived, or throws with what a stuck side saw.
 */
async function chaos(via: Via, dispatch: DispatchMode, seed: number) {
  const random = seededRandom(seed);
  const server = new Server<RecordingSeat>({
    host: "127.0.0.1",
    port: 0,
    channelClass: RecordingSeat,
    dispatch,
    resume: { window: 10_000 },
    ...(via === "ws" ? { ws: { port: 0 } } : {}),
  });
  if (via === "memory") server.listenLocal();
  else await server.start();
  cleanup.server(server);
  if (dispatch === "pump") pumpEvery(cleanup, server);
  let target: number | string | LocalServer;
  /** Whether a connection is up to be cut, and how to cut it. */
  let link: { up(): boolean; cut(): void };
  if (via === "memory") {
    const local = droppableLocal(server);
    target = local.target;
    link = { up: () => local.isUp(), cut: () => local.drop() };
  } else {
    const proxy = await tcpProxy(cleanup, via === "ws" ? server.wsPort! : server.port);
    target = via === "ws" ? `ws://127.0.0.1:${proxy.port}/` : proxy.port;
    link = { up: () => proxy.open === 1, cut: () => proxy.cut() };
  }
  const player = openPlayer(cleanup, new RecordingPlayer(), target, { resume: true });
  const seat = await newChannel(server, [], "the player's seat");
  await sessionGranted(player.listener);
  const client = player.listener.connection!;

  const fromPlayer: Side = { sent: 0, answers: new Map() };
  const fromSeat: Side = { sent: 0, answers: new Map() };
  // Both game loops send a batch per tick, asking a question every ASK_EVERY messages; answers
  // (some computed through a Promise) come back in the middle of the stream.
  const tick = setInterval(() => {
    for (let i = 0; i < BATCH && fromPlayer.sent < TOTAL; i++) {
      const n = fromPlayer.sent++;
      player.listener.send({ action: "n", n });
      if (n % ASK_EVERY === 0) {
        cleanup.subscription(
          player.listener.request<{ a: number }>({ action: "ask", q: n }, { timeout: 14_000 }).subscribe({
            next: (reply) => fromPlayer.answers.set(n, reply.a),
            error: (error: unknown) => fromPlayer.answers.set(n, error),
          }),
        );
      }
    }
    for (let i = 0; i < BATCH && fromSeat.sent < TOTAL; i++) {
      const n = fromSeat.sent++;
      seat.send({ action: "m", n });
      if (n % ASK_EVERY === 0) {
        cleanup.subscription(
          seat.request<{ a: number }>({ action: "ask", q: n }, { timeout: 14_000 }).subscribe({
            next: (reply) => fromSeat.answers.set(n, reply.a),
            error: (error: unknown) => fromSeat.answers.set(n, error),
          }),
        );
      }
    }
  }, 5);
  cleanup.add(() => clearInterval(tick));

  // 8 to 15 resets, each at a random moment of a connection's life: once the client is back (a
  // reset during the resume handshake itself loses the rotated token, a race pinned in
  // session-resume.spec.ts), the connection lives 10 to 200 ms, then is cut, wherever the
  // streams, the replay and the requests are.
  const cuts = 8 + Math.floor(random() * 8);
  const story = (): string =>
    `client ${client.state}, seat got ${seat.got.length}, player got ${player.listener.got.length}, ` +
    `events ${player.listener.events.join(" ")}`;
  for (let cut = 0; cut < cuts; cut++) {
    await waitFor(() => client.state === "open" && link.up(), `the connection back before cut ${cut + 1}`).catch(
      (error: Error) => {
        throw new Error(`${error.message} (${story()})`);
      },
    );
    await delay(10 + Math.floor(random() * 190));
    link.cut();
  }

  await waitFor(() => client.state === "open" && seat.resumes === cuts, "the last resume").catch((error: Error) => {
    throw new Error(
      `${error.message} (${story()}; seat ${seat.timeline.filter((entry) => !entry.startsWith("n:")).join(" ")})`,
    );
  });
  const asks = TOTAL / ASK_EVERY;
  await waitFor(
    () =>
      seat.got.length >= TOTAL &&
      player.listener.got.length >= TOTAL &&
      fromPlayer.answers.size === asks &&
      fromSeat.answers.size === asks,
    "every message and every answer, both ways",
    10_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message} (${story()})`);
  });
  await delay(50);
  return { seat, player, cuts, fromPlayer, fromSeat, server };
}

const VARIANTS: [Via, DispatchMode, number][] = [
  ["tcp", "live", 1],
  ["tcp", "pump", 2],
  ["ws", "live", 3],
  ["ws", "pump", 4],
  ["memory", "live", 5],
];

describe.each(VARIANTS)("resets at random moments over %s, %s dispatch (seed %i)", (via, dispatch, seed) => {
  it(
    "delivers every message once and in order both ways, and answers every request, across every resume",
    { timeout: 20_000 },
    async () => {
      const started = Date.now();
      const { seat, player, cuts, fromPlayer, fromSeat, server } = await chaos(via, dispatch, seed);
      expect(seat.got).toEqual(range(TOTAL));
      expect(player.listener.got).toEqual(range(TOTAL));
      const questions = range(TOTAL / ASK_EVERY).map((index) => index * ASK_EVERY);
      expect([...fromPlayer.answers.entries()].sort(([a], [b]) => a - b)).toEqual(questions.map((q) => [q, q * 2]));
      expect([...fromSeat.answers.entries()].sort(([a], [b]) => a - b)).toEqual(questions.map((q) => [q, q * 3]));
      // Each request reached its handler once.
      expect(seat.asked).toEqual(questions);
      expect(player.listener.asked).toEqual(questions);
      // Every reset was a gap, resumed: never a disconnection on either side.
      expect([seat.drops, seat.resumes, seat.closes, seat.errors]).toEqual([cuts, cuts, 0, []]);
      expect(player.listener.events).toEqual([
        "connected",
        "socketConnect",
        ...range(cuts).flatMap(() => ["dropped:ERR_CONNECTION_LOST", "resumed"]),
      ]);
      expect(server.channels).toEqual([seat]);
      expect(Date.now() - started).toBeLessThan(15_000);
    },
  );
});

describe("acknowledgements", () => {
  it("trim what both sides keep: after 10,000 messages each way on a healthy connection, kept bytes fall back to 0 within a second", async () => {
    const server = new Server<RecordingSeat>({
      host: "127.0.0.1",
      port: 0,
      channelClass: RecordingSeat,
      resume: { window: 5_000 },
    });
    await server.start();
    cleanup.server(server);
    const player = openPlayer(cleanup, new RecordingPlayer(), server.port, { resume: true });
    const seat = await newChannel(server);
    await sessionGranted(player.listener);
    const client = player.listener.connection!;
    let sent = 0;
    let mostKept = 0;
    const tick = setInterval(() => {
      for (let i = 0; i < BATCH && sent < TOTAL; i++) {
        player.listener.send({ action: "n", n: sent });
        seat.send({ action: "m", n: sent });
        sent++;
      }
      mostKept = Math.max(mostKept, seat.bufferedAmount, client.bufferedAmount);
    }, 2);
    cleanup.add(() => clearInterval(tick));
    await waitFor(() => seat.got.length === TOTAL && player.listener.got.length === TOTAL, "10,000 each way", 10_000);
    const done = Date.now();
    await waitFor(() => seat.bufferedAmount === 0 && client.bufferedAmount === 0, "kept bytes to fall to 0", 1_000);
    expect(Date.now() - done).toBeLessThan(1_000);
    // Trimmed all along, not only at the end: at any moment far less was kept than the ~190 KB
    // each side sent in all.
    expect(mostKept).toBeLessThan(64 * 1024);
    expect(seat.got).toEqual(range(TOTAL));
    expect(player.listener.got).toEqual(range(TOTAL));
  });

  it("trim a burst of 10,000 messages sent at once to a healthy player (with bounds that hold them)", async () => {
    const server = new Server<RecordingSeat>({
      host: "127.0.0.1",
      port: 0,
      channelClass: RecordingSeat,
      resume: { window: 5_000, maxMessages: TOTAL },
    });
    await server.start();
    cleanup.server(server);
    const player = openPlayer(cleanup, new RecordingPlayer(), server.port, { resume: true });
    const seat = await newChannel(server);
    await sessionGranted(player.listener);
    for (const n of range(TOTAL)) seat.send({ action: "m", n });
    expect(seat.bufferedAmount).toBeGreaterThan(TOTAL * 10);
    await waitFor(() => player.listener.got.length === TOTAL, "the burst", 10_000);
    await waitFor(() => seat.bufferedAmount === 0, "the seat's kept bytes to fall to 0", 1_000);
    expect(player.listener.got).toEqual(range(TOTAL));
    expect(seat.closes).toBe(0);
  });
});
