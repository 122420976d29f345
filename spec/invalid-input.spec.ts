import type * as net from "node:net";
import WebSocket from "ws";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Channel, ConnectionListener, ProtocolError, type IncomingMessage } from "../lib/index.js";
import { LOGGED_DROPS_PER_CONNECTION } from "../lib/connections/invalid-input.js";
import { Cleanup } from "./helpers/cleanup.js";
import { connectTo } from "./helpers/listeners.js";
import { delay, rawSocket, startServer, waitFor } from "./helpers/net.js";
import { pythonFrame } from "./helpers/players.js";
import { frameOf, rawServer } from "./helpers/raw.js";
import { RecordingChannel } from "./helpers/recording-channel.js";
import { closeRawWebSocket, openRawWebSocket, payloadOf, rawWsServer, recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(async () => {
  await cleanup.run();
  vi.restoreAllMocks();
});

/** A msgpack payload that is not a map: a positive fixint. */
const NOT_A_MAP = "2a";

/** How a hostile client reaches the server and sends it raw payloads. */
interface HostileClient {
  send(payloadHex: string): void;
  readonly closed: Promise<void>;
}

async function hostileTcp(port: number): Promise<HostileClient> {
  const socket = cleanup.socket(await rawSocket(port));
  socket.on("data", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { send: (hex) => socket.write(frameOf(hex)), closed };
}

async function hostileWs(port: number): Promise<HostileClient> {
  const socket = await openRawWebSocket(`ws://127.0.0.1:${port}/`);
  cleanup.add(() => closeRawWebSocket(socket));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { send: (hex) => socket.send(Buffer.from(hex, "hex")), closed };
}

describe.each([
  ["TCP", hostileTcp, (server: { port: number }) => server.port],
  ["WebSocket", hostileWs, (server: { wsPort: number | null }) => server.wsPort!],
] as const)("invalid messages from a client over %s", (_name, connectHostile, portOf) => {
  it("logs the first few drops, then one line, then a summary at close, however many arrive", async () => {
    const logger = recordingLogger();
    const server = cleanup.server(
      await startServer({ channelClass: RecordingChannel, logger, ws: { port: 0 }, maxInvalidMessages: 10_000 }),
    );
    const hostile = await connectHostile(portOf(server));
    await waitFor(() => server.channels.length === 1, "the hostile channel");
    for (let i = 0; i < 1_000; i++) hostile.send(NOT_A_MAP);
    hostile.send(payloadHex({ action: "last" }));
    const channel = server.channels[0] as RecordingChannel;
    await waitFor(() => channel.received.length === 1, "the last, valid message");
    const warnings = (): string[] =>
      logger.entries.filter((entry) => entry.level === "warn").map((entry) => entry.message);
    expect(warnings()).toEqual([...Array<string>(LOGGED_DROPS_PER_CONNECTION).fill("dropped"), "dropping quietly"]);
    expect(channel.isConnected).toBe(true);
    channel.close();
    await waitFor(() => channel.closes === 1, "the close");
    const summary = logger.entries.find((entry) => entry.message === "dropped in all");
    expect(summary?.fields).toMatchObject({ count: 1_000, unlogged: 1_000 - LOGGED_DROPS_PER_CONNECTION });
  });

  it("cuts the peer off with ERR_TOO_MANY_INVALID past maxInvalidMessages, and no one else", async () => {
    const server = cleanup.server(
      await startServer({ channelClass: RecordingChannel, ws: { port: 0 }, maxInvalidMessages: 20 }),
    );
    const good = await connectTo(cleanup, server, new ConnectionListener());
    const hostile = await connectHostile(portOf(server));
    await waitFor(() => server.channels.length === 2, "both channels");
    const channel = server.channels.find((candidate) => candidate !== good.channel) as RecordingChannel;
    for (let i = 0; i < 20; i++) hostile.send(NOT_A_MAP);
    hostile.send(payloadHex({ action: "still heard" }));
    await waitFor(() => channel.received.length === 1, "the message after 20 invalid ones");
    expect(channel.isConnected).toBe(true);
    hostile.send(NOT_A_MAP);
    await hostile.closed;
    await waitFor(() => channel.closes === 1, "the hostile channel's close");
    expect(channel.errors).toHaveLength(1);
    const error = channel.errors[0] as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe("ERR_TOO_MANY_INVALID");
    expect(error.message).toMatch(/21 invalid messages.*maxInvalidMessages limit of 20.*ERR_NOT_A_MAP/);
    expect(server.channels).toEqual([good.channel]);
    good.channel.send({ action: "fine" });
    await waitFor(() => {
      good.listener.pump();
      return good.listener.connection?.isConnected === true;
    }, "the good client still connected");
  });
});

function payloadHex(message: object): string {
  return Buffer.from(payloadOf(message)).toString("hex");
}

describe("invalid messages from a server", () => {
  async function hostileServerOver(transport: "tcp" | "ws", poison: () => Uint8Array): Promise<string> {
    if (transport === "tcp") {
      const port = await rawServer(cleanup, (socket: net.Socket) => {
        socket.write(pythonFrame({ action: "connected" }));
        for (let i = 0; i < 500; i++) socket.write(poison());
      });
      return `tcp://127.0.0.1:${port}`;
    }
    const { url } = await rawWsServer(cleanup, (socket: WebSocket) => {
      socket.send(payloadOf({ action: "connected" }));
      for (let i = 0; i < 500; i++) socket.send(poison().subarray(4));
    });
    return url;
  }

  it.each(["tcp", "ws"] as const)(
    "over %s: a Node client logs within bounds and cuts the server off with ERR_TOO_MANY_INVALID",
    async (transport) => {
      const logger = recordingLogger();
      const url = await hostileServerOver(transport, () => frameOf(NOT_A_MAP));
      const listener = cleanup.listener(new ConnectionListener());
      const log: IncomingMessage[] = [];
      cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
      listener.connect(url, undefined, { logger, maxInvalidMessages: 50 });
      await waitFor(
        () => log.some((message) => message.action === "disconnected"),
        "the client to give up on the server",
      );
      expect(log.find((message) => message.action === "error")).toMatchObject({ code: "ERR_TOO_MANY_INVALID" });
      const warnings = logger.entries.filter((entry) => entry.level === "warn").map((entry) => entry.message);
      expect(warnings.filter((message) => message === "dropped")).toHaveLength(LOGGED_DROPS_PER_CONNECTION);
      expect(warnings.length).toBeLessThan(LOGGED_DROPS_PER_CONNECTION + 5);
    },
  );
});

describe("ordinary disconnections print nothing with logging silent", () => {
  it("a client that resets its connection ends its channel without a stack trace on the console", async () => {
    const printed = vi.spyOn(console, "error").mockImplementation(() => {});
    const server = cleanup.server(await startServer());
    const socket = await rawSocket(server.port);
    await waitFor(() => server.channels.length === 1, "the channel");
    socket.resetAndDestroy();
    await waitFor(() => server.channels.length === 0, "the channel to close");
    await delay(20);
    expect(printed).not.toHaveBeenCalled();
  });

  it("a handler's exception is still printed", async () => {
    const printed = vi.spyOn(console, "error").mockImplementation(() => {});
    class Failing extends Channel {
      Network_boom(): void {
        throw new Error("the game's own bug");
      }
    }
    const server = cleanup.server(await startServer({ channelClass: Failing }));
    const { listener } = await connectTo(cleanup, server, new ConnectionListener());
    listener.send({ action: "boom" });
    await waitFor(() => printed.mock.calls.length > 0, "the exception on the console");
    expect(String(printed.mock.calls[0]![0])).toMatch(/channel error.*the game's own bug/);
  });
});
