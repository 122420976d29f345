import { createHash, randomBytes } from "node:crypto";
import type * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionError, encode, FrameDecoder, HEADER_SIZE, type IncomingMessage, type Server } from "../lib/index.js";
import { WsFrameTracker } from "../lib/protocol/ws-frame-tracker.js";
import { Cleanup } from "./helpers/cleanup.js";
import { loggedListener } from "./helpers/listeners.js";
import { delay, rawSocket, startServer, waitFor } from "./helpers/net.js";
import { headerOf, rawServer, receivedBy } from "./helpers/raw.js";
import { RecordingChannel } from "./helpers/recording-channel.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Echoes `echo` messages and records what it received and how it ended. */
class EchoChannel extends RecordingChannel {
  Network_echo(message: IncomingMessage): void {
    this.send({ action: "echo", n: message.n });
  }
}

/** A well-behaved client (TCP, or WebSocket with `url`) that checks the server still answers it. */
async function goodClient(
  server: Server,
  url?: string,
): Promise<{ roundTrip: () => Promise<void>; isConnected: () => boolean }> {
  const { listener, log } = loggedListener(cleanup);
  if (url === undefined) listener.connect("127.0.0.1", server.port);
  else listener.connect(url);
  await waitFor(() => listener.connection?.isConnected === true, "the good client to open");
  let n = 0;
  return {
    isConnected: () => listener.connection?.isConnected === true,
    roundTrip: async () => {
      const sent = n++;
      listener.send({ action: "echo", n: sent });
      await waitFor(() => log.some((message) => message.action === "echo" && message.n === sent), `echo ${sent}`);
    },
  };
}

/** The server's channel of a raw socket, once it exists. */
async function channelOf(server: Server, socket: net.Socket): Promise<EchoChannel> {
  await waitFor(
    () => server.channels.some((channel) => channel.addr.port === socket.localPort),
    "the raw peer's channel",
  );
  return server.channels.find((channel) => channel.addr.port === socket.localPort) as EchoChannel;
}

/** Resolves with `Date.now()` when `socket` closes. */
function closedAt(socket: net.Socket): Promise<number> {
  return new Promise((resolve) => socket.once("close", () => resolve(Date.now())));
}

/** Checks that `channel` ended through `ERR_FRAME_TIMEOUT` and returns the error's message. */
function frameTimeoutMessage(channel: EchoChannel): string {
  expect(channel.closes).toBe(1);
  expect(channel.errors).toHaveLength(1);
  const error = channel.errors[0] as ConnectionError;
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error.code).toBe("ERR_FRAME_TIMEOUT");
  return error.message;
}

/** Writes `chunks` one by one, `pause` ms apart. */
async function trickle(socket: net.Socket, chunks: readonly Uint8Array[], pause: number): Promise<void> {
  for (const [index, chunk] of chunks.entries()) {
    if (index > 0) await delay(pause);
    socket.write(chunk);
  }
}

/** `bytes` cut into pieces of `size` bytes. */
function cut(bytes: Uint8Array, size: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += size) pieces.push(bytes.subarray(offset, offset + size));
  return pieces;
}

/** `count` echo frames back to back. */
function echoFrames(count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, n) => encode({ action: "echo", n, pad: "x".repeat(40) })));
}

