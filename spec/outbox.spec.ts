import * as net from "node:net";
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import {
  Channel,
  ConnectionError,
  ConnectionListener,
  decode,
  encode,
  FrameDecoder,
  Server,
  type ConnectOptions,
  type IncomingMessage,
  type LocalServer,
  type SendOptions,
  type ServerOptions,
} from "../lib/index.js";
import { listenerMixin } from "../lib/connections/connection-listener.js";
import { FrameQueue, HIGH_WATER_MARK, Outbox } from "../lib/connections/outbox.js";
import { createBrowserConnector } from "../lib/transports/browser-connector.js";
import { BrowserWebSocketTransport, type WebSocketConstructor } from "../lib/transports/browser-websocket-transport.js";
import { MemoryTransport } from "../lib/transports/memory-transport.js";
import type { Transport, TransportEvents } from "../lib/transports/transport.js";
import { Cleanup } from "./helpers/cleanup.js";
import { rawSocket, startServer, waitFor } from "./helpers/net.js";
import { tcpProxy, type TestProxy } from "./helpers/proxy.js";
import { pumpEvery, range, sessionGranted } from "./helpers/sessions.js";
import { closeRawWebSocket, openRawWebSocket, payloadOf, rawWsServer } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const VIAS = ["TCP", "WebSocket", "memory"] as const;
type Via = (typeof VIAS)[number];

/** Padding of a state update: big enough to fill loopback's kernel buffers in a few hundred turns. */
const STATE_PAD = 16 * 1024;

/** One state update of a 60 Hz stream: its tick and a fixed-size body. */
function state(tick: number): { action: string; n: number; pad: Uint8Array } {
  return { action: "state", n: tick, pad: new Uint8Array(STATE_PAD) };
}

/** Bytes of one state update on the wire at most, header included. */
const STATE_FRAME = encode(state(2 ** 31)).byteLength;

/** A message that takes the transport past the high-water mark by itself: what follows it in its turn waits. */
function filler(n: number): { action: string; n: number; pad: Uint8Array } {
  return { action: "fill", n, pad: new Uint8Array(HIGH_WATER_MARK) };
}

/** The `n` of each message with `action`, in order. */
function numbersOf(messages: readonly IncomingMessage[], action: string): number[] {
  return messages.filter((message) => message.action === action).map((message) => message.n as number);
}

/** `action:n` for each message but the greeting, in order: the sequence a peer saw. */
function sequence(messages: readonly IncomingMessage[]): string[] {
  return messages
    .filter((message) => message.action !== "connected" && message.action !== "@hello")
    .map((message) => `${String(message.action)}:${String(message.n)}`);
}

function expectIncreasing(values: readonly number[]): void {
  for (let index = 1; index < values.length; index++) expect(values[index]).toBeGreaterThan(values[index - 1]!);
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

/** A server seat that records how it ended and every message it was sent. */
class Seat extends Channel {
  readonly errors: unknown[] = [];
  readonly seen: IncomingMessage[] = [];
  drops = 0;
  closes = 0;

  override onError(error: unknown): void {
    this.errors.push(error);
  }

  override onDrop(): void {
    this.drops++;
  }

  override onClose(): void {
    this.closes++;
  }

  override networkReceived(message: IncomingMessage): void {
    this.seen.push(message);
  }
}

/** A player that records what its handlers see, in order, and the built-in actions apart. */
class Player extends ConnectionListener {
  readonly seen: IncomingMessage[] = [];
  readonly events: string[] = [];

  Network_connected(): void {
    this.events.push("connected");
  }

  Network_socketConnect(): void {}

  Network_dropped(): void {
    this.events.push("dropped");
  }

  Network_resumed(): void {
    this.events.push("resumed");
  }

  Network_error(message: { code?: string }): void {
    this.events.push(`error:${String(message.code)}`);
  }

  Network_disconnected(): void {
    this.events.push("disconnected");
  }

  override networkReceived(message: IncomingMessage): void {
    this.seen.push(message);
  }
}

async function seatServer(options: ServerOptions<Seat> = {}): Promise<Server<Seat>> {
  return cleanup.server(await startServer({ channelClass: Seat, ws: { port: 0 }, ...options }));
}

/** The only channel of `server` not in `known`, once there is one. */
async function channelAfter(server: Server<Seat>, known: ReadonlySet<Seat>): Promise<Seat> {
  let found: Seat | undefined;
  await waitFor(() => {
    found = server.channels.find((channel) => !known.has(channel));
    return found !== undefined;
  }, "the new channel");
  return found!;
}

/** A far end that reads only when told to: what it received, decoded, in order. */
interface Reader {
  readonly messages: IncomingMessage[];
  /** Stops reading: what is sent to it waits in the kernel (or the in-memory link), then in the sender. */
  pause(): void;
  /** Reads again, what waited first. */
  resume(): void;
}

/** A raw client of `server` over `via` that reads only when told to, and its channel. */
async function rawReader(server: Server<Seat>, via: Via): Promise<{ reader: Reader; channel: Seat }> {
  const known = new Set(server.channels);
  const messages: IncomingMessage[] = [];
  let reader: Reader;
  if (via === "TCP") {
    const socket = cleanup.socket(await rawSocket(server.port));
    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) =>
      decoder.push(chunk, (payload) => messages.push(decode(payload) as IncomingMessage)),
    );
    reader = { messages, pause: () => socket.pause(), resume: () => socket.resume() };
  } else if (via === "WebSocket") {
    const socket = await openRawWebSocket(`ws://127.0.0.1:${server.wsPort}/`);
    cleanup.add(() => closeRawWebSocket(socket));
    socket.on("message", (data) => messages.push(decode(data as Buffer) as IncomingMessage));
    reader = { messages, pause: () => socket.pause(), resume: () => socket.resume() };
  } else {
    // The client's end of an in-process link, driven by hand: pause() keeps what arrives unread.
    const transport = server.openLocal({ maxPayload: 1 << 24 });
    transport.start({
      open: () => {},
      payload: (payload) => messages.push(decode(payload) as IncomingMessage),
      invalid: () => {},
      close: () => {},
    });
    cleanup.add(() => transport.destroy());
    reader = { messages, pause: () => transport.pause(), resume: () => transport.resume() };
  }
  return { reader, channel: await channelAfter(server, known) };
}

/** A raw server a client connects to over `via`, reading only when told to. */
interface SlowServer extends Reader {
  /** What to connect to: a port, a URL or an in-process server. */
  readonly target: number | string | LocalServer;
  /** Whether the client's connection reached it. */
  readonly connected: () => boolean;
}

async function slowServer(via: Via): Promise<SlowServer> {
  const messages: IncomingMessage[] = [];
  let far: { pause(): void; resume(): void } | null = null;
  const control = {
    messages,
    connected: () => far !== null,
    pause: () => far!.pause(),
    resume: () => far?.resume(),
  };
  if (via === "TCP") {
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => {
      sockets.push(socket);
      const decoder = new FrameDecoder();
      socket.on("data", (chunk: Buffer) =>
        decoder.push(chunk, (payload) => messages.push(decode(payload) as IncomingMessage)),
      );
      far = socket;
    });
    cleanup.netServer(server, sockets);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { ...control, target: (server.address() as net.AddressInfo).port };
  }
  if (via === "WebSocket") {
    const { url } = await rawWsServer(cleanup, (socket: WebSocket) => {
      socket.on("message", (data) => messages.push(decode(data as Buffer) as IncomingMessage));
      // A WebSocket client is in once greeted.
      socket.send(payloadOf({ action: "connected" }));
      far = socket;
    });
    return { ...control, target: url };
  }
  const target: LocalServer = {
    openLocal: (options) => {
      const [client, end] = MemoryTransport.pair(options.maxPayload, 1 << 24);
      end.start({
        open: () => {},
        payload: (payload) => messages.push(decode(payload) as IncomingMessage),
        invalid: () => {},
        close: () => {},
      });
      cleanup.add(() => end.destroy());
      far = end;
      return client;
    },
  };
  return { ...control, target };
}

