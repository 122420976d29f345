import type * as net from "node:net";
import WebSocket from "ws";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Channel, ConnectionListener, ProtocolError, type IncomingMessage } from "../lib/index.js";
import { LOGGED_DROPS_PER_CONNECTION } from "../lib/connections/invalid-input.js";
import { readMessage } from "../lib/connections/read-message.js";
import { Cleanup } from "./helpers/cleanup.js";
import { rawLinkTo, rawMessage, rawNestedArrays, rawStr, rawValue } from "./helpers/hostile.js";
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
    // The switch to counting says who and why, so the silence that follows is not mistaken for calm.
    const peer = logger.entries.find((entry) => entry.message === "dropped")?.fields.peer;
    expect(peer).toMatch(/127\.0\.0\.1:\d+$/);
    expect(logger.entries.find((entry) => entry.message === "dropping quietly")?.fields).toEqual({
      peer,
      reason: `over ${LOGGED_DROPS_PER_CONNECTION} invalid messages; the next ones are counted, not logged`,
    });
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

describe("the bound on what a connection logs", () => {
  /** A server logging into `logger`, a raw client that sends `invalid` invalid payloads then a valid one, and the channel closed. */
  async function dropsThenClose(invalid: number): Promise<ReturnType<typeof recordingLogger>> {
    const logger = recordingLogger();
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, logger }));
    const hostile = await hostileTcp(server.port);
    await waitFor(() => server.channels.length === 1, "the hostile channel");
    for (let i = 0; i < invalid; i++) hostile.send(NOT_A_MAP);
    hostile.send(payloadHex({ action: "last" }));
    const channel = server.channels[0] as RecordingChannel;
    await waitFor(() => channel.received.length === 1, "the last, valid message");
    channel.close();
    await waitFor(() => channel.closes === 1, "the close");
    return logger;
  }

  it("writes no summary when every drop was logged one by one, and one for a single unlogged drop", async () => {
    const allLogged = await dropsThenClose(LOGGED_DROPS_PER_CONNECTION);
    expect(allLogged.entries.filter((entry) => entry.message === "dropped")).toHaveLength(LOGGED_DROPS_PER_CONNECTION);
    expect(allLogged.entries.map((entry) => entry.message)).not.toContain("dropping quietly");
    expect(allLogged.entries.map((entry) => entry.message)).not.toContain("dropped in all");

    const oneMore = await dropsThenClose(LOGGED_DROPS_PER_CONNECTION + 1);
    const summaries = oneMore.entries.filter((entry) => entry.message === "dropped in all");
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.fields).toMatchObject({ count: LOGGED_DROPS_PER_CONNECTION + 1, unlogged: 1 });
  });
});

describe("invalid input that is not a bad payload", () => {
  it("counts WebSocket text messages as invalid: logged with ERR_TEXT_FRAME, and past maxInvalidMessages the peer is cut off", async () => {
    const logger = recordingLogger();
    const server = cleanup.server(
      await startServer({ channelClass: RecordingChannel, logger, ws: { port: 0 }, maxInvalidMessages: 3 }),
    );
    const link = await rawLinkTo(cleanup, "ws", server.wsPort!);
    await waitFor(() => server.channels.length === 1, "the channel");
    const channel = server.channels[0] as RecordingChannel;
    for (let i = 0; i < 3; i++) link.sendRaw("hello");
    link.sendMessage({ action: "still heard" });
    await waitFor(() => channel.received.length === 1, "the message after 3 text messages");
    expect(channel.isConnected).toBe(true);
    const drops = logger.entries.filter((entry) => entry.message === "dropped");
    expect(drops.map((entry) => entry.fields.code)).toEqual(["ERR_TEXT_FRAME", "ERR_TEXT_FRAME", "ERR_TEXT_FRAME"]);

    link.sendRaw("one too many");
    await link.whenClosed();
    await waitFor(() => channel.closes === 1, "the channel's close");
    const error = channel.errors[0] as ProtocolError;
    expect(error.code).toBe("ERR_TOO_MANY_INVALID");
    expect(error.message).toMatch(/4 invalid messages.*limit of 3.*ERR_TEXT_FRAME$/);
  });

  it("counts a session control message sent to a server without sessions as invalid, but not the hello every client sends", async () => {
    const logger = recordingLogger();
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, logger, maxInvalidMessages: 2 }));
    const link = await rawLinkTo(cleanup, "tcp", server.port);
    await waitFor(() => server.channels.length === 1, "the channel");
    const channel = server.channels[0] as RecordingChannel;
    link.sendMessage({ action: "@hello" });
    link.sendMessage({ action: "@ack", n: 1 });
    link.sendMessage({ action: "@hello" });
    link.sendMessage({ action: "@ack", n: 2 });
    link.sendMessage({ action: "still heard" });
    await waitFor(() => channel.received.length === 1, "the message after the control messages");
    expect(channel.received).toEqual([{ action: "still heard" }]);
    const drops = logger.entries.filter((entry) => entry.message === "dropped");
    expect(drops.map((entry) => [entry.fields.code, entry.fields.reason])).toEqual([
      ["ERR_INVALID_CONTROL", "Dropped a @ack outside a session"],
      ["ERR_INVALID_CONTROL", "Dropped a @ack outside a session"],
    ]);
    expect(channel.isConnected).toBe(true);

    link.sendMessage({ action: "@ack", n: 3 });
    await link.whenClosed();
    await waitFor(() => channel.closes === 1, "the channel's close");
    expect((channel.errors[0] as ProtocolError).code).toBe("ERR_TOO_MANY_INVALID");
  });
});

