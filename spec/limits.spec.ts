import * as net from "node:net";
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import {
  ConnectionError,
  ConnectionListener,
  encode,
  ProtocolError,
  Server,
  type ConnectOptions,
  type IncomingMessage,
} from "../lib/index.js";
import { DEFAULT_MAX_PAYLOAD_ITEMS, DEFAULT_MAX_PAYLOAD_KEYS } from "../lib/constants.js";
import { Cleanup } from "./helpers/cleanup.js";
import { closeRawWebSocket, openRawWebSocket, payloadOf } from "./helpers/ws.js";
import { loggedListener } from "./helpers/listeners.js";
import { closedPort, delay, rawSocket, startServer, waitFor } from "./helpers/net.js";
import { RecordingChannel } from "./helpers/recording-channel.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A connected listener and every message it got, recorded live. */
async function connectListener(
  port: number,
  options?: ConnectOptions,
): Promise<{ listener: ConnectionListener; log: IncomingMessage[] }> {
  const { listener, log } = loggedListener(cleanup);
  listener.connect("127.0.0.1", port, options);
  await waitFor(() => log.length > 0, "the connection outcome");
  return { listener, log };
}

function actions(log: readonly IncomingMessage[]): unknown[] {
  return log.map((message) => message.action);
}

/** The message of `{ action, data }` whose payload is exactly `size` bytes. */
function messageOfPayloadSize(action: string, size: number): { action: string; data: string } {
  const overhead = encode({ action, data: "" }).byteLength - 4;
  // A str of 32..255 bytes takes one more header byte than a shorter one, and so on.
  for (let extra = 0; extra < 8; extra++) {
    const message = { action, data: "x".repeat(size - overhead - extra) };
    if (encode(message).byteLength - 4 === size) return message;
  }
  throw new Error(`no message of ${size} payload bytes`);
}

describe("maxQueuedBytes: a peer that stops reading", () => {
  it("is closed with ERR_SEND_QUEUE_FULL while another client keeps receiving every broadcast", async () => {
    const maxQueuedBytes = 256 * 1024;
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, maxQueuedBytes }));
    const good = await connectListener(server.port);
    const stalled = cleanup.socket(await rawSocket(server.port));
    stalled.pause(); // reads nothing ever again: the kernel buffers fill, then ours would
    await waitFor(() => server.channels.length === 2, "both channels");
    const stalledChannel = server.channels.find((channel) => channel.addr.port === stalled.localPort)!;

    const padding = "x".repeat(16 * 1024);
    let sent = 0;
    let mostQueued = 0;
    // Bounded: a paused loopback socket absorbs a few megabytes of kernel buffers at most.
    for (let turn = 0; turn < 1_000 && stalledChannel.isConnected; turn++) {
      for (let i = 0; i < 4; i++) server.sendToAll({ action: "tick", n: sent++, padding });
      mostQueued = Math.max(mostQueued, stalledChannel.bufferedAmount);
      await nextTurn();
    }
    // Life goes on for the others after the cut.
    for (let i = 0; i < 10; i++) server.sendToAll({ action: "tick", n: sent++, padding });

    expect(stalledChannel.isConnected).toBe(false);
    await waitFor(() => stalledChannel.closes === 1, "onClose of the stalled channel");
    expect(mostQueued).toBeLessThanOrEqual(maxQueuedBytes);
    expect(stalledChannel.errors).toHaveLength(1);
    const error = stalledChannel.errors[0] as ConnectionError;
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe("ERR_SEND_QUEUE_FULL");
    expect(error.message).toMatch(/not reading.*maxQueuedBytes limit of 262144/);
    expect(server.channels).toHaveLength(1);

    const ticks = (): number[] =>
      good.log.filter((message) => message.action === "tick").map((message) => message.n as number);
    await waitFor(() => ticks().length === sent, `all ${sent} ticks`, 10_000);
    expect(ticks()).toEqual(Array.from({ length: sent }, (_, n) => n));
    expect(actions(good.log)).not.toContain("error");
    expect(good.listener.connection?.isConnected).toBe(true);
  });

  it("refuses with 0 a frame that would exceed the bound of a client still connecting", async () => {
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", await closedPort(), { maxQueuedBytes: 100 });
    expect(listener.send({ action: "a", data: "x".repeat(50) })).toBeGreaterThan(0);
    expect(listener.send({ action: "b", data: "x".repeat(50) })).toBe(0);
  });
});

