import type * as net from "node:net";
import { lastValueFrom, toArray } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionListener, encode, ProtocolError, Server, type IncomingMessage } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { connectTo, recordingHandlers } from "./helpers/listeners.js";
import { collect, delay, first, rawSocket, waitFor } from "./helpers/net.js";
import { frameOf, headerOf, receivedBy } from "./helpers/raw.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Records what reaches its handlers, its errors and its closing. */
class RecordingChannel extends recordingHandlers(Channel) {
  readonly errors: unknown[] = [];
  closes = 0;

  Network_good(message: IncomingMessage): void {
    this.calls.push(["Network_good", message]);
  }

  override onError(error: unknown): void {
    this.errors.push(error);
  }

  override onClose(): void {
    this.closes++;
  }
}

async function recordingServer(maxPayload?: number): Promise<Server<RecordingChannel>> {
  const server = cleanup.server(
    new Server<RecordingChannel>({
      host: "127.0.0.1",
      port: 0,
      channelClass: RecordingChannel,
      ...(maxPayload ? { maxPayload } : {}),
    }),
  );
  await server.start();
  return server;
}

/** A raw socket to `server` and its channel, with the frames the socket receives. */
async function rawPeer(
  server: Server<RecordingChannel>,
): Promise<{ socket: net.Socket; channel: RecordingChannel; received: unknown[] }> {
  const accepted = first(server.connections$);
  const socket = cleanup.socket(await rawSocket(server.port));
  const received = receivedBy(socket);
  const channel = await accepted;
  return { socket, channel, received };
}

const good = Buffer.from(encode({ action: "good" }));

/** Writes `bytes` then a good frame, and waits until the good frame has been handled. */
async function sendThenGood(socket: net.Socket, channel: RecordingChannel, bytes: Buffer): Promise<void> {
  const before = channel.calls.filter(([name]) => name === "Network_good").length;
  socket.write(Buffer.concat([bytes, good]));
  await waitFor(() => channel.calls.filter(([name]) => name === "Network_good").length > before, "the good message");
}

