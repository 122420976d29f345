import type * as net from "node:net";
import { lastValueFrom, toArray } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionListener, encode, type Client, type ConnectOptions } from "../lib/index.js";
import { listenerMixin } from "../lib/connections/connection-listener.js";
import { Cleanup } from "./helpers/cleanup.js";
import { connectTo } from "./helpers/listeners.js";
import { closedPort, startServer, waitFor } from "./helpers/net.js";
import { frameOf, headerOf, rawServer, receivedBy } from "./helpers/raw.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const greeting = Buffer.from(encode({ action: "connected" }));

/** Connects a listener to `port` and returns its Client, before it has opened. */
function clientTo(port: number, options: ConnectOptions = {}): Client {
  const listener = cleanup.listener(new ConnectionListener());
  listener.connect("127.0.0.1", port, options);
  return listener.connection!;
}

/** Everything `client.messages$` emits until it completes. */
function everything(client: Client): Promise<unknown[]> {
  return lastValueFrom(client.messages$.pipe(toArray()));
}

describe("Client", () => {
  describe("messages$ and state$", () => {
    it("emits connected, socketConnect, then the server's messages; the server's greeting is swallowed", async () => {
      const server = cleanup.server(await startServer());
      const client = clientTo(server.port);
      const all = everything(client);
      const channel = await new Promise<import("../lib/index.js").Channel>((resolve) => {
        const subscription = server.connections$.subscribe((c) => {
          subscription.unsubscribe();
          resolve(c);
        });
      });
      channel.send({ action: "hello", n: 1 });
      channel.close();
      expect(await all).toEqual([
        { action: "connected" },
        { action: "socketConnect" },
        { action: "hello", n: 1 },
        { action: "disconnected" },
      ]);
    });

    it("state$ replays the current state and goes connecting, open, closing, closed, then completes, on close()", async () => {
      const server = cleanup.server(await startServer());
      const client = clientTo(server.port);
      const states = lastValueFrom(client.state$.pipe(toArray()));
      expect(client.state).toBe("connecting");
      await waitFor(() => client.state === "open", "open");
      expect(client.isConnected).toBe(true);
      client.close();
      expect(client.state).toBe("closing");
      expect(await states).toEqual(["connecting", "open", "closing", "closed"]);
      expect(client.state).toBe("closed");
      expect(client.isConnected).toBe(false);
    });

    it("state$ goes connecting, open, closed when the server closes the connection", async () => {
      const server = cleanup.server(await startServer());
      const { listener, channel } = await connectTo(cleanup, server, new ConnectionListener());
      const states = lastValueFrom(listener.connection!.state$.pipe(toArray()));
      channel.close();
      expect(await states).toEqual(["open", "closed"]);
    });

    it("address is the host and port it connects to", async () => {
      const port = await closedPort();
      const client = clientTo(port);
      expect(client.address).toEqual({ host: "127.0.0.1", port });
      client.close();
    });
  });

  describe("lifecycle", () => {
    it("a refused connection emits exactly one error with a readable reason, no disconnected, then completes", async () => {
      const port = await closedPort();
      const client = clientTo(port);
      const states = lastValueFrom(client.state$.pipe(toArray()));
      expect(await everything(client)).toEqual([
        { action: "error", error: `connect ECONNREFUSED 127.0.0.1:${port}`, code: "ERR_CONNECT_FAILED" },
      ]);
      expect(await states).toEqual(["connecting", "closed"]);
    });

    it("a server that stops emits disconnected exactly once, then completes", async () => {
      const server = cleanup.server(await startServer());
      const { listener } = await connectTo(cleanup, server, new ConnectionListener());
      const all = everything(listener.connection!);
      await server.stop();
      expect(await all).toEqual([{ action: "disconnected" }]);
    });

    it("a connection reset by the server emits error then disconnected", async () => {
      const port = await rawServer(cleanup, (socket) => {
        socket.write(greeting);
        setTimeout(() => socket.resetAndDestroy(), 20);
      });
      const client = clientTo(port);
      expect(await everything(client)).toEqual([
        { action: "connected" },
        { action: "socketConnect" },
        { action: "error", error: "read ECONNRESET", code: "ERR_CONNECTION_LOST" },
        { action: "disconnected" },
      ]);
    });

    it("close() while connecting still delivers what was sent before it, then closes", async () => {
      const sockets: net.Socket[] = [];
      const received: unknown[][] = [];
      const port = await rawServer(cleanup, (socket) => {
        sockets.push(socket);
        received.push(receivedBy(socket));
        socket.write(greeting);
      });
      const client = clientTo(port);
      const all = everything(client);
      client.send({ action: "first" });
      client.send({ action: "second" });
      client.close();
      expect(client.send({ action: "too late" })).toBe(0);
      expect(await all).toEqual([{ action: "connected" }, { action: "socketConnect" }, { action: "disconnected" }]);
      await waitFor(() => received[0]?.length === 2, "both messages");
      expect(received[0]).toEqual([{ action: "first" }, { action: "second" }]);
    });
  });

  describe("send()", () => {
    it("queues messages sent while connecting and sends them in order once open", async () => {
      const received: unknown[][] = [];
      const port = await rawServer(cleanup, (socket) => {
        received.push(receivedBy(socket));
        socket.write(greeting);
      });
      const client = clientTo(port);
      expect(client.state).toBe("connecting");
      for (let n = 0; n < 50; n++)
        expect(client.send({ action: "early", n })).toBe(encode({ action: "early", n }).byteLength);
      await waitFor(() => received[0]?.length === 50, "50 messages");
      expect(received[0]).toEqual(Array.from({ length: 50 }, (_, n) => ({ action: "early", n })));
    });

    it("returns 0 after close() and once closed", async () => {
      const server = cleanup.server(await startServer());
      const { listener } = await connectTo(cleanup, server, new ConnectionListener());
      const client = listener.connection!;
      client.close();
      expect(client.send({ action: "late" })).toBe(0);
      await waitFor(() => client.state === "closed", "closed");
      expect(client.send({ action: "later" })).toBe(0);
    });

    it("throws a TypeError synchronously for a value that is not a plain object or cannot be encoded", async () => {
      const client = clientTo(await closedPort());
      class Player {}
      expect(() => client.send(new Player() as never)).toThrow(
        new TypeError('A message must be a plain object such as { action: "chat" }, got an instance of Player'),
      );
      expect(() => client.send({ action: "big", n: 10n })).toThrow(
        new TypeError("The message cannot be encoded as msgpack: Unrecognized object: [object BigInt]"),
      );
      client.close();
    });
  });

  describe("bad input from the server", () => {
    /** A raw server that greets, writes `bytes`, then a good message. */
    async function serverWriting(bytes: Buffer): Promise<number> {
      return rawServer(cleanup, (socket) => {
        socket.write(Buffer.concat([greeting, bytes, Buffer.from(encode({ action: "good" }))]));
      });
    }

    it("ends the connection of a header announcing more than maxPayload with an error then disconnected", async () => {
      const client = clientTo(await serverWriting(headerOf(4 * 1024 * 1024 + 1)));
      expect(await everything(client)).toEqual([
        { action: "connected" },
        { action: "socketConnect" },
        {
          action: "error",
          error: "Frame header announces a 4194305-byte payload, over the 4194304-byte maxPayload limit",
          code: "ERR_PAYLOAD_TOO_LARGE",
        },
        { action: "disconnected" },
      ]);
    });

    it("applies the maxPayload connect option", async () => {
      const client = clientTo(await serverWriting(headerOf(101)), { maxPayload: 100 });
      const all = await everything(client);
      expect(all[2]).toEqual({
        action: "error",
        error: "Frame header announces a 101-byte payload, over the 100-byte maxPayload limit",
        code: "ERR_PAYLOAD_TOO_LARGE",
      });
      expect(all.at(-1)).toEqual({ action: "disconnected" });
    });

    it.each([
      ["an unreadable msgpack payload", frameOf("c1")],
      ["a truncated msgpack payload", frameOf("81a1")],
      ["an empty payload", frameOf("")],
      ["msgpack nil", frameOf("c0")],
      ["an array", frameOf("93010203")],
      ["a string", frameOf("a161")],
      ["a forged disconnected", Buffer.from(encode({ action: "disconnected" }))],
      ["a second connected", Buffer.from(encode({ action: "connected" }))],
      ["a forged socketConnect", Buffer.from(encode({ action: "socketConnect" }))],
      ["a forged error", Buffer.from(encode({ action: "error", error: "fake" }))],
      // Session control the client did not ask for (it wants no session here): dropped, never handed to the game.
      ["an unasked @session", Buffer.from(encode({ action: "@session", token: "t".repeat(32), window: 5_000 }))],
      ["an unasked @resumed", Buffer.from(encode({ action: "@resumed", token: "t".repeat(32), received: 0 }))],
      [
        "an unasked @resume-failed",
        Buffer.from(encode({ action: "@resume-failed", code: "ERR_RESUME_UNKNOWN", reason: "unknown" })),
      ],
      ["a @hello", Buffer.from(encode({ action: "@hello" }))],
      ["an @ack without a session", Buffer.from(encode({ action: "@ack", n: 0 }))],
      ["a @bye without a session", Buffer.from(encode({ action: "@bye" }))],
    ])("drops %s, stays connected and delivers the next message", async (_name, bytes) => {
      const client = clientTo(await serverWriting(bytes));
      const seen: unknown[] = [];
      cleanup.subscription(client.messages$.subscribe((message) => seen.push(message)));
      await waitFor(() => seen.length === 3, "the good message");
      expect(seen).toEqual([{ action: "connected" }, { action: "socketConnect" }, { action: "good" }]);
      expect(client.isConnected).toBe(true);
    });
  });
});