describe("frameTimeout on TCP, server side", () => {
  it("cuts a peer that sends 2 header bytes and stops with ERR_FRAME_TIMEOUT, and nobody else", async () => {
    const frameTimeout = 250;
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout }));
    const good = await goodClient(server);
    const stalled = cleanup.socket(await rawSocket(server.port));
    stalled.resume();
    const closed = closedAt(stalled);
    const channel = await channelOf(server, stalled);

    const sentAt = Date.now();
    stalled.write(headerOf(10).subarray(0, 2));
    await good.roundTrip(); // a stalled frame holds nobody up
    const after = (await closed) - sentAt;
    expect(after).toBeGreaterThanOrEqual(frameTimeout - 20);
    expect(after).toBeLessThan(frameTimeout + 1_000);
    await waitFor(() => channel.closes === 1, "onClose of the stalled channel");
    expect(frameTimeoutMessage(channel)).toMatch(
      /^The peer started a frame and did not finish it: 2 of its 4 header bytes arrived in \d+ ms, over the frameTimeout of 250 ms$/,
    );
    await good.roundTrip();
    expect(good.isConnected()).toBe(true);
    expect(server.channels).toHaveLength(1);
  });

  it("says how much of the announced frame arrived when the payload stalls", async () => {
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout: 200 }));
    const stalled = cleanup.socket(await rawSocket(server.port));
    stalled.resume();
    const channel = await channelOf(server, stalled);
    stalled.write(Buffer.concat([headerOf(100), Buffer.alloc(10)]));
    await waitFor(() => channel.closes === 1, "the stalled channel to close");
    expect(frameTimeoutMessage(channel)).toMatch(
      /^The peer started a frame and did not finish it: 14 of the 104 bytes its header announced \(header included\) arrived in \d+ ms, over the frameTimeout of 200 ms$/,
    );
  });

  it("frees the slots half-open peers took: a good client refused while they hold them gets in after the timeout", async () => {
    const frameTimeout = 300;
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout, maxConnections: 5 }));
    const peers: net.Socket[] = [];
    for (let i = 0; i < 5; i++) {
      const peer = cleanup.socket(await rawSocket(server.port));
      peer.resume();
      peer.write(headerOf(10).subarray(0, 2));
      peers.push(peer);
    }
    const allClosed = Promise.all(peers.map(closedAt));
    await waitFor(() => server.channels.length === 5, "five half-open channels");

    const refused = loggedListener(cleanup);
    refused.listener.connect("127.0.0.1", server.port);
    await waitFor(() => refused.log.some((message) => message.action === "error"), "the refusal");
    expect(refused.log.find((message) => message.action === "error")).toMatchObject({ code: "ERR_SERVER_FULL" });

    await allClosed;
    await waitFor(() => server.channels.length === 0, "the half-open channels to close");
    const good = await goodClient(server);
    await good.roundTrip();
    expect(server.channels).toHaveLength(1);
  });

  it("never cuts a peer that sends nothing, nor one whose last frame was complete", async () => {
    const frameTimeout = 150;
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout }));
    const listening = cleanup.socket(await rawSocket(server.port));
    listening.resume();
    const talked = cleanup.socket(await rawSocket(server.port));
    const echoes = receivedBy(talked);
    const listeningChannel = await channelOf(server, listening);
    const talkedChannel = await channelOf(server, talked);
    // Two frames, the second one split, the last bytes completing it.
    const frames = echoFrames(2);
    talked.write(frames.subarray(0, frames.byteLength - 5));
    await delay(50);
    talked.write(frames.subarray(frames.byteLength - 5));
    await waitFor(() => echoes.length === 3, "the greeting and both echoes");

    await delay(5 * frameTimeout);
    for (const channel of [listeningChannel, talkedChannel]) {
      expect(channel.isConnected).toBe(true);
      expect(channel.errors).toEqual([]);
      expect(channel.closes).toBe(0);
    }
    expect(server.channels).toHaveLength(2);
  });

  it("delivers a frame split across chunks with pauses, and a stream whose chunks always end inside a frame", async () => {
    const frameTimeout = 250;
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout }));
    const peer = cleanup.socket(await rawSocket(server.port));
    const received = receivedBy(peer);
    const channel = await channelOf(server, peer);

    // One frame in 4 pieces, 50 ms apart: finished 150 ms after its first byte.
    await trickle(peer, cut(encode({ action: "echo", n: 100, pad: "y".repeat(200) }), 60), 50);
    await waitFor(() => received.length === 2, "the trickled frame's echo");
    // 12 frames in 13 chunks, 50 ms apart, each chunk finishing one frame and starting the next: a
    // frame is partial for 600 ms in a row, but none for more than 50 ms.
    const stream = echoFrames(12);
    const frameSize = stream.byteLength / 12;
    const half = Math.floor(frameSize / 2);
    await trickle(peer, [stream.subarray(0, half), ...cut(stream.subarray(half), frameSize)], 50);
    await waitFor(() => received.length === 14, "every echo");
    expect(received.slice(1)).toEqual(
      [100, ...Array.from({ length: 12 }, (_, n) => n)].map((n) => ({ action: "echo", n })),
    );
    expect(channel.errors).toEqual([]);
    expect(channel.isConnected).toBe(true);
  });

  it("does not cut a peer whose frame was complete, but unread, when a stall of the event loop outlasted the timeout", async () => {
    const frameTimeout = 100;
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout }));
    const peer = cleanup.socket(await rawSocket(server.port));
    const received = receivedBy(peer);
    const channel = await channelOf(server, peer);
    const frame = encode({ action: "echo", n: 1 });
    peer.write(frame.subarray(0, 3));
    await delay(20); // the server has timed the frame from its first bytes
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        // The rest reaches the server's kernel buffer; the loop, blocked, reads it only after its
        // timers, the frame deadline among them, have run.
        peer.write(frame.subarray(3));
        const until = performance.now() + frameTimeout + 100;
        while (performance.now() < until);
        resolve();
      }),
    );
    await waitFor(() => received.length === 2, "the echo");
    expect(channel.errors).toEqual([]);
    expect(channel.isConnected).toBe(true);
  });

  it("is off with frameTimeout: 0", async () => {
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout: 0 }));
    const stalled = cleanup.socket(await rawSocket(server.port));
    stalled.resume();
    const channel = await channelOf(server, stalled);
    stalled.write(headerOf(10).subarray(0, 2));
    await delay(400);
    expect(channel.isConnected).toBe(true);
    expect(channel.errors).toEqual([]);
  });
});

