import { afterEach, describe, expect, it } from "vitest";
import { Server, type AuthContext, type ConnectOptions, type ServerOptions } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, waitFor } from "./helpers/net.js";
import { tcpProxy, type TestProxy } from "./helpers/proxy.js";
import {
  actionsOf,
  codeOf,
  holdsSession,
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

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A server that counts its own `onDisconnect` calls. */
class CountingServer extends Server<RecordingSeat> {
  readonly disconnected: RecordingSeat[] = [];
  override onDisconnect(channel: RecordingSeat): void {
    this.disconnected.push(channel);
  }
}

async function startCounting(options: ServerOptions<RecordingSeat>): Promise<CountingServer> {
  const server = new CountingServer({ host: "127.0.0.1", port: 0, channelClass: RecordingSeat, ...options });
  await server.start();
  return cleanup.server(server);
}

/** A resumable player through a proxy, once it holds its session. */
async function resumablePlayer(
  server: Server<RecordingSeat>,
  client: ConnectOptions = {},
): Promise<{ proxy: TestProxy; player: ObservedPlayer<RecordingPlayer>; seat: RecordingSeat }> {
  const proxy = await tcpProxy(cleanup, server.port);
  const known = [...server.channels];
  const player = openPlayer(cleanup, new RecordingPlayer(), proxy.port, { resume: true, ...client });
  const seat = await newChannel(server, known, "the player's seat");
  await sessionGranted(player.listener);
  return { proxy, player, seat };
}

function errorCodes(seat: RecordingSeat): unknown[] {
  return seat.errors.map(codeOf);
}

const DROPPED = "dropped:ERR_CONNECTION_LOST";

describe("a resume window that passes", () => {
  it("ends the seat once (onError ERR_RESUME_EXPIRED, onClose, onDisconnect), out of channels and rooms; the client says error then disconnected", async () => {
    const server = await startCounting({ resume: { window: 300 } });
    const { proxy, player, seat } = await resumablePlayer(server);
    seat.join("table");
    proxy.refuse(true);
    proxy.cut();
    await waitFor(() => seat.closes === 1, "the seat to end", 3_000);
    await waitFor(() => player.states.includes("closed"), "the client to close");
    await delay(100);

    expect(errorCodes(seat)).toEqual(["ERR_RESUME_EXPIRED"]);
    expect(seat.timeline).toEqual(["connect", "drop:ERR_CONNECTION_LOST", "error:ERR_RESUME_EXPIRED", "close"]);
    expect(server.disconnected).toEqual([seat]);
    expect(server.channels).toEqual([]);
    expect(server.roomNames).toEqual([]);
    expect(seat.rooms.size).toBe(0);
    expect(player.listener.events).toEqual([
      "connected",
      "socketConnect",
      DROPPED,
      "error:ERR_RESUME_EXPIRED",
      "disconnected",
    ]);
    expect(player.states).toEqual(["connecting", "open", "resuming", "closed"]);
  });

  it("lets a client with reconnect on come back as a new player, with a fresh connected and a new session", async () => {
    const server = await startCounting({ resume: { window: 300 } });
    const { proxy, player, seat } = await resumablePlayer(server, {
      reconnect: { initialDelay: 20, maxDelay: 50, maxAttempts: 100 },
    });
    proxy.refuse(true);
    proxy.cut();
    await waitFor(() => player.listener.events.includes("error:ERR_RESUME_EXPIRED"), "the client's expiry", 3_000);
    proxy.refuse(false);
    const fresh = await newChannel(server, [seat], "the player's new seat");
    await waitFor(() => player.listener.events.filter((event) => event === "connected").length === 2, "connected");
    await sessionGranted(player.listener);
    await waitFor(() => seat.closes === 1, "the old seat to end");

    // Attempts the out-of-reach server reset after the session ended are reported as errors of
    // a reconnecting client; the session's own story is the rest.
    const story = player.listener.events.filter((event) => event !== "error:ERR_CONNECTION_LOST");
    expect(story).toEqual([
      "connected",
      "socketConnect",
      DROPPED,
      "error:ERR_RESUME_EXPIRED",
      "disconnected",
      "connected",
      "socketConnect",
    ]);
    expect(errorCodes(seat)).toEqual(["ERR_RESUME_EXPIRED"]);
    expect(server.channels).toEqual([fresh]);
    player.listener.send({ action: "n", n: 1 });
    await waitFor(() => fresh.got.length === 1, "a message on the new seat");
    expect(seat.got).toEqual([]);
  });
});

describe("the replay bound passed while the player is away", () => {
  it("ends the seat with ERR_RESUME_OVERFLOW; the returning client is told ERR_RESUME_OVERFLOW and goes on as a new player", async () => {
    const server = await startCounting({ resume: { window: 5_000, maxMessages: 10 } });
    const { proxy, player, seat } = await resumablePlayer(server);
    proxy.refuse(true);
    proxy.cut();
    await waitFor(() => seat.drops === 1, "the drop");
    const sent = range(11).map((n) => seat.send({ action: "m", n }));
    // Ten are kept; the eleventh passes maxMessages: it is refused and the seat ends.
    expect(sent.slice(0, 10).every((bytes) => bytes > 0)).toBe(true);
    expect(sent[10]).toBe(0);
    await waitFor(() => seat.closes === 1, "the seat to end");
    expect(errorCodes(seat)).toEqual(["ERR_RESUME_OVERFLOW"]);
    expect(server.disconnected).toEqual([seat]);
    expect(server.channels).toEqual([]);

    proxy.refuse(false);
    const fresh = await newChannel(server, [seat], "the player's new seat");
    await waitFor(() => player.listener.events.filter((event) => event === "connected").length === 2, "connected");
    // The seat is gone, but the server remembers why for a window: the client learns the reason.
    expect(player.listener.events).toEqual([
      "connected",
      "socketConnect",
      DROPPED,
      "error:ERR_RESUME_OVERFLOW",
      "disconnected",
      "connected",
      "socketConnect",
    ]);
    expect(player.listener.got).toEqual([]);
    expect(fresh).not.toBe(seat);
    await sessionGranted(player.listener);
  });
});

describe("the replay bound passed while the player is connected", () => {
  it("ends the seat with ERR_RESUME_OVERFLOW (what it sent unacknowledged is lost); the client comes back as a new player", async () => {
    const server = await startCounting({ resume: { window: 5_000, maxMessages: 10 } });
    const { proxy, player, seat } = await resumablePlayer(server);
    // The player's acknowledgements are held in the network: the seat keeps all it sends.
    proxy.hold(true);
    const sent = range(11).map((n) => seat.send({ action: "m", n }));
    expect(sent.slice(0, 10).every((bytes) => bytes > 0)).toBe(true);
    expect(sent[10]).toBe(0);
    await waitFor(() => seat.closes === 1, "the seat to end");
    expect(errorCodes(seat)).toEqual(["ERR_RESUME_OVERFLOW"]);
    expect(seat.drops).toBe(0);
    proxy.hold(false);
    // The seat was cut without a goodbye: the client takes it for a drop, and learns at its
    // resume that the seat is gone, and why.
    const fresh = await newChannel(server, [seat], "the player's new seat");
    await waitFor(() => player.listener.events.filter((event) => event === "connected").length === 2, "connected");
    expect(player.listener.events).toEqual([
      "connected",
      "socketConnect",
      DROPPED,
      "error:ERR_RESUME_OVERFLOW",
      "disconnected",
      "connected",
      "socketConnect",
    ]);
    expect(server.channels).toEqual([fresh]);
  });
});

describe("a resume token", () => {
  it("is single-use: replayed after a successful resume it is refused with ERR_RESUME_UNKNOWN, and the seat stays its player's", async () => {
    const server = await startCounting({ resume: { window: 5_000 } });
    const first = await rawSessionPeer(cleanup, server.port);
    first.send({ action: "@hello", session: true });
    const granted = await receivedAction(first, "@session");
    const seat = await newChannel(server);
    first.socket.resetAndDestroy();
    await waitFor(() => seat.drops === 1, "the drop");

    const back = await rawSessionPeer(cleanup, server.port);
    back.send({ action: "@hello", session: true, resume: { token: granted.token, received: 0 } });
    const resumed = await receivedAction(back, "@resumed");
    expect(resumed).toEqual({ action: "@resumed", token: expect.any(String), received: 0 });
    expect(resumed.token).not.toBe(granted.token);

    // The player is back and playing on the new token.
    back.send({ action: "n", n: 7 });
    await waitFor(() => seat.got.length === 1, "the player's message on its seat");

    const thief = await rawSessionPeer(cleanup, server.port);
    thief.send({ action: "@hello", session: true, resume: { token: granted.token, received: 0 } });
    const failed = await receivedAction(thief, "@resume-failed");
    await receivedAction(thief, "@session");
    expect(failed).toEqual({ action: "@resume-failed", code: "ERR_RESUME_UNKNOWN", reason: expect.any(String) });
    expect(actionsOf(thief)).toEqual(["connected", "@resume-failed", "@session"]);
    const other = await newChannel(server, [seat], "the thief's own new seat");

    back.send({ action: "n", n: 8 });
    await waitFor(() => seat.got.length === 2, "the player's next message on its seat");
    expect(seat.got).toEqual([7, 8]);
    expect(other.got).toEqual([]);
    expect([seat.drops, seat.resumes, seat.closes]).toEqual([1, 1, 0]);
  });

  it("of another player is refused with ERR_RESUME_MISMATCH, and the seat waits for its own player", async () => {
    const server = await startCounting({
      resume: { window: 5_000 },
      authenticate: (auth) => (typeof auth === "string" ? { name: auth } : undefined),
    });
    const ann = await rawSessionPeer(cleanup, server.port);
    ann.send({ action: "@hello", auth: "ann", session: true });
    const granted = await receivedAction(ann, "@session");
    const seat = await newChannel(server);
    ann.socket.resetAndDestroy();
    await waitFor(() => seat.drops === 1, "the drop");

    const bob = await rawSessionPeer(cleanup, server.port);
    bob.send({ action: "@hello", auth: "bob", session: true, resume: { token: granted.token, received: 0 } });
    await receivedAction(bob, "@session");
    expect(bob.messages[0]).toEqual({
      action: "@resume-failed",
      code: "ERR_RESUME_MISMATCH",
      reason: expect.any(String),
    });
    // Bob goes on as himself, in a seat of his own.
    expect(actionsOf(bob)).toEqual(["@resume-failed", "connected", "@session"]);
    const bobSeat = await newChannel(server, [seat], "bob's seat");
    expect(bobSeat.data).toEqual({ name: "bob" });
    expect(seat.isConnected).toBe(false);
    expect(seat.closes).toBe(0);

    const annBack = await rawSessionPeer(cleanup, server.port);
    annBack.send({ action: "@hello", auth: "ann", session: true, resume: { token: granted.token, received: 0 } });
    await receivedAction(annBack, "@resumed");
    expect(seat.isConnected).toBe(true);
    expect(seat.data).toEqual({ name: "ann" });
    expect([seat.drops, seat.resumes, seat.closes]).toEqual([1, 1, 0]);
  });
});

describe("a resume to a restarted server", () => {
  it("fails with ERR_RESUME_UNKNOWN, then goes on as a fresh session with connected, which itself resumes", async () => {
    const first = await startCounting({ resume: { window: 5_000 } });
    const { proxy, player, seat } = await resumablePlayer(first);
    proxy.refuse(true);
    proxy.cut();
    await waitFor(() => seat.drops === 1, "the drop");
    await first.stop();
    // The old seat ends with the server that held it.
    expect(seat.closes).toBe(1);
    const second = await startCounting({ resume: { window: 5_000 } });
    proxy.retarget(second.port);
    proxy.refuse(false);
    const fresh = await newChannel(second, [], "the seat on the restarted server");
    await waitFor(() => player.listener.events.filter((event) => event === "connected").length === 2, "connected");
    expect(player.listener.events).toEqual([
      "connected",
      "socketConnect",
      DROPPED,
      "error:ERR_RESUME_UNKNOWN",
      "disconnected",
      "connected",
      "socketConnect",
    ]);
    await sessionGranted(player.listener);

    proxy.cut();
    player.listener.send({ action: "n", n: 1 });
    await waitFor(() => player.listener.events.at(-1) === "resumed", "a resume on the new server");
    await waitFor(() => fresh.got.length === 1, "the message sent during the gap");
    expect(fresh.got).toEqual([1]);
    expect([fresh.drops, fresh.resumes, fresh.closes]).toEqual([1, 1, 0]);
  });
});

describe("a login revoked before the resume", () => {
  it("refuses the resume with ERR_UNAUTHORIZED; the client stops; the seat ends when its window passes, not at once", async () => {
    const revoked = new Set<unknown>();
    const contexts: boolean[] = [];
    const server = await startCounting({
      resume: { window: 400 },
      authenticate: (auth, context: AuthContext) => {
        contexts.push(context.resuming);
        if (revoked.has(auth)) throw new Error("This login was revoked");
        return { name: String(auth) };
      },
    });
    const { proxy, player, seat } = await resumablePlayer(server, { auth: "ann-token" });
    revoked.add("ann-token");
    proxy.cut();
    await waitFor(() => player.states.includes("closed"), "the client to stop");
    await waitFor(() => player.listener.events.includes("disconnected"), "the client's disconnected");
    const refusedAt = Date.now();
    expect(player.listener.events).toEqual([
      "connected",
      "socketConnect",
      DROPPED,
      "error:ERR_UNAUTHORIZED",
      "disconnected",
    ]);
    expect(player.log.find((message) => message.code === "ERR_UNAUTHORIZED")?.error).toBe("This login was revoked");
    expect(contexts).toEqual([false, true]);
    // A refused login proves nothing about the seat's player (anyone holding a copy of the token
    // could present it with bad credentials), so the seat is held until its window passes.
    expect(seat.closes).toBe(0);
    expect(server.channels).toEqual([seat]);
    await waitFor(() => seat.closes === 1, "the window to pass", 2_000);
    expect(Date.now() - refusedAt).toBeGreaterThan(100);
    expect(errorCodes(seat)).toEqual(["ERR_RESUME_EXPIRED"]);
    expect(server.disconnected).toEqual([seat]);
    expect(holdsSession(player.listener)).toBe(false);
  });
});
