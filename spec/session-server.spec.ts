import { afterEach, describe, expect, it, vi } from "vitest";
import { ConnectionError, Server, type IncomingMessage, type ServerOptions } from "../lib/index.js";
import { decode, encode } from "../lib/protocol/codec.js";
import { Cleanup } from "./helpers/cleanup.js";
import { tcpLoginPeer, type LoginPeer } from "./helpers/login-peers.js";
import { delay, waitFor } from "./helpers/net.js";
import { actionsOf, newChannel, rawSessionPeer, receivedAction, RecordingSeat } from "./helpers/sessions.js";
import { recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A token of the right shape that this server never issued. */
const UNKNOWN_TOKEN = "0123456789abcdef".repeat(2);

async function start(options: ServerOptions<RecordingSeat>): Promise<Server<RecordingSeat>> {
  const server = cleanup.server(new Server({ host: "127.0.0.1", port: 0, channelClass: RecordingSeat, ...options }));
  await server.start();
  return server;
}

function closedBy(peer: LoginPeer): Promise<void> {
  return waitFor(() => peer.isClosed, "the server to close the connection");
}

/** A Promise and the functions that settle it, for an `authenticate` the test answers. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

/** The reasons of the server's "dropped" log lines, in order. */
function droppedReasons(logger: ReturnType<typeof recordingLogger>): unknown[] {
  return logger.entries
    .filter((entry) => entry.message === "dropped" && entry.fields.code === "ERR_INVALID_CONTROL")
    .map((entry) => entry.fields.reason);
}

describe("session messages sent during the handshake", () => {
  it("while the login is checked, are dropped and logged as ERR_INVALID_CONTROL, naming the action", async () => {
    const logger = recordingLogger();
    const gate = deferred<{ name: string }>();
    const server = await start({ authenticate: () => gate.promise, logger });
    const peer = await tcpLoginPeer(cleanup, server.port);
    peer.send({ action: "@hello", auth: "ann" });
    peer.send({ action: "@ack", n: 0 });
    await waitFor(() => droppedReasons(logger).length === 1, "the dropped @ack to be logged");
    expect(droppedReasons(logger)).toEqual([expect.stringContaining("@ack")]);
    gate.resolve({ name: "ann" });
    await newChannel(server);
  });

  it("before the hello on a resume-only server, are dropped and logged, naming the action", async () => {
    const logger = recordingLogger();
    const server = await start({ resume: { helloWindow: 10_000 }, logger });
    const peer = await tcpLoginPeer(cleanup, server.port);
    peer.send({ action: "@ack", n: 0 });
    await waitFor(() => droppedReasons(logger).length === 1, "the dropped @ack to be logged");
    expect(droppedReasons(logger)).toEqual([expect.stringContaining("@ack")]);
    expect(server.channels).toEqual([]);
  });
});

describe("a client that speaks without a hello on a resume-only server", () => {
  it("gets a channel without a session: no @session is ever sent to it", async () => {
    const server = await start({ resume: { helloWindow: 10_000 } });
    const peer = await rawSessionPeer(cleanup, server.port);
    peer.send({ action: "n", n: 1 });
    const seat = await newChannel(server);
    await waitFor(() => seat.got.length === 1, "the message on the seat");
    await delay(50);
    expect(actionsOf(peer)).toEqual(["connected"]);
  });
});

describe("a hello with a malformed resume request", () => {
  it.each([
    ["null", null],
    ["a string", "junk"],
    ["a token of the wrong shape", { token: "zz", received: 0 }],
    ["a negative count", { token: UNKNOWN_TOKEN, received: -1 }],
    ["a fractional count", { token: UNKNOWN_TOKEN, received: 1.5 }],
    ["a count that is not a number", { token: UNKNOWN_TOKEN, received: "0" }],
  ])("(%s) is ignored and logged; the client goes on as a new player with a session", async (_name, resume) => {
    const logger = recordingLogger();
    const server = await start({ resume: { helloWindow: 10_000 }, logger });
    const peer = await rawSessionPeer(cleanup, server.port);
    peer.send({ action: "@hello", session: true, resume });
    await receivedAction(peer, "@session");
    await newChannel(server);
    expect(actionsOf(peer)).toEqual(["connected", "@session"]);
    expect(droppedReasons(logger)).toEqual([expect.stringContaining("not { token, received }")]);
  });

  it("is not what a hello without a resume request is taken for: nothing is logged", async () => {
    const logger = recordingLogger();
    const server = await start({ resume: { helloWindow: 10_000 }, logger });
    const peer = await rawSessionPeer(cleanup, server.port);
    peer.send({ action: "@hello", session: true });
    await receivedAction(peer, "@session");
    expect(droppedReasons(logger)).toEqual([]);
  });
});

describe("the reasons a client is refused", () => {
  it("a login that never comes names handshakeTimeout", async () => {
    const server = await start({ authenticate: () => ({ name: "ann" }), handshakeTimeout: 100 });
    const peer = await tcpLoginPeer(cleanup, server.port);
    await closedBy(peer);
    expect(peer.messages).toEqual([
      {
        action: "@refused",
        code: "ERR_HANDSHAKE_TIMEOUT",
        reason: expect.stringMatching(/No login within 100 ms.*handshakeTimeout/),
      },
    ]);
  });

  it("a first message that is not a hello says the hello must come first", async () => {
    const server = await start({ authenticate: () => ({ name: "ann" }) });
    const peer = await tcpLoginPeer(cleanup, server.port);
    peer.send({ action: "move" });
    await closedBy(peer);
    expect(peer.messages).toEqual([
      { action: "@refused", code: "ERR_UNAUTHORIZED", reason: expect.stringContaining("@hello") },
    ]);
  });

  it("too many messages before the login was checked names the bound", async () => {
    const gate = deferred<{ name: string }>();
    const server = await start({ authenticate: () => gate.promise });
    const peer = await tcpLoginPeer(cleanup, server.port);
    peer.send({ action: "@hello", auth: "ann" });
    for (let n = 0; n < 33; n++) peer.send({ action: "n", n });
    await closedBy(peer);
    gate.resolve({ name: "ann" });
    expect(peer.messages).toEqual([
      { action: "@refused", code: "ERR_UNAUTHORIZED", reason: expect.stringContaining("more than 32 messages") },
    ]);
  });

  it("an authenticate that throws something that is neither an Error nor a string says Login refused", async () => {
    const server = await start({
      authenticate: () => {
        throw 42;
      },
    });
    const peer = await tcpLoginPeer(cleanup, server.port);
    peer.send({ action: "@hello", auth: "ann" });
    await closedBy(peer);
    expect(peer.messages).toEqual([{ action: "@refused", code: "ERR_UNAUTHORIZED", reason: "Login refused" }]);
  });
});

describe("a resume request to a server that does not offer resume", () => {
  it("is not answered: the client is let in as a new player, told nothing about resuming", async () => {
    const server = await start({ authenticate: () => ({ name: "ann" }) });
    const peer = await tcpLoginPeer(cleanup, server.port);
    peer.send({ action: "@hello", auth: "ann", session: true, resume: { token: UNKNOWN_TOKEN, received: 0 } });
    const seat = await newChannel(server);
    peer.send({ action: "n", n: 1 });
    await waitFor(() => seat.got.length === 1, "the message on the seat");
    expect(peer.messages).toEqual([{ action: "connected" }]);
  });
});

describe("the reasons a resume fails", () => {
  it("an unknown token says the server holds no session for it (a well-formed request, not logged as malformed)", async () => {
    const logger = recordingLogger();
    const server = await start({ resume: { window: 5_000 }, logger });
    const peer = await rawSessionPeer(cleanup, server.port);
    peer.send({ action: "@hello", session: true, resume: { token: UNKNOWN_TOKEN, received: 0 } });
    const failed = await receivedAction(peer, "@resume-failed");
    expect(failed).toEqual({
      action: "@resume-failed",
      code: "ERR_RESUME_UNKNOWN",
      reason: expect.stringContaining("holds no session for that token"),
    });
    expect(droppedReasons(logger)).toEqual([]);
  });

  it("another player's seat says it belongs to another player", async () => {
    const server = await start({
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
    const failed = await receivedAction(bob, "@resume-failed");
    expect(failed).toEqual({
      action: "@resume-failed",
      code: "ERR_RESUME_MISMATCH",
      reason: "The session belongs to another player",
    });
  });

  it("a player whose login data cannot be compared (a BigInt) is not taken for the same player", async () => {
    const server = await start({
      resume: { window: 5_000 },
      authenticate: () => ({ id: 1n }),
    });
    const ann = await rawSessionPeer(cleanup, server.port);
    ann.send({ action: "@hello", auth: "ann", session: true });
    const granted = await receivedAction(ann, "@session");
    const seat = await newChannel(server);
    ann.socket.resetAndDestroy();
    await waitFor(() => seat.drops === 1, "the drop");
    const back = await rawSessionPeer(cleanup, server.port);
    back.send({ action: "@hello", auth: "ann", session: true, resume: { token: granted.token, received: 0 } });
    const failed = await receivedAction(back, "@resume-failed");
    expect(failed).toMatchObject({ code: "ERR_RESUME_MISMATCH" });
    expect(seat.resumes).toBe(0);
  });
});

describe("a handshake that ends early", () => {
  it("frees its slot at once when the client closes before logging in", async () => {
    const server = await start({ authenticate: () => ({ name: "ann" }), handshakeTimeout: 30_000, maxConnections: 1 });
    const quitter = await rawSessionPeer(cleanup, server.port);
    quitter.socket.destroy();
    await delay(100);
    const peer = await tcpLoginPeer(cleanup, server.port);
    peer.send({ action: "@hello", auth: "ann" });
    await waitFor(() => peer.messages.length > 0, "the server's answer");
    expect(peer.messages[0]).toEqual({ action: "connected" });
    await newChannel(server);
  });

  it("a login answered after the client was refused never hands it the seat it asked for", async () => {
    const gate = deferred<{ name: string } | undefined>();
    let logins = 0;
    const server = await start({
      resume: { window: 5_000 },
      handshakeTimeout: 300,
      authenticate: () => (++logins === 1 ? { name: "ann" } : gate.promise),
    });
    const ann = await rawSessionPeer(cleanup, server.port);
    ann.send({ action: "@hello", auth: "ann", session: true });
    const granted = await receivedAction(ann, "@session");
    const seat = await newChannel(server);
    ann.socket.resetAndDestroy();
    await waitFor(() => seat.drops === 1, "the drop");

    const late = await tcpLoginPeer(cleanup, server.port);
    late.send({ action: "@hello", auth: "ann", session: true, resume: { token: granted.token, received: 0 } });
    await closedBy(late);
    gate.resolve({ name: "ann" });
    await delay(100);
    expect(late.messages).toEqual([expect.objectContaining({ action: "@refused", code: "ERR_HANDSHAKE_TIMEOUT" })]);
    expect(seat.resumes).toBe(0);
    expect(seat.isConnected).toBe(false);

    // The seat still waits for its player, who can take it back.
    const back = await rawSessionPeer(cleanup, server.port);
    back.send({ action: "@hello", auth: "ann", session: true, resume: { token: granted.token, received: 0 } });
    await receivedAction(back, "@resumed");
    expect(seat.resumes).toBe(1);
  });
});

/** A seat held for a raw player that dropped, and the token it was granted. */
async function droppedSeat(
  server: Server<RecordingSeat>,
  hello: object = {},
): Promise<{ seat: RecordingSeat; token: unknown }> {
  const first = await rawSessionPeer(cleanup, server.port);
  first.send({ action: "@hello", session: true, ...hello });
  const granted = await receivedAction(first, "@session");
  const seat = await newChannel(server);
  first.socket.resetAndDestroy();
  await waitFor(() => seat.drops === 1, "the drop");
  return { seat, token: granted.token };
}

describe("a resume that claims more than was sent", () => {
  it("fails with ERR_RESUME_OVERFLOW naming the bounds; the seat keeps waiting for its player", async () => {
    const server = await start({ resume: { window: 5_000 } });
    const { seat, token } = await droppedSeat(server);
    const liar = await rawSessionPeer(cleanup, server.port);
    liar.send({ action: "@hello", session: true, resume: { token, received: 99 } });
    const failed = await receivedAction(liar, "@resume-failed");
    expect(failed).toEqual({
      action: "@resume-failed",
      code: "ERR_RESUME_OVERFLOW",
      reason: expect.stringContaining("resume.maxMessages"),
    });
    await receivedAction(liar, "@session");
    expect(seat.resumes).toBe(0);
    expect(seat.isConnected).toBe(false);

    const back = await rawSessionPeer(cleanup, server.port);
    back.send({ action: "@hello", session: true, resume: { token, received: 0 } });
    await receivedAction(back, "@resumed");
    expect(seat.resumes).toBe(1);
  });
});

describe("messages sent before a resume is answered", () => {
  it("are dropped and logged, never dispatched to the seat taken back", async () => {
    const logger = recordingLogger();
    let logins = 0;
    const gate = deferred<{ name: string }>();
    const server = await start({
      resume: { window: 5_000 },
      logger,
      authenticate: () => (++logins === 1 ? { name: "ann" } : gate.promise),
    });
    const { seat, token } = await droppedSeat(server, { auth: "ann" });
    const back = await rawSessionPeer(cleanup, server.port);
    back.send({ action: "@hello", auth: "ann", session: true, resume: { token, received: 0 } });
    back.send({ action: "n", n: 5 });
    await delay(50);
    gate.resolve({ name: "ann" });
    await receivedAction(back, "@resumed");
    back.send({ action: "n", n: 6 });
    await waitFor(() => seat.got.length > 0, "the player's message after the resume");
    expect(seat.got).toEqual([6]);
    expect(droppedReasons(logger)).toEqual([expect.stringContaining("n sent before the resume was answered")]);
  });
});

describe("session messages in the middle of a session", () => {
  it("a second hello is dropped and logged, never dispatched", async () => {
    const logger = recordingLogger();
    const server = await start({ resume: { window: 5_000 }, logger });
    const peer = await rawSessionPeer(cleanup, server.port);
    peer.send({ action: "@hello", session: true });
    await receivedAction(peer, "@session");
    const seat = await newChannel(server);
    peer.send({ action: "@hello", session: true });
    peer.send({ action: "n", n: 1 });
    await waitFor(() => seat.got.length === 1, "the message after the second hello");
    expect(droppedReasons(logger)).toEqual([expect.stringContaining("@hello message in the middle of a session")]);
    expect(seat.timeline).toEqual(["connect", "n:1"]);
  });

  it.each([
    ["a count beyond what was sent", 99, "acknowledged 99 messages"],
    ["a count that is not a number", "x", "acknowledged a non-number of messages"],
  ])("an acknowledgement of %s cuts the player off with ERR_INVALID_CONTROL", async (_name, n, reason) => {
    const server = await start({ resume: { window: 5_000 } });
    const peer = await rawSessionPeer(cleanup, server.port);
    peer.send({ action: "@hello", session: true });
    await receivedAction(peer, "@session");
    const seat = await newChannel(server);
    peer.send({ action: "@ack", n });
    await waitFor(() => seat.closes === 1, "the seat to end");
    expect(seat.errors).toEqual([
      expect.objectContaining({ code: "ERR_INVALID_CONTROL", message: expect.stringContaining(reason) }),
    ]);
  });
});

describe("a seat whose player closed without a goodbye", () => {
  it("is held as a drop (ERR_CONNECTION_LOST), then ended with ERR_RESUME_EXPIRED naming the window, caused by that drop", async () => {
    const server = await start({ resume: { window: 150 } });
    const peer = await rawSessionPeer(cleanup, server.port);
    peer.send({ action: "@hello", session: true });
    await receivedAction(peer, "@session");
    const seat = await newChannel(server);
    const dropped: Error[] = [];
    seat.onDrop = (error: Error) => {
      dropped.push(error);
    };
    // A clean close (FIN) without @bye: what a reset can look like.
    peer.socket.end();
    await waitFor(() => seat.closes === 1, "the seat to end after its window", 5_000);
    expect(dropped).toEqual([
      expect.objectContaining({
        code: "ERR_CONNECTION_LOST",
        message: expect.stringContaining("without the player's goodbye"),
      }),
    ]);
    expect(seat.errors).toHaveLength(1);
    const expired = seat.errors[0] as Error & { code?: string };
    expect(expired.code).toBe("ERR_RESUME_EXPIRED");
    expect(expired.message).toContain("resume window of 150 ms");
    expect(expired.cause).toBe(dropped[0]);
  });
});

describe("a seat whose player said goodbye", () => {
  it("ends at once, without being held as a drop", async () => {
    const server = await start({ resume: { window: 30_000 } });
    const peer = await rawSessionPeer(cleanup, server.port);
    peer.send({ action: "@hello", session: true });
    await receivedAction(peer, "@session");
    const seat = await newChannel(server);
    peer.send({ action: "@bye" });
    peer.socket.end();
    await waitFor(() => seat.closes === 1, "the seat to end");
    expect(seat.timeline).toEqual(["connect", "close"]);
    expect(server.channels).toEqual([]);
    // An ended seat takes nothing more to send.
    expect(seat.send({ action: "late" })).toBe(0);
  });
});

describe("a seat taken back within its window", () => {
  it("is not ended when the window it was held in would have passed", async () => {
    const server = await start({ resume: { window: 300 } });
    const { seat, token } = await droppedSeat(server);
    const back = await rawSessionPeer(cleanup, server.port);
    back.send({ action: "@hello", session: true, resume: { token, received: 0 } });
    await receivedAction(back, "@resumed");
    await delay(600);
    back.send({ action: "n", n: 1 });
    await waitFor(() => seat.got.length === 1, "the player's message after the window");
    expect(seat.isConnected).toBe(true);
    expect(seat.errors).toEqual([]);
    expect(seat.timeline).toEqual(["connect", "drop:ERR_CONNECTION_LOST", "resume", "n:1"]);
  });
});

/** A raw in-process peer of `server`: what it received, and how to send, end or cut its end. */
function localPeer(server: Server<RecordingSeat>): {
  messages: IncomingMessage[];
  send(message: object): void;
  end(): void;
  cut(): void;
  pause(): void;
} {
  const transport = server.openLocal({ maxPayload: 1 << 20 });
  const messages: IncomingMessage[] = [];
  transport.start({
    open: () => {},
    payload: (payload) => messages.push(decode(payload) as IncomingMessage),
    invalid: () => {},
    close: () => {},
  });
  cleanup.add(() => transport.destroy());
  return {
    messages,
    send: (message) => transport.write(encode(message)),
    end: () => transport.end(),
    cut: () => transport.destroy(new ConnectionError("ERR_CONNECTION_LOST", "read ECONNRESET (simulated)")),
    pause: () => transport.pause(),
  };
}

/** Lets the in-process transport deliver what is in flight (it works on setImmediate, left real). */
async function settleLocal(turns = 20): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A game server runs for weeks: every handshake and every seat that is over must leave no timer
 * behind (each holds its connection in memory until it fires). The timers are faked so that they
 * can be counted (the server's are unref'd, invisible to the process' resource list); the
 * in-process transport runs on setImmediate, left real.
 */
describe("a server whose players have come and gone", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  async function localServer(options: ServerOptions<RecordingSeat>): Promise<{
    server: Server<RecordingSeat>;
    idle: number;
  }> {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    const server = new Server({ channelClass: RecordingSeat, heartbeat: false, ...options });
    server.listenLocal();
    cleanup.add(() => server.stop());
    await settleLocal();
    return { server, idle: vi.getTimerCount() };
  }

  it("holds no timer once a player that logged in has left with a goodbye", async () => {
    const { server, idle } = await localServer({ authenticate: () => ({ name: "ann" }), handshakeTimeout: 60_000 });
    const peer = localPeer(server);
    peer.send({ action: "@hello", auth: "ann" });
    await settleLocal();
    const seat = server.channels[0]!;
    expect(seat).toBeDefined();
    peer.end();
    await settleLocal();
    expect(seat.closes).toBe(1);
    expect(vi.getTimerCount()).toBe(idle);
  });

  it("holds no timer once a player that never said hello (a client without sessions) has left", async () => {
    const { server, idle } = await localServer({ resume: { helloWindow: 60_000 } });
    const peer = localPeer(server);
    peer.send({ action: "n", n: 1 });
    await settleLocal();
    const seat = server.channels[0]!;
    expect(seat.got).toEqual([1]);
    peer.end();
    await settleLocal();
    expect(seat.closes).toBe(1);
    expect(vi.getTimerCount()).toBe(idle);
  });

  it("holds no timer for a client refused for not logging in first, and lets nothing it sends after in", async () => {
    let logins = 0;
    const { server, idle } = await localServer({
      authenticate: () => {
        logins++;
        return { name: "ann" };
      },
      handshakeTimeout: 60_000,
    });
    const peer = localPeer(server);
    peer.send({ action: "move" });
    peer.send({ action: "@hello", auth: "ann" });
    await settleLocal();
    expect(peer.messages).toEqual([expect.objectContaining({ action: "@refused", code: "ERR_UNAUTHORIZED" })]);
    peer.end();
    await settleLocal();
    expect(logins).toBe(0);
    expect(server.channels).toEqual([]);
    expect(vi.getTimerCount()).toBe(idle);
  });

  it("holds no timer for a client that left before logging in", async () => {
    const { server, idle } = await localServer({ authenticate: () => ({ name: "ann" }), handshakeTimeout: 60_000 });
    const peer = localPeer(server);
    await settleLocal();
    peer.end();
    await settleLocal();
    expect(vi.getTimerCount()).toBe(idle);
  });

  it("holds no timer once stopped while a client was still to log in", async () => {
    const { server, idle } = await localServer({ authenticate: () => ({ name: "ann" }), handshakeTimeout: 60_000 });
    localPeer(server);
    await settleLocal();
    const stopped = server.stop();
    await settleLocal();
    await stopped;
    expect(vi.getTimerCount()).toBe(idle);
  });

  it("holds no timer once a seat held for a dropped player is closed by the game, and keeps nothing it held", async () => {
    const { server, idle } = await localServer({ resume: { window: 60_000 } });
    const peer = localPeer(server);
    peer.send({ action: "@hello", session: true });
    await settleLocal();
    const seat = server.channels[0]!;
    seat.send({ action: "m", text: "x".repeat(1_000) });
    await settleLocal();
    peer.cut();
    await settleLocal();
    expect(seat.drops).toBe(1);
    expect(seat.bufferedAmount).toBeGreaterThan(1_000);
    seat.close();
    await settleLocal();
    expect(seat.closes).toBe(1);
    expect(seat.bufferedAmount).toBe(0);
    expect(vi.getTimerCount()).toBe(idle);
  });
});

/** A seat held for an in-process player that dropped, and the token it was granted. */
async function droppedLocalSeat(server: Server<RecordingSeat>): Promise<{ seat: RecordingSeat; token: unknown }> {
  const first = localPeer(server);
  first.send({ action: "@hello", session: true });
  await waitFor(() => first.messages.some((message) => message.action === "@session"), "the @session");
  const seat = await newChannel(server);
  first.cut();
  await waitFor(() => seat.drops === 1, "the drop");
  return { seat, token: first.messages.find((message) => message.action === "@session")!.token };
}

async function localResumeServer(options: ServerOptions<RecordingSeat> = {}): Promise<Server<RecordingSeat>> {
  const server = new Server({ channelClass: RecordingSeat, resume: { window: 30_000 }, ...options });
  server.listenLocal();
  cleanup.add(() => server.stop());
  return server;
}

/** Waits for `action` on a local peer and returns it. */
async function localAction(
  peer: ReturnType<typeof localPeer>,
  action: string,
): Promise<IncomingMessage & Record<string, unknown>> {
  await waitFor(() => peer.messages.some((message) => message.action === action), `${action} on the local peer`);
  return peer.messages.find((message) => message.action === action)! as IncomingMessage & Record<string, unknown>;
}

describe("a hello on a server that offers resume", () => {
  it("without session: true gets a channel without a session (no @session, no token)", async () => {
    const server = await localResumeServer();
    const peer = localPeer(server);
    peer.send({ action: "@hello" });
    peer.send({ action: "n", n: 1 });
    const seat = await newChannel(server);
    await waitFor(() => seat.got.length === 1, "the message on the seat");
    await settleLocal();
    expect(peer.messages.map((message) => message.action)).toEqual(["connected"]);
  });

  it("resumes without authenticate even when samePlayer would say no: there is no login to compare", async () => {
    const server = await localResumeServer({ resume: { window: 30_000, samePlayer: () => false } });
    const { seat, token } = await droppedLocalSeat(server);
    const back = localPeer(server);
    back.send({ action: "@hello", session: true, resume: { token, received: 0 } });
    await localAction(back, "@resumed");
    expect(seat.resumes).toBe(1);
  });
});

describe("the tokens of a seat taken back more than once", () => {
  it("the one the player came back with stays good until it shows it got the new one; the unconfirmed new one is spent by the next resume", async () => {
    const server = await localResumeServer();
    const { seat, token } = await droppedLocalSeat(server);
    // The player comes back, but the connection dies before it shows it got the new token.
    const lost = localPeer(server);
    lost.send({ action: "@hello", session: true, resume: { token, received: 0 } });
    const unconfirmed = (await localAction(lost, "@resumed")).token;
    lost.cut();
    await waitFor(() => seat.drops === 2, "the second drop");
    // It comes back again with the token it has.
    const back = localPeer(server);
    back.send({ action: "@hello", session: true, resume: { token, received: 0 } });
    await localAction(back, "@resumed");
    back.send({ action: "n", n: 1 });
    await waitFor(() => seat.got.length === 1, "the player's message");
    expect(seat.resumes).toBe(2);
    // The token issued to the connection that died is no longer good.
    const thief = localPeer(server);
    thief.send({ action: "@hello", session: true, resume: { token: unconfirmed, received: 0 } });
    expect(await localAction(thief, "@resume-failed")).toMatchObject({ code: "ERR_RESUME_UNKNOWN" });
    expect(seat.resumes).toBe(2);
  });
});

describe("a seat taken back, then left for good", () => {
  it("frees its player's slot: under maxConnections 2 two new players get in after it", async () => {
    // Two slots: the held seat takes one, the connection coming back for it the other.
    const server = await localResumeServer({ maxConnections: 2 });
    const { seat, token } = await droppedLocalSeat(server);
    const back = localPeer(server);
    back.send({ action: "@hello", session: true, resume: { token, received: 0 } });
    await localAction(back, "@resumed");
    back.send({ action: "@bye" });
    back.end();
    await waitFor(() => seat.closes === 1, "the seat to end");
    const players = [localPeer(server), localPeer(server)];
    for (const player of players) player.send({ action: "@hello", session: true });
    for (const player of players) await localAction(player, "@session");
    expect(players.map((player) => player.messages.map((message) => message.action))).toEqual([
      ["connected", "@session"],
      ["connected", "@session"],
    ]);
  });
});

describe("a seat's buffered amount", () => {
  it("counts a message that waits to go out and is kept until the player acknowledges it once", async () => {
    const server = await localResumeServer();
    const peer = localPeer(server);
    peer.send({ action: "@hello", session: true });
    await localAction(peer, "@session");
    const seat = await newChannel(server);
    const sent = seat.send({ action: "m", text: "x".repeat(1_000) });
    expect(sent).toBeGreaterThan(1_000);
    // Not yet handed to the transport, and kept for a resume: the same bytes, counted once.
    expect(seat.bufferedAmount).toBe(sent);
  });
});

describe("a seat the game closes", () => {
  it("says goodbye once, however many times it is closed", async () => {
    const server = await localResumeServer();
    const peer = localPeer(server);
    peer.send({ action: "@hello", session: true });
    await localAction(peer, "@session");
    const seat = await newChannel(server);
    seat.close();
    seat.close();
    await waitFor(() => seat.closes === 1, "the seat to end");
    await settleLocal();
    expect(peer.messages.filter((message) => message.action === "@bye")).toHaveLength(1);
  });
  it("cannot be taken back while it is closing, even by its own player", async () => {
    const server = await localResumeServer({ closeTimeout: 30_000 });
    const peer = localPeer(server);
    peer.send({ action: "@hello", session: true });
    const { token } = await localAction(peer, "@session");
    const seat = await newChannel(server);
    // The player stops reading: the goodbye and the close wait on it, and the seat is closing.
    peer.pause();
    seat.close();
    const back = localPeer(server);
    back.send({ action: "@hello", session: true, resume: { token, received: 0 } });
    await localAction(back, "@resume-failed");
    expect(seat.resumes).toBe(0);
    expect(back.messages.map((message) => message.action)).not.toContain("@resumed");
  });
});

describe("a seat whose player stays away while the game keeps sending", () => {
  it("ends with ERR_RESUME_OVERFLOW naming both bounds and the options that set them", async () => {
    const server = await localResumeServer({ resume: { window: 30_000, maxMessages: 3, maxBytes: 1_000_000 } });
    const { seat } = await droppedLocalSeat(server);
    for (let n = 0; n < 4; n++) seat.send({ action: "m", n });
    await waitFor(() => seat.closes === 1, "the seat to end");
    expect(seat.errors).toEqual([
      expect.objectContaining({
        code: "ERR_RESUME_OVERFLOW",
        message: expect.stringMatching(/more than 3 messages or 1000000 bytes.*resume\.maxMessages, resume\.maxBytes/),
      }),
    ]);
  });
});

describe("a seat's heartbeat", () => {
  it("reports the player's round trips on the seat's rtt$", async () => {
    const server = await localResumeServer({ heartbeat: { interval: 20 } });
    const peer = localPeer(server);
    peer.send({ action: "@hello", session: true });
    await localAction(peer, "@session");
    const seat = await newChannel(server);
    const rtts: number[] = [];
    const subscription = seat.rtt$.subscribe((milliseconds) => rtts.push(milliseconds));
    cleanup.add(() => subscription.unsubscribe());
    const ping = await localAction(peer, "@ping");
    peer.send({ action: "@pong", id: ping.id });
    await waitFor(() => rtts.length === 1, "a round trip on the seat", 2_000);
    expect(rtts[0]).toBeGreaterThanOrEqual(0);
  });
});

describe("a seat held for a dropped player", () => {
  it("replays only the newest of the latest-wins messages sent meanwhile: the replaced one takes no number", async () => {
    const server = await localResumeServer();
    const { seat, token } = await droppedLocalSeat(server);
    seat.send({ action: "pos", x: 1 }, { latest: "pos" });
    seat.send({ action: "pos", x: 2 }, { latest: "pos" });
    seat.send({ action: "m", n: 3 });
    const back = localPeer(server);
    back.send({ action: "@hello", session: true, resume: { token, received: 0 } });
    await localAction(back, "m");
    expect(back.messages).toEqual([
      { action: "connected" },
      expect.objectContaining({ action: "@resumed" }),
      { action: "pos", x: 2 },
      { action: "m", n: 3 },
    ]);
    // Two messages were numbered: acknowledging two lets go of everything the seat kept.
    back.send({ action: "@ack", n: 2 });
    back.send({ action: "n", n: 4 });
    await waitFor(() => seat.got.length === 1, "the player's message after its acknowledgement");
    expect(seat.bufferedAmount).toBe(0);
    expect(seat.errors).toEqual([]);
  });
});