describe("frameTimeout on TCP, Node client side", () => {
  it("ends the connection with an ERR_FRAME_TIMEOUT error, then disconnected, when the server sends half a frame", async () => {
    const port = await rawServer(cleanup, (socket) => {
      const half = encode({ action: "news", text: "z".repeat(100) });
      socket.write(Buffer.concat([encode({ action: "connected" }), half.subarray(0, 50)]));
    });
    const { listener, log } = loggedListener(cleanup);
    listener.connect("127.0.0.1", port, { frameTimeout: 200 });
    await waitFor(() => log.some((message) => message.action === "disconnected"), "the client to give up");
    expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect", "error", "disconnected"]);
    expect(log[2]).toEqual({
      action: "error",
      code: "ERR_FRAME_TIMEOUT",
      error: expect.stringMatching(/: 50 of the \d+ bytes its header announced .* over the frameTimeout of 200 ms$/),
    });
  });
});

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** One WebSocket frame as a client sends it (masked) or a server does (`mask: false`). */
function wsFrame(
  payload: Uint8Array,
  { opcode = 0x2, fin = true, mask = true }: { opcode?: number; fin?: boolean; mask?: boolean } = {},
): Buffer {
  const length = payload.byteLength;
  const lengthBytes =
    length < 126
      ? Buffer.from([length])
      : length < 0x10000
        ? Buffer.from([126, length >> 8, length & 0xff])
        : Buffer.concat([
            Buffer.from([127, 0, 0, 0, 0]),
            Buffer.from([length >>> 24, length >> 16, length >> 8, length]),
          ]);
  lengthBytes[0]! |= mask ? 0x80 : 0;
  const first = Buffer.from([(fin ? 0x80 : 0) | opcode]);
  if (!mask) return Buffer.concat([first, lengthBytes, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, index) => byte ^ key[index % 4]!));
  return Buffer.concat([first, lengthBytes, key, masked]);
}

/** The WebSocket payload of a message: its TCP frame without the length header. */
function payload(message: object): Uint8Array {
  return encode(message).subarray(HEADER_SIZE);
}

/**
 * A raw TCP socket upgraded to WebSocket by hand, to write frames byte by byte. Resolves once the
 * server answered 101; what the server sends next is read and ignored.
 */
