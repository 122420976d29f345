import { readFileSync } from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import { firstValueFrom, lastValueFrom, timeout, toArray } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  ConnectionListener,
  decode,
  encode,
  Server,
  type Client,
  type ClientState,
  type ConnectOptions,
  type IncomingMessage,
  type ReconnectOptions,
} from "../lib/index.js";
import { listenerMixin } from "../lib/connections/connection-listener.js";
import { createBrowserConnector } from "../lib/transports/browser-connector.js";
import type { WebSocketConstructor } from "../lib/transports/browser-websocket-transport.js";
import { Cleanup } from "./helpers/cleanup.js";
import { RestartableServer, restartableServer } from "./helpers/restartable-server.js";
import { closedPort, delay, waitFor } from "./helpers/net.js";
import { headerOf, receivedBy } from "./helpers/raw.js";
import { tcpProxy } from "./helpers/proxy.js";
import { sessionGranted } from "./helpers/sessions.js";
import { payloadOf, rawWsServer, recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const greeting = Buffer.from(encode({ action: "connected" }));

/** A client of `port` (closed after the test), its messages and states as they come. */
function clientOf(
  port: number | string,
  options: ConnectOptions = {},
): { listener: ConnectionListener; client: Client; log: IncomingMessage[]; states: ClientState[] } {
  const listener = cleanup.listener(new ConnectionListener());
  if (typeof port === "string") listener.connect(port, options);
  else listener.connect("127.0.0.1", port, options);
  const client = listener.connection!;
  const log: IncomingMessage[] = [];
  const states: ClientState[] = [];
  cleanup.subscription(client.messages$.subscribe((message) => log.push(message)));
  cleanup.subscription(client.state$.subscribe((state) => states.push(state)));
  return { listener, client, log, states };
}

/** Retries every few milliseconds, long enough for a server restart. */
const FAST: ReconnectOptions = { initialDelay: 10, maxDelay: 50, jitter: 0, maxAttempts: 200 };

/** Takes `game` down and waits until `client` is reconnecting. */
async function outage(game: RestartableServer, client: Client): Promise<void> {
  await waitFor(() => client.state === "open", "open");
  await game.stop();
  await waitFor(() => client.state === "reconnecting", "reconnecting");
}

/** The bytes `send()` reports for `message`: its frame, header included. */
const sizeOf = (message: object): number => encode(message).byteLength;

describe("Client states", () => {
  it("rejects a resume option that is not true or false when connecting", () => {
    const listener = new ConnectionListener();
    expect(() => listener.connect("127.0.0.1", 1, { resume: "yes" as never })).toThrow(
      new TypeError('options.resume must be true or false, got "yes"'),
    );
    expect(listener.connection).toBeNull();
  });

  it("close() on an open client with reconnect on ends it quietly: no error, no reconnection", async () => {
    const game = await restartableServer(cleanup);
    const { client, log, states } = clientOf(game.port, { reconnect: FAST });
    await waitFor(() => client.state === "open", "open");
    client.close();
    await waitFor(() => client.state === "closed", "closed");
    expect(log).toEqual([{ action: "connected" }, { action: "socketConnect" }, { action: "disconnected" }]);
    expect(states).toEqual(["connecting", "open", "closing", "closed"]);
  });

  it("close() while connecting goes closing then closed, never open, though what was sent still goes out", async () => {
    const sockets: net.Socket[] = [];
    const received: unknown[][] = [];
    const port = await rawServerKeeping(sockets, (socket) => {
      received.push(receivedBy(socket));
      socket.write(greeting);
    });
    const { client, states } = clientOf(port);
    client.send({ action: "bye", n: 1 });
    client.close();
    expect(client.state).toBe("closing");
    await waitFor(() => client.state === "closed", "closed");
    expect(states).toEqual(["connecting", "closing", "closed"]);
    expect(client.isConnected).toBe(false);
    await waitFor(() => received[0]?.length === 1, "the message sent before close()");
    expect(received[0]).toEqual([{ action: "bye", n: 1 }]);
  });

  it("with reconnect.maxAttempts 0 a lost connection closes the client at once, never reconnecting", async () => {
    const game = await restartableServer(cleanup);
    const { client, log, states } = clientOf(game.port, { reconnect: { maxAttempts: 0 } });
    await waitFor(() => client.state === "open", "open");
    // A game that sends from its disconnected handler learns that nothing is kept for later.
    const sentOnDisconnect: number[] = [];
    cleanup.subscription(
      client.messages$.subscribe((message) => {
        if (message.action === "disconnected") sentOnDisconnect.push(client.send({ action: "late" }));
      }),
    );
    await game.stop();
    await waitFor(() => client.state === "closed", "closed");
    expect(states).toEqual(["connecting", "open", "closed"]);
    expect(sentOnDisconnect).toEqual([0]);
    const server = `127.0.0.1:${game.port}`;
    expect(log).toEqual([
      { action: "connected" },
      { action: "socketConnect" },
      { action: "disconnected" },
      {
        action: "error",
        code: "ERR_RECONNECT_FAILED",
        error: `Gave up reconnecting to ${server} after 0 attempts: ${server} closed the connection`,
      },
    ]);
  });

  describe("the queue while reconnecting", () => {
    it("drops volatile messages (0), and delivers the ordinary ones once back", async () => {
      const game = await restartableServer(cleanup);
      const { client } = clientOf(game.port, { reconnect: FAST });
      await outage(game, client);
      expect(client.send({ action: "move", x: 1 }, { volatile: true })).toBe(0);
      expect(client.send({ action: "chat", text: "hi" })).toBe(sizeOf({ action: "chat", text: "hi" }));
      expect(client.send({ action: "move", x: 2 }, { volatile: true })).toBe(0);
      await game.start();
      await waitFor(() => client.state === "open", "open again");
      client.send({ action: "done" });
      await waitFor(() => game.received.some((message) => message.action === "done"), "the last message");
      expect(game.received).toEqual([{ action: "chat", text: "hi" }, { action: "done" }]);
    });

    it("accepts a message that fills reconnect.maxQueuedBytes exactly, and nothing past it", async () => {
      const game = await restartableServer(cleanup);
      const message = { action: "seq", n: 1, pad: "abcdefghij" };
      const { client } = clientOf(game.port, { reconnect: { ...FAST, maxQueuedBytes: sizeOf(message) } });
      await outage(game, client);
      expect(client.send(message)).toBe(sizeOf(message));
      expect(client.send({ action: "seq", n: 2 })).toBe(0);
      await game.start();
      await waitFor(() => client.state === "open", "open again");
      client.send({ action: "done" });
      await waitFor(() => game.received.some((m) => m.action === "done"), "the last message");
      expect(game.received).toEqual([message, { action: "done" }]);
    });

    it("replaces a latest-wins message in place even when the queue is full, and refuses one that would grow past the bound", async () => {
      const game = await restartableServer(cleanup);
      const position = (x: number): { action: string; x: number } => ({ action: "pos", x });
      const first = { action: "seq", n: 1 };
      // Room for exactly one ordinary message and one position.
      const bound = sizeOf(first) + sizeOf(position(1));
      const { client } = clientOf(game.port, { reconnect: { ...FAST, maxQueuedBytes: bound } });
      await outage(game, client);
      expect(client.send(position(1), { latest: "pos" })).toBe(sizeOf(position(1)));
      expect(client.send(first)).toBe(sizeOf(first));
      expect(client.bufferedAmount).toBe(bound);
      // The same size again: the queue does not grow, so it fits.
      expect(client.send(position(2), { latest: "pos" })).toBe(sizeOf(position(2)));
      expect(client.send(position(3), { latest: "pos" })).toBe(sizeOf(position(3)));
      // Bigger: past the bound, refused; the one it would have replaced stays.
      expect(client.send({ action: "pos", x: 4, note: "far" }, { latest: "pos" })).toBe(0);
      expect(client.bufferedAmount).toBe(bound);
      await game.start();
      await waitFor(() => client.state === "open", "open again");
      client.send({ action: "done" });
      await waitFor(() => game.received.some((m) => m.action === "done"), "the last message");
      // The position keeps its place in the queue: before the message sent after its first version.
      expect(game.received).toEqual([position(3), first, { action: "done" }]);
    });

    it("counts the queue in bufferedAmount, and drops it on close()", async () => {
      const game = await restartableServer(cleanup);
      const { client } = clientOf(game.port, { reconnect: FAST });
      await outage(game, client);
      expect(client.bufferedAmount).toBe(0);
      client.send({ action: "seq", n: 1 });
      client.send({ action: "pos", x: 1 }, { latest: "pos" });
      expect(client.bufferedAmount).toBe(sizeOf({ action: "seq", n: 1 }) + sizeOf({ action: "pos", x: 1 }));
      client.close();
      expect(client.state).toBe("closed");
      expect(client.bufferedAmount).toBe(0);
    });
  });

  it("close() while a reconnection attempt waits for the server to let it in closes at once", async () => {
    const sockets: net.Socket[] = [];
    const port = await rawServerKeeping(sockets, (socket, index) => {
      // The first connection is let in (then cut); the next one is never answered.
      if (index === 0) socket.write(greeting);
    });
    const { client, log, states } = clientOf(port, {
      auth: "token",
      maxPayload: 100,
      reconnect: { ...FAST, initialDelay: 1 },
    });
    await waitFor(() => client.state === "open", "open");
    // A frame over maxPayload: the client ends the connection with an error.
    sockets[0]!.write(headerOf(101));
    await waitFor(() => sockets.length === 2, "the reconnection attempt");
    expect(client.state).toBe("reconnecting");
    client.close();
    expect(client.state).toBe("closed");
    expect(states).toEqual(["connecting", "open", "reconnecting", "closed"]);
    expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect", "error", "disconnected"]);
    await waitFor(() => sockets[1]!.destroyed, "the attempt's socket to close");
  });

  it("over wss, as over ws, opens with { action: @hello } even without auth, for a server to check its upgrade request", async () => {
    const cert = readFileSync(new URL("fixtures/tls-cert.pem", import.meta.url));
    const key = readFileSync(new URL("fixtures/tls-key.pem", import.meta.url));
    const secure = https.createServer({ key, cert });
    const wss = new WebSocketServer({ server: secure });
    const received: unknown[] = [];
    wss.on("connection", (socket) => {
      socket.on("message", (data: Buffer) => received.push(decode(Uint8Array.from(data))));
    });
    await new Promise<void>((resolve) => secure.listen(0, "127.0.0.1", resolve));
    cleanup.add(
      () =>
        new Promise<void>((resolve) => {
          for (const client of wss.clients) client.terminate();
          wss.close();
          secure.closeAllConnections();
          secure.close(() => resolve());
        }),
    );
    const { port } = secure.address() as net.AddressInfo;
    const { client } = clientOf(`wss://127.0.0.1:${port}/`, { tls: { ca: cert } });
    client.send({ action: "move" });
    await waitFor(() => received.length === 2, "the client's first messages");
    expect(received).toEqual([{ action: "@hello" }, { action: "move" }]);
  });

  it("with reconnect on, reports each connection the server closes before letting the client in, then gives up", async () => {
    const sockets: net.Socket[] = [];
    // Accepts, then hangs up without greeting, as a server whose login ended without a word.
    const port = await rawServerKeeping(sockets, (socket) => setTimeout(() => socket.end(), 10));
    const { client, log, states } = clientOf(port, {
      auth: "token",
      reconnect: { initialDelay: 5, factor: 1, jitter: 0, maxAttempts: 1 },
    });
    await waitFor(() => client.state === "closed", "the client to give up");
    const server = `127.0.0.1:${port}`;
    const notLetIn = `${server} closed the connection before letting the client in`;
    expect(log).toEqual([
      { action: "error", code: "ERR_CONNECTION_LOST", error: notLetIn },
      { action: "error", code: "ERR_CONNECTION_LOST", error: notLetIn },
      {
        action: "error",
        code: "ERR_RECONNECT_FAILED",
        error: `Gave up reconnecting to ${server} after 1 attempts: ${notLetIn}`,
      },
    ]);
    expect(states).toEqual(["connecting", "reconnecting", "closed"]);
    expect(sockets).toHaveLength(2);
  });

  it("close() while a resume attempt waits for the server's answer closes at once, ending the session", async () => {
    const server = cleanup.server(new Server({ host: "127.0.0.1", port: 0, resume: { window: 5_000 } }));
    await server.start();
    const proxy = await tcpProxy(cleanup, server.port);
    const { listener, client, log, states } = clientOf(proxy.port, { resume: true });
    await sessionGranted(listener);
    // The resume's hello is held in the network: the attempt stays unanswered.
    proxy.hold(true);
    proxy.cut();
    await waitFor(() => client.state === "resuming" && proxy.accepted === 2, "a resume attempt");
    client.close();
    expect(client.state).toBe("closed");
    expect(states).toEqual(["connecting", "open", "resuming", "closed"]);
    expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect", "dropped", "disconnected"]);
    await waitFor(() => proxy.open === 0, "the attempt's connection to close");
  });

  it("keeps the reconnection queue for the attempt that gets in: one the server closes before letting the client in takes none of it", async () => {
    const sockets: net.Socket[] = [];
    const received: unknown[][] = [];
    const port = await rawServerKeeping(sockets, (socket, index) => {
      const got = receivedBy(socket);
      received.push(got);
      // The first connection is let in (then cut), the second hung up on once its hello is in.
      if (index === 1) socket.on("data", () => got.length === 1 && socket.end());
      else socket.write(greeting);
    });
    const { client, log } = clientOf(port, { auth: "token", reconnect: { ...FAST, initialDelay: 1 } });
    // Queued the moment the connection is lost.
    cleanup.subscription(
      client.messages$.subscribe((message) => {
        if (message.action === "disconnected") client.send({ action: "seq", n: 1 });
      }),
    );
    await waitFor(() => client.state === "open", "open");
    sockets[0]!.resetAndDestroy();
    await waitFor(() => received[2]?.length === 2, "the queued message on the third connection");
    const hello = { action: "@hello", auth: "token" };
    expect(received).toEqual([[hello], [hello], [hello, { action: "seq", n: 1 }]]);
    expect(log.filter((message) => message.action === "connected")).toHaveLength(2);
  });

  describe("with a resumable session", () => {
    async function sessionThroughProxy(window: number, options: ConnectOptions = {}) {
      const server = cleanup.server(new Server({ host: "127.0.0.1", port: 0, resume: { window } }));
      await server.start();
      const proxy = await tcpProxy(cleanup, server.port);
      const player = clientOf(proxy.port, { resume: true, ...options });
      await sessionGranted(player.listener);
      return { server, proxy, ...player };
    }

    it("close() ends the session even when the network fails during the goodbye: never dropped, no resume", async () => {
      const { proxy, client, log, states } = await sessionThroughProxy(5_000);
      proxy.hold(true);
      client.close();
      proxy.cut();
      await waitFor(() => client.state === "closed", "closed");
      expect(states).toEqual(["connecting", "open", "closing", "closed"]);
      expect(log.map((message) => message.action)).not.toContain("dropped");
      expect(log.at(-1)).toEqual({ action: "disconnected" });
      expect(proxy.accepted).toBe(1);
    });

    it("gives each gap the server's whole window: a second drop is not cut short by the first one's deadline", async () => {
      const window = 3_000;
      const { proxy, client, log } = await sessionThroughProxy(window, {
        reconnect: { initialDelay: 20, maxDelay: 20, jitter: 0, maxAttempts: Infinity },
      });
      const firstDrop = Date.now();
      proxy.cut();
      await waitFor(() => log.some((message) => message.action === "resumed"), "the first resume");
      await delay(window / 2 - (Date.now() - firstDrop));
      // The second gap: the server is out of reach past the end of the first gap's window.
      proxy.refuse(true);
      proxy.cut();
      await waitFor(() => client.state === "resuming", "the second drop");
      await delay(firstDrop + window + 300 - Date.now());
      proxy.refuse(false);
      await waitFor(() => log.filter((message) => message.action === "resumed").length === 2, "the second resume");
      expect(log.map((message) => message.action)).toEqual([
        "connected",
        "socketConnect",
        "dropped",
        "resumed",
        "dropped",
        "resumed",
      ]);
    });
  });

  describe("with an auth function", () => {
    it("close() while the auth function runs: no connection is ever opened, even once it answers", async () => {
      const sockets: net.Socket[] = [];
      const port = await rawServerKeeping(sockets, (socket) => socket.write(greeting));
      const answer = deferred<string>();
      let asked = 0;
      const auth = (): Promise<string> => {
        asked++;
        return answer.promise;
      };
      const { client, log, states } = clientOf(port, { auth, reconnect: FAST });
      await waitFor(() => asked === 1, "the auth function to be called");
      client.close();
      expect(client.state).toBe("closed");
      answer.resolve("token");
      await answer.promise;
      await delay(300);
      expect(sockets).toHaveLength(0);
      expect(asked).toBe(1);
      expect(log).toEqual([]);
      expect(states).toEqual(["connecting", "closed"]);
    });

    it("sends what was queued during the login first, then what was sent once the connection existed, in order", async () => {
      const sockets: net.Socket[] = [];
      const received: unknown[][] = [];
      const port = await rawServerKeeping(sockets, (socket) => received.push(receivedBy(socket)));
      const login = deferred<string>();
      const { client } = clientOf(port, { auth: () => login.promise });
      expect(client.send({ action: "seq", n: 1 })).toBeGreaterThan(0);
      login.resolve("token");
      await waitFor(() => sockets.length === 1, "the connection");
      // Not let in yet: still connecting, and still queueing.
      expect(client.state).toBe("connecting");
      expect(client.send({ action: "seq", n: 2 })).toBeGreaterThan(0);
      sockets[0]!.write(greeting);
      await waitFor(() => received[0]?.length === 3, "every message");
      expect(received[0]).toEqual([
        { action: "@hello", auth: "token" },
        { action: "seq", n: 1 },
        { action: "seq", n: 2 },
      ]);
    });

    it("keeps what was queued during a failed login past a smaller reconnect.maxQueuedBytes; a latest-wins update still replaces its queued version", async () => {
      const sockets: net.Socket[] = [];
      const received: unknown[][] = [];
      const port = await rawServerKeeping(sockets, (socket) => {
        received.push(receivedBy(socket));
        socket.write(greeting);
      });
      const firstLogin = deferred<string>();
      let asked = 0;
      const auth = (): Promise<string> => (++asked === 1 ? firstLogin.promise : Promise.resolve("token"));
      const { client, log, states } = clientOf(port, { auth, reconnect: { ...FAST, maxQueuedBytes: 1 } });
      await waitFor(() => asked === 1, "the auth function to be called");
      const queued = { action: "seq", n: 1 };
      expect(client.send({ action: "pos", x: 1 }, { latest: "pos" })).toBe(sizeOf({ action: "pos", x: 1 }));
      expect(client.send(queued)).toBe(sizeOf(queued));
      // Sent the moment the client starts reconnecting, while the queue holds more than the bound.
      const whileReconnecting: number[] = [];
      cleanup.subscription(
        client.state$.subscribe((state) => {
          if (state !== "reconnecting" || whileReconnecting.length > 0) return;
          whileReconnecting.push(
            client.send({ action: "pos", x: 2 }, { latest: "pos" }),
            client.send({ action: "seq", n: 2 }),
          );
        }),
      );
      firstLogin.reject(new Error("token service down"));
      await waitFor(() => received[0]?.length === 3, "the queued messages");
      expect(whileReconnecting).toEqual([sizeOf({ action: "pos", x: 2 }), 0]);
      // The hello first, then the queue in its order, the position in the place of its first version.
      expect(received[0]).toEqual([{ action: "@hello", auth: "token" }, { action: "pos", x: 2 }, queued]);
      // The auth function's own error, as thrown: a message without a code.
      expect(log[0]).toStrictEqual({ action: "error", error: "token service down" });
      expect(states).toEqual(["connecting", "reconnecting", "open"]);
    });
  });

  it("counts in bufferedAmount nothing of a connection that ended, even a browser WebSocket that still reports unsent bytes", async () => {
    // A browser's WebSocket keeps counting in bufferedAmount what it never sent once it is closed;
    // `ws`'s class (browser API) injected through the browser connector, made to do the same.
    const counted = Object.getOwnPropertyDescriptor(WebSocket.prototype, "bufferedAmount")!.get!;
    class BrowserLikeWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        Object.defineProperty(this, "bufferedAmount", {
          get: () => (this.readyState === WebSocket.CLOSED ? 64 : (counted.call(this) as number)),
        });
      }
    }
    const { url } = await rawWsServer(cleanup, (socket) => {
      socket.send(payloadOf({ action: "connected" }));
      setTimeout(() => socket.close(), 20);
    });
    const Listener = listenerMixin(
      Object,
      createBrowserConnector(BrowserLikeWebSocket as unknown as WebSocketConstructor),
    );
    const listener = cleanup.listener(new Listener());
    listener.connect(url);
    const client = listener.connection!;
    await waitFor(() => client.state === "closed", "the server to end the connection");
    expect(client.bufferedAmount).toBe(0);
  });

  describe("a refusal", () => {
    it("by a full server is tried again with reconnect on, and the client gets in once a seat is free", async () => {
      const server = cleanup.server(new Server({ host: "127.0.0.1", port: 0, maxConnections: 1 }));
      await server.start();
      const first = clientOf(server.port);
      await waitFor(() => first.client.state === "open" && server.channels.length === 1, "the first player in");
      const { client, log } = clientOf(server.port, { reconnect: FAST });
      await waitFor(() => log.some((message) => message.code === "ERR_SERVER_FULL"), "the refusal");
      expect(client.state).not.toBe("closed");
      first.client.close();
      await waitFor(() => server.channels.length === 1 && client.state === "open", "the second player in");
      expect(log.find((message) => message.action === "error")).toEqual({
        action: "error",
        code: "ERR_SERVER_FULL",
        error: "Server is full: it already has 1 clients (maxConnections); try again later",
      });
    });

    it.each([
      ["without a reason or a code (an older server)", {}, "the server refused the connection", "ERR_SERVER_FULL"],
      ["with a code that is not one of ours", { code: "FULL", reason: "no room" }, "no room", "ERR_SERVER_FULL"],
      [
        "with a reason that is not a string",
        { code: "ERR_SERVER_FULL", reason: 42 },
        "the server refused the connection",
        "ERR_SERVER_FULL",
      ],
      ["with its own code", { code: "ERR_HANDSHAKE_TIMEOUT", reason: "too slow" }, "too slow", "ERR_HANDSHAKE_TIMEOUT"],
    ])("%s is reported as an error the game can read", async (_name, fields, error, code) => {
      const port = await rawServerKeeping([], (socket) => {
        socket.end(Buffer.from(encode({ action: "@refused", ...fields })));
      });
      const { client, log } = clientOf(port, { auth: "token" });
      await waitFor(() => client.state === "closed", "closed");
      expect(log).toEqual([{ action: "error", error, code }]);
    });
  });

  describe("logs", () => {
    it("logs connected, connection lost, disconnected and reconnecting with the server and the attempt", async () => {
      const sockets: net.Socket[] = [];
      const port = await rawServerKeeping(sockets, (socket) => {
        socket.write(greeting);
      });
      const logger = recordingLogger();
      const { client } = clientOf(port, {
        logger,
        maxPayload: 100,
        reconnect: { initialDelay: 5, factor: 1, jitter: 0 },
      });
      await waitFor(() => client.state === "open", "open");
      // A frame over maxPayload: the client ends the connection with an error.
      sockets[0]!.write(headerOf(101));
      await waitFor(() => sockets.length === 2 && client.state === "open", "open again");
      const server = `127.0.0.1:${port}`;
      const tooLarge = "Frame header announces a 101-byte payload, over the 100-byte maxPayload limit";
      expect(logger.entries.filter((entry) => entry.level !== "debug")).toEqual([
        { level: "info", message: "connected", fields: { server } },
        { level: "warn", message: "connection lost", fields: { server, reason: tooLarge } },
        { level: "info", message: "disconnected", fields: { server } },
        { level: "info", message: "reconnecting", fields: { server, attempt: 1, delay: 5 } },
        { level: "info", message: "connected", fields: { server } },
      ]);
    });

    it("logs each failed attempt and the end of trying as warnings", async () => {
      const port = await closedPort();
      const logger = recordingLogger();
      const { client, log } = clientOf(port, {
        logger,
        reconnect: { initialDelay: 5, factor: 1, jitter: 0, maxAttempts: 1 },
      });
      await waitFor(() => client.state === "closed", "the client to give up");
      const server = `127.0.0.1:${port}`;
      const refused = `connect ECONNREFUSED ${server}`;
      const gaveUp = `Gave up reconnecting to ${server} after 1 attempts: ${refused}`;
      expect(logger.entries.filter((entry) => entry.level !== "debug")).toEqual([
        { level: "warn", message: "connect failed", fields: { server, reason: refused } },
        { level: "info", message: "reconnecting", fields: { server, attempt: 1, delay: 5 } },
        { level: "warn", message: "connect failed", fields: { server, reason: refused } },
        { level: "warn", message: "gave up", fields: { server, reason: gaveUp } },
      ]);
      expect(log).toEqual([{ action: "error", code: "ERR_RECONNECT_FAILED", error: gaveUp }]);
    });

    it("names a WebSocket server by its URL", async () => {
      const port = await closedPort();
      const url = `ws://127.0.0.1:${port}/game`;
      const logger = recordingLogger();
      const { client, log } = clientOf(url, { logger, reconnect: { initialDelay: 5, jitter: 0, maxAttempts: 1 } });
      await waitFor(() => client.state === "closed", "the client to give up");
      expect(logger.entries.filter((entry) => entry.level !== "debug").map((entry) => entry.fields.server)).toEqual([
        url,
        url,
        url,
        url,
      ]);
      expect(log).toHaveLength(1);
      expect(log[0]!.error).toMatch(new RegExp(`^Gave up reconnecting to ${url} after 1 attempts: `));
    });
  });

  describe("rtt$ and clockSamples$", () => {
    it("emit the heartbeat's round trips with the server's clock, and complete when the client closes", async () => {
      const server = cleanup.server(new Server({ host: "127.0.0.1", port: 0, heartbeat: { interval: 20 } }));
      await server.start();
      const { client } = clientOf(server.port, { heartbeat: { interval: 20 } });
      const rtts = lastValueFrom(client.rtt$.pipe(toArray()));
      const samples = lastValueFrom(client.clockSamples$.pipe(toArray()));
      const sample = await firstValueFrom(client.clockSamples$.pipe(timeout(5_000)));
      expect(sample.rtt).toBeGreaterThanOrEqual(0);
      expect(Math.abs(sample.peerTime - Date.now())).toBeLessThan(5_000);
      client.close();
      // Both complete: a game awaiting them is not left hanging.
      expect((await rtts).length).toBeGreaterThan(0);
      expect((await samples).length).toBeGreaterThan(0);
    });
  });
});

/** A bare TCP server keeping every socket it accepts in `sockets`; `onSocket` also gets its index. */
async function rawServerKeeping(
  sockets: net.Socket[],
  onSocket: (socket: net.Socket, index: number) => void,
): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    receivedBy(socket);
    sockets.push(socket);
    onSocket(socket, sockets.length - 1);
  });
  cleanup.netServer(server, sockets);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

/** A Promise and the functions that settle it, for an auth function the test answers. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
