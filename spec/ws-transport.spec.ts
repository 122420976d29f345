import { once } from "node:events";
import WebSocket from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionError, decode, ProtocolError, type IncomingMessage } from "../lib/index.js";
import { WsTransport } from "../lib/transports/ws-transport.js";
import { Cleanup } from "./helpers/cleanup.js";
import { rawServer } from "./helpers/raw.js";
import { closedPort, pumpUntil, startServer, waitFor } from "./helpers/net.js";
import { RecordingChannel } from "./helpers/recording-channel.js";
import {
  closeRawWebSocket,
  openRawWebSocket,
  payloadOf,
  rawWsServer,
  Recorder,
  recordingLogger,
} from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("WsTransport", () => {
  it("carries one msgpack payload per binary message, without the TCP length header", async () => {
    const { wss, url } = await rawWsServer(cleanup);
    const frames: Buffer[] = [];
    wss.on("connection", (socket) => {
      socket.on("message", (data: Buffer) => frames.push(data));
      socket.send(payloadOf({ action: "connected" }));
      socket.send(payloadOf({ action: "hello", n: 1 }));
    });
    const client = cleanup.listener(new Recorder());
    client.connect(url);
    client.send({ action: "first" });
    client.send({ action: "second", list: [1, 2] });
    await pumpUntil(client, () => client.of("hello").length === 1 && frames.length === 3, "the exchange");

    // A WebSocket client says hello first, so that a server may log it in from its upgrade request.
    expect(frames.map((frame) => [...frame])).toEqual([
      [...payloadOf({ action: "@hello" })],
      [...payloadOf({ action: "first" })],
      [...payloadOf({ action: "second", list: [1, 2] })],
    ]);
    expect(client.of("hello")).toEqual([{ action: "hello", n: 1 }]);
  });

  it("drops a text message from a client, logs ERR_TEXT_FRAME and keeps the connection", async () => {
    const logger = recordingLogger();
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, ws: { port: 0 }, logger }));
    const socket = await openRawWebSocket(`ws://127.0.0.1:${server.wsPort}`);
    cleanup.add(() => closeRawWebSocket(socket));

    socket.send('{"action":"chat"}');
    socket.send(Buffer.from([0xff, 0xfe]).toString("latin1")); // not even UTF-8 once encoded: still only dropped
    socket.send(payloadOf({ action: "chat", text: "still here" }));
    await waitFor(
      () => (server.channels[0] as RecordingChannel | undefined)?.received.length === 1,
      "the binary message",
    );

    const channel = server.channels[0] as RecordingChannel;
    expect(channel.received).toEqual([{ action: "chat", text: "still here" }]);
    expect(channel.isConnected).toBe(true);
    expect(socket.readyState).toBe(WebSocket.OPEN);
    const drops = logger.entries.filter((entry) => entry.message === "dropped");
    expect(drops.map((entry) => entry.fields.code)).toEqual(["ERR_TEXT_FRAME", "ERR_TEXT_FRAME"]);
    expect(drops[0]!.fields.reason).toBe(
      "Dropped a 17-byte WebSocket text message: only binary messages carry msgpack",
    );
  });

  it("drops a text message from the server on the Node client side and keeps the connection", async () => {
    const { wss, url } = await rawWsServer(cleanup);
    wss.on("connection", (socket) => {
      socket.send(payloadOf({ action: "connected" }));
      socket.send("not msgpack");
      socket.send(payloadOf({ action: "after" }));
    });
    const client = cleanup.listener(new Recorder());
    client.connect(url);
    await pumpUntil(client, () => client.of("after").length === 1, "the binary message");

    expect(client.actions).toEqual(["connected", "socketConnect", "after"]);
    expect(client.connection?.isConnected).toBe(true);
  });

  it("closes a client whose message exceeds maxPayload with ERR_PAYLOAD_TOO_LARGE, and only that one", async () => {
    const server = cleanup.server(
      await startServer({ channelClass: RecordingChannel, ws: { port: 0 }, maxPayload: 1024 }),
    );
    const big = cleanup.listener(new Recorder());
    const web = cleanup.listener(new Recorder());
    const tcp = cleanup.listener(new Recorder());
    big.connect(`ws://127.0.0.1:${server.wsPort}`);
    web.connect(`ws://127.0.0.1:${server.wsPort}`);
    tcp.connect("127.0.0.1", server.port);
    const all = { pump: () => big.pump() + web.pump() + tcp.pump() };
    await pumpUntil(all, () => [big, web, tcp].every((client) => client.of("connected").length === 1), "three players");
    const closed: RecordingChannel[] = [];
    cleanup.subscription(server.disconnections$.subscribe((channel) => closed.push(channel as RecordingChannel)));

    big.send({ action: "upload", data: "x".repeat(2000) });
    await pumpUntil(
      all,
      () => big.of("disconnected").length === 1 && closed.length === 1,
      "the oversized client's disconnection",
    );

    expect(closed[0]!.errors).toHaveLength(1);
    const error = closed[0]!.errors[0] as ProtocolError;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe("ERR_PAYLOAD_TOO_LARGE");
    expect(error.message).toBe("Received a WebSocket message over the 1024-byte maxPayload limit");
    expect(big.actions).toEqual(["connected", "socketConnect", "error", "disconnected"]);
    expect(big.of("error")[0]).toEqual({
      action: "error",
      error: "The peer closed the WebSocket with code 1009 (Message Too Big)",
      code: "ERR_CONNECTION_LOST",
    });

    expect(server.sendToAll({ action: "still", playing: true })).toBe(2);
    await pumpUntil(all, () => web.of("still").length === 1 && tcp.of("still").length === 1, "the others");
    expect(web.of("error")).toEqual([]);
    expect(tcp.of("error")).toEqual([]);
  });

  it("ends a Node client's connection with ERR_PAYLOAD_TOO_LARGE when the server sends more than its maxPayload", async () => {
    class Big extends RecordingChannel {
      override onConnect(): void {
        this.send({ action: "map", tiles: "x".repeat(5000) });
      }
    }
    const server = cleanup.server(await startServer({ channelClass: Big, ws: { port: 0 } }));
    const closed: Big[] = [];
    cleanup.subscription(server.disconnections$.subscribe((channel) => closed.push(channel as Big)));
    const client = cleanup.listener(new Recorder());
    client.connect(`ws://127.0.0.1:${server.wsPort}`, undefined, { maxPayload: 1000 });
    await pumpUntil(client, () => client.of("disconnected").length === 1, "disconnected");

    expect(client.actions).toEqual(["connected", "socketConnect", "error", "disconnected"]);
    expect(client.of("error")[0]).toEqual({
      action: "error",
      error: "Received a WebSocket message over the 1000-byte maxPayload limit",
      code: "ERR_PAYLOAD_TOO_LARGE",
    });
    await waitFor(() => closed.length === 1, "the channel closed");
    // The server hears why the client left: the close code the client sent.
    expect(closed[0]!.errors).toEqual([
      new ConnectionError("ERR_CONNECTION_LOST", "The peer closed the WebSocket with code 1009 (Message Too Big)"),
    ]);
    expect((closed[0]!.errors[0] as ConnectionError).code).toBe("ERR_CONNECTION_LOST");
  });

  it("end() sends everything queued, then closes with code 1000", async () => {
    class Farewell extends Channel {
      override onConnect(): void {
        for (let n = 0; n < 100; n++) this.send({ action: "tick", n });
        this.close();
      }
    }
    const server = cleanup.server(await startServer({ channelClass: Farewell, ws: { port: 0 } }));
    const ticks: number[] = [];
    const socket = new WebSocket(`ws://127.0.0.1:${server.wsPort}`);
    cleanup.add(() => closeRawWebSocket(socket));
    socket.on("message", (data: Buffer) => {
      const message = decode(data) as IncomingMessage;
      if (message.action === "tick") ticks.push(message.n as number);
    });
    const [code] = (await once(socket, "close")) as [number];

    expect(code).toBe(1000);
    expect(ticks).toEqual([...Array(100).keys()]);
  });

  it("delivers what a client queued while opening, then closes gracefully on close()", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, ws: { port: 0 } }));
    const closed: RecordingChannel[] = [];
    cleanup.subscription(server.disconnections$.subscribe((channel) => closed.push(channel as RecordingChannel)));
    const client = cleanup.listener(new Recorder());
    client.connect(`ws://127.0.0.1:${server.wsPort}`);
    for (let n = 0; n < 50; n++) client.send({ action: "move", n });
    client.close();
    await waitFor(() => closed.length === 1, "the channel closed");

    expect(closed[0]!.received.map((message) => message.n)).toEqual([...Array(50).keys()]);
    expect(closed[0]!.errors).toEqual([]);
  });

  it("reports how many bytes wait for a slow peer in bufferedAmount", async () => {
    const server = cleanup.server(await startServer({ ws: { port: 0 } }));
    const socket = await openRawWebSocket(`ws://127.0.0.1:${server.wsPort}`);
    cleanup.add(() => closeRawWebSocket(socket));
    await waitFor(() => server.channels.length === 1, "the channel");
    const channel = server.channels[0]!;

    const chunk = "x".repeat(1 << 20);
    for (let n = 0; n < 12; n++) channel.send({ action: "blob", chunk });
    expect(channel.bufferedAmount).toBeGreaterThan(0);
    await waitFor(() => channel.bufferedAmount === 0, "the queue drained", 10_000);
  });

  it("gives one error and no disconnected when nothing listens at a ws:// URL", async () => {
    const port = await closedPort();
    const client = cleanup.listener(new Recorder());
    client.connect(`ws://127.0.0.1:${port}/`);
    await pumpUntil(client, () => client.of("error").length === 1, "the error");
    await waitFor(() => client.connection?.state === "closed", "the client closed");
    client.pump();

    expect(client.actions).toEqual(["error"]);
    expect(client.of("error")[0]).toMatchObject({
      error: `connect ECONNREFUSED 127.0.0.1:${port}`,
      code: "ERR_CONNECT_FAILED",
    });
  });
});

describe("WsTransport.connect", () => {
  it("fails with ERR_CONNECT_FAILED when the server accepts the TCP connection and never answers the upgrade", async () => {
    const port = await rawServer(cleanup, () => {});
    const url = `ws://127.0.0.1:${port}/`;
    const startedAt = Date.now();
    const transport = WsTransport.connect(
      url,
      { host: "127.0.0.1", port },
      { maxPayload: 1024, handshakeTimeout: 200 },
    );
    const events: string[] = [];
    const error = await new Promise<Error | undefined>((resolve) =>
      transport.start({
        open: () => events.push("open"),
        payload: () => events.push("payload"),
        invalid: () => events.push("invalid"),
        close: resolve,
      }),
    );
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(180);
    expect(Date.now() - startedAt).toBeLessThan(1_200);
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({
      code: "ERR_CONNECT_FAILED",
      message: `The server at ${url} did not complete the WebSocket handshake within 200 ms`,
    });
  });
});