describe.each(["TCP", "WebSocket"] as const)(
  "maxQueuedBytes: a peer that pings over %s and never reads",
  (transport) => {
    it("is cut off at the bound: the library's own pongs count like every byte the game sends", async () => {
      const maxQueuedBytes = 64 * 1024;
      // Without a rate limit: its control budget would answer only 1,000 pings a second, and
      // loopback's kernel buffers would take minutes of pongs before any waits in the library.
      const server = cleanup.server(
        await startServer({ channelClass: RecordingChannel, maxQueuedBytes, rateLimit: false, ws: { port: 0 } }),
      );
      let writePings: (count: number) => void;
      if (transport === "TCP") {
        const socket = cleanup.socket(await rawSocket(server.port));
        socket.pause();
        writePings = (count) => {
          const frames: Uint8Array[] = [];
          for (let i = 0; i < count; i++) frames.push(encode({ action: "@ping", id: i }));
          socket.write(Buffer.concat(frames));
        };
      } else {
        const socket = await openRawWebSocket(`ws://127.0.0.1:${server.wsPort}/`);
        cleanup.add(() => closeRawWebSocket(socket));
        socket.pause();
        writePings = (count) => {
          for (let i = 0; i < count; i++) socket.send(payloadOf({ action: "@ping", id: i }));
        };
      }
      await waitFor(() => server.channels.length === 1, "the pinging channel");
      const channel = server.channels[0] as RecordingChannel;
      let mostQueued = 0;
      // Bounded: 22 MB of pings at most, far beyond what loopback's kernel buffers absorb.
      for (let turn = 0; turn < 1_000 && channel.closes === 0; turn++) {
        writePings(1_000);
        mostQueued = Math.max(mostQueued, channel.bufferedAmount);
        await delay(1);
      }
      await waitFor(() => channel.closes === 1, "the pinging channel to be cut off");
      expect(mostQueued).toBeLessThanOrEqual(maxQueuedBytes);
      expect(channel.errors).toHaveLength(1);
      expect((channel.errors[0] as ConnectionError).code).toBe("ERR_SEND_QUEUE_FULL");
    });
  },
);

describe("maxConnections", () => {
  it("refuses the extra client with an error ERR_SERVER_FULL, leaves the others alone, and accepts again once one leaves", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, maxConnections: 2 }));
    let accepted = 0;
    cleanup.subscription(server.connections$.subscribe(() => accepted++));
    const first = await connectListener(server.port);
    const second = await connectListener(server.port);
    await waitFor(() => server.channels.length === 2, "two channels");

    const extra = await connectListener(server.port);
    await waitFor(() => actions(extra.log).includes("disconnected"), "the refused client to be disconnected");
    const error = extra.log.find((message) => message.action === "error");
    expect(error).toEqual({
      action: "error",
      code: "ERR_SERVER_FULL",
      error: expect.stringMatching(/full.*maxConnections/),
    });
    expect(actions(extra.log).slice(-2)).toEqual(["error", "disconnected"]);
    expect(accepted).toBe(2);

    // The two accepted clients did not notice.
    server.sendToAll({ action: "hello" });
    first.listener.send({ action: "still-here" });
    await waitFor(() => [first, second].every(({ log }) => actions(log).includes("hello")), "the broadcast");
    await waitFor(
      () => server.channels.some((channel) => (channel as RecordingChannel).received.length === 1),
      "the message",
    );
    for (const { log } of [first, second]) expect(actions(log)).toEqual(["connected", "socketConnect", "hello"]);
    expect(server.channels.every((channel) => (channel as RecordingChannel).errors.length === 0)).toBe(true);

    first.listener.close();
    await waitFor(() => server.channels.length === 1, "the first client to leave");
    const next = await connectListener(server.port);
    await waitFor(() => server.channels.length === 2, "the next client");
    expect(actions(next.log)).toEqual(["connected", "socketConnect"]);
    await delay(50);
    expect(actions(next.log)).not.toContain("error");
    expect(accepted).toBe(3);
  });

  it("counts a refusal as a failed attempt, so a reconnecting client gives up on a full server", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, maxConnections: 1 }));
    await connectListener(server.port);
    await waitFor(() => server.channels.length === 1, "the one channel");

    const extra = await connectListener(server.port, { reconnect: { maxAttempts: 2, initialDelay: 5, maxDelay: 10 } });
    await waitFor(() => extra.listener.connection?.state === "closed", "the refused client to give up", 10_000);
    const errors = extra.log.filter((message) => message.action === "error").map((message) => message.code);
    expect(errors.at(-1)).toBe("ERR_RECONNECT_FAILED");
    // The first refusal and the two retries, each refused.
    expect(errors.filter((code) => code === "ERR_SERVER_FULL")).toHaveLength(3);
  });

  it("is checked up front", () => {
    expect(() => new Server({ maxConnections: 0 })).toThrow(RangeError);
    expect(() => new Server({ maxConnections: 1.5 })).toThrow(TypeError);
  });
});

