import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { decode, Server } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { closedPort, pumpUntil, startServer, waitFor } from "./helpers/net.js";
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