/** Connects `listener` to `target` with `options`, closed after the test. */
function connect(listener: ConnectionListener, target: number | string | LocalServer, options: ConnectOptions): void {
  cleanup.listener(listener);
  if (typeof target === "number") listener.connect("127.0.0.1", target, options);
  else if (typeof target === "string") listener.connect(target, options);
  else listener.connect(target, options);
}

/** A connected player of `server` over `via`, with its seat. */
async function playerOf(
  server: Server<Seat>,
  via: Via,
  options: ConnectOptions = {},
): Promise<{ player: Player; seat: Seat }> {
  const known = new Set(server.channels);
  const player = new Player();
  const target = via === "TCP" ? server.port : via === "WebSocket" ? `ws://127.0.0.1:${server.wsPort}/` : server;
  connect(player, target, options);
  pumpEvery(cleanup, player);
  const seat = await channelAfter(server, known);
  await waitFor(() => player.events.includes("connected"), "the player to be connected");
  return { player, seat };
}

describe.each(VIAS)("the outbox of a channel over %s", (via) => {
  it("delivers a synchronous burst bigger than maxQueuedBytes to a peer that reads, whole and in order, without cutting it off", async () => {
    const maxQueuedBytes = 64 * 1024;
    const server = await seatServer({ maxQueuedBytes });
    const { reader, channel } = await rawReader(server, via);
    let accepted = 0;
    for (const n of range(300)) if (channel.send({ action: "burst", n, pad: new Uint8Array(1024) }) > 0) accepted++;
    expect(accepted).toBe(300);
    // More than the bound waits now, all of it written in this turn.
    expect(channel.bufferedAmount).toBeGreaterThan(maxQueuedBytes);
    await waitFor(() => numbersOf(reader.messages, "burst").length === 300, "the whole burst");
    expect(numbersOf(reader.messages, "burst")).toEqual(range(300));
    expect(channel.isConnected).toBe(true);
    expect(channel.errors).toEqual([]);
  });

  it("sends latest state updates to a peer that stops reading without ever cutting it off, holds at most the high-water mark and one state, and delivers the newest once it reads again", async () => {
    const server = await seatServer({ maxQueuedBytes: 1024 * 1024 });
    const { reader, channel } = await rawReader(server, via);
    reader.pause();
    let tick = 0;
    let most = 0;
    let backlogSince = 0;
    // Until a backlog has existed for 200 ticks; bounded: the kernel absorbs a few MiB at most.
    for (let turn = 0; turn < 2_000 && (backlogSince === 0 || tick - backlogSince < 200); turn++) {
      tick++;
      expect(channel.send(state(tick), { latest: "state" })).toBeGreaterThan(0);
      most = Math.max(most, channel.bufferedAmount);
      if (backlogSince === 0 && channel.bufferedAmount >= HIGH_WATER_MARK) backlogSince = tick;
      await nextTurn();
    }
    expect(backlogSince).toBeGreaterThan(0);
    expect(channel.isConnected).toBe(true);
    // The transport's buffer below the mark plus the one frame that took it past, and one waiting state.
    expect(most).toBeLessThan(HIGH_WATER_MARK + 2 * STATE_FRAME);

    reader.resume();
    await waitFor(() => numbersOf(reader.messages, "state").at(-1) === tick, "the newest state", 10_000);
    const ticks = numbersOf(reader.messages, "state");
    expectIncreasing(ticks);
    // Of the 200 states sent while the backlog existed, the newest arrives and hardly any other.
    const late = ticks.filter((n) => n > backlogSince);
    expect(late.at(-1)).toBe(tick);
    expect(late.length).toBeLessThan(20);
    expect(channel.errors).toEqual([]);
  });

  it("lets the same stream without latest grow a backlog, and cuts the peer off with ERR_SEND_QUEUE_FULL at maxQueuedBytes", async () => {
    const maxQueuedBytes = 1024 * 1024;
    const server = await seatServer({ maxQueuedBytes });
    const { reader, channel } = await rawReader(server, via);
    reader.pause();
    let most = 0;
    for (let tick = 1; tick < 2_000 && channel.isConnected; tick++) {
      channel.send(state(tick));
      most = Math.max(most, channel.bufferedAmount);
      await nextTurn();
    }
    expect(channel.isConnected).toBe(false);
    await waitFor(() => channel.closes === 1, "onClose of the cut-off channel");
    expect(channel.errors.map(codeOf)).toEqual(["ERR_SEND_QUEUE_FULL"]);
    expect((channel.errors[0] as ConnectionError).message).toMatch(/not reading.*maxQueuedBytes limit of 1048576/);
    expect(most).toBeGreaterThan(HIGH_WATER_MARK + 2 * STATE_FRAME);
    expect(most).toBeLessThanOrEqual(maxQueuedBytes);
  });

  it("delivers a volatile message while the peer keeps up, and drops one (send returns 0) while it has a backlog", async () => {
    const server = await seatServer();
    const { reader, channel } = await rawReader(server, via);
    expect(channel.send({ action: "v", n: 0 }, { volatile: true })).toBeGreaterThan(0);
    await waitFor(() => numbersOf(reader.messages, "v").length === 1, "the first volatile message");

    reader.pause();
    for (let tick = 1; tick < 2_000 && channel.bufferedAmount < HIGH_WATER_MARK; tick++) {
      channel.send(state(tick));
      await nextTurn();
    }
    expect(channel.bufferedAmount).toBeGreaterThanOrEqual(HIGH_WATER_MARK);
    expect(channel.send({ action: "v", n: 1 }, { volatile: true })).toBe(0);
    expect(channel.send({ action: "after", n: 0 })).toBeGreaterThan(0);
    reader.resume();
    await waitFor(() => numbersOf(reader.messages, "after").length === 1, "the ordinary message behind the backlog");
    await waitFor(() => channel.bufferedAmount === 0, "the backlog to drain");

    expect(channel.send({ action: "v", n: 2 }, { volatile: true })).toBeGreaterThan(0);
    await waitFor(() => numbersOf(reader.messages, "v").length === 2, "the last volatile message");
    expect(numbersOf(reader.messages, "v")).toEqual([0, 2]);
    expect(channel.isConnected).toBe(true);
  });

  it("puts a latest message in the place of the one it replaces: the peer sees A2 before B and never A1; without a backlog every message goes out in send order", async () => {
    const server = await seatServer();
    const { reader, channel } = await rawReader(server, via);
    const latest: SendOptions = { latest: "a" };
    const after = (count: number): string[] => sequence(reader.messages).slice(count);

    // No backlog: each message goes out at once.
    channel.send({ action: "a", n: 1 }, latest);
    channel.send({ action: "b", n: 1 });
    channel.send({ action: "a", n: 2 }, latest);
    await waitFor(() => sequence(reader.messages).length === 3, "three messages");
    expect(after(0)).toEqual(["a:1", "b:1", "a:2"]);

    // A backlog within this turn: whatever follows the filler waits.
    channel.send(filler(1));
    channel.send({ action: "a", n: 3 }, latest);
    channel.send({ action: "b", n: 2 });
    expect(channel.send({ action: "v", n: 1 }, { volatile: true })).toBe(0);
    channel.send({ action: "a", n: 4 }, latest);
    channel.send({ action: "c", n: 1 });
    await waitFor(() => numbersOf(reader.messages, "c").length === 1, "the last message");
    expect(after(3)).toEqual(["fill:1", "a:4", "b:2", "c:1"]);
    await waitFor(() => channel.bufferedAmount === 0, "the backlog to drain");

    // A5 left for the transport before the backlog formed: A6 cannot replace it, and queues behind B.
    channel.send({ action: "a", n: 5 }, latest);
    channel.send(filler(2));
    channel.send({ action: "b", n: 3 });
    channel.send({ action: "a", n: 6 }, latest);
    await waitFor(() => numbersOf(reader.messages, "a").at(-1) === 6, "the last message");
    expect(after(7)).toEqual(["a:5", "fill:2", "b:3", "a:6"]);
    expect(channel.errors).toEqual([]);
  });

  it("delivers its whole backlog, in order, before the connection closes when it is closed gracefully", async () => {
    const server = await seatServer();
    const { reader, channel } = await rawReader(server, via);
    // A backlog within this turn: what follows the filler waits in the outbox when close() comes.
    channel.send(filler(0));
    for (const n of range(5)) channel.send({ action: "after", n }, n === 2 ? { latest: "after" } : undefined);
    channel.close();
    await waitFor(() => channel.closes === 1, "the channel to close");
    await waitFor(() => numbersOf(reader.messages, "after").length === 5, "the backlog");
    expect(sequence(reader.messages)).toEqual(["fill:0", ...range(5).map((n) => `after:${n}`)]);
    expect(channel.errors).toEqual([]);
  });
});