describe("idleTimeout", () => {
  it("closes a peer that sends nothing with ERR_IDLE_TIMEOUT and keeps an active one", async () => {
    const idleTimeout = 300;
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, idleTimeout }));
    const active = await connectListener(server.port);
    const ticker = setInterval(() => active.listener.send({ action: "noop" }), 50);
    cleanup.add(() => clearInterval(ticker));
    const silent = cleanup.socket(await rawSocket(server.port));
    silent.resume();
    const silentClosed = new Promise<number>((resolve) => silent.once("close", () => resolve(Date.now())));
    const connectedAt = Date.now();
    await waitFor(() => server.channels.length === 2, "both channels");
    const silentChannel = server.channels.find((channel) => channel.addr.port === silent.localPort) as RecordingChannel;
    const activeChannel = server.channels.find((channel) => channel !== silentChannel) as RecordingChannel;

    const closedAfter = (await silentClosed) - connectedAt;
    expect(closedAfter).toBeGreaterThanOrEqual(idleTimeout - 20);
    expect(closedAfter).toBeLessThan(idleTimeout + 1_000);
    await waitFor(() => silentChannel.closes === 1, "onClose of the silent channel");
    expect(silentChannel.errors).toHaveLength(1);
    expect(silentChannel.errors[0]).toBeInstanceOf(ConnectionError);
    expect((silentChannel.errors[0] as ConnectionError).code).toBe("ERR_IDLE_TIMEOUT");

    await delay(3 * idleTimeout);
    expect(activeChannel.isConnected).toBe(true);
    expect(activeChannel.errors).toEqual([]);
    expect(activeChannel.received.length).toBeGreaterThan(5);
    expect(server.channels).toEqual([activeChannel]);
  });

  it("closes a client side whose server goes silent", async () => {
    // A server that accepts but never writes a byte (not even the greeting).
    const sockets: net.Socket[] = [];
    const silentServer = net.createServer((socket) => sockets.push(socket));
    cleanup.netServer(silentServer, sockets);
    await new Promise<void>((resolve) => silentServer.listen(0, "127.0.0.1", resolve));
    const { port } = silentServer.address() as net.AddressInfo;
    const client = await connectListener(port, { idleTimeout: 200 });
    await waitFor(() => actions(client.log).includes("disconnected"), "the idle client to give up");
    expect(client.log.slice(-2)).toEqual([
      { action: "error", code: "ERR_IDLE_TIMEOUT", error: expect.stringMatching(/idleTimeout of 200 ms/) },
      { action: "disconnected" },
    ]);
  });
});

describe("maxPayload", () => {
  it("server side: accepts a payload of exactly maxPayload bytes and closes a client that sends one byte more", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, maxPayload: 1024 }));
    const bystander = await connectListener(server.port);
    const offender = await connectListener(server.port);
    await waitFor(() => server.channels.length === 2, "both channels");
    const offenderChannel = server.channels[1] as RecordingChannel;

    offender.listener.send(messageOfPayloadSize("fits", 1024));
    await waitFor(() => offenderChannel.received.length === 1, "the largest allowed message");
    offender.listener.send(messageOfPayloadSize("too-big", 1025));
    await waitFor(() => offenderChannel.closes === 1, "the offender to be closed");
    expect(offenderChannel.errors).toHaveLength(1);
    const error = offenderChannel.errors[0] as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe("ERR_PAYLOAD_TOO_LARGE");
    expect(error.message).toBe("Frame header announces a 1025-byte payload, over the 1024-byte maxPayload limit");
    await waitFor(() => actions(offender.log).includes("disconnected"), "the offender's disconnected");

    bystander.listener.send({ action: "after" });
    await waitFor(() => (server.channels[0] as RecordingChannel).received.length === 1, "the bystander's message");
    expect(server.channels).toHaveLength(1);
    expect(bystander.listener.connection?.isConnected).toBe(true);
  });

  it("client side: accepts a payload of exactly maxPayload bytes and ends with error then disconnected on one byte more", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel }));
    const client = await connectListener(server.port, { maxPayload: 1024 });
    await waitFor(() => server.channels.length === 1, "the channel");
    const channel = server.channels[0] as RecordingChannel;

    channel.send(messageOfPayloadSize("fits", 1024));
    await waitFor(() => actions(client.log).includes("fits"), "the largest allowed message");
    channel.send(messageOfPayloadSize("too-big", 1025));
    await waitFor(() => actions(client.log).includes("disconnected"), "the client to give up");
    expect(actions(client.log)).toEqual(["connected", "socketConnect", "fits", "error", "disconnected"]);
    expect(client.log[3]).toEqual({
      action: "error",
      code: "ERR_PAYLOAD_TOO_LARGE",
      error: "Frame header announces a 1025-byte payload, over the 1024-byte maxPayload limit",
    });
    await waitFor(() => channel.closes === 1, "the server to see the client go");
  });
});

