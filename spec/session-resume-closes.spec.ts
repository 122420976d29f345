import { afterEach, describe, expect, it } from "vitest";
import { Server, type ConnectOptions, type ServerOptions } from "../lib/index.js";
import { CLIENT_SESSION_BOUNDS } from "../lib/sessions/client-session.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, waitFor } from "./helpers/net.js";
import { tcpProxy, type TestProxy } from "./helpers/proxy.js";
import {
  codeOf,
  newChannel,
  openPlayer,
  range,
  rawSessionPeer,
  receivedAction,
  RecordingPlayer,
  RecordingSeat,
  sessionGranted,
  type ObservedPlayer,
} from "./helpers/sessions.js";

// What ends a seat and what only suspends it. A deliberate close says goodbye (`@bye`) first:
// a clean close without one is taken for a drop, because on Node a reset that arrives behind
// unread data is reported as a clean end, and a WebSocket reset as a close without a close frame.

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Game {
  readonly server: Server<RecordingSeat>;
  readonly proxy: TestProxy;
  readonly player: ObservedPlayer<RecordingPlayer>;
  readonly seat: RecordingSeat;
}

/** A resumable player through a proxy, over TCP or WebSocket, once it holds its session. */
async function game(
  server: ServerOptions<RecordingSeat> = {},
  client: ConnectOptions = {},
  via: "tcp" | "ws" = "tcp",
): Promise<Game> {
  const started = new Server<RecordingSeat>({
    host: "127.0.0.1",
    port: 0,
    channelClass: RecordingSeat,
    resume: { window: 5_000 },
    ...(via === "ws" ? { ws: { port: 0 } } : {}),
    ...server,
  });
  await started.start();
  cleanup.server(started);
  const proxy = await tcpProxy(cleanup, via === "ws" ? started.wsPort! : started.port);
  const target = via === "ws" ? `ws://127.0.0.1:${proxy.port}/` : proxy.port;
  const player = openPlayer(cleanup, new RecordingPlayer(), target, { resume: true, ...client });
  const seat = await newChannel(started, [], "the player's seat");
  await sessionGranted(player.listener);
  return { server: started, proxy, player, seat };
}

const DROPPED = "dropped:ERR_CONNECTION_LOST";
const resumed = (g: Game): boolean => g.player.listener.events.includes("resumed");

describe("a reset that arrives right behind data not yet read", () => {
  it("is a drop for the client, which Node tells only as a clean end: the session resumes", async () => {
    const g = await game();
    // The server's message reaches the client's socket, then the reset, before the client reads.
    g.proxy.cutRightAfter("server", (chunk) => chunk.includes("last-words"));
    g.seat.send({ action: "last-words" });
    await waitFor(() => resumed(g), "the resume");
    g.seat.send({ action: "m", n: 0 });
    await waitFor(() => g.player.listener.got.length === 1, "a message after the resume");
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", DROPPED, "resumed"]);
    expect(g.player.listener.other.map((message) => message.action)).toEqual(["last-words"]);
    expect([g.seat.drops, g.seat.resumes, g.seat.closes]).toEqual([1, 1, 0]);
  });

  it("is a drop for the server too: the seat is held and resumed", async () => {
    const g = await game();
    g.proxy.cutRightAfter("client", (chunk) => chunk.includes("last-words"));
    g.player.listener.send({ action: "last-words" });
    await waitFor(() => resumed(g), "the resume");
    g.player.listener.send({ action: "n", n: 0 });
    await waitFor(() => g.seat.got.length === 1, "a message after the resume");
    expect(g.seat.timeline.filter((entry) => !entry.startsWith("n:"))).toEqual([
      "connect",
      "drop:ERR_CONNECTION_LOST",
      "resume",
    ]);
    expect(g.seat.closes).toBe(0);
  });
});

describe.each(["tcp", "ws"] as const)("a deliberate close over %s", (via) => {
  it("by the player (listener.close()) ends its seat at once: onClose, no drop, out of channels", async () => {
    const g = await game({}, {}, via);
    g.player.listener.close();
    await waitFor(() => g.seat.closes === 1, "the seat to end");
    expect(g.seat.timeline).toEqual(["connect", "close"]);
    expect(g.seat.errors).toEqual([]);
    expect(g.server.channels).toEqual([]);
  });

  it("by the server (channel.close()) ends the player's session: disconnected, never dropped, no resume attempt", async () => {
    const g = await game({}, {}, via);
    const attempts = g.proxy.accepted;
    g.seat.send({ action: "m", n: 0 });
    g.seat.close();
    await waitFor(() => g.player.listener.events.includes("disconnected"), "the player's disconnected");
    await delay(300);
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", "disconnected"]);
    // Everything sent before the close arrived first.
    expect(g.player.listener.got).toEqual([0]);
    expect(g.player.states).toEqual(["connecting", "open", "closed"]);
    expect(g.proxy.accepted).toBe(attempts);
    expect(g.seat.timeline).toEqual(["connect", "close"]);
  });

  it("by a stopping server ends every session: the players hear disconnected, not dropped", async () => {
    const g = await game({}, {}, via);
    await g.server.stop();
    await waitFor(() => g.player.listener.events.includes("disconnected"), "the player's disconnected");
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", "disconnected"]);
    expect(g.seat.timeline).toEqual(["connect", "close"]);
  });

  it("is told from a reset: a reset of the same connection is a drop, resumed", async () => {
    const g = await game({}, {}, via);
    g.proxy.cut();
    await waitFor(() => resumed(g), "the resume");
    expect(g.player.listener.events).toEqual(["connected", "socketConnect", DROPPED, "resumed"]);
    expect(g.seat.timeline).toEqual(["connect", "drop:ERR_CONNECTION_LOST", "resume"]);
  });
});

