import type * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  Channel,
  ConnectionListener,
  encode,
  Server,
  type IncomingMessage,
  type RepodError,
  type ServerOptions,
} from "../lib/index.js";
import {
  CONTROL_RATE,
  isControlAction,
  looksLikeHeartbeat,
  RateLimiter,
  TokenBucket,
} from "../lib/connections/rate-limiter.js";
import { BrowserWebSocketTransport, type WebSocketConstructor } from "../lib/transports/browser-websocket-transport.js";
import { FrameDeadline } from "../lib/transports/frame-deadline.js";
import { Cleanup } from "./helpers/cleanup.js";
import { manualClock, resolvedRateLimit } from "./helpers/rate-limit.js";
import { spawnNode } from "./helpers/child.js";
import { loggedListener } from "./helpers/listeners.js";
import { delay, rawSocket, startServer, waitFor } from "./helpers/net.js";
import { rawServer, receivedBy } from "./helpers/raw.js";
import { closeRawWebSocket, openRawWebSocket, payloadOf } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Records when each message arrived, answers pings with pongs, and how the channel ended. */
class Recorder extends Channel {
  readonly got: { readonly action: unknown; readonly n: unknown; readonly at: number }[] = [];
  readonly errors: RepodError[] = [];
  closes = 0;

  Network_ping(message: IncomingMessage): void {
    this.send({ action: "pong", n: message.n });
  }

  override networkReceived(message: IncomingMessage): void {
    this.got.push({ action: message.action, n: message.n, at: performance.now() });
  }

  override onError(error: unknown): void {
    this.errors.push(error as RepodError);
  }

  override onClose(): void {
    this.closes++;
  }

  of(action: string): number[] {
    return this.got.filter((entry) => entry.action === action).map((entry) => entry.n as number);
  }
}

async function recordingServer(options: ServerOptions<Recorder> = {}): Promise<Server<Recorder>> {
  return cleanup.server(await startServer<Recorder>({ channelClass: Recorder, ws: { port: 0 }, ...options }));
}

/** The channel the server opened after `known`, once it has one. */
async function newChannel(server: Server<Recorder>, known: ReadonlySet<Recorder>): Promise<Recorder> {
  let channel: Recorder | undefined;
  await waitFor(() => {
    channel = server.channels.find((candidate) => !known.has(candidate));
    return channel !== undefined;
  }, "the new channel");
  return channel!;
}

/** `count` frames `{ action, n }` (n from `from`), concatenated: what a flooder writes in one go. */
function framesOf(action: string, count: number, from = 0, extra: object = {}): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, i) => encode({ action, n: from + i, ...extra })));
}

type Via = "tcp" | "ws" | "memory";

/** A peer of `server` over `via` that can send many messages at once, and its channel. */
async function openPeer(
  server: Server<Recorder>,
  via: Via,
): Promise<{ sendAll(messages: readonly { action: string }[]): void; channel: Recorder }> {
  const known = new Set(server.channels);
  if (via === "tcp") {
    const socket = cleanup.socket(await rawSocket(server.port));
    receivedBy(socket);
    const channel = await newChannel(server, known);
    return { sendAll: (messages) => socket.write(Buffer.concat(messages.map((m) => encode(m)))), channel };
  }
  if (via === "ws") {
    const socket = await openRawWebSocket(`ws://127.0.0.1:${server.wsPort}/`);
    cleanup.add(() => closeRawWebSocket(socket));
    const channel = await newChannel(server, known);
    return { sendAll: (messages) => messages.forEach((m) => socket.send(payloadOf(m))), channel };
  }
  const listener = cleanup.listener(new ConnectionListener());
  listener.connect(server);
  const channel = await newChannel(server, known);
  return { sendAll: (messages) => messages.forEach((m) => listener.send(m)), channel };
}

