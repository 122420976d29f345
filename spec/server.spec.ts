import { lastValueFrom, toArray } from "rxjs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  Channel,
  ConnectionListener,
  DEFAULT_HOST,
  DEFAULT_PORT,
  encode,
  Server,
  type Address,
  type IncomingMessage,
} from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { connectTo } from "./helpers/listeners.js";
import { collect, delay, first, rawSocket, startServer, waitFor } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(async () => {
  vi.restoreAllMocks();
  await cleanup.run();
});

/** Every hook call of every channel and of the server, in call order, shared by a test. */
let events: string[] = [];
beforeEach(() => {
  events = [];
});

class HookChannel extends Channel {
  errors: unknown[] = [];

  override onConnect(): void {
    events.push(`channel.onConnect ${this.id}`);
  }

  override onClose(): void {
    events.push(`channel.onClose ${this.id}`);
  }

  override onError(error: unknown): void {
    this.errors.push(error);
    events.push(`channel.onError ${this.id}`);
  }

  Network_step(message: IncomingMessage): void {
    events.push(`step ${this.id} ${String(message.n)}`);
  }

  Network_fail(message: IncomingMessage): void {
    events.push(`fail ${this.id}`);
    throw new Error(`failed ${String(message.n)}`);
  }
}

class HookServer extends Server<HookChannel> {
  override channelClass = HookChannel;
  readonly addresses: Address[] = [];

  override onConnect(channel: HookChannel, addr: Address): void {
    this.addresses.push(addr);
    events.push(`server.onConnect ${channel.id}`);
  }

  override onDisconnect(channel: HookChannel): void {
    events.push(`server.onDisconnect ${channel.id}`);
  }
}

async function hookServer(options: ConstructorParameters<typeof HookServer>[0] = {}): Promise<HookServer> {
  const server = cleanup.server(new HookServer({ host: "127.0.0.1", port: 0, ...options }));
  await server.start();
  return server;
}

/** Connects a plain listener and resolves with it and its channel (live dispatch). */
function connect<C extends Channel<any>>(server: Server<C>) {
  return connectTo(cleanup, server, new ConnectionListener());
}