async function rawUpgrade(port: number): Promise<net.Socket> {
  const socket = cleanup.socket(await rawSocket(port));
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let response = "";
  await new Promise<void>((resolve, reject) => {
    const onClose = (): void => reject(new Error(`closed during the handshake: ${response}`));
    const onData = (chunk: Buffer): void => {
      response += chunk.toString("latin1");
      if (!response.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.resume();
      resolve();
    };
    socket.on("data", onData);
    socket.once("close", onClose);
  });
  expect(response).toMatch(/^HTTP\/1\.1 101 /);
  return socket;
}

describe("frameTimeout on WebSocket, server side", () => {
  it("cuts a peer that sends 2 bytes of a frame header and stops, and nobody else", async () => {
    const frameTimeout = 250;
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout, ws: { port: 0 } }));
    const url = `ws://127.0.0.1:${server.wsPort}`;
    const good = await goodClient(server, url);
    const stalled = await rawUpgrade(server.wsPort!);
    const closed = closedAt(stalled);
    const channel = await channelOf(server, stalled);

    const sentAt = Date.now();
    // 2 of the 8 header bytes of a 200-byte masked frame.
    stalled.write(wsFrame(new Uint8Array(200)).subarray(0, 2));
    await good.roundTrip();
    const after = (await closed) - sentAt;
    expect(after).toBeGreaterThanOrEqual(frameTimeout - 20);
    expect(after).toBeLessThan(frameTimeout + 1_000);
    await waitFor(() => channel.closes === 1, "onClose of the stalled channel");
    expect(frameTimeoutMessage(channel)).toMatch(
      /^The peer started a frame and did not finish it: 2 of the 8 bytes of a frame header arrived in \d+ ms, over the frameTimeout of 250 ms$/,
    );
    await good.roundTrip();
    expect(server.channels).toHaveLength(1);
  });

  it.each([
    [
      "a payload cut short",
      (bytes: Uint8Array) => wsFrame(bytes).subarray(0, 30),
      /: 24 of the 82 payload bytes its frame header announced arrived/,
    ],
    [
      "a message whose final fragment never comes",
      (bytes: Uint8Array) => wsFrame(bytes, { fin: false }),
      /: the first fragments of a message \(\d+ payload bytes\) but not its final fragment arrived/,
    ],
  ])("cuts a peer that sends %s", async (_, partial, message) => {
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout: 200, ws: { port: 0 } }));
    const stalled = await rawUpgrade(server.wsPort!);
    const channel = await channelOf(server, stalled);
    stalled.write(partial(payload({ action: "echo", n: 1, pad: "p".repeat(60) })));
    await waitFor(() => channel.closes === 1, "the stalled channel to close");
    expect(frameTimeoutMessage(channel)).toMatch(message);
  });

  it("never cuts a peer that sends nothing, nor one whose last message was complete", async () => {
    const frameTimeout = 150;
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout, ws: { port: 0 } }));
    const listening = await rawUpgrade(server.wsPort!);
    const talked = await rawUpgrade(server.wsPort!);
    const listeningChannel = await channelOf(server, listening);
    const talkedChannel = await channelOf(server, talked);
    // A message in two fragments with a ping between them, the last one split.
    const message = payload({ action: "note", text: "hello" });
    const bytes = Buffer.concat([
      wsFrame(message.subarray(0, 5), { fin: false }),
      wsFrame(new Uint8Array(0), { opcode: 0x9 }),
      wsFrame(message.subarray(5), { opcode: 0x0 }),
    ]);
    talked.write(bytes.subarray(0, bytes.byteLength - 3));
    await delay(50);
    talked.write(bytes.subarray(bytes.byteLength - 3));
    await waitFor(() => talkedChannel.received.length === 1, "the fragmented message");
    expect(talkedChannel.received[0]).toEqual({ action: "note", text: "hello" });

    await delay(5 * frameTimeout);
    for (const channel of [listeningChannel, talkedChannel]) {
      expect(channel.isConnected).toBe(true);
      expect(channel.errors).toEqual([]);
    }
  });

  it("delivers a message split across chunks with pauses, and a stream whose chunks always end inside a frame", async () => {
    const frameTimeout = 250;
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout, ws: { port: 0 } }));
    const peer = await rawUpgrade(server.wsPort!);
    const channel = await channelOf(server, peer);

    await trickle(peer, cut(wsFrame(payload({ action: "note", n: 0, pad: "y".repeat(200) })), 60), 50);
    await waitFor(() => channel.received.length === 1, "the trickled message");
    const frames = Array.from({ length: 12 }, (_, n) =>
      wsFrame(payload({ action: "note", n: n + 1, pad: "z".repeat(40) })),
    );
    const stream = Buffer.concat(frames);
    const frameSize = frames[0]!.byteLength;
    expect(frames.every((frame) => frame.byteLength === frameSize)).toBe(true);
    const half = Math.floor(frameSize / 2);
    await trickle(peer, [stream.subarray(0, half), ...cut(stream.subarray(half), frameSize)], 50);
    await waitFor(() => channel.received.length === 13, "every message");
    expect(channel.received.map((message) => message.n)).toEqual(Array.from({ length: 13 }, (_, n) => n));
    expect(channel.errors).toEqual([]);
    expect(channel.isConnected).toBe(true);
  });

  it("is off with frameTimeout: 0", async () => {
    const server = cleanup.server(await startServer({ channelClass: EchoChannel, frameTimeout: 0, ws: { port: 0 } }));
    const stalled = await rawUpgrade(server.wsPort!);
    const channel = await channelOf(server, stalled);
    stalled.write(wsFrame(new Uint8Array(10)).subarray(0, 3));
    await delay(400);
    expect(channel.isConnected).toBe(true);
  });
});