describe("the token bucket (injected clock)", () => {
  it("lets a burst through at once, then refills at its rate, never above its capacity", () => {
    const clock = manualClock();
    const bucket = new TokenBucket(10, 3, clock.now);
    for (let i = 0; i < 3; i++) {
      expect(bucket.wait(1)).toBe(0);
      bucket.take(1);
    }
    expect(bucket.wait(1)).toBeCloseTo(100);
    clock.advance(60);
    expect(bucket.wait(1)).toBeCloseTo(40);
    clock.advance(40);
    expect(bucket.wait(1)).toBe(0);
    clock.advance(60_000);
    expect(bucket.available).toBe(3);
  });

  it("lets a cost over its capacity through once full, and the debt is paid back at its rate", () => {
    const clock = manualClock();
    const bucket = new TokenBucket(1_000, 500, clock.now);
    expect(bucket.wait(2_000)).toBe(0);
    bucket.take(2_000);
    expect(bucket.available).toBe(-1_500);
    // A 1-byte message waits until the 1,500-token debt and its own token are back: 1.501 s.
    expect(bucket.wait(1)).toBeCloseTo(1_501);
    clock.advance(1_501);
    expect(bucket.wait(1)).toBe(0);
  });

  it("loses no tokens when its clock steps back, and refills only once it has passed where it was", () => {
    const clock = manualClock();
    const bucket = new TokenBucket(10, 3, clock.now);
    bucket.take(2);
    clock.advance(-100);
    expect(bucket.available).toBe(1);
    expect(bucket.wait(1)).toBe(0);
    clock.advance(100);
    expect(bucket.available).toBe(1);
    clock.advance(100);
    expect(bucket.available).toBeCloseTo(2);
  });
});

describe("the rate limiter (injected clock)", () => {
  it("charges messages and bytes together, or nothing when either budget says wait", () => {
    const clock = manualClock();
    const limiter = new RateLimiter(
      resolvedRateLimit({ messages: 100, burst: 10, bytes: 1_000, byteBurst: 1_000 }),
      clock.now,
    );
    expect(limiter.charge("move", 900)).toBe(0);
    // 100 bytes left: a 200-byte message waits 100 ms for the missing 100 bytes, and takes no message token.
    expect(limiter.charge("move", 200)).toBeCloseTo(100);
    for (let i = 0; i < 9; i++) expect(limiter.charge("move", 1)).toBe(0);
    expect(limiter.charge("move", 1)).toBeCloseTo(10);
  });

  it("gives an action of `actions` its own budget in place of the shared one", () => {
    const clock = manualClock();
    const limiter = new RateLimiter(
      resolvedRateLimit({ messages: 1_000, burst: 3, actions: { chat: { messages: 5, burst: 2 } } }),
      clock.now,
    );
    expect(limiter.charge("chat", 10)).toBe(0);
    expect(limiter.charge("chat", 10)).toBe(0);
    expect(limiter.charge("chat", 10)).toBeCloseTo(200);
    // Chat used none of the shared budget: three other messages still pass, the fourth waits 1 ms.
    for (let i = 0; i < 3; i++) expect(limiter.charge("move", 10)).toBe(0);
    expect(limiter.charge("move", 10)).toBeCloseTo(1);
    clock.advance(200);
    expect(limiter.charge("chat", 10)).toBe(0);
  });

  it("never charges the library's control messages to the game's budget; other @ actions and messages without one count", () => {
    const clock = manualClock();
    const limiter = new RateLimiter(resolvedRateLimit({ messages: 1, burst: 1 }), clock.now);
    for (const action of ["@ping", "@pong", "@hello", "@ack", "@session", "@resumed", "@resume-failed", "@refused"]) {
      expect(isControlAction(action)).toBe(true);
      for (let i = 0; i < 100; i++) expect(limiter.charge(action, 4_000_000)).toBe(0);
      clock.advance(1_000);
    }
    expect(isControlAction("@reply")).toBe(false);
    expect(limiter.charge("@reply", 10)).toBe(0);
    expect(limiter.charge("@reply", 10)).toBeGreaterThan(0);
    clock.advance(1_000);
    expect(limiter.charge(undefined, 10)).toBe(0);
    expect(limiter.charge(undefined, 10)).toBeGreaterThan(0);
  });
});