describe("a broadcast with latest to 20 clients, one of them slow", () => {
  it("reaches the 19 others with every state in order, and the slow one, never cut off, with the newest", async () => {
    const server = await seatServer({ maxQueuedBytes: 1024 * 1024 });
    const players: Player[] = [];
    for (const via of VIAS) {
      for (let i = 0; i < (via === "TCP" ? 7 : 6); i++) players.push((await playerOf(server, via)).player);
    }
    const { reader: slow, channel: slowChannel } = await rawReader(server, "TCP");
    for (const channel of server.channels) channel.join("table");
    expect(server.channels).toHaveLength(20);

    // The slow one stops reading; ordinary messages to it alone fill what lies under the library.
    slow.pause();
    let fills = 0;
    for (let turn = 0; turn < 2_000 && slowChannel.bufferedAmount < HIGH_WATER_MARK; turn++) {
      slowChannel.send({ action: "fill", n: fills++, pad: new Uint8Array(32 * 1024) });
      await nextTurn();
    }
    expect(slowChannel.bufferedAmount).toBeGreaterThanOrEqual(HIGH_WATER_MARK);
    const waiting = slowChannel.bufferedAmount;

    const TICKS = 100;
    for (let tick = 1; tick <= TICKS; tick++) {
      const message = { action: "state", n: tick, body: "x".repeat(200) };
      // Half through the server, half through the room: each encodes once for all 20.
      const count =
        tick <= TICKS / 2
          ? server.sendToAll(message, { latest: "state" })
          : server.room("table").sendToAll(message, { latest: "state" });
      expect(count).toBe(20);
      if (tick % 10 === 0) await nextTurn();
    }
    // One state waits for the slow one, however many were sent.
    expect(slowChannel.bufferedAmount).toBeLessThan(waiting + 2 * 1024);
    // A volatile broadcast skips the one with a backlog.
    expect(server.sendToAll({ action: "v", n: 1 }, { volatile: true })).toBe(19);

    await waitFor(
      () => players.every((player) => numbersOf(player.seen, "state").length === TICKS),
      "every state at the 19",
    );
    for (const player of players) {
      expect(numbersOf(player.seen, "state")).toEqual(range(TICKS, 1));
      await waitFor(() => numbersOf(player.seen, "v").length === 1, "the volatile broadcast");
    }
    slow.resume();
    await waitFor(() => numbersOf(slow.messages, "state").at(-1) === TICKS, "the newest state at the slow one");
    expect(numbersOf(slow.messages, "fill")).toEqual(range(fills));
    const ticks = numbersOf(slow.messages, "state");
    expectIncreasing(ticks);
    expect(ticks.length).toBeLessThan(TICKS / 2);
    expect(numbersOf(slow.messages, "v")).toEqual([]);
    expect(slowChannel.isConnected).toBe(true);
    expect(server.channels.flatMap((channel) => channel.errors)).toEqual([]);
  });
});

describe.each(VIAS)("the outbox of a client over %s", (via) => {
  it("delivers a synchronous burst bigger than the client's maxQueuedBytes whole and in order", async () => {
    const server = await seatServer();
    const { player, seat } = await playerOf(server, via, { maxQueuedBytes: 64 * 1024 });
    let accepted = 0;
    for (const n of range(300)) if (player.send({ action: "burst", n, pad: new Uint8Array(1024) }) > 0) accepted++;
    expect(accepted).toBe(300);
    expect(player.connection!.bufferedAmount).toBeGreaterThan(64 * 1024);
    await waitFor(() => numbersOf(seat.seen, "burst").length === 300, "the whole burst");
    expect(numbersOf(seat.seen, "burst")).toEqual(range(300));
    expect(player.connection!.isConnected).toBe(true);
    expect(player.events).toEqual(["connected"]);
  });

  it("sends latest states to a server that stops reading without being cut off, drops volatile ones while behind, and delivers the newest", async () => {
    const far = await slowServer(via);
    const player = new Player();
    connect(player, far.target, { maxQueuedBytes: 1024 * 1024 });
    // Reads again before the client closes after the test, whatever happened.
    cleanup.add(() => far.resume());
    pumpEvery(cleanup, player);
    await waitFor(() => far.connected() && player.connection!.isConnected, "the connection to the slow server");
    expect(player.send({ action: "v", n: 0 }, { volatile: true })).toBeGreaterThan(0);
    await waitFor(() => numbersOf(far.messages, "v").length === 1, "the first volatile message");

    far.pause();
    let tick = 0;
    let most = 0;
    let backlogSince = 0;
    for (let turn = 0; turn < 2_000 && (backlogSince === 0 || tick - backlogSince < 200); turn++) {
      tick++;
      expect(player.send(state(tick), { latest: "state" })).toBeGreaterThan(0);
      most = Math.max(most, player.connection!.bufferedAmount);
      if (backlogSince === 0 && player.connection!.bufferedAmount >= HIGH_WATER_MARK) backlogSince = tick;
      await nextTurn();
    }
    expect(backlogSince).toBeGreaterThan(0);
    expect(most).toBeLessThan(HIGH_WATER_MARK + 2 * STATE_FRAME);
    expect(player.send({ action: "v", n: 1 }, { volatile: true })).toBe(0);

    far.resume();
    await waitFor(() => numbersOf(far.messages, "state").at(-1) === tick, "the newest state", 10_000);
    const ticks = numbersOf(far.messages, "state");
    expectIncreasing(ticks);
    expect(ticks.filter((n) => n > backlogSince).length).toBeLessThan(20);
    expect(numbersOf(far.messages, "v")).toEqual([0]);
    expect(player.connection!.isConnected).toBe(true);
    expect(player.events).toEqual(["connected"]);
  });

  it("while its first connection opens, drops volatile messages and lets latest ones replace each other in their slot", async () => {
    const server = await seatServer();
    const known = new Set(server.channels);
    const player = new Player();
    const target = via === "TCP" ? server.port : via === "WebSocket" ? `ws://127.0.0.1:${server.wsPort}/` : server;
    connect(player, target, {});
    expect(player.connection!.state).toBe("connecting");
    expect(player.send({ action: "a", n: 1 }, { latest: "a" })).toBeGreaterThan(0);
    expect(player.send({ action: "b", n: 1 })).toBeGreaterThan(0);
    expect(player.send({ action: "v", n: 1 }, { volatile: true })).toBe(0);
    expect(player.send({ action: "a", n: 2 }, { latest: "a" })).toBeGreaterThan(0);
    expect(player.send({ action: "c", n: 1 })).toBeGreaterThan(0);
    const seat = await channelAfter(server, known);
    await waitFor(() => seat.seen.length === 3, "what was sent while connecting");
    expect(sequence(seat.seen)).toEqual(["a:2", "b:1", "c:1"]);
  });

  it("asking for a session, while its first connection opens, drops volatile messages too", async () => {
    const server = await seatServer();
    const known = new Set(server.channels);
    const player = new Player();
    const target = via === "TCP" ? server.port : via === "WebSocket" ? `ws://127.0.0.1:${server.wsPort}/` : server;
    connect(player, target, { resume: true });
    // The session keeps what is sent from the start, on the connection that is still opening.
    expect(player.connection!.state).toBe("connecting");
    expect(player.send({ action: "v", n: 1 }, { volatile: true })).toBe(0);
    expect(player.send({ action: "b", n: 1 })).toBeGreaterThan(0);
    const seat = await channelAfter(server, known);
    await waitFor(() => seat.seen.length === 1, "what was sent while connecting");
    expect(sequence(seat.seen)).toEqual(["b:1"]);
  });

  it("while its first connection opens, counts a latest message that replaces another by its own size against maxQueuedBytes", async () => {
    const server = await seatServer();
    const known = new Set(server.channels);
    const player = new Player();
    const target = via === "TCP" ? server.port : via === "WebSocket" ? `ws://127.0.0.1:${server.wsPort}/` : server;
    const message = (action: string, n: number, pad: number): { action: string; n: number; pad: Uint8Array } => ({
      action,
      n,
      pad: new Uint8Array(pad),
    });
    const size = (action: string, n: number, pad: number): number => encode(message(action, n, pad)).byteLength;
    const maxQueuedBytes = 4096;
    connect(player, target, { maxQueuedBytes });
    expect(player.connection!.state).toBe("connecting");
    expect(player.send(message("a", 1, 1000), { latest: "a" })).toBeGreaterThan(0);
    // Grown: the queue holds 3000 bytes of it now, not 1000.
    expect(player.send(message("a", 2, 3000), { latest: "a" })).toBeGreaterThan(0);
    expect(player.send(message("b", 1, 500))).toBeGreaterThan(0);
    expect(size("a", 2, 3000) + size("b", 1, 500) + size("c", 1, 1000)).toBeGreaterThan(maxQueuedBytes);
    expect(player.send(message("c", 1, 1000))).toBe(0);
    // Shrunk: what it gave back makes room.
    expect(player.send(message("a", 3, 100), { latest: "a" })).toBeGreaterThan(0);
    expect(size("a", 3, 100) + size("b", 1, 500) + size("c", 2, 1000)).toBeLessThanOrEqual(maxQueuedBytes);
    expect(player.send(message("c", 2, 1000))).toBeGreaterThan(0);
    const seat = await channelAfter(server, known);
    await waitFor(() => seat.seen.length === 3, "what was sent while connecting");
    expect(sequence(seat.seen)).toEqual(["a:3", "b:1", "c:2"]);
  });
});

