import WebSocket from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionListener as BrowserConnectionListener } from "../lib/browser.js";
import { listenerMixin } from "../lib/connections/connection-listener.js";
import type { IncomingMessage } from "../lib/index.js";
import { createBrowserConnector } from "../lib/transports/browser-connector.js";
import type { WebSocketConstructor } from "../lib/transports/browser-websocket-transport.js";
import { Cleanup } from "./helpers/cleanup.js";
import { closedPort, pumpUntil, startServer, waitFor } from "./helpers/net.js";
import { payloadOf, rawWsServer } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/**
 * The browser transport run in Node: `ws`'s WebSocket class has the browser API (`onmessage`,
 * `binaryType`, `CloseEvent`...), injected through the connector. The real browser is
 * exercised by browser.spec.ts.
 */
/** What a repod-rx server sends first: a WebSocket client is in once it arrives. */
const GREETING = payloadOf({ action: "connected" });

function browserListener(WebSocketClass: WebSocketConstructor = WebSocket as unknown as WebSocketConstructor) {
  const Listener = listenerMixin(Object, createBrowserConnector(WebSocketClass));
  const listener = new (class extends Listener {
    readonly log: IncomingMessage[] = [];
    override networkReceived(message: IncomingMessage): void {
      this.log.push(message);
    }
    of(action: string): IncomingMessage[] {
      return this.log.filter((message) => message.action === action);
    }
  })();
  return cleanup.listener(listener);
}

describe("BrowserWebSocketTransport", () => {
  it("plays with a repod-rx server: greeting, messages both ways, disconnected on stop", async () => {
    const server = cleanup.server(await startServer({ ws: { port: 0 } }));
    const echoes: unknown[] = [];
    cleanup.subscription(
      server.messages$.subscribe(({ channel, message }) => {
        echoes.push(message);
        channel.send({ action: "echo", of: message.n });
      }),
    );
    const client = browserListener();
    client.connect(`ws://127.0.0.1:${server.wsPort}`);
    client.send({ action: "move", n: 1 });
    client.send({ action: "move", n: 2 });
    await pumpUntil(client, () => client.of("echo").length === 2, "two echoes");
    await server.stop();
    await pumpUntil(client, () => client.of("disconnected").length === 1, "disconnected");

    expect(client.log.map((message) => message.action)).toEqual([
      "connected",
      "socketConnect",
      "echo",
      "echo",
      "disconnected",
    ]);
    expect(client.of("echo").map((message) => message.of)).toEqual([1, 2]);
    expect(echoes).toEqual([
      { action: "move", n: 1 },
      { action: "move", n: 2 },
    ]);
  });

  it("drops a text message and keeps the connection", async () => {
    const { url } = await rawWsServer(cleanup, (socket) => {
      socket.send(GREETING);
      socket.send("hello in text");
      socket.send(payloadOf({ action: "after" }));
    });
    const client = browserListener();
    client.connect(url);
    await pumpUntil(client, () => client.of("after").length === 1, "the binary message");

    expect(client.log.map((message) => message.action)).toEqual(["connected", "socketConnect", "after"]);
    expect(client.connection?.isConnected).toBe(true);
  });

  it("ends the connection with ERR_PAYLOAD_TOO_LARGE on a message over maxPayload", async () => {
    const map = payloadOf({ action: "map", tiles: "x".repeat(3000) });
    const { url } = await rawWsServer(cleanup, (socket) => {
      socket.send(GREETING);
      socket.send(map);
    });
    const client = browserListener();
    client.connect(url, undefined, { maxPayload: 2000 });
    await pumpUntil(client, () => client.of("disconnected").length === 1, "disconnected");

    expect(client.log).toEqual([
      { action: "connected" },
      { action: "socketConnect" },
      {
        action: "error",
        error: `Received a ${map.byteLength}-byte WebSocket message, over the 2000-byte maxPayload limit`,
        code: "ERR_PAYLOAD_TOO_LARGE",
      },
      { action: "disconnected" },
    ]);
  });

  it("reports a failed connect as one ERR_CONNECT_FAILED error and no disconnected", async () => {
    const port = await closedPort();
    const client = browserListener();
    client.connect(`ws://127.0.0.1:${port}/`);
    await pumpUntil(client, () => client.of("error").length === 1, "the error");
    await waitFor(() => client.connection?.state === "closed", "closed");
    client.pump();

    expect(client.log).toEqual([
      {
        action: "error",
        error: `Cannot connect to ws://127.0.0.1:${port}/: the WebSocket connection failed`,
        code: "ERR_CONNECT_FAILED",
      },
    ]);
  });

  it("reports a WebSocket the browser refuses to create (mixed content, bad URL) later, as a failed connect", async () => {
    const Refusing = class {
      constructor() {
        throw new Error("An insecure WebSocket connection may not be initiated from a page loaded over HTTPS");
      }
    } as unknown as WebSocketConstructor;
    const client = browserListener(Refusing);
    client.connect("ws://127.0.0.1:1/");
    expect(client.pump()).toBe(0);
    await pumpUntil(client, () => client.of("error").length === 1, "the error");

    expect(client.log).toEqual([
      {
        action: "error",
        error:
          "Cannot open a WebSocket to ws://127.0.0.1:1/: An insecure WebSocket connection may not be initiated from a page loaded over HTTPS",
        code: "ERR_CONNECT_FAILED",
      },
    ]);
  });

  it("sends everything queued before close() and closes with code 1000", async () => {
    const frames: Buffer[] = [];
    let closeCode = 0;
    const { url } = await rawWsServer(cleanup, (socket) => {
      socket.on("message", (data: Buffer) => frames.push(data));
      socket.on("close", (code) => (closeCode = code));
      socket.send(GREETING);
    });
    const client = browserListener();
    client.connect(url);
    for (let n = 0; n < 30; n++) client.send({ action: "move", n });
    client.close();
    await waitFor(() => closeCode !== 0, "the close");

    expect(closeCode).toBe(1000);
    // The client's hello (a WebSocket client always says it, so a server may log it in from its
    // upgrade request), then the 30 moves.
    expect(frames).toHaveLength(31);
    expect([...frames[0]!]).toEqual([...payloadOf({ action: "@hello" })]);
  });
});

describe("ConnectionListener of repod-rx/client", () => {
  it("throws a TypeError at connect() for TCP targets, which browsers cannot open", () => {
    const listener = new BrowserConnectionListener();
    const message =
      "Browsers cannot open TCP connections (tcp://127.0.0.1:5071): connect to the server's WebSocket endpoint " +
      'with a ws:// or wss:// URL, e.g. connect("ws://127.0.0.1:8080"), and start the server with the ws option';

    expect(() => listener.connect()).toThrow(new TypeError(message));
    expect(() => listener.connect("127.0.0.1", 5071)).toThrow(new TypeError(message));
    expect(() => listener.connect("tcp://game.example:5071")).toThrow(TypeError);
    expect(listener.connection).toBeNull();
  });
});