describe("the control budget (injected clock)", () => {
  it("lets 2,000 control messages through at once, then 1,000 a second, whatever the game's budget", () => {
    const clock = manualClock();
    const limiter = new RateLimiter(resolvedRateLimit({ messages: 1_000_000, burst: 1_000_000 }), clock.now);
    expect(CONTROL_RATE).toEqual({ messages: 1_000, burst: 2_000 });
    for (let i = 0; i < 2_000; i++) expect(limiter.charge(i % 2 === 0 ? "@ping" : "@ack", 20)).toBe(0);
    expect(limiter.charge("@ping", 20)).toBeCloseTo(1);
    // The game's own budget is untouched.
    expect(limiter.charge("move", 20)).toBe(0);
    clock.advance(100);
    for (let i = 0; i < 100; i++) expect(limiter.charge("@pong", 20)).toBe(0);
    expect(limiter.charge("@pong", 20)).toBeGreaterThan(0);
  });
});

describe("looksLikeHeartbeat", () => {
  it("spots a ping or pong as every repod-rx peer writes it, and nothing else", () => {
    const payload = (message: object): Uint8Array => encode(message).subarray(4);
    expect(looksLikeHeartbeat(payload({ action: "@ping", id: 7 }))).toBe(true);
    expect(looksLikeHeartbeat(payload({ action: "@pong", id: "x" }))).toBe(true);
    expect(looksLikeHeartbeat(payload({ action: "@ping" }))).toBe(true);
    expect(looksLikeHeartbeat(payload({ action: "@pingx" }))).toBe(false);
    expect(looksLikeHeartbeat(payload({ action: "@ack", n: 1 }))).toBe(false);
    expect(looksLikeHeartbeat(payload({ action: "move", x: "@ping" }))).toBe(false);
    expect(looksLikeHeartbeat(payload({ actions: "@ping" }))).toBe(false);
    // Written with another key first, it is not spotted: it then waits its turn, decoded later.
    expect(looksLikeHeartbeat(payload({ id: 7, action: "@ping" }))).toBe(false);
    expect(looksLikeHeartbeat(new Uint8Array([0x81]))).toBe(false);
    // The same strings in an array are no message at all: it waits its turn, and is dropped then.
    expect(looksLikeHeartbeat(Uint8Array.from([0x92, ...payload({ action: "@ping" }).subarray(1)]))).toBe(false);
  });
});

describe.each(["tcp", "ws", "memory"] as const)("a client flooding over %s", (via) => {
  it("is slowed to the configured rate, and every one of its messages arrives, in order", async () => {
    const server = await recordingServer({ rateLimit: { messages: 200, burst: 20 } });
    const peer = await openPeer(server, via);
    const count = 240;
    peer.sendAll(Array.from({ length: count }, (_, n) => ({ action: "n", n })));

    await waitFor(() => peer.channel.got.length >= 40, "the burst and the first paced messages");
    const start = peer.channel.got[0]!.at;
    // The burst passes at once; the rest is paced at 200/s.
    expect(peer.channel.got[19]!.at - start).toBeLessThan(100);
    await waitFor(() => peer.channel.got.length === count, `all ${count} messages`, 4_000);
    const span = peer.channel.got[count - 1]!.at - start;
    // (240 - 20) messages at 200/s: 1.1 s.
    expect(span).toBeGreaterThan(950);
    expect(span).toBeLessThan(2_500);
    expect(peer.channel.of("n")).toEqual(Array.from({ length: count }, (_, n) => n));
    expect(peer.channel.errors).toEqual([]);
    expect(peer.channel.isConnected).toBe(true);
  });
});

