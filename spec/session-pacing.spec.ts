import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionListener, decode, encode, FrameDecoder, type IncomingMessage } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, rawSocket, startServer, waitFor } from "./helpers/net.js";
import { tcpProxy, type TestProxy } from "./helpers/proxy.js";
import { pumpEvery, sessionGranted } from "./helpers/sessions.js";
import { closeRawWebSocket, openRawWebSocket } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Bytes of padding in one state: about 2 KB on the wire, as a game's snapshot. */
const STATE_PAD = 2000;
/** Bytes of one state on the wire, about. */
const STATE_BYTES = encode({ action: "state", n: 2 ** 31, pad: new Uint8Array(STATE_PAD) }).byteLength;
/** States sent while the reader does not read: 800 KB, far less than loopback's kernel buffers take. */
const TICKS = 400;

function state(n: number): { action: string; n: number; pad: Uint8Array } {
  return { action: "state", n, pad: new Uint8Array(STATE_PAD) };
}

class Seat extends Channel {
  readonly states: number[] = [];

  Network_state(message: { n: number }): void {
    this.states.push(message.n);
  }
}

/**
 * A player written by hand over TCP or WebSocket that asks for a session and acknowledges every
 * message it reads, as repod-rx clients do in batches; `pause()` stops reading (a phone on a bad
 * link), and with it the acknowledgements.
 */
interface SlowPlayer {
  readonly states: number[];
  pause(): void;
  resume(): void;
}

async function slowPlayer(via: "TCP" | "WebSocket", port: number): Promise<SlowPlayer> {
  const states: number[] = [];
  let received = 0;
  let granted = false;
  let send: (message: object) => void;
  const onMessage = (message: IncomingMessage): void => {
    if (message.action === "@session") granted = true;
    if (typeof message.action !== "string" || message.action.startsWith("@") || message.action === "connected") return;
    received++;
    if (message.action === "state") states.push(message.n as number);
    send({ action: "@ack", n: received });
  };
  let player: SlowPlayer;
  if (via === "TCP") {
    const socket = cleanup.socket(await rawSocket(port));
    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) =>
      decoder.push(chunk, (payload) => onMessage(decode(payload) as IncomingMessage)),
    );
    send = (message) => socket.write(encode(message));
    player = { states, pause: () => socket.pause(), resume: () => socket.resume() };
  } else {
    const socket = await openRawWebSocket(`ws://127.0.0.1:${port}/`);
    cleanup.add(() => closeRawWebSocket(socket));
    socket.on("message", (data) => onMessage(decode(data as Buffer) as IncomingMessage));
    // The WebSocket transport carries the bare msgpack payload, without the TCP length header.
    send = (message) => socket.send(encode(message).subarray(4));
    player = { states, pause: () => socket.pause(), resume: () => socket.resume() };
  }
  send({ action: "@hello", session: true });
  await waitFor(() => granted, "the session");
  return player;
}

describe.each(["TCP", "WebSocket"] as const)("a session's pacing, over %s", (via) => {
  it("keeps what a player has not read under maxInFlightBytes: a stalled reader of latest states gets the newest and only a window of stale ones", async () => {
    const maxInFlightBytes = 32 * 1024;
    const server = cleanup.server(
      await startServer({ channelClass: Seat, ws: { port: 0 }, resume: { maxInFlightBytes } }),
    );
    const player = await slowPlayer(via, via === "TCP" ? server.port : server.wsPort!);
    await waitFor(() => server.channels.length === 1, "the channel");
    const channel = server.channels[0]!;
    // One state read and acknowledged: the server knows this player acknowledges.
    channel.send(state(0));
    await waitFor(() => player.states.length === 1, "the first state");
    await waitFor(() => channel.bufferedAmount === 0, "the acknowledgement");

    player.pause();
    for (let n = 1; n <= TICKS; n++) {
      expect(channel.send(state(n), { latest: "state" })).toBeGreaterThan(0);
      await nextTurn();
    }
    // What the server holds for the player: the window it has not acknowledged (kept for a
    // resume) and the one newest state waiting; never the 800 KB sent.
    expect(channel.bufferedAmount).toBeLessThan(maxInFlightBytes + 3 * STATE_BYTES);
    player.resume();
    await waitFor(() => player.states.at(-1) === TICKS, "the newest state", 10_000);

    // Without pacing the kernels' buffers would have taken all 400 states, and the player would
    // read every one of them before the newest.
    const stale = player.states.length - 2;
    expect(stale).toBeLessThanOrEqual(Math.ceil(maxInFlightBytes / STATE_BYTES) + 1);
    expect(player.states).toEqual([...player.states].sort((a, b) => a - b));
    expect(channel.isConnected).toBe(true);
  });

  it("lets a player that reads at full speed have every state, however many, without waiting on its acknowledgements", async () => {
    const server = cleanup.server(
      await startServer({ channelClass: Seat, ws: { port: 0 }, resume: { maxInFlightBytes: 16 * 1024 } }),
    );
    const player = await slowPlayer(via, via === "TCP" ? server.port : server.wsPort!);
    await waitFor(() => server.channels.length === 1, "the channel");
    const channel = server.channels[0]!;
    for (let n = 1; n <= TICKS; n++) {
      channel.send(state(n));
      if (n % 10 === 0) await nextTurn();
    }
    await waitFor(() => player.states.length === TICKS, "every state", 10_000);
    expect(player.states).toEqual(Array.from({ length: TICKS }, (_, i) => i + 1));
  });
});

