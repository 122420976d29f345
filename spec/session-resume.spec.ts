import { afterEach, describe, expect, it } from "vitest";
import { Server, type ConnectOptions, type DispatchMode, type ServerOptions } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, waitFor } from "./helpers/net.js";
import { tcpProxy, type TestProxy } from "./helpers/proxy.js";
import {
  droppableLocal,
  newChannel,
  openPlayer,
  pumpEvery,
  range,
  RecordingPlayer,
  RecordingSeat,
  sessionGranted,
  type ObservedPlayer,
} from "./helpers/sessions.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A server whose own hooks and streams write into the seats' timelines, to check their order. */
class TimedServer extends Server<RecordingSeat> {
  override onConnect(channel: RecordingSeat): void {
    channel.timeline.push("server.onConnect");
  }
  override onDisconnect(channel: RecordingSeat): void {
    channel.timeline.push("server.onDisconnect");
  }
}

interface Game {
  readonly server: TimedServer;
  readonly proxy: TestProxy;
  readonly player: ObservedPlayer<RecordingPlayer>;
  readonly seat: RecordingSeat;
}

/**
 * A resumable player on a server with `resume` on, through a proxy that can cut the connection,
 * once the client holds its session. A pump-mode server is pumped every millisecond.
 */
async function game(
  options: { server?: ServerOptions<RecordingSeat>; client?: ConnectOptions; dispatch?: DispatchMode } = {},
): Promise<Game> {
  const server = new TimedServer({
    host: "127.0.0.1",
    port: 0,
    channelClass: RecordingSeat,
    dispatch: options.dispatch ?? "live",
    resume: { window: 5_000 },
    ...options.server,
  });
  await server.start();
  cleanup.server(server);
  if (server.dispatchMode === "pump") pumpEvery(cleanup, server);
  cleanup.subscription(server.drops$.subscribe((seat) => seat.timeline.push("drops$")));
  cleanup.subscription(server.resumes$.subscribe((seat) => seat.timeline.push("resumes$")));
  const proxy = await tcpProxy(cleanup, server.port);
  const player = openPlayer(cleanup, new RecordingPlayer(), proxy.port, { resume: true, ...options.client });
  const seat = await newChannel(server, [], "the player's seat");
  await sessionGranted(player.listener);
  return { server, proxy, player, seat };
}

/** A player and its seat, however connected. */
type Pair = Pick<Game, "player" | "seat">;

/** Sends `n` messages numbered `from`.. both ways: `n` from the player, `m` from its seat. */
function exchange(game: Pair, from: number, count: number): void {
  for (const n of range(count, from)) {
    game.player.listener.send({ action: "n", n });
    game.seat.send({ action: "m", n });
  }
}

/** Waits until both sides have handled `count` numbered messages. */
async function bothGot(game: Pair, count: number): Promise<void> {
  await waitFor(() => game.seat.got.length >= count, `the seat to get ${count} messages`);
  await waitFor(() => game.player.listener.got.length >= count, `the player to get ${count} messages`);
}

function resumedCount(player: ObservedPlayer<RecordingPlayer>): number {
  return player.listener.events.filter((event) => event === "resumed").length;
}

const DROPPED = "dropped:ERR_CONNECTION_LOST";