describe("Channel", () => {
  describe("without a server", () => {
    it("has no server: the server getter throws", () => {
      expect(() => new Channel().server).toThrow(new Error("Channel is not connected to a server"));
    });

    it("send() returns 0, but still throws a TypeError for a value that cannot be sent", () => {
      const channel = new Channel();
      expect(channel.send({ action: "hello" })).toBe(0);
      expect(() => channel.send(new Map() as never)).toThrow(
        new TypeError('A message must be a plain object such as { action: "chat" }, got an instance of Map'),
      );
    });

    it("is not connected, has an empty address and id 0, and close() does nothing", () => {
      const channel = new Channel();
      expect(channel.isConnected).toBe(false);
      expect(channel.addr).toEqual({ host: "", port: 0 });
      expect(channel.id).toBe(0);
      expect(channel.bufferedAmount).toBe(0);
      expect(() => channel.close()).not.toThrow();
    });

    it("has a messages$ that is already complete", async () => {
      expect(await lastValueFrom(new Channel().messages$.pipe(toArray()))).toEqual([]);
    });

    it("send() refuses options of the wrong type, as a connected channel does", () => {
      const channel = new Channel();
      expect(() => channel.send({ action: "hello" }, { volatile: "yes" } as never)).toThrow(TypeError);
      expect(() => channel.send({ action: "hello" }, { latest: 7 } as never)).toThrow(TypeError);
      expect(channel.send({ action: "hello" }, { volatile: true })).toBe(0);
    });
  });

  describe("connected", () => {
    it("knows its server, its peer's address and that it is connected", async () => {
      const server = await recordingServer();
      const { socket, channel } = await rawPeer(server);
      expect(channel.server).toBe(server);
      expect(channel.addr).toEqual({ host: "127.0.0.1", port: socket.localPort });
      expect(channel.isConnected).toBe(true);
    });

    it("send() returns the bytes queued, 4-byte header included, and the client receives the message", async () => {
      const server = await recordingServer();
      const { channel, received } = await rawPeer(server);
      const message = { action: "chat", text: "héllo", data: new Uint8Array([1, 2]) };
      expect(channel.send(message)).toBe(encode(message).byteLength);
      await waitFor(() => received.length === 2, "greeting and chat");
      expect(received).toEqual([{ action: "connected" }, message]);
    });

    it("send() returns 0 once close() is called, and after the channel has closed", async () => {
      const server = await recordingServer();
      const { channel } = await rawPeer(server);
      channel.close();
      expect(channel.isConnected).toBe(false);
      expect(channel.send({ action: "late" })).toBe(0);
      await waitFor(() => channel.closes === 1, "the close");
      expect(channel.send({ action: "later" })).toBe(0);
    });

    it("close() delivers what was sent before, then closes the client's connection", async () => {
      const server = await recordingServer();
      const { socket, channel, received } = await rawPeer(server);
      const ended = new Promise<void>((resolve) => socket.once("end", resolve));
      for (let i = 0; i < 100; i++) channel.send({ action: "n", i });
      channel.close();
      await ended;
      expect(received.slice(1)).toEqual(Array.from({ length: 100 }, (_, i) => ({ action: "n", i })));
    });

    it("send() throws a TypeError synchronously for a value that is not a plain object or cannot be encoded, open or closed", async () => {
      const server = await recordingServer();
      const { channel } = await rawPeer(server);
      const notPlain = new TypeError('A message must be a plain object such as { action: "chat" }, got an array');
      const unencodable = new TypeError(
        "The message cannot be encoded as msgpack: Unrecognized object: [object Function]",
      );
      expect(() => channel.send([] as never)).toThrow(notPlain);
      expect(() => channel.send({ action: "f", f: () => 0 })).toThrow(unencodable);
      channel.close();
      expect(() => channel.send([] as never)).toThrow(notPlain);
      expect(() => channel.send({ action: "f", f: () => 0 })).toThrow(unencodable);
    });

    it("carries payloads of hundreds of kilobytes both ways", async () => {
      const server = await recordingServer();
      const { listener, channel } = await connectTo(cleanup, server, new ConnectionListener());
      const big = new Uint8Array(500_000).map((_, i) => i % 256);
      const echoed = collect(listener.on("big"), 1);
      const arrived = collect(channel.messages$, 1);
      listener.send({ action: "big", data: big });
      const [fromClient] = await arrived;
      // Buffer.equals: an element-by-element toEqual of 500,000 bytes takes seconds.
      expect(Buffer.from(fromClient?.data as Uint8Array).equals(big)).toBe(true);
      channel.send({ action: "big", data: big });
      const [fromServer] = await echoed;
      expect(Buffer.from(fromServer?.data as Uint8Array).equals(big)).toBe(true);
    });
  });

  describe("dispatch of a client's messages", () => {
    it("falls back to networkReceived for an unknown action, a missing action and a non-string action", async () => {
      const server = await recordingServer();
      const { socket, channel } = await rawPeer(server);
      const messages = [{ action: "unknown" }, { x: 1 }, { action: 7 }, { action: ["a"] }];
      await sendThenGood(socket, channel, Buffer.concat(messages.map((m) => encode(m))));
      expect(channel.calls).toEqual([
        ...messages.map((m) => ["networkReceived", m]),
        ["Network_good", { action: "good" }],
      ]);
    });

    it("routes player.move to Network_player_move when Network_player.move is absent", async () => {
      class Game extends RecordingChannel {
        Network_player_move(message: IncomingMessage): void {
          this.calls.push(["Network_player_move", message]);
        }
      }
      const server = await recordingServer();
      server.channelClass = Game;
      const { socket, channel } = await rawPeer(server);
      await sendThenGood(socket, channel, Buffer.from(encode({ action: "player.move", x: 2 })));
      expect(channel.calls[0]).toEqual(["Network_player_move", { action: "player.move", x: 2 }]);
    });
  });

  describe("after close()", () => {
    it("completes messages$ and rtt$, also for a subscriber that comes after the close", async () => {
      const server = await recordingServer();
      const { channel } = await rawPeer(server);
      const early = lastValueFrom(channel.messages$.pipe(toArray()));
      channel.close();
      await waitFor(() => channel.closes === 1, "the close");
      expect(await early).toEqual([]);
      expect(await lastValueFrom(channel.messages$.pipe(toArray()))).toEqual([]);
      expect(await lastValueFrom(channel.rtt$.pipe(toArray()))).toEqual([]);
    });

    it("ignores what the client still sends, so a kicked flooder's messages stop at once", async () => {
      class Kicking extends RecordingChannel {
        override Network_good(message: IncomingMessage): void {
          super.Network_good(message);
          this.close();
        }
      }
      const server = await recordingServer();
      server.channelClass = Kicking;
      const { socket, channel } = await rawPeer(server);
      socket.write(Buffer.concat([good, good, good, good]));
      await waitFor(() => channel.closes === 1, "the kicked channel to close");
      expect(channel.calls).toEqual([["Network_good", { action: "good" }]]);
    });
  });

  describe("bad input from a client", () => {
    it.each(["disconnected", "connected", "socketConnect", "error"])(
      "drops a forged %s message: no handler runs and the channel keeps dispatching",
      async (action) => {
        const server = await recordingServer();
        const { socket, channel } = await rawPeer(server);
        await sendThenGood(socket, channel, Buffer.from(encode({ action, error: "forged" })));
        expect(channel.calls).toEqual([["Network_good", { action: "good" }]]);
        expect(channel.closes).toBe(0);
        expect(channel.errors).toEqual([]);
        expect(channel.isConnected).toBe(true);
      },
    );

    it("drops an unreadable msgpack payload in a well-formed frame and delivers the next message", async () => {
      const server = await recordingServer();
      const { socket, channel, received } = await rawPeer(server);
      await sendThenGood(
        socket,
        channel,
        Buffer.concat([frameOf("c1"), frameOf("81a1"), frameOf(""), frameOf("0102")]),
      );
      expect(channel.calls).toEqual([["Network_good", { action: "good" }]]);
      expect(channel.errors).toEqual([]);
      channel.send({ action: "still here" });
      await waitFor(() => received.length === 2, "the reply");
      expect(received[1]).toEqual({ action: "still here" });
    });

    it.each([
      ["msgpack nil", "c0"],
      ["an array", "9101"],
      ["an integer", "2a"],
      ["a string", "a3616263"],
      ["binary data", "c4020102"],
      ["a boolean", "c3"],
      ["a float", "cb3ff8000000000000"],
    ])("drops a payload that is %s, not a map, and stays up", async (_name, payloadHex) => {
      const server = await recordingServer();
      const { socket, channel } = await rawPeer(server);
      await sendThenGood(socket, channel, frameOf(payloadHex));
      await sendThenGood(socket, channel, frameOf(payloadHex));
      expect(channel.calls).toEqual([
        ["Network_good", { action: "good" }],
        ["Network_good", { action: "good" }],
      ]);
      expect(channel.isConnected).toBe(true);
    });

    it("ends the connection of a header announcing more than maxPayload, with onError then onClose, and leaves other channels alone", async () => {
      const server = await recordingServer(1_024);
      const { listener, channel: bystander } = await connectTo(cleanup, server, new ConnectionListener());
      const { socket, channel } = await rawPeer(server);
      const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
      socket.write(headerOf(1_025));
      await closed;
      await waitFor(() => channel.closes === 1, "onClose");
      expect(channel.errors).toHaveLength(1);
      const error = channel.errors[0];
      expect(error).toBeInstanceOf(ProtocolError);
      expect(error).toMatchObject({
        code: "ERR_PAYLOAD_TOO_LARGE",
        message: "Frame header announces a 1025-byte payload, over the 1024-byte maxPayload limit",
      });
      expect(server.channels).toEqual([bystander]);
      const reply = collect(listener.on("ok"), 1);
      listener.send({ action: "good" });
      await waitFor(() => bystander.calls.length === 1, "the bystander's message");
      bystander.send({ action: "ok" });
      expect(await reply).toEqual([{ action: "ok" }]);
      await delay(20);
      expect(channel.closes).toBe(1);
    });

    it("accepts a payload of exactly maxPayload bytes", async () => {
      const server = await recordingServer(64);
      const { socket, channel } = await rawPeer(server);
      // { action: "good", pad: <bin> } padded to exactly 64 bytes of payload.
      const probe = encode({ action: "good", pad: new Uint8Array(0) }).byteLength - 4;
      const frame = Buffer.from(encode({ action: "good", pad: new Uint8Array(64 - probe) }));
      expect(frame.byteLength - 4).toBe(64);
      socket.write(frame);
      await waitFor(() => channel.calls.length === 1, "the message");
      expect(channel.isConnected).toBe(true);
    });
  });
});