/**
 * `player` connected with a session to a resumable server over TCP, through a proxy that can hold
 * what the player sends, once the player holds its session; both are pumped every millisecond.
 */
async function proxiedSession<L extends ConnectionListener>(player: L): Promise<{ proxy: TestProxy; seat: Seat }> {
  const server = cleanup.server(await startServer({ channelClass: Seat, resume: true }));
  pumpEvery(cleanup, server);
  const proxy = await tcpProxy(cleanup, server.port);
  cleanup.listener(player);
  player.connect("127.0.0.1", proxy.port, { resume: true });
  pumpEvery(cleanup, player);
  await sessionGranted(player);
  await waitFor(() => server.channels.length === 1, "the channel");
  return { proxy, seat: server.channels[0]! };
}

describe("a client's pacing (TCP, through a proxy that stops forwarding)", () => {
  it("keeps what the server has not acknowledged under 64 KiB: a stalled server gets the client's newest latest state and a window of stale ones", async () => {
    const player = new ConnectionListener();
    const { proxy, seat } = await proxiedSession(player);
    // Enough messages for the server to acknowledge at once: the client knows it acknowledges.
    for (let n = 0; n < 40; n++) player.send(state(-1));
    await waitFor(() => seat.states.length === 40, "the first states");

    proxy.hold(true);
    for (let n = 1; n <= TICKS; n++) {
      expect(player.send(state(n), { latest: "state" })).toBeGreaterThan(0);
      await nextTurn();
    }
    proxy.hold(false);
    await waitFor(() => seat.states.at(-1) === TICKS, "the newest state", 10_000);
    const stale = seat.states.length - 40 - 1;
    expect(stale).toBeLessThanOrEqual(Math.ceil((64 * 1024) / STATE_BYTES) + 1);
    expect(player.connection?.state).toBe("open");
  });
});

describe.each(["TCP", "WebSocket"] as const)("bufferedAmount with a session, over %s", (via) => {
  it("counts a message once while it is both kept for a resume and waiting to be written, and none once acknowledged", async () => {
    const server = cleanup.server(await startServer({ channelClass: Seat, resume: true, ws: { port: 0 } }));
    pumpEvery(cleanup, server);
    const player = cleanup.listener(new ConnectionListener());
    player.connect(via === "TCP" ? `tcp://127.0.0.1:${server.port}` : `ws://127.0.0.1:${server.wsPort}/`, {
      resume: true,
    });
    pumpEvery(cleanup, player);
    await sessionGranted(player);
    await waitFor(() => server.channels.length === 1, "the channel");
    const seat = server.channels[0]!;
    const client = player.connection!;
    await waitFor(() => client.bufferedAmount === 0 && seat.bufferedAmount === 0, "the greetings to be acknowledged");

    // Synchronously after send() the frame is in the replay log and in the socket's buffer alike.
    // The WebSocket frame's own header (up to 14 bytes) is counted in the socket's buffer.
    const fromClient = client.send(state(1));
    expect(client.bufferedAmount).toBeGreaterThanOrEqual(fromClient);
    expect(client.bufferedAmount).toBeLessThanOrEqual(fromClient + 14);
    const toClient = seat.send(state(2));
    expect(seat.bufferedAmount).toBeGreaterThanOrEqual(toClient);
    expect(seat.bufferedAmount).toBeLessThanOrEqual(toClient + 14);

    // Acknowledged within the acknowledgement delay (200 ms): nothing is held any more.
    await waitFor(() => client.bufferedAmount === 0 && seat.bufferedAmount === 0, "both messages to be acknowledged");
    expect(seat.states).toEqual([1]);
  });
});

describe("bufferedAmount with a session, once written and not yet acknowledged (TCP, through a proxy)", () => {
  class Watcher extends ConnectionListener {
    readonly states: number[] = [];

    Network_state(message: { n: number }): void {
      this.states.push(message.n);
    }
  }

  it("counts what each side keeps for a resume, after the socket took it, until the peer acknowledges it", async () => {
    const player = new Watcher();
    const { proxy, seat } = await proxiedSession(player);
    const client = player.connection!;
    await waitFor(() => client.bufferedAmount === 0 && seat.bufferedAmount === 0, "the greetings to be acknowledged");

    // What the client sends, and its acknowledgements, stay in the proxy.
    proxy.hold(true);
    const fromClient = client.send(state(1));
    const toClient = seat.send(state(2));
    await waitFor(() => player.states.length === 1, "the server's message");
    await delay(20);
    expect(client.bufferedAmount).toBe(fromClient);
    expect(seat.bufferedAmount).toBe(toClient);

    proxy.hold(false);
    await waitFor(() => client.bufferedAmount === 0 && seat.bufferedAmount === 0, "both messages to be acknowledged");
    expect(seat.states).toEqual([1]);
  });
});