describe("a session peer speaking the protocol by hand", () => {
  it("closes deliberately by saying @bye first; a clean close without it is held as a drop", async () => {
    const server = new Server<RecordingSeat>({
      host: "127.0.0.1",
      port: 0,
      channelClass: RecordingSeat,
      resume: { window: 5_000 },
    });
    await server.start();
    cleanup.server(server);
    const polite = await rawSessionPeer(cleanup, server.port);
    polite.send({ action: "@hello", session: true });
    await receivedAction(polite, "@session");
    const politeSeat = await newChannel(server, [], "the polite peer's seat");
    polite.send({ action: "@bye" });
    polite.socket.end();
    await waitFor(() => politeSeat.closes === 1, "the polite peer's seat to end");
    expect(politeSeat.timeline).toEqual(["connect", "close"]);

    const abrupt = await rawSessionPeer(cleanup, server.port);
    abrupt.send({ action: "@hello", session: true });
    await receivedAction(abrupt, "@session");
    const abruptSeat = await newChannel(server, [], "the abrupt peer's seat");
    abrupt.socket.end();
    await waitFor(() => abruptSeat.drops === 1, "the abrupt peer's seat to be held");
    expect(abruptSeat.closes).toBe(0);
    expect(server.channels).toEqual([abruptSeat]);
    expect(abruptSeat.timeline).toEqual(["connect", "drop:ERR_CONNECTION_LOST"]);
  });
});

describe("a client that sends more than it can keep for a resume", () => {
  const bound = CLIENT_SESSION_BOUNDS.maxMessages;

  it("while connected, ends the session at the next drop with ERR_RESUME_OVERFLOW instead of resuming", async () => {
    const g = await game({ resume: { window: 300 } });
    // Nothing reaches the server, so nothing is acknowledged: everything sent stays kept.
    g.proxy.hold(true);
    for (const n of range(bound + 1)) g.player.listener.send({ action: "n", n });
    g.proxy.cut();
    await waitFor(() => g.player.listener.events.includes("disconnected"), "the end of the session");
    expect(g.player.listener.events).toEqual([
      "connected",
      "socketConnect",
      "error:ERR_RESUME_OVERFLOW",
      "disconnected",
    ]);
    expect(g.player.states.at(-1)).toBe("closed");
    // The server never heard: it holds the seat until its window passes.
    await waitFor(() => g.seat.closes === 1, "the seat's window to pass");
    expect(g.seat.errors.map(codeOf)).toEqual(["ERR_RESUME_EXPIRED"]);
    expect(g.seat.got).toEqual([]);
  });

  it("during a gap, refuses the message past the bound and ends the session; with reconnect on it comes back as a new player", async () => {
    const g = await game({}, { reconnect: { initialDelay: 20, maxDelay: 50 } });
    g.proxy.refuse(true);
    g.proxy.cut();
    await waitFor(() => g.player.listener.events.includes(DROPPED), "the drop");
    const sent = range(bound + 1).map((n) => g.player.listener.send({ action: "n", n }));
    expect(sent.slice(0, bound).every((bytes) => bytes > 0)).toBe(true);
    expect(sent[bound]).toBe(0);
    await waitFor(() => g.player.listener.events.includes("disconnected"), "the end of the session");
    g.proxy.refuse(false);
    const fresh = await newChannel(g.server, [g.seat], "the player's new seat");
    await waitFor(() => g.player.listener.events.filter((event) => event === "connected").length === 2, "connected");
    const story = g.player.listener.events.filter((event) => event !== "error:ERR_CONNECTION_LOST");
    expect(story).toEqual([
      "connected",
      "socketConnect",
      DROPPED,
      "error:ERR_RESUME_OVERFLOW",
      "disconnected",
      "connected",
      "socketConnect",
    ]);
    expect(fresh.got).toEqual([]);
  });
});

describe("a resume answer that comes after the client gave the session up", () => {
  it("is not taken: the client lets the seat go (it ends at once) and goes on as a new player", async () => {
    const g = await game({ resume: { window: 300 } }, { reconnect: { initialDelay: 20, maxDelay: 50 } });
    // Only the client's side fails: the server never starts its window. The client's resume
    // attempt is held in the network until the client's own window has passed.
    g.proxy.hold(true);
    g.proxy.cutClientSide();
    await waitFor(() => g.player.listener.events.includes("error:ERR_RESUME_EXPIRED"), "the client's window to pass");
    g.proxy.hold(false);
    await waitFor(() => g.seat.closes === 1, "the seat to end");
    const fresh = await newChannel(g.server, [g.seat], "the player's new seat");
    await waitFor(() => g.player.listener.events.filter((event) => event === "connected").length === 2, "connected");
    expect(g.player.listener.events).not.toContain("resumed");
    expect(g.player.listener.events.slice(0, 5)).toEqual([
      "connected",
      "socketConnect",
      DROPPED,
      "error:ERR_RESUME_EXPIRED",
      "disconnected",
    ]);
    // Let go with a goodbye: not held for another window.
    expect(g.seat.timeline).toEqual(["connect", "resume", "close"]);
    expect(g.server.channels).toEqual([fresh]);
  });
});