describe("the outbox of a client on a browser's WebSocket", () => {
  it("sends latest states to a server that stops reading without being cut off, drops volatile ones while behind, and delivers the newest", async () => {
    // The browser transport on `ws`'s WebSocket class, whose bufferedAmount, as a browser's, has no drain event.
    const BrowserListener = listenerMixin(Object, createBrowserConnector(WebSocket as unknown as WebSocketConstructor));
    const far = await slowServer("WebSocket");
    const player = new BrowserListener();
    connect(player as ConnectionListener, far.target, { maxQueuedBytes: 1024 * 1024 });
    cleanup.add(() => far.resume());
    pumpEvery(cleanup, player);
    await waitFor(() => far.connected() && player.connection?.isConnected === true, "the connection");

    far.pause();
    let tick = 0;
    let most = 0;
    let backlogSince = 0;
    for (let turn = 0; turn < 2_000 && (backlogSince === 0 || tick - backlogSince < 200); turn++) {
      tick++;
      expect(player.send(state(tick), { latest: "state" })).toBeGreaterThan(0);
      most = Math.max(most, player.connection!.bufferedAmount);
      if (backlogSince === 0 && player.connection!.bufferedAmount >= HIGH_WATER_MARK) backlogSince = tick;
      await nextTurn();
    }
    expect(backlogSince).toBeGreaterThan(0);
    expect(most).toBeLessThan(HIGH_WATER_MARK + 2 * STATE_FRAME);
    expect(player.send({ action: "v", n: 1 }, { volatile: true })).toBe(0);

    far.resume();
    await waitFor(() => numbersOf(far.messages, "state").at(-1) === tick, "the newest state", 10_000);
    const ticks = numbersOf(far.messages, "state");
    expectIncreasing(ticks);
    expect(ticks.filter((n) => n > backlogSince).length).toBeLessThan(20);
    expect(numbersOf(far.messages, "v")).toEqual([]);
    expect(player.connection!.isConnected).toBe(true);
  });

  it("looks at bufferedAmount on a timer only while a drain is awaited, and reports the drain once it falls below the mark", () => {
    /** A browser WebSocket stand-in whose bufferedAmount the test sets. */
    class FakeSocket {
      static last: FakeSocket | null = null;
      readyState = 1;
      binaryType = "blob";
      bufferedAmount = 0;
      onopen: (() => void) | null = null;
      onmessage: (() => void) | null = null;
      onclose: (() => void) | null = null;
      onerror: (() => void) | null = null;
      constructor() {
        FakeSocket.last = this;
      }
      send(data: Uint8Array): void {
        this.bufferedAmount += data.byteLength;
      }
      close(): void {}
    }
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const transport = new BrowserWebSocketTransport(
        "ws://game.test/",
        { host: "game.test", port: 80 },
        { maxPayload: 1_000, WebSocket: FakeSocket as unknown as WebSocketConstructor },
      );
      let drains = 0;
      transport.start({ open() {}, payload() {}, invalid() {}, close() {}, drain: () => drains++ });
      const socket = FakeSocket.last!;
      socket.onopen!();
      transport.write(encode({ action: "big", pad: new Uint8Array(HIGH_WATER_MARK) }));
      expect(vi.getTimerCount()).toBe(0);

      transport.watchDrain(HIGH_WATER_MARK);
      vi.advanceTimersByTime(1_000);
      expect(drains).toBe(0);
      expect(vi.getTimerCount()).toBe(1);

      socket.bufferedAmount = HIGH_WATER_MARK - 1;
      vi.advanceTimersByTime(100);
      expect(drains).toBe(1);
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(1_000);
      expect(drains).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("a client reconnecting without a session", () => {
  it("drops volatile messages and keeps one latest message per key in its slot of the reconnection queue", async () => {
    const server = await seatServer();
    const proxy = await tcpProxy(cleanup, server.port);
    const player = new Player();
    connect(player, proxy.port, { reconnect: { initialDelay: 10, maxDelay: 20, maxAttempts: 100 } });
    pumpEvery(cleanup, player);
    const first = await channelAfter(server, new Set());
    await waitFor(() => player.connection!.isConnected, "the first connection");
    proxy.refuse(true);
    proxy.cut();
    await waitFor(() => player.connection!.state === "reconnecting", "the client to reconnect");
    player.send({ action: "a", n: 1 }, { latest: "a" });
    player.send({ action: "b", n: 1 });
    expect(player.send({ action: "v", n: 1 }, { volatile: true })).toBe(0);
    player.send({ action: "a", n: 2 }, { latest: "a" });
    player.send({ action: "a", n: 3 }, { latest: "a" });
    proxy.refuse(false);
    const second = await channelAfter(server, new Set([first]));
    await waitFor(() => second.seen.length === 2, "the queued messages");
    expect(sequence(second.seen)).toEqual(["a:3", "b:1"]);
  });
});

/** A link to a server that a test can cut, and keep the client from coming back until released. */
interface Link {
  readonly target: number | string | LocalServer;
  cut(): void;
  hold(on: boolean): void;
}

async function cuttableLink(server: Server<Seat>, via: Via): Promise<Link> {
  if (via !== "memory") {
    const proxy: TestProxy = await tcpProxy(cleanup, via === "TCP" ? server.port : server.wsPort!);
    return {
      target: via === "TCP" ? proxy.port : `ws://127.0.0.1:${proxy.port}/`,
      cut: () => proxy.cut(),
      hold: (on) => proxy.refuse(on),
    };
  }
  let current: Transport | null = null;
  let holding = false;
  return {
    target: {
      openLocal: (options) => {
        if (holding) throw new Error("the server is out of reach (simulated)");
        current = server.openLocal(options);
        return current;
      },
    },
    cut: () => {
      current?.destroy(new ConnectionError("ERR_CONNECTION_LOST", "read ECONNRESET (simulated)"));
      current = null;
    },
    hold: (on) => {
      holding = on;
    },
  };
}

describe.each(VIAS)("volatile and latest on a resumable session over %s", (via) => {
  async function session(): Promise<{ player: Player; seat: Seat; link: Link }> {
    const server = await seatServer({ resume: { window: 10_000 } });
    const link = await cuttableLink(server, via);
    const player = new Player();
    connect(player, link.target, { resume: true });
    pumpEvery(cleanup, player);
    const seat = await channelAfter(server, new Set());
    await sessionGranted(player);
    return { player, seat, link };
  }

  /** Cuts the link and keeps the player out until `during` has run in the gap. */
  async function gap(
    s: { player: Player; seat: Seat; link: Link },
    inGap: () => boolean,
    during: () => void,
  ): Promise<void> {
    const resumes = s.player.events.filter((event) => event === "resumed").length;
    s.link.hold(true);
    s.link.cut();
    await waitFor(inGap, "the gap");
    during();
    s.link.hold(false);
    await waitFor(
      () => s.player.events.filter((event) => event === "resumed").length === resumes + 1,
      "the resume",
      10_000,
    );
  }

  it("the seat's: volatile dropped behind a backlog and in a gap, latest coalesced under one number, and every message once across two resumes", async () => {
    const s = await session();
    const { seat, player } = s;
    const latest: SendOptions = { latest: "state" };
    const seen = (): string[] => sequence(player.seen);

    // Connected, nothing waits: everything goes out, the volatile message numbered like any other.
    seat.send({ action: "m", n: 0 });
    expect(seat.send({ action: "v", n: 0 }, { volatile: true })).toBeGreaterThan(0);
    seat.send({ action: "state", n: 0 }, latest);
    // A backlog within this turn: the volatile message is dropped, the states share one slot.
    seat.send(filler(0));
    expect(seat.send({ action: "v", n: 1 }, { volatile: true })).toBe(0);
    for (let tick = 1; tick <= 20; tick++) seat.send({ action: "state", n: tick }, latest);
    seat.send({ action: "m", n: 1 });
    await waitFor(() => seen().includes("m:1"), "m:1");
    expect(seen()).toEqual(["m:0", "v:0", "state:0", "fill:0", "state:20", "m:1"]);

    // A gap: nothing is sent, the volatile message is dropped, the states share one number.
    await gap(
      s,
      () => seat.drops === 1,
      () => {
        expect(seat.isConnected).toBe(false);
        expect(seat.send({ action: "v", n: 2 }, { volatile: true })).toBe(0);
        for (let tick = 21; tick <= 40; tick++) seat.send({ action: "state", n: tick }, latest);
        seat.send({ action: "m", n: 2 });
        // Still unsent: it takes the place of state 40, ahead of m:2.
        seat.send({ action: "state", n: 50 }, latest);
      },
    );
    await waitFor(() => seen().includes("m:2"), "m:2");
    expect(seen().slice(6)).toEqual(["state:50", "m:2"]);

    // Cut with a backlog in flight, then more in the gap: the replay resends exactly what was missed.
    expect(seat.send({ action: "v", n: 3 }, { volatile: true })).toBeGreaterThan(0);
    seat.send({ action: "m", n: 3 });
    seat.send(filler(1));
    for (let tick = 51; tick <= 60; tick++) seat.send({ action: "state", n: tick }, latest);
    seat.send({ action: "m", n: 4 });
    await gap(
      s,
      () => seat.drops === 2,
      () => {
        for (let tick = 61; tick <= 70; tick++) seat.send({ action: "state", n: tick }, latest);
        seat.send({ action: "m", n: 5 });
      },
    );
    seat.send({ action: "m", n: 6 });
    await waitFor(() => seen().includes("m:6"), "m:6");
    expect(seen().slice(8)).toEqual(["v:3", "m:3", "fill:1", "state:60", "m:4", "state:70", "m:5", "m:6"]);
    expect(player.events).toEqual(["connected", "dropped", "resumed", "dropped", "resumed"]);
    expect(seat.errors).toEqual([]);
  });

  it("the player's: volatile dropped behind a backlog and in a gap, latest coalesced under one number, and every message once across two resumes", async () => {
    const s = await session();
    const { seat, player } = s;
    const latest: SendOptions = { latest: "state" };
    const seen = (): string[] => sequence(seat.seen);
    const resuming = (): boolean => player.connection!.state === "resuming";

    player.send({ action: "m", n: 0 });
    expect(player.send({ action: "v", n: 0 }, { volatile: true })).toBeGreaterThan(0);
    player.send({ action: "state", n: 0 }, latest);
    player.send(filler(0));
    expect(player.send({ action: "v", n: 1 }, { volatile: true })).toBe(0);
    for (let tick = 1; tick <= 20; tick++) player.send({ action: "state", n: tick }, latest);
    player.send({ action: "m", n: 1 });
    await waitFor(() => seen().includes("m:1"), "m:1");
    expect(seen()).toEqual(["m:0", "v:0", "state:0", "fill:0", "state:20", "m:1"]);

    await gap(s, resuming, () => {
      expect(player.send({ action: "v", n: 2 }, { volatile: true })).toBe(0);
      for (let tick = 21; tick <= 40; tick++) player.send({ action: "state", n: tick }, latest);
      player.send({ action: "m", n: 2 });
      player.send({ action: "state", n: 50 }, latest);
    });
    await waitFor(() => seen().includes("m:2"), "m:2");
    expect(seen().slice(6)).toEqual(["state:50", "m:2"]);

    expect(player.send({ action: "v", n: 3 }, { volatile: true })).toBeGreaterThan(0);
    player.send({ action: "m", n: 3 });
    player.send(filler(1));
    for (let tick = 51; tick <= 60; tick++) player.send({ action: "state", n: tick }, latest);
    player.send({ action: "m", n: 4 });
    await gap(s, resuming, () => {
      for (let tick = 61; tick <= 70; tick++) player.send({ action: "state", n: tick }, latest);
      player.send({ action: "m", n: 5 });
    });
    player.send({ action: "m", n: 6 });
    await waitFor(() => seen().includes("m:6"), "m:6");
    expect(seen().slice(8)).toEqual(["v:3", "m:3", "fill:1", "state:60", "m:4", "state:70", "m:5", "m:6"]);
    expect(player.events).toEqual(["connected", "dropped", "resumed", "dropped", "resumed"]);
    expect(seat.errors).toEqual([]);
  });
});

describe("send options", () => {
  it("are checked up front: a TypeError for a volatile that is not a boolean or a latest that is not a string", async () => {
    const server = await seatServer();
    const { player, seat } = await playerOf(server, "memory");
    const wrong = [{ volatile: "yes" }, { latest: 7 }, "fast"] as unknown as SendOptions[];
    for (const options of wrong) {
      expect(() => seat.send({ action: "a" }, options)).toThrow(TypeError);
      expect(() => server.sendToAll({ action: "a" }, options)).toThrow(TypeError);
      expect(() => server.room("r").sendToAll({ action: "a" }, options)).toThrow(TypeError);
      expect(() => player.send({ action: "a" }, options)).toThrow(TypeError);
      expect(() => player.connection!.send({ action: "a" }, options)).toThrow(TypeError);
      expect(() => new ConnectionListener().send({ action: "a" }, options)).toThrow(TypeError);
    }
    expect(() => seat.send({ action: "a" }, { latest: 7 } as unknown as SendOptions)).toThrow(
      'send options must be { volatile?: boolean, latest?: string }, got {"latest":7}',
    );
  });

  it("name what was given in the TypeError: null and a string as themselves, not a property read of null", async () => {
    const server = await seatServer();
    const { player, seat } = await playerOf(server, "memory");
    const expected = [
      [null, "got null"],
      ["fast", 'got "fast"'],
      [true, "got true"],
    ] as const;
    for (const [options, shown] of expected) {
      const wrong = options as unknown as SendOptions;
      const message = `send options must be { volatile?: boolean, latest?: string }, ${shown}`;
      expect(() => seat.send({ action: "a" }, wrong)).toThrow(new TypeError(message));
      expect(() => player.send({ action: "a" }, wrong)).toThrow(new TypeError(message));
    }
  });
});

/** A transport that records what it is handed, with a buffer level the test sets. */
class RecordingTransport implements Transport {
  readonly kind = "tcp";
  readonly remote = { host: "test", port: 0 };
  bufferedAmount = 0;
  readonly written: Uint8Array[] = [];
  drainWatches = 0;
  events: TransportEvents | null = null;
  start(events: TransportEvents): void {
    this.events = events;
  }
  write(frame: Uint8Array): void {
    this.written.push(frame);
    this.bufferedAmount += frame.byteLength;
  }
  watchDrain(): void {
    this.drainWatches++;
  }
  end(): void {}
  destroy(): void {}
  pause(): void {}
  resume(): void {}
}

describe("the outbox's backlog", () => {
  it("holds a broadcast's frame by reference in every backlog, never a copy, and hands the newest latest frame over when the transport drains", () => {
    const transports = [new RecordingTransport(), new RecordingTransport()];
    const outboxes = transports.map((transport) => new Outbox(transport, 1024 * 1024));
    for (const outbox of outboxes) outbox.start();
    for (const transport of transports) transport.bufferedAmount = HIGH_WATER_MARK;
    const shared = encode({ action: "tick", n: 1 });
    const first = encode({ action: "state", n: 1 });
    const newest = encode({ action: "state", n: 2 });
    for (const outbox of outboxes) {
      expect(outbox.offer(shared)).toBe(shared.byteLength);
      expect(outbox.offer(first, "state")).toBe(first.byteLength);
      expect(outbox.offer(newest, "state")).toBe(newest.byteLength);
      expect(outbox.backlogLength).toBe(2);
      expect(outbox.backlogBytes).toBe(shared.byteLength + newest.byteLength);
    }
    for (const transport of transports) {
      expect(transport.written).toEqual([]);
      // One drain asked for, however many frames wait.
      expect(transport.drainWatches).toBe(1);
      transport.bufferedAmount = 0;
    }
    outboxes.forEach((outbox) => outbox.drain());
    for (const transport of transports) {
      expect(transport.written).toHaveLength(2);
      expect(transport.written[0]).toBe(shared);
      expect(transport.written[1]).toBe(newest);
    }
  });
});

/** A frame of `size` bytes; each one is a distinct object, so the tests compare them by identity. */
function frameOf(size: number): Uint8Array {
  return new Uint8Array(size);
}

/** That `actual` holds exactly the `expected` frames, the same objects in the same order. */
function expectFrames(actual: readonly Uint8Array[], expected: readonly Uint8Array[]): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((frame, index) => expect(actual[index]).toBe(frame));
}

/** An outbox over a transport the test controls, already open. */
function openOutbox(maxQueuedBytes: number): { outbox: Outbox; transport: RecordingTransport } {
  const transport = new RecordingTransport();
  const outbox = new Outbox(transport, maxQueuedBytes);
  outbox.start();
  return { outbox, transport };
}

describe("an outbox over a transport whose buffer the test sets", () => {
  it("hands a frame to a transport holding less than 64 KiB, the documented high-water mark, and keeps one back from a transport holding 64 KiB", () => {
    const { outbox, transport } = openOutbox(1024 * 1024);
    transport.bufferedAmount = 64 * 1024 - 1;
    outbox.offer(frameOf(10));
    expect(transport.written).toHaveLength(1);
    transport.bufferedAmount = 64 * 1024;
    outbox.offer(frameOf(10));
    expect(transport.written).toHaveLength(1);
    expect(outbox.backlogLength).toBe(1);
  });

  it("hands the transport frames only until its buffer reaches the high-water mark on each drain, the rest waiting in order", () => {
    const { outbox, transport } = openOutbox(1024 * 1024);
    transport.bufferedAmount = HIGH_WATER_MARK;
    const frames = [frameOf(40 * 1024), frameOf(40 * 1024), frameOf(40 * 1024)];
    for (const frame of frames) expect(outbox.offer(frame)).toBe(frame.byteLength);
    expect(outbox.backlogLength).toBe(3);
    expect(transport.drainWatches).toBe(1);

    // Room for one frame below the mark: the second takes the buffer past it, the third waits.
    transport.bufferedAmount = 0;
    outbox.drain();
    expectFrames(transport.written, frames.slice(0, 2));
    expect(outbox.backlogLength).toBe(1);
    expect(outbox.backlogBytes).toBe(40 * 1024);
    expect(transport.drainWatches).toBe(2);

    transport.bufferedAmount = 0;
    outbox.drain();
    expectFrames(transport.written, frames);
    expect(outbox.backlogLength).toBe(0);
    expect(outbox.backlogBytes).toBe(0);
    expect(transport.drainWatches).toBe(2);
  });

  it("is clear (a volatile frame may go) only while open, with nothing waiting, the transport below the mark and the pacing gate open", () => {
    const transport = new RecordingTransport();
    const outbox = new Outbox(transport, 1024 * 1024);
    // Still opening: a frame offered now would wait.
    expect(outbox.isClear).toBe(false);
    expect(outbox.offer(frameOf(10))).toBe(10);
    expect(transport.written).toEqual([]);
    outbox.start();
    expect(transport.written).toHaveLength(1);
    expect(outbox.isClear).toBe(true);

    transport.bufferedAmount = HIGH_WATER_MARK - 1;
    expect(outbox.isClear).toBe(true);
    transport.bufferedAmount = HIGH_WATER_MARK;
    expect(outbox.isClear).toBe(false);
    const waiting = frameOf(10);
    outbox.offer(waiting);
    expect(transport.written).not.toContain(waiting);
    expect(outbox.isClear).toBe(false);
    transport.bufferedAmount = 0;
    outbox.drain();
    expect(transport.written.at(-1)).toBe(waiting);
    expect(outbox.isClear).toBe(true);

    // A session's pacing: the peer has as much unacknowledged as it may have.
    let room = false;
    outbox.pace(() => room);
    expect(outbox.isClear).toBe(false);
    const held = frameOf(10);
    outbox.offer(held);
    expect(transport.written).not.toContain(held);
    room = true;
    outbox.drain();
    expect(transport.written.at(-1)).toBe(held);
    expect(outbox.isClear).toBe(true);
  });

  it("asks the transport for a drain only once it is open and a backlog remains", () => {
    const transport = new RecordingTransport();
    const outbox = new Outbox(transport, 1024 * 1024);
    outbox.offer(frameOf(100));
    outbox.offer(frameOf(100));
    expect(transport.drainWatches).toBe(0);
    outbox.start();
    expect(transport.written).toHaveLength(2);
    expect(transport.drainWatches).toBe(0);

    const opening = new Outbox(transport, 1024 * 1024);
    transport.bufferedAmount = HIGH_WATER_MARK;
    opening.offer(frameOf(100));
    expect(transport.drainWatches).toBe(0);
    // Opened with the buffer full: what waits goes on the next drain.
    opening.start();
    expect(transport.drainWatches).toBe(1);
  });

  it("with a small maxQueuedBytes, counts a peer as behind once more than a quarter of it is left from an earlier turn, and cuts it off at the bound", async () => {
    // 2 KiB: the slack is 512 bytes, not 4 KiB, or a peer that never reads could hold three times the bound.
    const behind = openOutbox(2048);
    await nextTurn();
    expect(behind.outbox.offer(frameOf(1000))).toBe(1000);
    await nextTurn();
    // 1000 bytes of an earlier turn still wait: this frame would take them to 2100.
    expect(behind.outbox.offer(frameOf(1100))).toBe(-1);
    expect(behind.transport.written).toHaveLength(1);

    const keepingUp = openOutbox(2048);
    await nextTurn();
    expect(keepingUp.outbox.offer(frameOf(400))).toBe(400);
    await nextTurn();
    // 400 bytes left over are within the slack: the peer keeps up, and a burst may pass the bound.
    expect(keepingUp.outbox.offer(frameOf(1700))).toBe(1700);
    expect(keepingUp.transport.written).toHaveLength(2);
  });

  it("counts a latest-wins frame's own size when it replaces a waiting one: a bigger one that would take a peer that is behind past maxQueuedBytes is refused, a smaller one always fits", () => {
    const { outbox, transport } = openOutbox(100_000);
    // The peer stopped reading: the transport's buffer is full from earlier turns.
    transport.bufferedAmount = HIGH_WATER_MARK;
    expect(outbox.offer(frameOf(10_000), "state")).toBe(10_000);
    expect(outbox.offer(frameOf(1_000))).toBe(1_000);
    expect(outbox.backlogBytes).toBe(11_000);

    expect(outbox.offer(frameOf(30_000), "state")).toBe(30_000);
    expect(outbox.backlogBytes).toBe(31_000);
    expect(outbox.backlogLength).toBe(2);
    expect(outbox.bufferedAmount).toBe(HIGH_WATER_MARK + 31_000);

    // 10 000 bytes more would make HIGH_WATER_MARK + 41 000 > 100 000: cut off, nothing replaced.
    expect(outbox.offer(frameOf(40_000), "state")).toBe(-1);
    expect(outbox.replace("state", frameOf(40_000))).toBeUndefined();
    expect(outbox.backlogBytes).toBe(31_000);

    const newest = frameOf(5_000);
    expect(outbox.offer(newest, "state")).toBe(5_000);
    expect(outbox.backlogBytes).toBe(6_000);
    // Room again for exactly what the smaller frame gave back.
    expect(outbox.offer(frameOf(100_000 - HIGH_WATER_MARK - 6_000))).toBeGreaterThan(0);
    expect(outbox.offer(frameOf(1))).toBe(-1);

    transport.bufferedAmount = 0;
    outbox.drain();
    expect(transport.written[0]).toBe(newest);
  });

  it("does not cut off a burst spread over promise callbacks of one turn: they are written together, as one turn's frames", async () => {
    // The slack is 4 KiB; the burst takes what waits past the bound.
    const { outbox, transport } = openOutbox(16 * 1024);
    await nextTurn();
    const accepted: number[] = [];
    outbox.offer(frameOf(100));
    void Promise.resolve().then(() => accepted.push(outbox.offer(frameOf(8000)), outbox.offer(frameOf(8000))));
    outbox.offer(frameOf(100));
    void Promise.resolve().then(() => accepted.push(outbox.offer(frameOf(8000))));
    await nextTurn();
    expect(accepted).toEqual([8000, 8000, 8000]);
    expect(transport.bufferedAmount).toBe(24_200);

    // The next turn finds those bytes still waiting: the peer is behind, and the bound holds.
    expect(outbox.offer(frameOf(100))).toBe(-1);
  });

  it("hands the whole backlog to the transport past the high-water mark when flushed for a graceful close", () => {
    const { outbox, transport } = openOutbox(1024 * 1024);
    transport.bufferedAmount = HIGH_WATER_MARK;
    const frames = [frameOf(40 * 1024), frameOf(100), frameOf(40 * 1024)];
    outbox.offer(frames[0]!);
    outbox.offer(frames[1]!, "state");
    outbox.offer(frames[2]!);
    outbox.flushAll();
    expectFrames(transport.written, frames);
    expect(outbox.backlogLength).toBe(0);
    expect(outbox.bufferedAmount).toBe(transport.bufferedAmount);
    transport.bufferedAmount = 0;
    outbox.drain();
    expect(transport.written).toHaveLength(3);
  });

  it("accepts a frame that takes what waits for a peer that is behind exactly to maxQueuedBytes, and cuts the peer off one byte past it", async () => {
    const { outbox, transport } = openOutbox(2048);
    await nextTurn();
    expect(outbox.offer(frameOf(1000))).toBe(1000);
    await nextTurn();
    // 1000 bytes of an earlier turn still wait (more than the 512 bytes of slack): the peer is behind.
    expect(outbox.offer(frameOf(1048))).toBe(1048);
    expect(outbox.bufferedAmount).toBe(2048);
    expect(outbox.offer(frameOf(1))).toBe(-1);
    expect(transport.written).toHaveLength(2);
  });

  it("counts a peer with exactly the slack left from earlier turns as keeping up, and with one byte more as behind", async () => {
    // 2 KiB: the slack is 512 bytes.
    const atSlack = openOutbox(2048);
    await nextTurn();
    atSlack.outbox.offer(frameOf(512));
    await nextTurn();
    expect(atSlack.outbox.offer(frameOf(1600))).toBe(1600);
    expect(atSlack.transport.written).toHaveLength(2);

    const pastSlack = openOutbox(2048);
    await nextTurn();
    pastSlack.outbox.offer(frameOf(513));
    await nextTurn();
    expect(pastSlack.outbox.offer(frameOf(1600))).toBe(-1);
    expect(pastSlack.transport.written).toHaveLength(1);
  });

  it("counts a peer as keeping up once the bytes of earlier turns have left during this turn, however much this turn wrote", async () => {
    // 16 KiB: the slack is 4 KiB.
    const { outbox, transport } = openOutbox(16 * 1024);
    await nextTurn();
    expect(outbox.offer(frameOf(10_000))).toBe(10_000);
    await nextTurn();
    // The peer has not read them yet: 10 000 bytes of an earlier turn wait when this turn's frames come.
    expect(outbox.offer(frameOf(100))).toBe(100);
    expect(outbox.offer(frameOf(6_000))).toBe(6_000);
    // Then the transport hands the earlier turn's bytes on: only this turn's 6 100 wait.
    transport.bufferedAmount -= 10_000;
    expect(outbox.offer(frameOf(12_000))).toBe(12_000);
    expect(transport.written).toHaveLength(4);

    // The next turn finds all of that turn's bytes still waiting: the peer is behind, and the bound holds.
    await nextTurn();
    expect(outbox.offer(frameOf(100))).toBe(-1);
  });

  it("does not cut off a burst of one turn that all waits in the backlog (the peer's pacing holds it), and cuts the peer off in a later turn", async () => {
    // 16 KiB: the slack is 4 KiB.
    const { outbox, transport } = openOutbox(16 * 1024);
    outbox.pace(() => false);
    await nextTurn();
    for (let index = 0; index < 3; index++) expect(outbox.offer(frameOf(8000))).toBe(8000);
    expect(outbox.backlogBytes).toBe(24_000);
    expect(transport.written).toEqual([]);

    await nextTurn();
    expect(outbox.offer(frameOf(100))).toBe(-1);
    expect(outbox.backlogBytes).toBe(24_000);
  });

  it("counts the growth of a latest-wins frame replaced in this turn as this turn's bytes: the burst goes on, and the next turn holds the bound", async () => {
    // 16 KiB: the slack is 4 KiB.
    const { outbox, transport } = openOutbox(16 * 1024);
    outbox.pace(() => false);
    await nextTurn();
    expect(outbox.offer(frameOf(100), "state")).toBe(100);
    await nextTurn();
    // 100 bytes of an earlier turn wait, within the slack: the peer keeps up, and its state grows past the bound.
    const newest = frameOf(20_000);
    expect(outbox.offer(newest, "state")).toBe(20_000);
    expect(outbox.offer(frameOf(5_000))).toBe(5_000);
    expect(outbox.backlogBytes).toBe(25_000);
    expect(outbox.backlogLength).toBe(2);

    // The grown frame waits from an earlier turn now: the peer is behind.
    await nextTurn();
    expect(outbox.offer(frameOf(100))).toBe(-1);
    expect(outbox.replace("state", frameOf(20_001))).toBeUndefined();
    outbox.pace(() => true);
    outbox.drain();
    expect(transport.written[0]).toBe(newest);
  });

  it("lets a latest-wins frame replace a waiting one of the same size or smaller while a peer that is behind holds more than maxQueuedBytes", async () => {
    const { outbox, transport } = openOutbox(16 * 1024);
    await nextTurn();
    // One turn's burst to a peer that kept up takes what waits past the bound.
    expect(outbox.offer(frameOf(HIGH_WATER_MARK))).toBe(HIGH_WATER_MARK);
    expect(outbox.offer(frameOf(8000), "state")).toBe(8000);
    await nextTurn();

    // The peer did not read that turn's bytes: it is behind, yet a fixed-size state update replaces the waiting one.
    expect(outbox.offer(frameOf(8000), "state")).toBe(8000);
    const smaller = frameOf(7000);
    expect(outbox.replace("state", smaller)?.frame).toBe(smaller);
    expect(outbox.backlogBytes).toBe(7000);
    // A bigger one would add to what waits past the bound.
    expect(outbox.offer(frameOf(7001), "state")).toBe(-1);

    transport.bufferedAmount = 0;
    outbox.drain();
    expectFrames(transport.written.slice(1), [smaller]);
  });

  it("judges the peer by what its transport held before in every turn, the first turns after the outbox's module loaded included", async () => {
    // The outbox counts turns from when its module loads: a fresh copy of it starts at the first.
    vi.resetModules();
    const fresh = await import("../lib/connections/outbox.js");
    for (let index = 0; index < 4; index++) {
      const transport = new RecordingTransport();
      // The transport holds 2000 bytes of earlier turns that the peer has not read.
      transport.bufferedAmount = 2000;
      const outbox = new fresh.Outbox(transport, 2048);
      outbox.start();
      expect(outbox.offer(frameOf(100))).toBe(-1);
      expect(transport.written).toEqual([]);
      await nextTurn();
    }
  });

  it("drops what waits when stopped: none of it, nor anything offered later, reaches the transport, even when it drains", () => {
    const { outbox, transport } = openOutbox(1024 * 1024);
    transport.bufferedAmount = HIGH_WATER_MARK;
    outbox.offer(frameOf(100));
    outbox.offer(frameOf(200), "state");
    expect(outbox.backlogLength).toBe(2);
    outbox.stop();
    expect(outbox.backlogLength).toBe(0);
    expect(outbox.backlogBytes).toBe(0);
    expect(outbox.bufferedAmount).toBe(HIGH_WATER_MARK);
    expect(outbox.isClear).toBe(false);

    transport.bufferedAmount = 0;
    outbox.offer(frameOf(300));
    outbox.drain();
    expect(transport.written).toEqual([]);
  });

  it("takes nothing more once flushed: a frame offered after the flush never reaches the transport", () => {
    const { outbox, transport } = openOutbox(1024 * 1024);
    const sent = frameOf(100);
    outbox.offer(sent);
    outbox.flushAll();
    expectFrames(transport.written, [sent]);
    transport.bufferedAmount = 0;
    outbox.offer(frameOf(200));
    outbox.drain();
    expectFrames(transport.written, [sent]);
  });

  it("hands a transport that never opened nothing, not even when flushed or drained, and drops what waited", () => {
    const transport = new RecordingTransport();
    const outbox = new Outbox(transport, 1024 * 1024);
    outbox.offer(frameOf(100));
    outbox.offer(frameOf(200), "state");
    // A drain reported before the transport opened leaves the frames waiting for start().
    outbox.drain();
    expect(transport.written).toEqual([]);
    expect(outbox.backlogLength).toBe(2);
    outbox.flushAll();
    expect(transport.written).toEqual([]);
    expect(outbox.backlogLength).toBe(0);
    expect(outbox.backlogBytes).toBe(0);
  });
});

describe("a frame queue", () => {
  it("keeps every frame, in order, with its count and bytes, through a long backlog drained and refilled", () => {
    const queue = new FrameQueue();
    const frames = range(3000).map((index) => frameOf(1 + (index % 7)));
    const sizeOf = (list: readonly Uint8Array[]): number => list.reduce((sum, frame) => sum + frame.byteLength, 0);
    frames.slice(0, 2000).forEach((frame, index) => queue.push(frame, index === 1900 ? "late" : undefined));
    expect(queue.length).toBe(2000);

    const out: Uint8Array[] = [];
    for (let index = 0; index < 1500; index++) out.push(queue.shift());
    expect(queue.length).toBe(500);
    expect(queue.bytes).toBe(sizeOf(frames.slice(1500, 2000)));
    // The keyed frame still waits and is still replaceable.
    const replacement = frameOf(50);
    queue.replace(queue.slot("late")!, replacement);
    frames[1900] = replacement;
    expect(queue.bytes).toBe(sizeOf(frames.slice(1500, 2000)));

    frames.slice(2000).forEach((frame) => queue.push(frame));
    expect(queue.length).toBe(1500);
    while (!queue.isEmpty) out.push(queue.shift());
    expectFrames(out, frames);
    expect(queue.length).toBe(0);
    expect(queue.bytes).toBe(0);
    expect(queue.slot("late")).toBeUndefined();
  });

  it("makes a frame pushed with a key the slot newer frames replace, and keeps it so when an older frame with that key leaves", () => {
    const queue = new FrameQueue();
    const older = frameOf(10);
    queue.push(older, "state");
    const newer = frameOf(20);
    queue.push(newer, "state");
    expect(queue.slot("state")!.frame).toBe(newer);
    expect(queue.shift()).toBe(older);
    expect(queue.slot("state")!.frame).toBe(newer);
    const newest = frameOf(30);
    queue.replace(queue.slot("state")!, newest);
    expect(queue.shift()).toBe(newest);
    expect(queue.slot("state")).toBeUndefined();
  });

  it("counts the bytes of the frame that takes a slot's place, bigger or smaller", () => {
    const queue = new FrameQueue();
    queue.push(frameOf(100), "state", 7);
    queue.push(frameOf(50));
    expect(queue.bytes).toBe(150);
    const slot = queue.slot("state")!;
    queue.replace(slot, frameOf(300));
    expect(queue.bytes).toBe(350);
    queue.replace(slot, frameOf(20));
    expect(queue.bytes).toBe(70);
    expect(queue.slot("state")!.tag).toBe(7);
    expect(queue.shift().byteLength).toBe(20);
    expect(queue.bytes).toBe(50);
  });

  it("drops every frame and every latest-wins slot when cleared, and queues anew after", () => {
    const queue = new FrameQueue();
    queue.push(frameOf(10));
    queue.push(frameOf(20), "state");
    queue.clear();
    expect(queue.isEmpty).toBe(true);
    expect(queue.length).toBe(0);
    expect(queue.bytes).toBe(0);
    expect(queue.slot("state")).toBeUndefined();
    const next = frameOf(30);
    queue.push(next, "state");
    expect(queue.length).toBe(1);
    expect(queue.bytes).toBe(30);
    expect(queue.shift()).toBe(next);
  });
});