describe("why a payload was dropped", () => {
  const budget = { maxDepth: 8, maxItems: 100, maxKeys: 100 };

  /** The reason `readMessage` gives for dropping `payload`, with its code. */
  function refusal(payload: Uint8Array): [string, string] {
    const result = readMessage(payload, budget);
    expect(result).toBeInstanceOf(ProtocolError);
    const error = result as ProtocolError;
    return [error.code, error.message];
  }

  it("names the cost of a payload over the decode budget, unread", () => {
    const [code, message] = refusal(rawNestedArrays(20));
    expect(code).toBe("ERR_PAYLOAD_TOO_COMPLEX");
    expect(message).toBe("Dropped a 21-byte payload unread: it nests deeper than the maxPayloadDepth of 8");
  });

  it("keeps the decoder's error as the cause of an unreadable payload", () => {
    // 0xc1 is the one byte msgpack never uses.
    const result = readMessage(Uint8Array.of(0xc1), budget) as ProtocolError;
    expect(result.code).toBe("ERR_INVALID_PAYLOAD");
    expect(result.message).toBe("Dropped an unreadable msgpack payload of 1 bytes");
    expect(result.cause).toBeInstanceOf(Error);
  });

  it("describes what came instead of a map, and an unusable control id, without quoting the peer's data", () => {
    expect(refusal(rawValue(null))).toEqual(["ERR_NOT_A_MAP", "Dropped a payload that is not a map: nil"]);
    expect(refusal(rawValue([1, 2]))[1]).toBe("Dropped a payload that is not a map: an array");
    expect(refusal(rawValue(Uint8Array.of(1, 2)))[1]).toBe("Dropped a payload that is not a map: binary data");
    expect(refusal(rawValue("secret"))[1]).toBe("Dropped a payload that is not a map: a string of 6 characters");
    expect(refusal(rawValue(42))[1]).toBe("Dropped a payload that is not a map: a number");

    expect(refusal(rawMessage("@ping", { id: rawValue([1]) }))).toEqual([
      "ERR_INVALID_CONTROL",
      "Dropped a @ping whose id is an array, not a number or a short string",
    ]);
    expect(refusal(rawMessage("@ping", { id: rawStr("x".repeat(200)) }))[1]).toBe(
      "Dropped a @ping whose id is a string of 200 characters, not a number or a short string",
    );
    expect(refusal(rawMessage("ask", { "@req": rawValue(true) }))).toEqual([
      "ERR_INVALID_CONTROL",
      "Dropped a request whose @req id is a boolean, not a number or a short string",
    ]);
  });

  it("leaves an id alone outside a ping: a game message may carry any id, and a ping may carry none", () => {
    expect(readMessage(rawMessage("move", { id: rawValue([1, 2]) }), budget)).toEqual({ action: "move", id: [1, 2] });
    expect(readMessage(rawMessage("@ping"), budget)).toEqual({ action: "@ping" });
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