describe("maxPayload: many peers announcing the largest payload and sending little of it", () => {
  it("hold memory in proportion to what they sent, not to what they announced", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel }));
    const PEERS = 100;
    const announced = 4 * 1024 * 1024; // the default maxPayload: allowed
    const header = Buffer.alloc(4);
    header.writeUInt32BE(announced);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < PEERS; i++) {
      const socket = cleanup.socket(await rawSocket(server.port));
      socket.resume();
      socket.write(Buffer.concat([header, Buffer.alloc(10)]));
    }
    await waitFor(() => server.channels.length === PEERS, "every peer");
    await delay(50);
    const reserved = process.memoryUsage().arrayBuffers - before;
    // Announced: 100 x 4 MiB = 400 MiB. Held: at most 64 KiB each.
    expect(reserved).toBeLessThan(PEERS * 128 * 1024);
    expect(server.channels.every((channel) => channel.isConnected)).toBe(true);
  });
});

describe("limit options", () => {
  it("are checked up front with the right error type", () => {
    expect(() => new Server({ maxPayload: 0 })).toThrow(RangeError);
    expect(() => new Server({ maxQueuedBytes: -1 })).toThrow(RangeError);
    expect(() => new Server({ idleTimeout: "30s" as unknown as number })).toThrow(TypeError);
    expect(() => new Server({ heartbeat: { interval: 0 } })).toThrow(RangeError);
    expect(() => new Server({ heartbeat: "yes" as unknown as boolean })).toThrow(TypeError);
  });

  it("check frameTimeout and handshakeTimeout up front and apply their defaults; frameTimeout 0 is off", () => {
    expect(() => new Server({ frameTimeout: -1 })).toThrow(RangeError);
    expect(() => new Server({ frameTimeout: 2 ** 31 })).toThrow(RangeError);
    expect(() => new Server({ frameTimeout: 1.5 })).toThrow(TypeError);
    expect(() => new Server({ frameTimeout: "30s" as unknown as number })).toThrow(TypeError);
    expect(() => new Server({ handshakeTimeout: 0 })).toThrow(RangeError);
    expect(() => new Server({ handshakeTimeout: 2 ** 31 })).toThrow(RangeError);
    expect(() => new Server({ handshakeTimeout: "10s" as unknown as number })).toThrow(TypeError);
    const listener = cleanup.listener(new ConnectionListener());
    expect(() => listener.connect("127.0.0.1", 5071, { frameTimeout: -5 })).toThrow(RangeError);

    const defaults = new Server();
    expect(defaults.limits.frameTimeout).toBe(30_000);
    expect(defaults.handshakeTimeout).toBe(10_000);
    const chosen = new Server({ frameTimeout: 0, handshakeTimeout: 1 });
    expect(chosen.limits.frameTimeout).toBe(0);
    expect(chosen.handshakeTimeout).toBe(1);
  });

  it("have finite defaults", () => {
    const server = new Server();
    expect(server.limits).toEqual({
      maxPayload: 4 * 1024 * 1024,
      maxPayloadDepth: 64,
      maxPayloadItems: DEFAULT_MAX_PAYLOAD_ITEMS,
      maxPayloadKeys: DEFAULT_MAX_PAYLOAD_KEYS,
      frameTimeout: 30_000,
      maxPendingAnswers: 100,
      maxInvalidMessages: 100,
      maxQueuedBytes: 16 * 1024 * 1024,
      idleTimeout: 0,
      closeTimeout: 5_000,
      heartbeat: null,
      rateLimit: {
        messages: 5_000,
        burst: 10_000,
        bytes: 8 * 1024 * 1024,
        byteBurst: 8 * 1024 * 1024,
        actions: new Map(),
        onExceed: "pause",
        closeAfter: 2_000,
      },
    });
    expect(server.maxConnections).toBe(10_000);
  });
});

describe("closeTimeout", () => {
  it("cuts a peer that never closes its side after a graceful stop() has waited closeTimeout ms", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, closeTimeout: 100 }));
    // allowHalfOpen: this peer reads our FIN and never sends its own, as a stuck client would.
    const stubborn = net.connect({ host: "127.0.0.1", port: server.port, allowHalfOpen: true });
    cleanup.socket(stubborn);
    stubborn.on("data", () => {});
    await waitFor(() => server.channels.length === 1, "the stubborn channel");
    const channel = server.channels[0] as RecordingChannel;
    const started = Date.now();
    await server.stop();
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(90);
    expect(waited).toBeLessThan(2_000);
    expect(channel.closes).toBe(1);
  });

  it("is checked up front", () => {
    expect(() => new Server({ closeTimeout: -1 })).toThrow(RangeError);
    expect(() => new Server({ closeTimeout: 0.5 })).toThrow(TypeError);
  });
});