describe("a dropped resumable connection", () => {
  it("resumes when it drops before any message was exchanged, and then carries messages both ways", async () => {
    const g = await game();
    g.proxy.cut();
    await waitFor(() => resumedCount(g.player) === 1, "the resume");
    exchange(g, 0, 3);
    await bothGot(g, 3);
    expect(g.seat.got).toEqual([0, 1, 2]);
    expect(g.player.listener.got).toEqual([0, 1, 2]);
    expect(g.seat.timeline).toEqual([
      "connect",
      "server.onConnect",
      "drop:ERR_CONNECTION_LOST",
      "drops$",
      "resume",
      "resumes$",
      "n:0",
      "n:1",
      "n:2",
    ]);
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", DROPPED, "resumed"]);
  });

  it("resumes after a connection quiet for longer than the window: the window counts from the drop", async () => {
    const g = await game({ server: { resume: { window: 300 } } });
    exchange(g, 0, 1);
    await bothGot(g, 1);
    // Twice the window with nothing sent either way, then a short drop.
    await delay(600);
    g.proxy.cut();
    exchange(g, 1, 2);
    await waitFor(() => resumedCount(g.player) === 1, "the resume");
    await bothGot(g, 3);
    expect(g.seat.got).toEqual([0, 1, 2]);
    expect(g.player.listener.got).toEqual([0, 1, 2]);
    expect(g.seat.closes).toBe(0);
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", DROPPED, "resumed"]);
  });

  it("resumes three drops in a row, each message reaching its handler once and in order", async () => {
    const g = await game();
    exchange(g, 0, 5);
    for (let drop = 1; drop <= 3; drop++) {
      await waitFor(() => g.proxy.open === 1, "a connection through the proxy");
      g.proxy.cut();
      // Sent while the player is away: kept on both sides and delivered after the resume.
      exchange(g, drop * 5, 5);
      await waitFor(() => resumedCount(g.player) === drop, `resume number ${drop}`);
    }
    await bothGot(g, 20);
    expect(g.seat.got).toEqual(range(20));
    expect(g.player.listener.got).toEqual(range(20));
    expect([g.seat.drops, g.seat.resumes, g.seat.closes]).toEqual([3, 3, 0]);
    expect(g.player.listener.events).toEqual([
      "connected",
      "socketConnect",
      ...[1, 2, 3].flatMap(() => [DROPPED, "resumed"]),
    ]);
  });

  it("says dropped once for a gap in which resume attempts fail, then resumed", async () => {
    const g = await game();
    g.proxy.refuse(true);
    const before = g.proxy.accepted;
    g.proxy.cut();
    exchange(g, 0, 4);
    // Two attempts reset by a server out of reach, then the way back opens.
    await waitFor(() => g.proxy.accepted >= before + 2, "two failed resume attempts", 5_000);
    g.proxy.refuse(false);
    await waitFor(() => resumedCount(g.player) === 1, "the resume");
    await bothGot(g, 4);
    expect(g.seat.got).toEqual(range(4));
    expect(g.player.listener.got).toEqual(range(4));
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", DROPPED, "resumed"]);
    expect(g.player.states).toEqual(["connecting", "open", "resuming", "open"]);
    expect([g.seat.drops, g.seat.resumes]).toEqual([1, 1]);
  });

  it("resumes over a connection reset between the server's @resumed and the client: the rotated token is not lost", async () => {
    const g = await game();
    exchange(g, 0, 3);
    await bothGot(g, 3);
    // The server takes the resume and rotates the token; the network fails before the client
    // reads the answer that carries the new token. The client can only present the old one.
    g.proxy.cutBeforeServerSends((chunk) => chunk.includes("@resumed"));
    g.proxy.cut();
    exchange(g, 3, 3);
    await waitFor(
      () => resumedCount(g.player) === 1 || g.player.listener.events.some((event) => event.startsWith("error")),
      "the resume, or its failure",
    );
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", DROPPED, "resumed"]);
    await bothGot(g, 6);
    expect(g.seat.got).toEqual(range(6));
    expect(g.player.listener.got).toEqual(range(6));
    expect(g.seat.closes).toBe(0);
  });
});

describe.each(["live", "pump"] as const)("the resume hooks in %s dispatch", (dispatch) => {
  it("runs onDrop then drops$, then onResume then resumes$ before any message sent during the gap is dispatched", async () => {
    const g = await game({ dispatch });
    exchange(g, 0, 3);
    await bothGot(g, 3);
    g.proxy.cut();
    await waitFor(() => g.seat.drops === 1 && g.seat.timeline.includes("drops$"), "the drop");
    // Sent while away: replayed by the client after the resume, dispatched after onResume.
    exchange(g, 3, 3);
    await waitFor(() => resumedCount(g.player) === 1, "the resume");
    await bothGot(g, 6);
    expect(g.seat.timeline).toEqual([
      "connect",
      "server.onConnect",
      "n:0",
      "n:1",
      "n:2",
      "drop:ERR_CONNECTION_LOST",
      "drops$",
      "resume",
      "resumes$",
      "n:3",
      "n:4",
      "n:5",
    ]);
    expect(g.player.listener.got).toEqual(range(6));
    // The gap is no disconnection: no second connect, no close, no disconnected on either side.
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", DROPPED, "resumed"]);
    expect(g.player.states).toEqual(["connecting", "open", "resuming", "open"]);
    expect(g.server.channels).toEqual([g.seat]);
  });

  it("replays messages that were in flight when the connection dropped after onResume, exactly once", async () => {
    const g = await game({ dispatch });
    // Frames stuck in the failing network: the server never reads them on the old connection.
    g.proxy.hold(true);
    exchange(g, 0, 4);
    await delay(30);
    g.proxy.cut();
    g.proxy.hold(false);
    await waitFor(() => resumedCount(g.player) === 1, "the resume");
    await bothGot(g, 4);
    const resumeAt = g.seat.timeline.indexOf("resume");
    expect(resumeAt).toBeGreaterThan(0);
    expect(g.seat.timeline.slice(resumeAt)).toEqual(["resume", "resumes$", "n:0", "n:1", "n:2", "n:3"]);
    expect(g.seat.got).toEqual(range(4));
    expect(g.player.listener.got).toEqual(range(4));
  });
});