describe("Server", () => {
  describe("start() and stop()", () => {
    it("listens on 127.0.0.1:5071 unless told otherwise", () => {
      const server = new Server();
      expect(server.host).toBe(DEFAULT_HOST);
      expect(server.port).toBe(DEFAULT_PORT);
      expect(server.isListening).toBe(false);
      expect(server.dispatchMode).toBe("live");
      expect(server.channels).toEqual([]);
    });

    it("with port 0 binds a free port, readable as server.port once start() resolves", async () => {
      const server = cleanup.server(new Server({ port: 0 }));
      expect(server.port).toBe(0);
      await server.start();
      expect(server.port).toBeGreaterThan(0);
      expect(server.isListening).toBe(true);
      const socket = cleanup.socket(await rawSocket(server.port));
      expect(socket.remotePort).toBe(server.port);
    });

    it("start() on a port in use rejects with the reason and what to do", async () => {
      const occupant = cleanup.server(await startServer());
      const second = cleanup.server(new Server({ port: occupant.port }));
      await expect(second.start()).rejects.toThrow(
        new Error(
          `Cannot listen on TCP 127.0.0.1:${occupant.port}: listen EADDRINUSE: address already in use 127.0.0.1:${occupant.port}; ` +
            "another process is listening there; stop it or choose another port (port 0 picks a free one)",
        ),
      );
      expect(second.isListening).toBe(false);
      await occupant.stop();
    });

    it("can start() again once a start() on a port in use has failed and the port is free", async () => {
      const occupant = cleanup.server(await startServer());
      const port = occupant.port;
      const second = cleanup.server(new Server({ port }));
      await expect(second.start()).rejects.toThrow(/EADDRINUSE/);
      await occupant.stop();
      await second.start();
      expect(second.isListening).toBe(true);
      expect(second.port).toBe(port);
    });

    it("start() on a started server rejects", async () => {
      const server = await hookServer();
      await expect(server.start()).rejects.toThrow(
        new Error("Server is already listening; call stop() before start()"),
      );
    });

    it("stop() on a server that never started resolves at once, and stop() twice is harmless", async () => {
      const server = new Server({ port: 0 });
      await server.stop();
      await server.start();
      await Promise.all([server.stop(), server.stop()]);
      expect(server.isListening).toBe(false);
    });

    it("stops accepting: a connection after stop() is refused", async () => {
      const server = cleanup.server(await startServer());
      const port = server.port;
      await server.stop();
      await expect(rawSocket(port)).rejects.toThrow(`connect ECONNREFUSED 127.0.0.1:${port}`);
    });

    it("can be started again after stop()", async () => {
      const server = await hookServer();
      await server.stop();
      await server.start();
      const { listener } = await connect(server);
      expect(listener.connection?.isConnected).toBe(true);
    });

    it("launch() starts, runs until SIGINT or SIGTERM, then stops cleanly and removes its signal handlers", async () => {
      const server = cleanup.server(new Server({ port: 0 }));
      const before = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
      let stopped = false;
      const launched = server.launch().then(() => (stopped = true));
      await waitFor(() => server.isListening, "listening");
      const added = process.listeners("SIGTERM").filter((listener) => !before.SIGTERM.includes(listener));
      // Should the test fail half-way, this still ends launch() and removes its handlers.
      cleanup.add(() => {
        for (const handler of added) if (process.listeners("SIGTERM").includes(handler)) (handler as () => void)();
        return launched;
      });
      expect(added).toHaveLength(1);
      expect(process.listeners("SIGINT").filter((listener) => !before.SIGINT.includes(listener))).toHaveLength(1);
      await connect(server);
      await delay(10);
      expect(stopped).toBe(false);
      (added[0] as () => void)();
      await launched;
      expect(server.isListening).toBe(false);
      expect(server.channels).toEqual([]);
      expect(process.listeners("SIGTERM")).toEqual(before.SIGTERM);
      expect(process.listeners("SIGINT")).toEqual(before.SIGINT);
    });
  });

  describe("accepting clients", () => {
    it("greets every client with { action: 'connected' } as its first frame", async () => {
      const server = cleanup.server(await startServer());
      const socket = cleanup.socket(await rawSocket(server.port));
      const first = new Promise<Buffer>((resolve) => socket.once("data", resolve));
      expect(Uint8Array.from(await first)).toEqual(encode({ action: "connected" }));
    });

    it("creates one channel per client from the channelClass option", async () => {
      class GameChannel extends Channel {}
      const server = cleanup.server(await startServer({ channelClass: GameChannel }));
      const { channel } = await connect(server);
      const { channel: other } = await connect(server);
      expect(channel).toBeInstanceOf(GameChannel);
      expect(other).not.toBe(channel);
      expect(other.id).not.toBe(channel.id);
      expect(server.channels).toEqual([channel, other]);
    });

    it("creates channels from a subclass's channelClass field", async () => {
      const server = await hookServer();
      const { channel } = await connect(server);
      expect(channel).toBeInstanceOf(HookChannel);
    });

    it("runs channel.onConnect, then server.onConnect with the peer's address, then emits on connections$, once per client", async () => {
      const server = await hookServer();
      const emitted: HookChannel[] = [];
      cleanup.subscription(
        server.connections$.subscribe((channel) => {
          emitted.push(channel);
          events.push(`connections$ ${channel.id}`);
        }),
      );
      const socket = cleanup.socket(await rawSocket(server.port));
      await waitFor(() => emitted.length === 1, "the connection");
      const channel = emitted[0]!;
      expect(events).toEqual([
        `channel.onConnect ${channel.id}`,
        `server.onConnect ${channel.id}`,
        `connections$ ${channel.id}`,
      ]);
      expect(server.addresses).toEqual([{ host: "127.0.0.1", port: socket.localPort }]);
      expect(channel.addr).toEqual({ host: "127.0.0.1", port: socket.localPort });
      await delay(20);
      expect(emitted).toHaveLength(1);
    });
  });

  describe("each way a channel ends runs onClose, onDisconnect and disconnections$ exactly once", () => {
    const ways = [
      ["the peer closes its socket", "peer", (socket: import("node:net").Socket) => void socket.end()],
      [
        "the peer vanishes (connection reset)",
        "peer",
        (socket: import("node:net").Socket) => void socket.resetAndDestroy(),
      ],
      ["the channel calls close()", "channel", undefined],
      ["the server stops", "server", undefined],
    ] as const;

    it.each(ways)("when %s", async (_name, who, peerAction) => {
      const server = await hookServer();
      const disconnected: HookChannel[] = [];
      cleanup.subscription(server.disconnections$.subscribe((channel) => disconnected.push(channel)));
      const accepted = first(server.connections$);
      const socket = cleanup.socket(await rawSocket(server.port));
      socket.on("error", () => {});
      // A peer that reads, so that it sees the server's end of the connection and closes too.
      socket.resume();
      const channel = await accepted;
      const completed = lastValueFrom(channel.messages$.pipe(toArray()));
      events.length = 0;
      if (who === "peer") peerAction!(socket);
      else if (who === "channel") channel.close();
      else await server.stop();
      await waitFor(() => disconnected.length > 0, "the disconnection");
      await delay(50);
      const id = channel.id;
      const reset = _name.includes("reset");
      expect(events).toEqual([
        ...(reset ? [`channel.onError ${id}`] : []),
        `channel.onClose ${id}`,
        `server.onDisconnect ${id}`,
      ]);
      expect(disconnected).toEqual([channel]);
      expect(server.channels).toEqual([]);
      expect(channel.isConnected).toBe(false);
      expect(await completed).toEqual([]);
      if (reset)
        expect(channel.errors).toEqual([
          expect.objectContaining({
            code: "ERR_CONNECTION_LOST",
            cause: expect.objectContaining({ code: "ECONNRESET" }),
          }),
        ]);
      else expect(channel.errors).toEqual([]);
    });
  });

  describe("live dispatch (default)", () => {
    it("runs a channel's handlers as messages arrive, without pump()", async () => {
      const server = await hookServer();
      const { listener } = await connect(server);
      listener.send({ action: "step", n: 1 });
      await waitFor(() => events.some((event) => event.startsWith("step")), "the step");
      expect(server.pump()).toBe(0);
    });

    it("calls onError with a handler's exception and keeps dispatching the channel's next messages", async () => {
      const server = await hookServer();
      const { listener, channel } = await connect(server);
      events.length = 0;
      listener.send({ action: "step", n: 1 });
      listener.send({ action: "fail", n: 2 });
      listener.send({ action: "step", n: 3 });
      await waitFor(() => events.length === 4, "4 events");
      expect(events).toEqual([
        `step ${channel.id} 1`,
        `fail ${channel.id}`,
        `channel.onError ${channel.id}`,
        `step ${channel.id} 3`,
      ]);
      expect(channel.errors).toEqual([new Error("failed 2")]);
      expect(channel.isConnected).toBe(true);
    });

    it("reports a handler's exception with console.error by default when logging is silent", async () => {
      class Failing extends Channel {
        Network_fail(): void {
          throw new Error("boom");
        }
      }
      const spy = vi.spyOn(console, "error").mockImplementation(() => {});
      const server = cleanup.server(await startServer({ channelClass: Failing }));
      const { listener, channel } = await connect(server);
      listener.send({ action: "fail" });
      await waitFor(() => spy.mock.calls.length > 0, "console.error");
      expect(spy).toHaveBeenCalledWith(
        `repod-rx ERROR channel error channel=${channel.id} peer=127.0.0.1:${channel.addr.port} reason="boom"`,
        new Error("boom"),
      );
    });

    it("gives a hook's exception to the channel's onError; the other hooks still run", async () => {
      class Throwing extends HookChannel {
        override onConnect(): void {
          throw new Error("onConnect failed");
        }
      }
      const server = await hookServer({ channelClass: Throwing });
      server.channelClass = Throwing;
      const { channel } = await connect(server);
      expect(channel.errors).toEqual([new Error("onConnect failed")]);
      expect(events).toContain(`server.onConnect ${channel.id}`);
    });
  });

  describe('pump dispatch ({ dispatch: "pump" })', () => {
    it("runs handlers and hooks only inside server.pump(), in global arrival order across channels", async () => {
      const server = await hookServer({ dispatch: "pump" });
      const a = cleanup.listener(new ConnectionListener());
      const b = cleanup.listener(new ConnectionListener());
      a.connect("127.0.0.1", server.port);
      await waitFor(() => server.channels.length === 1, "a's channel");
      b.connect("127.0.0.1", server.port);
      await waitFor(() => server.channels.length === 2, "b's channel");
      const [ca, cb] = server.channels.map((channel) => channel.id);
      await waitFor(() => a.connection?.isConnected === true && b.connection?.isConnected === true, "both open");
      expect(events).toEqual([]);
      expect(server.pump()).toBe(2);
      expect(events).toEqual([
        `channel.onConnect ${ca}`,
        `server.onConnect ${ca}`,
        `channel.onConnect ${cb}`,
        `server.onConnect ${cb}`,
      ]);
      events.length = 0;

      let arrived = 0;
      cleanup.subscription(server.messages$.subscribe(() => arrived++));
      const sends: [ConnectionListener, number][] = [
        [a, 1],
        [b, 2],
        [b, 3],
        [a, 4],
        [b, 5],
        [a, 6],
      ];
      for (const [listener, n] of sends) {
        listener.send({ action: "step", n });
        const expected = n;
        await waitFor(() => arrived === expected, `message ${n}`);
      }
      expect(events).toEqual([]);
      expect(server.pump()).toBe(6);
      expect(events).toEqual([
        `step ${ca} 1`,
        `step ${cb} 2`,
        `step ${cb} 3`,
        `step ${ca} 4`,
        `step ${cb} 5`,
        `step ${ca} 6`,
      ]);
      expect(server.pump()).toBe(0);
    });

    it("emits on connections$ inside pump(), after the hooks", async () => {
      const server = await hookServer({ dispatch: "pump" });
      const emitted: HookChannel[] = [];
      cleanup.subscription(server.connections$.subscribe((channel) => emitted.push(channel)));
      cleanup.socket(await rawSocket(server.port));
      await waitFor(() => server.channels.length === 1, "the channel");
      expect(emitted).toEqual([]);
      server.pump();
      expect(emitted).toEqual([server.channels[0]]);
    });

    it("calls the channel's onError for a handler's exception, and the next messages still run in the same pump()", async () => {
      const server = await hookServer({ dispatch: "pump" });
      const listener = cleanup.listener(new ConnectionListener());
      listener.connect("127.0.0.1", server.port);
      await waitFor(() => server.channels.length === 1, "the channel");
      const channel = server.channels[0]!;
      const arrived = collect(server.messages$, 3);
      listener.send({ action: "step", n: 1 });
      listener.send({ action: "fail", n: 2 });
      listener.send({ action: "step", n: 3 });
      await arrived;
      events.length = 0;
      expect(() => server.pump()).not.toThrow();
      const id = channel.id;
      expect(events).toEqual([
        `channel.onConnect ${id}`,
        `server.onConnect ${id}`,
        `step ${id} 1`,
        `fail ${id}`,
        `channel.onError ${id}`,
        `step ${id} 3`,
      ]);
      expect(channel.errors).toEqual([new Error("failed 2")]);
    });

    it("runs the close hooks inside pump(), exactly once", async () => {
      const server = await hookServer({ dispatch: "pump" });
      const socket = cleanup.socket(await rawSocket(server.port));
      await waitFor(() => server.channels.length === 1, "the channel");
      const id = server.channels[0]!.id;
      server.pump();
      events.length = 0;
      socket.end();
      await waitFor(() => server.channels.length === 0, "the channel to close");
      await delay(20);
      expect(events).toEqual([]);
      server.pump();
      server.pump();
      expect(events).toEqual([`channel.onClose ${id}`, `server.onDisconnect ${id}`]);
    });

    it("stop() runs whatever was still queued, so every hook runs exactly once without another pump()", async () => {
      const server = await hookServer({ dispatch: "pump" });
      const listener = cleanup.listener(new ConnectionListener());
      listener.connect("127.0.0.1", server.port);
      await waitFor(() => server.channels.length === 1, "the channel");
      const id = server.channels[0]!.id;
      const arrived = collect(server.messages$, 1);
      listener.send({ action: "step", n: 1 });
      await arrived;
      await server.stop();
      expect(events).toEqual([
        `channel.onConnect ${id}`,
        `server.onConnect ${id}`,
        `step ${id} 1`,
        `channel.onClose ${id}`,
        `server.onDisconnect ${id}`,
      ]);
      expect(server.pump()).toBe(0);
    });
  });

  describe("sendToAll()", () => {
    it("reaches every connected channel and returns how many it was queued for", async () => {
      const server = cleanup.server(await startServer());
      const listeners = [
        (await connect(server)).listener,
        (await connect(server)).listener,
        (await connect(server)).listener,
      ];
      const received = listeners.map((listener) => collect(listener.on("news"), 1));
      expect(server.sendToAll({ action: "news", text: "hello all" })).toBe(3);
      for (const got of await Promise.all(received)) expect(got).toEqual([{ action: "news", text: "hello all" }]);
    });

    it("skips channels that have closed", async () => {
      const server = cleanup.server(await startServer());
      await connect(server);
      const { channel } = await connect(server);
      channel.close();
      expect(server.sendToAll({ action: "news" })).toBe(1);
    });

    it("returns 0 with no client", async () => {
      const server = cleanup.server(await startServer());
      expect(server.sendToAll({ action: "news" })).toBe(0);
    });

    it("throws a TypeError for a value that is not a plain object or cannot be encoded", async () => {
      const server = cleanup.server(await startServer());
      await connect(server);
      expect(() => server.sendToAll([1, 2])).toThrow(
        new TypeError('A message must be a plain object such as { action: "chat" }, got an array'),
      );
      expect(() => server.sendToAll({ action: "x", f: Symbol("s") })).toThrow(
        new TypeError("The message cannot be encoded as msgpack: Unrecognized object: [object Symbol]"),
      );
    });
  });

  describe("streams", () => {
    it("messages$ emits every message of every channel with its channel, live even in pump mode", async () => {
      const server = cleanup.server(await startServer({ dispatch: "pump" }));
      const seen: { channel: Channel; message: IncomingMessage }[] = [];
      cleanup.subscription(server.messages$.subscribe((event) => seen.push(event)));
      const a = cleanup.listener(new ConnectionListener());
      a.connect("127.0.0.1", server.port);
      a.send({ action: "hi", from: "a" });
      await waitFor(() => seen.length === 1, "a's message");
      const b = cleanup.listener(new ConnectionListener());
      b.connect("127.0.0.1", server.port);
      b.send({ action: "hi", from: "b" });
      await waitFor(() => seen.length === 2, "b's message");
      expect(seen.map(({ message }) => message)).toEqual([
        { action: "hi", from: "a" },
        { action: "hi", from: "b" },
      ]);
      expect(seen.map(({ channel }) => channel)).toEqual(server.channels);
      expect(server.channels).toHaveLength(2);
    });

    it("a channel's messages$ emits that channel's messages only, live, and completes when it closes", async () => {
      const server = cleanup.server(await startServer());
      const { listener, channel } = await connect(server);
      const { listener: other } = await connect(server);
      const received = lastValueFrom(channel.messages$.pipe(toArray()));
      other.send({ action: "not mine" });
      listener.send({ action: "mine", n: 1 });
      listener.send({ action: "mine", n: 2 });
      await waitFor(() => server.channels.length === 2, "both channels");
      await delay(20);
      channel.close();
      expect(await received).toEqual([
        { action: "mine", n: 1 },
        { action: "mine", n: 2 },
      ]);
    });

    it("disconnections$ emits each channel once, after its onClose", async () => {
      const server = await hookServer();
      const disconnected: string[] = [];
      cleanup.subscription(
        server.disconnections$.subscribe((channel) => {
          disconnected.push(`disconnections$ ${channel.id}`);
          events.push(`disconnections$ ${channel.id}`);
        }),
      );
      const { channel } = await connect(server);
      const { channel: other } = await connect(server);
      channel.close();
      await waitFor(() => disconnected.length === 1, "the first disconnection");
      other.close();
      await waitFor(() => disconnected.length === 2, "the second disconnection");
      await delay(20);
      expect(events.filter((event) => /onClose|onDisconnect|disconnections/.test(event))).toEqual([
        `channel.onClose ${channel.id}`,
        `server.onDisconnect ${channel.id}`,
        `disconnections$ ${channel.id}`,
        `channel.onClose ${other.id}`,
        `server.onDisconnect ${other.id}`,
        `disconnections$ ${other.id}`,
      ]);
    });
  });

  describe("stop() delivers everything already queued", () => {
    it("a client receives, in order, all of 5000 messages sent just before stop(), then disconnected", async () => {
      const server = cleanup.server(await startServer());
      const { listener, channel } = await connect(server);
      const everything = lastValueFrom(listener.connection!.messages$.pipe(toArray()));
      for (let i = 0; i < 5_000; i++) channel.send({ action: "n", i });
      await server.stop();
      const received = await everything;
      expect(received).toHaveLength(5_001);
      expect(received.slice(0, 5_000)).toEqual(Array.from({ length: 5_000 }, (_, i) => ({ action: "n", i })));
      expect(received[5_000]).toEqual({ action: "disconnected" });
    });

    it("each of several clients receives its whole backlog", async () => {
      const server = cleanup.server(await startServer());
      const pairs = [await connect(server), await connect(server), await connect(server)];
      const everything = pairs.map(
        ({ listener }) => lastValueFrom(listener.connection!.messages$.pipe(toArray())) as Promise<IncomingMessage[]>,
      );
      for (let i = 0; i < 1_000; i++) {
        for (const { channel } of pairs) channel.send({ action: "n", i, to: channel.id });
        server.sendToAll({ action: "all", i });
      }
      await server.stop();
      for (const [index, received] of (await Promise.all(everything)).entries()) {
        expect(received).toHaveLength(2_001);
        expect(received.filter((m) => m.action === "n").map((m) => m.i)).toEqual(
          Array.from({ length: 1_000 }, (_, i) => i),
        );
        expect(received.filter((m) => m.action === "n").every((m) => m.to === pairs[index]!.channel.id)).toBe(true);
        expect(received.filter((m) => m.action === "all")).toHaveLength(1_000);
      }
    });
  });

  describe("options", () => {
    it.each([
      ["a port over 65535", { port: 70_000 }, new RangeError("options.port must be between 0 and 65535, got 70000")],
      ["a negative port", { port: -1 }, new RangeError("options.port must be between 0 and 65535, got -1")],
      ["a port given as a string", { port: "5071" }, new TypeError('options.port must be an integer, got "5071"')],
      ["an empty host", { host: "" }, new TypeError('options.host must be a non-empty string, got ""')],
      ["a host that is not a string", { host: 127 }, new TypeError("options.host must be a non-empty string, got 127")],
      [
        "an unknown dispatch mode",
        { dispatch: "sometimes" },
        new TypeError('options.dispatch must be "live" or "pump", got "sometimes"'),
      ],
      [
        "a channelClass that is not a class",
        { channelClass: 5 },
        new TypeError("options.channelClass must be a class extending Channel"),
      ],
      [
        "a maxPayload of 0",
        { maxPayload: 0 },
        new RangeError("options.maxPayload must be between 1 and 4294967295, got 0"),
      ],
      ["a fractional maxPayload", { maxPayload: 1.5 }, new TypeError("options.maxPayload must be an integer, got 1.5")],
      [
        "a maxConnections of 0",
        { maxConnections: 0 },
        new RangeError("options.maxConnections must be between 1 and 9007199254740991, got 0"),
      ],
      [
        "a logger without methods",
        { logger: { info() {} } },
        new TypeError("options.logger must have debug, info, warn and error methods; debug is missing"),
      ],
    ])("the constructor rejects %s", (_name, options, error) => {
      expect(() => new Server(options as never)).toThrow(error);
    });

    it("the constructor rejects options that are not an object", () => {
      expect(() => new Server(null as never)).toThrow(
        new TypeError('Server options must be an object such as { host: "127.0.0.1", port: 5071 }'),
      );
    });
  });
});