describe("a connector that throws instead of returning a transport", () => {
  function throwingListener(): { listener: ConnectionListener; log: unknown[]; calls: () => number } {
    let calls = 0;
    const Listener = listenerMixin(class {}, () => {
      calls++;
      throw new Error("no transport here");
    });
    const listener = new Listener() as ConnectionListener;
    cleanup.add(() => listener.close());
    const log: unknown[] = [];
    cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
    return { listener, log, calls: () => calls };
  }

  it("fails the connect like a refused connection, in a later turn: one error, ERR_CONNECT_FAILED", async () => {
    const { listener, log, calls } = throwingListener();
    listener.connect("127.0.0.1", 1);
    expect(log).toEqual([]);
    await waitFor(() => listener.connection?.state === "closed", "the client to close");
    expect(calls()).toBe(1);
    expect(log).toEqual([{ action: "error", code: "ERR_CONNECT_FAILED", error: "no transport here" }]);
  });

  it("is tried again with reconnect, like a refused connection", async () => {
    const { listener, log, calls } = throwingListener();
    listener.connect("127.0.0.1", 1, { reconnect: { maxAttempts: 1, initialDelay: 5, maxDelay: 5 } });
    await waitFor(() => listener.connection?.state === "closed", "the client to give up");
    expect(calls()).toBe(2);
    expect(log).toEqual([
      {
        action: "error",
        code: "ERR_RECONNECT_FAILED",
        error: "Gave up reconnecting to 127.0.0.1:1 after 1 attempts: no transport here",
      },
    ]);
  });
});