describe("a seat while its player is away", () => {
  it("is not connected, keeps its rooms, keeps what is sent to it (bufferedAmount), and delivers it after the resume", async () => {
    const g = await game();
    g.seat.join("table");
    exchange(g, 0, 2);
    await bothGot(g, 2);
    // Acknowledged by the client: nothing is kept any more.
    await waitFor(() => g.seat.bufferedAmount === 0, "the seat's kept bytes to be trimmed");
    expect(g.seat.isConnected).toBe(true);

    g.proxy.refuse(true);
    g.proxy.cut();
    await waitFor(() => g.seat.drops === 1, "the drop");
    expect(g.seat.isConnected).toBe(false);
    expect([...g.seat.rooms]).toEqual(["table"]);
    expect([...g.server.room("table").channels]).toEqual([g.seat]);

    const direct = g.seat.send({ action: "m", n: 2 });
    const broadcast = g.server.room("table").sendToAll({ action: "deal", card: 7 });
    const everyone = g.server.sendToAll({ action: "m", n: 3 });
    expect(direct).toBeGreaterThan(0);
    expect([broadcast, everyone]).toEqual([1, 1]);
    expect(g.seat.bufferedAmount).toBeGreaterThan(direct);
    const kept = g.seat.bufferedAmount;
    // The client keeps what its player sends meanwhile, the same way.
    const sent = g.player.listener.send({ action: "n", n: 2 });
    expect(sent).toBeGreaterThan(0);
    expect(g.player.listener.connection!.bufferedAmount).toBe(sent);
    expect(g.player.listener.connection!.isConnected).toBe(false);

    g.proxy.refuse(false);
    await waitFor(() => resumedCount(g.player) === 1, "the resume");
    await waitFor(() => g.player.listener.got.length === 4 && g.seat.got.length === 3, "what was kept");
    expect(g.player.listener.got).toEqual(range(4));
    expect(g.player.listener.other).toEqual([{ action: "deal", card: 7 }]);
    expect(g.seat.got).toEqual(range(3));
    expect(g.seat.isConnected).toBe(true);
    expect(kept).toBeGreaterThan(0);
    // Acknowledged after the resume: kept bytes fall back to nothing on both sides.
    await waitFor(() => g.seat.bufferedAmount === 0, "the seat's kept bytes to be trimmed after the resume");
    await waitFor(
      () => g.player.listener.connection!.bufferedAmount === 0,
      "the client's kept bytes to be trimmed after the resume",
    );
  });
});

