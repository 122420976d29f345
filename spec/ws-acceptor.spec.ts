import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { decode, Server } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { closedPort, delay, pumpUntil, rawSocket, startServer, waitFor } from "./helpers/net.js";
import { closeRawWebSocket, openRawWebSocket, payloadOf, Recorder, recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** An HTTP server on a free port that serves a page, as a game's web server would. */
async function pageServer(): Promise<{ http: http.Server; port: number }> {
  const server = http.createServer((_request, response) => response.end("the game page"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { http: server, port: (server.address() as net.AddressInfo).port };
}

async function get(port: number, path = "/"): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

describe("WsAcceptor", () => {
  it("listens on a port of its own with port 0 and answers plain HTTP with 426", async () => {
    const server = cleanup.server(await startServer({ ws: { port: 0 } }));

    expect(await get(server.wsPort!)).toEqual({ status: 426, body: "This port accepts WebSocket connections only" });
    const client = cleanup.listener(new Recorder());
    client.connect(`ws://127.0.0.1:${server.wsPort}/any/path`);
    await pumpUntil(client, () => client.of("connected").length === 1, "connected");
  });

  it("rejects a handshake from an origin outside the allow-list with 403, before any channel exists", async () => {
    const logger = recordingLogger();
    const server = cleanup.server(
      await startServer({ ws: { port: 0, origins: ["https://game.example", "http://localhost:5173/"] }, logger }),
    );
    const url = `ws://127.0.0.1:${server.wsPort}`;

    await expect(openRawWebSocket(url, { origin: "https://evil.example" })).rejects.toThrow(
      "Unexpected server response: 403",
    );
    expect(server.channels).toHaveLength(0);
    expect(logger.entries.find((entry) => entry.message === "refused")?.fields.reason).toBe(
      "Origin https://evil.example is not in the server's ws.origins allow-list",
    );

    // Listed origins, compared without case and trailing slash, get in.
    const listed = await openRawWebSocket(url, { origin: "HTTPS://game.example" });
    cleanup.add(() => closeRawWebSocket(listed));
    const local = await openRawWebSocket(url, { origin: "http://localhost:5173" });
    cleanup.add(() => closeRawWebSocket(local));
    // A client that sends no Origin (a Node bot) is no browser page: accepted.
    const bot = cleanup.listener(new Recorder());
    bot.connect(url);
    await pumpUntil(bot, () => bot.of("connected").length === 1, "the bot connected");
    await waitFor(() => server.channels.length === 3, "three channels");
  });

  it("accepts only its path, ignoring the query string, and tells a listener on another path why it failed", async () => {
    const server = cleanup.server(await startServer({ ws: { port: 0, path: "/game" } }));
    const player = cleanup.listener(new Recorder());
    const lost = cleanup.listener(new Recorder());
    player.connect(`ws://127.0.0.1:${server.wsPort}/game?room=7`);
    lost.connect(`ws://127.0.0.1:${server.wsPort}/lobby`);
    await pumpUntil(
      { pump: () => player.pump() + lost.pump() },
      () => player.of("connected").length === 1 && lost.of("error").length === 1,
      "both outcomes",
    );

    expect(lost.actions).toEqual(["error"]);
    expect(lost.of("error")[0]).toEqual({
      action: "error",
      error: `The server at ws://127.0.0.1:${server.wsPort}/lobby refused the WebSocket handshake: HTTP 404 Not Found`,
      code: "ERR_CONNECT_FAILED",
    });
    expect(server.channels).toHaveLength(1);
  });

  it("attaches to an existing http.Server with a path, leaving its pages and its lifecycle to its owner", async () => {
    const { http: web, port } = await pageServer();
    const server = cleanup.server(await startServer({ ws: { server: web, path: "/game" } }));

    expect(server.wsPort).toBe(port);
    const player = cleanup.listener(new Recorder());
    player.connect(`ws://127.0.0.1:${port}/game`);
    await pumpUntil(player, () => player.of("connected").length === 1, "connected");
    player.send({ action: "hi" });
    expect(await get(port)).toEqual({ status: 200, body: "the game page" });

    await server.stop();
    await pumpUntil(player, () => player.of("disconnected").length === 1, "disconnected");
    expect(web.listening).toBe(true);
    expect(web.listenerCount("upgrade")).toBe(0);
    expect(await get(port)).toEqual({ status: 200, body: "the game page" });
  });

  it("serves wss:// through a user-provided https.Server", async () => {
    const cert = readFileSync(new URL("fixtures/tls-cert.pem", import.meta.url));
    const key = readFileSync(new URL("fixtures/tls-key.pem", import.meta.url));
    const secure = https.createServer({ key, cert }, (_request, response) => response.end("the secure page"));
    await new Promise<void>((resolve) => secure.listen(0, "127.0.0.1", resolve));
    cleanup.add(
      () =>
        new Promise<void>((resolve) => {
          secure.closeAllConnections();
          secure.close(() => resolve());
        }),
    );
    const port = (secure.address() as net.AddressInfo).port;
    const server = cleanup.server(await startServer({ ws: { server: secure, path: "/game" } }));
    const received: unknown[] = [];
    cleanup.subscription(server.messages$.subscribe(({ message }) => received.push(message)));

    // The test certificate is self-signed: a client that trusts it plays over TLS...
    const socket = new WebSocket(`wss://127.0.0.1:${port}/game`, { ca: cert });
    cleanup.add(() => closeRawWebSocket(socket));
    const greetings: unknown[] = [];
    socket.on("message", (data: Buffer) => greetings.push(decode(data)));
    socket.once("open", () => socket.send(payloadOf({ action: "hi", over: "tls" })));
    await waitFor(() => greetings.length === 1 && received.length === 1, "the exchange over wss");
    expect(greetings).toEqual([{ action: "connected" }]);
    expect(received).toEqual([{ action: "hi", over: "tls" }]);
    expect(server.wsPort).toBe(port);

    // ...and a Node listener, which trusts only real certificates, says why it cannot.
    const listener = cleanup.listener(new Recorder());
    listener.connect(`wss://127.0.0.1:${port}/game`);
    await pumpUntil(listener, () => listener.of("error").length === 1, "the certificate error");
    expect(listener.of("error")[0]).toEqual({
      action: "error",
      error: "self-signed certificate",
      code: "ERR_CONNECT_FAILED",
    });

    // Given the certificate to trust (the tls option), the same listener plays over wss.
    const trusting = cleanup.listener(new Recorder());
    trusting.connect(`wss://127.0.0.1:${port}/game`, undefined, { tls: { ca: cert } });
    await pumpUntil(trusting, () => trusting.of("connected").length === 1, "the connection over wss");
    trusting.send({ action: "hi", over: "tls", from: "listener" });
    await waitFor(() => received.length === 2, "the listener's message over wss");
    expect(received[1]).toEqual({ action: "hi", over: "tls", from: "listener" });
  });

  it("leaves other paths to another upgrade listener on the same http.Server", async () => {
    const { http: web, port } = await pageServer();
    const chat = new WebSocketServer({ noServer: true });
    web.on("upgrade", (request, socket, head) => {
      if (request.url === "/chat") chat.handleUpgrade(request, socket, head, (ws) => ws.send("chat ready"));
    });
    cleanup.add(() => chat.close());
    const server = cleanup.server(await startServer({ ws: { server: web, path: "/game" } }));

    const chatClient = await openRawWebSocket(`ws://127.0.0.1:${port}/chat`);
    cleanup.add(() => closeRawWebSocket(chatClient));
    const player = cleanup.listener(new Recorder());
    player.connect(`ws://127.0.0.1:${port}/game`);
    await pumpUntil(player, () => player.of("connected").length === 1, "connected");

    expect(server.channels).toHaveLength(1);
  });

  it("leaves permessage-deflate off by default and negotiates it when switched on", async () => {
    const plain = cleanup.server(await startServer({ ws: { port: 0 } }));
    const deflating = cleanup.server(await startServer({ ws: { port: 0, perMessageDeflate: true } }));

    // ws clients offer permessage-deflate unless told not to.
    const toPlain = await openRawWebSocket(`ws://127.0.0.1:${plain.wsPort}`);
    cleanup.add(() => closeRawWebSocket(toPlain));
    const toDeflating = await openRawWebSocket(`ws://127.0.0.1:${deflating.wsPort}`);
    cleanup.add(() => closeRawWebSocket(toDeflating));
    expect(toPlain.extensions).toBe("");
    expect(toDeflating.extensions).toMatch(/^permessage-deflate/);

    const received: unknown[] = [];
    cleanup.subscription(deflating.messages$.subscribe(({ message }) => received.push(message)));
    toDeflating.send(payloadOf({ action: "state", text: "y".repeat(5000) }));
    await waitFor(() => received.length === 1, "the compressed message");
    expect(received[0]).toEqual({ action: "state", text: "y".repeat(5000) });
  });

  it("fails start() with a readable reason when the WebSocket port is taken, and releases the TCP port", async () => {
    const { port: taken } = await pageServer();
    const tcpPort = await closedPort();
    const server = new Server({ host: "127.0.0.1", port: tcpPort, ws: { port: taken } });
    cleanup.server(server);

    await expect(server.start()).rejects.toThrow(
      new RegExp(
        `^Cannot listen for WebSocket clients on 127\\.0\\.0\\.1:${taken}: listen EADDRINUSE.*choose another ws\\.port \\(port 0 picks a free one\\)$`,
      ),
    );
    expect(server.isListening).toBe(false);
    expect(server.wsPort).toBeNull();
    const probe = cleanup.netServer(net.createServer());
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(tcpPort, "127.0.0.1", resolve);
    });
  });
});

/** Resolves with `Date.now()` when `socket` closes. */
function closedAt(socket: net.Socket): Promise<number> {
  return new Promise((resolve) => socket.once("close", () => resolve(Date.now())));
}

describe("WsAcceptor handshakes", () => {
  it("destroys a connection to its own port that has not upgraded within handshakeTimeout, logging it once", async () => {
    const handshakeTimeout = 250;
    const logger = recordingLogger();
    const server = cleanup.server(await startServer({ ws: { port: 0 }, handshakeTimeout, logger }));
    const connectedAt = Date.now();
    const silent = cleanup.socket(await rawSocket(server.wsPort!));
    const slow = cleanup.socket(await rawSocket(server.wsPort!));
    const peers = [silent, slow].map((socket) => `127.0.0.1:${socket.localPort}`);
    const closed = Promise.all([silent, slow].map(closedAt));
    slow.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");
    // A client that upgrades in time is not affected.
    const player = cleanup.listener(new Recorder());
    player.connect(`ws://127.0.0.1:${server.wsPort}`);
    await pumpUntil(player, () => player.of("connected").length === 1, "the player's connection");

    for (const at of await closed) {
      expect(at - connectedAt).toBeGreaterThanOrEqual(handshakeTimeout - 20);
      expect(at - connectedAt).toBeLessThan(handshakeTimeout + 1_000);
    }
    await delay(handshakeTimeout);
    const timeouts = logger.entries.filter((entry) => entry.message === "handshake timeout");
    expect(timeouts.map((entry) => entry.fields.peer).sort()).toEqual(peers.sort());
    for (const entry of timeouts) {
      expect(entry.level).toBe("warn");
      expect(entry.fields.reason).toBe("No WebSocket connection within the handshakeTimeout of 250 ms; closed");
    }
    expect(server.channels).toHaveLength(1);
    expect(player.connection?.isConnected).toBe(true);
  });

  it("counts handshakes in progress against maxConnections: refuses one past it with 503, lets it in once they end", async () => {
    const logger = recordingLogger();
    const server = cleanup.server(
      await startServer({ ws: { port: 0 }, maxConnections: 3, handshakeTimeout: 300, logger }),
    );
    const url = `ws://127.0.0.1:${server.wsPort}`;
    const player = await openRawWebSocket(url);
    cleanup.add(() => closeRawWebSocket(player));
    await waitFor(() => server.channels.length === 1, "the first player's channel");
    const pending = [cleanup.socket(await rawSocket(server.wsPort!)), cleanup.socket(await rawSocket(server.wsPort!))];
    const pendingClosed = Promise.all(pending.map(closedAt));
    await delay(50); // for the server to see both connections

    await expect(openRawWebSocket(url)).rejects.toThrow("Unexpected server response: 503");
    expect(server.channels).toHaveLength(1);
    expect(logger.entries.find((entry) => entry.message === "refused")?.fields.reason).toBe(
      "Server is full: it has 1 clients and 2 other WebSocket handshakes in progress, for 3 maxConnections; try again later",
    );

    await pendingClosed;
    const late = await openRawWebSocket(url);
    cleanup.add(() => closeRawWebSocket(late));
    await waitFor(() => server.channels.length === 2, "the late player's channel");
  });

  it("with an attached http.Server, refuses an upgrade past maxConnections with 503 before any WebSocket exists", async () => {
    const { http: web, port } = await pageServer();
    const logger = recordingLogger();
    const server = cleanup.server(await startServer({ ws: { server: web }, maxConnections: 1, logger }));
    const player = await openRawWebSocket(`ws://127.0.0.1:${port}`);
    cleanup.add(() => closeRawWebSocket(player));
    await waitFor(() => server.channels.length === 1, "the player's channel");

    const refused = cleanup.listener(new Recorder());
    refused.connect(`ws://127.0.0.1:${port}`);
    await pumpUntil(refused, () => refused.of("error").length === 1, "the refusal");
    expect(refused.of("error")[0]).toEqual({
      action: "error",
      error: `The server at ws://127.0.0.1:${port}/ refused the WebSocket handshake: HTTP 503 Service Unavailable`,
      code: "ERR_CONNECT_FAILED",
    });
    expect(logger.entries.find((entry) => entry.message === "refused")?.fields.reason).toBe(
      "Server is full: it has 1 clients and 0 other WebSocket handshakes in progress, for 1 maxConnections; try again later",
    );
    expect(server.channels).toHaveLength(1);
  });

  it("does not make stop() wait for a handshake in progress", async () => {
    const server = cleanup.server(await startServer({ ws: { port: 0 } }));
    const slow = cleanup.socket(await rawSocket(server.wsPort!));
    const closed = closedAt(slow);
    slow.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    await delay(50);

    const stoppedAt = Date.now();
    await server.stop();
    expect(Date.now() - stoppedAt).toBeLessThan(1_000);
    expect((await closed) - stoppedAt).toBeLessThan(1_000);
  });
});