describe.each(["tcp", "ws"] as const)("a flooder over %s, paused", (via) => {
  it("is pushed back by flow control: the server stops reading, its bytes wait on the flooder's side", async () => {
    const server = await recordingServer({ rateLimit: { messages: 200, burst: 20 } });
    const known = new Set(server.channels);
    const data = "x".repeat(10_000);
    const count = 900; // about 9 MB
    let unsent: () => number;
    if (via === "tcp") {
      const socket = cleanup.socket(await rawSocket(server.port));
      receivedBy(socket);
      await newChannel(server, known);
      socket.write(framesOf("flood", count, 0, { data }));
      unsent = () => socket.writableLength;
      cleanup.add(() => socket.destroy());
    } else {
      const socket = await openRawWebSocket(`ws://127.0.0.1:${server.wsPort}/`);
      cleanup.add(() => closeRawWebSocket(socket));
      await newChannel(server, known);
      for (let n = 0; n < count; n++) socket.send(payloadOf({ action: "flood", n, data }));
      unsent = () => socket.bufferedAmount;
    }
    const channel = server.channels.find((candidate) => !known.has(candidate))!;
    await delay(500);
    // The server read a chunk or two and the kernel's buffers filled; most is still with the flooder.
    expect(unsent()).toBeGreaterThan((count * data.length) / 3);
    expect(channel.got.length).toBeLessThan(20 + 200);
    expect(channel.of("flood").slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe.each(["tcp", "ws", "memory"] as const)("a client over %s that sends a burst and leaves", (via) => {
  it("has everything it sent dispatched, in order, before the channel closes", async () => {
    const server = await recordingServer({ rateLimit: { messages: 20, burst: 10 } });
    const known = new Set(server.channels);
    const messages = Array.from({ length: 100 }, (_, n) => ({ action: "n", n }));
    let leave: () => void;
    if (via === "tcp") {
      const socket = cleanup.socket(await rawSocket(server.port));
      receivedBy(socket);
      await newChannel(server, known);
      leave = () => {
        socket.write(Buffer.concat(messages.map((message) => encode(message))));
        socket.end();
      };
    } else if (via === "ws") {
      const socket = await openRawWebSocket(`ws://127.0.0.1:${server.wsPort}/`);
      cleanup.add(() => closeRawWebSocket(socket));
      await newChannel(server, known);
      leave = () => {
        for (const message of messages) socket.send(payloadOf(message));
        socket.close();
      };
    } else {
      const listener = cleanup.listener(new ConnectionListener());
      listener.connect(server);
      await newChannel(server, known);
      leave = () => {
        for (const message of messages) listener.send(message);
        listener.close();
      };
    }
    const channel = server.channels.find((candidate) => !known.has(candidate))!;
    let dispatchedAtClose = -1;
    channel.onClose = () => {
      dispatchedAtClose = channel.got.length;
    };
    leave();
    await waitFor(() => dispatchedAtClose >= 0, "the channel to close", 6_000);
    expect(dispatchedAtClose).toBe(100);
    expect(channel.of("n")).toEqual(Array.from({ length: 100 }, (_, n) => n));
  }, 8_000);
});

/**
 * A raw TCP client in its own process that writes `{ action: "flood", n }` frames as fast as the
 * socket takes them: the cost of flooding stays out of the server's process.
 */
async function spawnFlooder(port: number) {
  const chunk = framesOf("flood", 2_000).toString("base64");
  const script = `
    const net = require("node:net");
    const chunk = Buffer.from(process.argv[2], "base64");
    const socket = net.connect({ host: "127.0.0.1", port: Number(process.argv[1]) }, () => {
      console.log("ready " + socket.localPort);
      const flood = () => { while (socket.write(chunk)); };
      socket.on("drain", flood);
      flood();
    });
    socket.on("data", () => {});
    socket.on("error", () => process.exit(0));
    socket.on("close", () => process.exit(0));
  `;
  return spawnNode(cleanup, ["-e", script, String(port), chunk]);
}

/**
 * Plays `count` sequential ping-pong round trips from a raw TCP socket; resolves with the time
 * taken, or rejects once `within` ms have passed.
 */
async function pingPong(socket: net.Socket, received: unknown[], count: number, within: number): Promise<number> {
  const started = performance.now();
  const pongs = (): number => received.filter((message) => (message as IncomingMessage).action === "pong").length;
  const before = pongs();
  for (let n = 0; n < count; n++) {
    const left = started + within - performance.now();
    if (left <= 0) throw new Error(`only ${n} of ${count} round trips within ${within} ms`);
    socket.write(encode({ action: "ping", n }));
    await waitFor(() => pongs() > before + n, `pong ${n} of ${count} within ${within} ms`, Math.max(1, left));
  }
  return performance.now() - started;
}

describe("a good client beside a flooder", () => {
  it("keeps its round trips fast: 100 of them within a second, which the flood prevents without the limit", async () => {
    const server = await recordingServer();
    const known = new Set(server.channels);
    const good = cleanup.socket(await rawSocket(server.port));
    const received = receivedBy(good);
    const goodChannel = await newChannel(server, known);
    await pingPong(good, received, 10, 1_000); // warm-up

    const flooder = await spawnFlooder(server.port);
    const flooderChannel = await newChannel(server, new Set([...known, goodChannel]));
    await waitFor(() => flooderChannel.got.length > 10_000, "the flood to pass its burst");
    // Without the limit, the flood's megabytes per turn of the event loop leave about 10 round trips a second.
    const took = await pingPong(good, received, 100, 3_000);
    // The flooder was served meanwhile, at its default rate, and is still connected.
    expect(flooderChannel.isConnected).toBe(true);
    expect(flooder.child.exitCode).toBeNull();
    expect(took).toBeLessThan(1_000);
  }, 15_000);
});

describe("@ping during a flood", () => {
  it("is answered at once, ahead of the held messages sent before it, which still all arrive in order", async () => {
    const server = await recordingServer({ rateLimit: { messages: 200, burst: 20 } });
    const known = new Set(server.channels);
    const socket = cleanup.socket(await rawSocket(server.port));
    const received = receivedBy(socket);
    const channel = await newChannel(server, known);
    const sent = performance.now();
    socket.write(Buffer.concat([framesOf("n", 220), encode({ action: "@ping", id: 7 })]));

    await waitFor(() => received.some((message) => (message as IncomingMessage).action === "@pong"), "the pong");
    const pongAfter = performance.now() - sent;
    const dispatchedByThen = channel.got.length;
    expect(received).toContainEqual({ action: "@pong", id: 7 });
    expect(pongAfter).toBeLessThan(150);
    expect(dispatchedByThen).toBeLessThan(100);
    await waitFor(() => channel.got.length === 220, "all 220 messages", 4_000);
    expect(channel.of("n")).toEqual(Array.from({ length: 220 }, (_, n) => n));
  });
});

describe("an invalid message among the held ones", () => {
  it("is dropped at its turn, and the messages after it still arrive, in order", async () => {
    const server = await recordingServer({ rateLimit: { messages: 10, burst: 1 } });
    const known = new Set(server.channels);
    const socket = cleanup.socket(await rawSocket(server.port));
    receivedBy(socket);
    const channel = await newChannel(server, known);
    // 0xc1 is no msgpack value: that frame cannot be decoded.
    const invalid = Buffer.from([0, 0, 0, 1, 0xc1]);
    socket.write(Buffer.concat([framesOf("n", 2), invalid, framesOf("n", 2, 2)]));
    await waitFor(() => channel.got.length === 4, "the four valid messages", 3_000);
    expect(channel.of("n")).toEqual([0, 1, 2, 3]);
    expect(channel.isConnected).toBe(true);
  });
});

describe("a ping flood", () => {
  it("is answered within the control budget (a burst of 2,000, then 1,000 a second), every ping in the end, in order", async () => {
    const server = await recordingServer();
    const known = new Set(server.channels);
    const socket = cleanup.socket(await rawSocket(server.port));
    const received = receivedBy(socket);
    await newChannel(server, known);
    const pings = 4_000;
    const sent = performance.now();
    socket.write(Buffer.concat(Array.from({ length: pings }, (_, id) => encode({ action: "@ping", id }))));
    const pongs = (): number => received.filter((message) => (message as IncomingMessage).action === "@pong").length;

    await delay(300);
    // Without the budget every ping is answered in a few milliseconds.
    const early = pongs();
    const elapsed = performance.now() - sent;
    expect(early).toBeGreaterThanOrEqual(2_000);
    expect(early).toBeLessThan(2_000 + elapsed * 1.5 + 100);
    await waitFor(() => pongs() === pings, "every pong", 8_000);
    expect(
      received.flatMap((message) =>
        (message as IncomingMessage).action === "@pong" ? [(message as IncomingMessage).id] : [],
      ),
    ).toEqual(Array.from({ length: pings }, (_, id) => id));
  }, 15_000);
});

describe("per-action budgets", () => {
  it("pace chat at 5/s while the other actions pass at once", async () => {
    const server = await recordingServer({
      rateLimit: { messages: 1_000, burst: 500, actions: { chat: { messages: 5, burst: 2 } } },
    });
    const known = new Set(server.channels);
    const socket = cleanup.socket(await rawSocket(server.port));
    receivedBy(socket);
    const channel = await newChannel(server, known);
    const sent = performance.now();
    // Moves, the chat burst, moves again: nothing waits.
    socket.write(Buffer.concat([framesOf("move", 200), framesOf("chat", 2), framesOf("move", 200, 200)]));
    await waitFor(() => channel.of("move").length === 400, "400 moves", 1_000);
    expect(performance.now() - sent).toBeLessThan(300);
    expect(channel.of("chat")).toEqual([0, 1]);

    // Four more chats: one every 200 ms.
    const chatsSent = performance.now();
    socket.write(framesOf("chat", 4, 2));
    await waitFor(() => channel.of("chat").length === 6, "six chats", 3_000);
    const chats = channel.got.filter((entry) => entry.action === "chat");
    expect(chats[5]!.at - chatsSent).toBeGreaterThan(700);
    expect(chats[5]!.at - chatsSent).toBeLessThan(1_500);
    expect(channel.of("chat")).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe("the byte budget", () => {
  it("paces large messages to rateLimit.bytes per second, in order", async () => {
    const server = await recordingServer({ rateLimit: { bytes: 40_000, byteBurst: 10_000 } });
    const known = new Set(server.channels);
    const socket = cleanup.socket(await rawSocket(server.port));
    receivedBy(socket);
    const channel = await newChannel(server, known);
    const data = "x".repeat(4_980); // about 5,000 payload bytes each
    const sent = performance.now();
    socket.write(framesOf("big", 10, 0, { data }));
    await waitFor(() => channel.got.length === 10, "ten big messages", 3_000);
    // Two fit the 10,000-byte burst; the other eight come at 40,000 bytes/s: about 1 s.
    expect(channel.got[1]!.at - sent).toBeLessThan(100);
    expect(channel.got[9]!.at - sent).toBeGreaterThan(850);
    expect(channel.got[9]!.at - sent).toBeLessThan(2_000);
    expect(channel.of("big")).toEqual(Array.from({ length: 10 }, (_, n) => n));
  });
});

describe('onExceed: "close"', () => {
  it("cuts off with ERR_RATE_LIMITED a peer over its budget for closeAfter ms, and only that one", async () => {
    const closeAfter = 300;
    const server = await recordingServer({
      rateLimit: { messages: 100, burst: 10, onExceed: "close", closeAfter },
    });
    const known = new Set(server.channels);
    const calm = cleanup.socket(await rawSocket(server.port));
    receivedBy(calm);
    const calmChannel = await newChannel(server, known);
    const flooder = cleanup.socket(await rawSocket(server.port));
    receivedBy(flooder);
    const flooderChannel = await newChannel(server, new Set([...known, calmChannel]));
    let closedAt = 0;
    flooder.on("close", () => (closedAt = performance.now()));

    const started = performance.now();
    let n = 0;
    const floodTimer = setInterval(() => {
      if (!flooder.destroyed) flooder.write(framesOf("flood", 50, (n += 50)));
    }, 10);
    cleanup.add(() => clearInterval(floodTimer));
    let calmN = 0;
    const calmTimer = setInterval(() => calm.write(encode({ action: "calm", n: calmN++ })), 50);
    cleanup.add(() => clearInterval(calmTimer));

    await waitFor(() => flooderChannel.closes === 1, "the flooder to be cut off", 3_000);
    const cutAfter = performance.now() - started;
    expect(flooderChannel.errors.map((error) => error.code)).toEqual(["ERR_RATE_LIMITED"]);
    expect(flooderChannel.errors[0]!.message).toMatch(/rate limit.*closeAfter of 300 ms/);
    expect(cutAfter).toBeGreaterThanOrEqual(closeAfter);
    expect(cutAfter).toBeLessThan(closeAfter + 700);
    await waitFor(() => closedAt > 0, "the flooder's socket to close");

    const calmBefore = calmChannel.of("calm").length;
    await delay(200);
    expect(calmChannel.of("calm").length).toBeGreaterThan(calmBefore);
    expect(calmChannel.isConnected).toBe(true);
    expect(calmChannel.errors).toEqual([]);
  });
});

describe("a Node client with a rate limit, facing a flooding server", () => {
  it("is paused, not crashed, and loses nothing", async () => {
    const count = 1_500;
    let serverSocket: net.Socket | undefined;
    const port = await rawServer(cleanup, (socket) => {
      serverSocket = socket;
      socket.write(encode({ action: "connected" }));
      socket.write(framesOf("spam", count));
    });
    const { listener, log } = loggedListener(cleanup);
    listener.connect("127.0.0.1", port, { rateLimit: { messages: 1_000, burst: 100 } });
    await waitFor(() => log.some((message) => message.action === "spam"), "the first spam");
    const first = performance.now();
    await delay(300);
    const early = log.filter((message) => message.action === "spam").length;
    // About 100 + 300: far from the 1,500 already sent.
    expect(early).toBeLessThan(700);
    await waitFor(() => log.filter((message) => message.action === "spam").length === count, "all spam", 4_000);
    expect(performance.now() - first).toBeGreaterThan(1_100);
    const spam = log.filter((message) => message.action === "spam").map((message) => message.n);
    expect(spam).toEqual(Array.from({ length: count }, (_, n) => n));
    expect(log.map((message) => message.action)).not.toContain("error");
    expect(log.map((message) => message.action)).not.toContain("disconnected");
    expect(listener.connection?.isConnected).toBe(true);
    expect(serverSocket?.destroyed).toBe(false);
  });
});

describe("frameTimeout while the rate limit pauses reading", () => {
  it("does not count the pause: a frame finished by the peer during it is read once reading resumes", async () => {
    const server = await recordingServer({ frameTimeout: 150, rateLimit: { messages: 10, burst: 1 } });
    const known = new Set(server.channels);
    const socket = cleanup.socket(await rawSocket(server.port));
    receivedBy(socket);
    const channel = await newChannel(server, known);
    const last = encode({ action: "n", n: 5 });
    // Five messages and half of a sixth: the server holds four of them for 400 ms, not reading.
    socket.write(Buffer.concat([framesOf("n", 5), last.subarray(0, 6)]));
    await delay(250); // past frameTimeout, still paused
    socket.write(last.subarray(6));
    await waitFor(() => channel.got.length === 6, "six messages", 2_000);
    expect(channel.of("n")).toEqual([0, 1, 2, 3, 4, 5]);
    expect(channel.errors).toEqual([]);
    expect(channel.isConnected).toBe(true);
  });

  it("still cuts off a peer that leaves a frame unfinished once reading has resumed", async () => {
    const server = await recordingServer({ frameTimeout: 150, rateLimit: { messages: 10, burst: 1 } });
    const known = new Set(server.channels);
    const socket = cleanup.socket(await rawSocket(server.port));
    receivedBy(socket);
    const channel = await newChannel(server, known);
    const sent = performance.now();
    socket.write(Buffer.concat([framesOf("n", 3), encode({ action: "n", n: 3 }).subarray(0, 6)]));
    await waitFor(() => channel.closes === 1, "the frame timeout", 2_000);
    expect(channel.errors.map((error) => error.code)).toEqual(["ERR_FRAME_TIMEOUT"]);
    // Paused for the two held messages (200 ms), then 150 ms of frameTimeout.
    expect(performance.now() - sent).toBeGreaterThan(320);
    expect(channel.of("n")).toEqual([0, 1, 2]);
  });

  it("FrameDeadline.hold() stops the clock until release()", async () => {
    let expired = -1;
    const deadline = new FrameDeadline(60, (elapsed) => (expired = elapsed));
    cleanup.add(() => deadline.stop());
    deadline.update(true, true);
    await delay(30);
    deadline.hold();
    await delay(100);
    expect(expired).toBe(-1);
    deadline.release();
    await waitFor(() => expired >= 0, "the deadline", 1_000);
    // 30 ms before the hold and about 30 ms after it: the 100 ms held are not counted.
    expect(expired).toBeGreaterThanOrEqual(55);
    expect(expired).toBeLessThan(100);
  });
});

describe("the in-memory transport, paused", () => {
  it("counts what waits for the paused end in the sender's bufferedAmount, and delivers it on resume", async () => {
    const server = await recordingServer({ rateLimit: { messages: 100, burst: 10 } });
    const known = new Set(server.channels);
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect(server);
    const channel = await newChannel(server, known);
    for (let n = 0; n < 60; n++) listener.send({ action: "n", n, data: "x".repeat(100) });
    await waitFor(() => channel.got.length >= 10, "the burst");
    // The rest waits, unread, on the server's end: the client sees it as not yet taken.
    expect(listener.connection!.bufferedAmount).toBeGreaterThan(40 * 100);
    await waitFor(() => channel.got.length === 60, "all 60", 2_000);
    expect(listener.connection!.bufferedAmount).toBe(0);
    expect(channel.of("n")).toEqual(Array.from({ length: 60 }, (_, n) => n));
  });
});

/** A stand-in for the browser's WebSocket that the test drives by hand. */
class FakeBrowserSocket {
  static last: FakeBrowserSocket | null = null;
  readyState = 1;
  binaryType = "blob";
  bufferedAmount = 0;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor() {
    FakeBrowserSocket.last = this;
  }
  send(): void {}
  close(): void {}
  receive(n: number): void {
    const payload = payloadOf({ action: "n", n });
    this.onmessage?.({ data: payload.slice().buffer });
  }
}

describe("BrowserWebSocketTransport, paused", () => {
  it("keeps what arrives in order and delivers it on resume, or before the close", () => {
    const transport = new BrowserWebSocketTransport(
      "ws://game.test/",
      { host: "game.test", port: 80 },
      {
        maxPayload: 1_000,
        WebSocket: FakeBrowserSocket as unknown as WebSocketConstructor,
      },
    );
    const socket = FakeBrowserSocket.last!;
    const events: unknown[] = [];
    transport.start({
      open: () => events.push("open"),
      payload: (payload) => {
        const n = payload[payload.length - 1]!;
        events.push(n);
        // Pauses again after 3, as the rate limit would.
        if (n === 3) transport.pause();
      },
      invalid: () => events.push("invalid"),
      close: (error) => events.push(error === undefined ? "close" : "close with error"),
    });
    socket.onopen!();
    socket.receive(1);
    transport.pause();
    for (const n of [2, 3, 4, 5]) socket.receive(n);
    expect(events).toEqual(["open", 1]);
    transport.resume();
    expect(events).toEqual(["open", 1, 2, 3]);
    socket.receive(6);
    transport.resume();
    expect(events).toEqual(["open", 1, 2, 3, 4, 5, 6]);
    transport.pause();
    socket.receive(7);
    socket.onclose!({ code: 1000, reason: "" });
    expect(events).toEqual(["open", 1, 2, 3, 4, 5, 6, 7, "close"]);
  });
});

describe("the default limit", () => {
  it("does not slow a burst of 5,000 messages from the server to a client, nor 5,000 the other way", async () => {
    const server = await recordingServer();
    const known = new Set(server.channels);
    const { listener, log } = loggedListener(cleanup);
    listener.connect("127.0.0.1", server.port);
    const channel = await newChannel(server, known);
    await waitFor(() => log.some((message) => message.action === "connected"), "connected");
    const started = performance.now();
    for (let n = 0; n < 5_000; n++) {
      channel.send({ action: "down", n });
      listener.send({ action: "up", n });
    }
    await waitFor(
      () => channel.got.length === 5_000 && log.filter((message) => message.action === "down").length === 5_000,
      "5,000 each way",
      2_000,
    );
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