describe("a half-open connection", () => {
  it("is destroyed by the resume, and what it still delivers late is not dispatched again", async () => {
    const g = await game();
    exchange(g, 0, 3);
    await bothGot(g, 3);
    // The client's next messages are stuck in the network; then only the client's side fails:
    // the server never hears of it and still holds the old connection open.
    g.proxy.hold(true);
    exchange(g, 3, 2);
    await delay(30);
    const [old] = g.proxy.cutClientSide();
    g.proxy.hold(false);
    await waitFor(() => resumedCount(g.player) === 1, "the resume");
    await waitFor(() => old!.closed, "the server to close the old connection");
    await bothGot(g, 5);
    // Late, the stuck frames come out of the network into the old connection.
    old!.deliverHeld();
    exchange(g, 5, 1);
    await bothGot(g, 6);
    await delay(50);
    expect(g.seat.got).toEqual(range(6));
    expect(g.player.listener.got).toEqual(range(6));
    // The server never saw a drop: the resume replaced a connection it still thought open.
    expect([g.seat.drops, g.seat.resumes, g.seat.closes]).toEqual([0, 1, 0]);
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", DROPPED, "resumed"]);
  });

  it("gives each message once whichever of the late frames and the resume reaches the server first", async () => {
    const g = await game();
    exchange(g, 0, 2);
    await bothGot(g, 2);
    g.proxy.hold(true);
    exchange(g, 2, 3);
    await delay(30);
    const accepted = g.proxy.accepted;
    const [old] = g.proxy.cutClientSide();
    g.proxy.hold(false);
    // The late frames race the resume: delivered as soon as the client's new connection arrives.
    await waitFor(() => g.proxy.accepted > accepted, "the resume attempt");
    old!.deliverHeld();
    await waitFor(() => resumedCount(g.player) === 1, "the resume");
    exchange(g, 5, 1);
    await bothGot(g, 6);
    await delay(50);
    expect(g.seat.got).toEqual(range(6));
    expect(g.player.listener.got).toEqual(range(6));
    expect(g.seat.closes).toBe(0);
  });
});

describe("a resumable in-memory connection", () => {
  it("resumes when both ends of the link fail, and loses nothing either way", async () => {
    const server = new TimedServer({ channelClass: RecordingSeat, resume: { window: 5_000 } });
    server.listenLocal();
    cleanup.server(server);
    const link = droppableLocal(server);
    const player = openPlayer(cleanup, new RecordingPlayer(), link.target, { resume: true });
    const seat = await newChannel(server);
    await sessionGranted(player.listener);
    const g: Pair = { player, seat };
    exchange(g, 0, 3);
    await bothGot(g, 3);
    link.drop();
    exchange(g, 3, 3);
    await waitFor(() => resumedCount(player) === 1, "the resume");
    await bothGot(g, 6);
    expect(seat.got).toEqual(range(6));
    expect(player.listener.got).toEqual(range(6));
    expect([seat.drops, seat.resumes, seat.closes]).toEqual([1, 1, 0]);
    expect(player.listener.events).toEqual(["connected", "socketConnect", DROPPED, "resumed"]);
  });
});

describe("messages sent before the client is let in", () => {
  /**
   * Sends three messages as soon as `connect()` returns, cuts the connection once the server has
   * acknowledged them (within 200 ms), and sends two more in the gap: after the resume the seat
   * must have had each of the five once, in order, and the player no error.
   */
  async function sendEarlyThenResume(server: TimedServer, auth: ConnectOptions["auth"]): Promise<void> {
    await server.start();
    cleanup.server(server);
    const proxy = await tcpProxy(cleanup, server.port);
    const player = openPlayer(cleanup, new RecordingPlayer(), proxy.port, { resume: true, auth });
    for (const n of range(3)) player.listener.send({ action: "n", n });
    const seat = await newChannel(server);
    await sessionGranted(player.listener);
    await waitFor(() => seat.got.length === 3, "the messages sent before the client was let in");
    await delay(300);
    proxy.cut();
    for (const n of range(2, 3)) player.listener.send({ action: "n", n });
    await waitFor(() => resumedCount(player) === 1, "the resume");
    await waitFor(() => seat.got.length >= 5, "the messages sent during the gap");
    await delay(50);
    expect(seat.got).toEqual(range(5));
    expect(player.listener.events.filter((event) => event.startsWith("error"))).toEqual([]);
  }

  it("counts the messages sent while the server checked the login, so a resume repeats none of them", async () => {
    const authenticate = async (auth: unknown): Promise<{ name: string }> => {
      await delay(50);
      return { name: String(auth) };
    };
    // Static credentials: the connection opens at once, and the messages reach the server while
    // authenticate still runs.
    await sendEarlyThenResume(
      new TimedServer({
        host: "127.0.0.1",
        port: 0,
        channelClass: RecordingSeat,
        resume: { window: 5_000 },
        authenticate,
      }),
      "ann",
    );
  });

  it("counts the messages sent while an auth function fetched the credentials, before any connection existed, so a resume repeats none of them", async () => {
    // They wait in the client until its connection opens, then go out first, numbered like any other.
    await sendEarlyThenResume(
      new TimedServer({ host: "127.0.0.1", port: 0, channelClass: RecordingSeat, resume: { window: 5_000 } }),
      async () => {
        await delay(20);
        return "ann";
      },
    );
  });
});