/** A bare TCP server that completes WebSocket handshakes by hand, then hands the socket to `onOpen`. */
function hostileWsServer(onOpen: (socket: net.Socket) => void): Promise<number> {
  return rawServer(cleanup, (socket) => {
    let request = "";
    const onData = (chunk: Buffer): void => {
      request += chunk.toString("latin1");
      if (!request.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      socket.resume();
      const key = /^sec-websocket-key: *(\S+)/im.exec(request)![1]!;
      const accept = createHash("sha1")
        .update(key + GUID)
        .digest("base64");
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      onOpen(socket);
    };
    socket.on("data", onData);
  });
}

describe("frameTimeout on WebSocket, Node client side", () => {
  it("ends the connection with an ERR_FRAME_TIMEOUT error, then disconnected, when the server sends half a message", async () => {
    const port = await hostileWsServer((socket) => {
      const news = wsFrame(payload({ action: "news", text: "z".repeat(100) }), { mask: false });
      socket.write(Buffer.concat([wsFrame(payload({ action: "connected" }), { mask: false }), news.subarray(0, 40)]));
    });
    const { listener, log } = loggedListener(cleanup);
    listener.connect(`ws://127.0.0.1:${port}`, undefined, { frameTimeout: 200 });
    await waitFor(() => log.some((message) => message.action === "disconnected"), "the client to give up");
    expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect", "error", "disconnected"]);
    expect(log[2]).toEqual({
      action: "error",
      code: "ERR_FRAME_TIMEOUT",
      error: expect.stringMatching(
        /: 38 of the 120 payload bytes its frame header announced arrived in \d+ ms, over the frameTimeout of 200 ms$/,
      ),
    });
  });
});

describe("WsFrameTracker", () => {
  /** Client and server frames of every header size, a control frame between fragments, empty frames. */
  function sampleStream(): { bytes: Buffer; units: { start: number; end: number }[] } {
    const parts: { bytes: Buffer; startsUnit: boolean; endsUnit: boolean }[] = [
      { bytes: wsFrame(new Uint8Array(5)), startsUnit: true, endsUnit: true },
      { bytes: wsFrame(new Uint8Array(0), { opcode: 0x9, mask: false }), startsUnit: true, endsUnit: true },
      { bytes: wsFrame(new Uint8Array(300), { fin: false }), startsUnit: true, endsUnit: false },
      { bytes: wsFrame(new Uint8Array(2), { opcode: 0xa }), startsUnit: false, endsUnit: false },
      { bytes: wsFrame(new Uint8Array(0), { opcode: 0x0, fin: false }), startsUnit: false, endsUnit: false },
      { bytes: wsFrame(new Uint8Array(7), { opcode: 0x0 }), startsUnit: false, endsUnit: true },
      { bytes: wsFrame(new Uint8Array(70_000), { mask: false }), startsUnit: true, endsUnit: true },
      { bytes: wsFrame(new Uint8Array(126), { mask: false }), startsUnit: true, endsUnit: true },
      { bytes: wsFrame(new Uint8Array(0)), startsUnit: true, endsUnit: true },
    ];
    const units: { start: number; end: number }[] = [];
    let offset = 0;
    for (const part of parts) {
      if (part.startsUnit) units.push({ start: offset, end: -1 });
      offset += part.bytes.byteLength;
      if (part.endsUnit) units.at(-1)!.end = offset;
    }
    return { bytes: Buffer.concat(parts.map((part) => part.bytes)), units };
  }

  it("knows after any chunking whether a message is unfinished, and whether it began in the last chunk", () => {
    const { bytes, units } = sampleStream();
    const unfinishedAt = (position: number) => units.find((unit) => unit.start < position && position < unit.end);
    const wrong: string[] = [];
    for (const size of [1, 2, 3, 5, 7, 13, 64, 1000, 4096, bytes.byteLength]) {
      const tracker = new WsFrameTracker();
      for (let from = 0; from < bytes.byteLength; from += size) {
        const to = Math.min(from + size, bytes.byteLength);
        const began = tracker.push(bytes.subarray(from, to));
        const unit = unfinishedAt(to);
        if (tracker.partial !== (unit !== undefined) || began !== (unit !== undefined && unit.start >= from)) {
          wrong.push(`after ${to} bytes in chunks of ${size}: partial ${tracker.partial}, began ${began}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe("FrameDecoder progress", () => {
  it("counts the bytes of the frame in progress, header included, and the size its header announced", () => {
    const decoder = new FrameDecoder();
    const frame = encode({ action: "a", pad: "q".repeat(20) });
    const progress = (): [number, number] => [decoder.partialBytes, decoder.announcedBytes];
    expect(progress()).toEqual([0, 0]);
    decoder.push(frame.subarray(0, 2), () => {});
    expect(progress()).toEqual([2, 0]);
    decoder.push(frame.subarray(2, 4), () => {});
    expect(progress()).toEqual([4, frame.byteLength]);
    decoder.push(frame.subarray(4, 10), () => {});
    expect(progress()).toEqual([10, frame.byteLength]);
    decoder.push(Buffer.concat([frame.subarray(10), frame.subarray(0, 3)]), () => {});
    expect(progress()).toEqual([3, 0]);
    decoder.push(frame.subarray(3), () => {});
    expect(progress()).toEqual([0, 0]);
  });
});
