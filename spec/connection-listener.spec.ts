import { filter, firstValueFrom, interval, map, observeOn, Subject, take, toArray } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  Channel,
  ConnectionError,
  ConnectionListener,
  encode,
  Server,
  withConnectionListener,
  type IncomingMessage,
} from "../lib/index.js";
import type { ClockSample } from "../lib/operators.js";
import { Cleanup } from "./helpers/cleanup.js";
import { connectTo, RecordingListener } from "./helpers/listeners.js";
import { closedPort, collect, delay, pumpUntil, startServer, waitFor } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A started live-dispatch server, stopped after the test. */
async function server() {
  return cleanup.server(await startServer());
}

/** A recording listener connected to a fresh server, with its built-in actions already pumped. */
async function connected() {
  const srv = await server();
  const { listener, channel } = await connectTo(cleanup, srv, new RecordingListener());
  // The greeting is sent before anything else: once this marker has arrived, it has too.
  const marker = collect(listener.messages$, 1);
  channel.send({ action: "marker" });
  await marker;
  listener.pump();
  listener.calls.length = 0;
  return { server: srv, listener, channel };
}

/** Sends `messages` from `channel` and resolves once all have reached `listener` (unpumped). */
async function deliver(listener: ConnectionListener, channel: Channel, messages: object[]): Promise<void> {
  const arrived = collect(listener.messages$, messages.length);
  // Some of these have no action on purpose: the cast lets them through.
  for (const message of messages) channel.send(message as never);
  await arrived;
}

describe("ConnectionListener", () => {
  describe("pump()", () => {
    it("before connect() is a no-op returning 0", () => {
      const listener = new ConnectionListener();
      expect(listener.connection).toBeNull();
      expect(listener.pump()).toBe(0);
      expect(listener.pump()).toBe(0);
    });

    it("with nothing queued is a no-op returning 0", async () => {
      const { listener } = await connected();
      expect(listener.pump()).toBe(0);
      expect(listener.calls).toEqual([]);
    });

    it("runs handlers only inside pump(), in exact arrival order across actions", async () => {
      const { listener, channel } = await connected();
      const order: string[] = [];
      Object.assign(listener, {
        Network_move: (m: IncomingMessage) => order.push(`move ${String(m.n)}`),
        Network_chat: (m: IncomingMessage) => order.push(`chat ${String(m.n)}`),
        networkReceived: (m: IncomingMessage) => order.push(`other ${String(m.n)}`),
      });
      await deliver(listener, channel, [
        { action: "move", n: 1 },
        { action: "chat", n: 2 },
        { action: "move", n: 3 },
        { action: "shoot", n: 4 },
        { action: "chat", n: 5 },
        { n: 6 },
        { action: "move", n: 7 },
      ]);
      expect(order).toEqual([]);
      expect(listener.pump()).toBe(7);
      expect(order).toEqual(["move 1", "chat 2", "move 3", "other 4", "chat 5", "other 6", "move 7"]);
    });

    it("lets an async handler's rejection leave the next pump(), like a synchronous exception", async () => {
      const { listener, channel } = await connected();
      const ran: number[] = [];
      Object.assign(listener, {
        Network_late: async () => {
          await Promise.resolve();
          throw new Error("failed after await");
        },
        Network_n: (m: IncomingMessage) => ran.push(m.n as number),
      });
      await deliver(listener, channel, [{ action: "late" }]);
      expect(listener.pump()).toBe(1);
      await delay(5);
      await deliver(listener, channel, [{ action: "n", n: 1 }]);
      expect(() => listener.pump()).toThrow("failed after await");
      expect(listener.pump()).toBe(1);
      expect(ran).toEqual([1]);
    });

    it("keeps arrival order between messages that arrived in different frames", async () => {
      const { listener, channel } = await connected();
      const order: number[] = [];
      Object.assign(listener, {
        Network_a: (m: IncomingMessage) => order.push(m.n as number),
        Network_b: (m: IncomingMessage) => order.push(m.n as number),
      });
      await deliver(listener, channel, [
        { action: "a", n: 1 },
        { action: "b", n: 2 },
      ]);
      await deliver(listener, channel, [
        { action: "b", n: 3 },
        { action: "a", n: 4 },
      ]);
      expect(listener.pump()).toBe(4);
      expect(order).toEqual([1, 2, 3, 4]);
    });

    it("runs each message's handler exactly once while messages keep arriving between pumps", async () => {
      const { listener, channel } = await connected();
      const seen: number[] = [];
      Object.assign(listener, { Network_n: (m: IncomingMessage) => seen.push(m.i as number) });
      for (let i = 0; i < 2_000; i++) channel.send({ action: "n", i });
      await pumpUntil(listener, () => seen.length >= 2_000, "2000 messages");
      await delay(20);
      listener.pump();
      expect(seen).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
    });

    it("lets a handler's exception leave pump(); later messages stay queued for the next pump(), nothing is lost", async () => {
      const { listener, channel } = await connected();
      const unhandled = vi.fn();
      cleanup.onUnhandledRxError(unhandled);
      const boom = new Error("boom");
      const order: string[] = [];
      Object.assign(listener, {
        Network_ok: (m: IncomingMessage) => order.push(String(m.n)),
        Network_fail: () => {
          order.push("fail");
          throw boom;
        },
      });
      await deliver(listener, channel, [
        { action: "ok", n: 1 },
        { action: "fail" },
        { action: "ok", n: 2 },
        { action: "ok", n: 3 },
      ]);
      expect(() => listener.pump()).toThrow(boom);
      expect(order).toEqual(["1", "fail"]);
      expect(listener.scheduler.size).toBe(2);
      expect(listener.pump()).toBe(2);
      expect(order).toEqual(["1", "fail", "2", "3"]);
      expect(listener.pump()).toBe(0);
      await delay(20);
      expect(unhandled).not.toHaveBeenCalled();
      expect(listener.connection?.isConnected).toBe(true);
    });

    it("called from inside a handler is a no-op returning 0; the outer pump() runs the rest", async () => {
      const { listener, channel } = await connected();
      const order: string[] = [];
      const inner: number[] = [];
      Object.assign(listener, {
        Network_reenter: () => {
          order.push("reenter");
          inner.push(listener.pump());
        },
        Network_after: () => order.push("after"),
      });
      await deliver(listener, channel, [{ action: "reenter" }, { action: "after" }]);
      expect(listener.pump()).toBe(2);
      expect(inner).toEqual([0]);
      expect(order).toEqual(["reenter", "after"]);
    });
  });

  describe("built-in actions", () => {
    it("on success delivers connected then socketConnect, and Network_connected runs exactly once (the greeting is swallowed)", async () => {
      const srv = await server();
      const { listener, channel } = await connectTo(cleanup, srv, new RecordingListener());
      const marker = collect(listener.messages$, 1);
      channel.send({ action: "marker" });
      await marker;
      expect(listener.calls).toEqual([]);
      listener.pump();
      expect(listener.calls).toEqual([
        ["Network_connected", { action: "connected" }],
        ["Network_socketConnect", { action: "socketConnect" }],
        ["networkReceived", { action: "marker" }],
      ]);
    });

    it("on a refused connection delivers exactly one error with a readable reason and no disconnected", async () => {
      const port = await closedPort();
      const listener = cleanup.listener(new RecordingListener());
      listener.connect("127.0.0.1", port);
      await pumpUntil(listener, () => listener.calls.length > 0, "the error");
      await delay(50);
      listener.pump();
      expect(listener.calls).toEqual([
        [
          "Network_error",
          { action: "error", error: `connect ECONNREFUSED 127.0.0.1:${port}`, code: "ERR_CONNECT_FAILED" },
        ],
      ]);
      expect(listener.connection?.state).toBe("closed");
    });

    it("when the server closes the channel delivers disconnected exactly once", async () => {
      const { listener, channel } = await connected();
      channel.close();
      await pumpUntil(listener, () => listener.count("Network_disconnected") > 0, "disconnected");
      await delay(50);
      listener.pump();
      expect(listener.calls).toEqual([["Network_disconnected", { action: "disconnected" }]]);
    });

    it("when the server stops delivers disconnected exactly once", async () => {
      const { listener, server: srv } = await connected();
      await srv.stop();
      await pumpUntil(listener, () => listener.count("Network_disconnected") > 0, "disconnected");
      await delay(50);
      listener.pump();
      expect(listener.calls).toEqual([["Network_disconnected", { action: "disconnected" }]]);
    });

    it("when the listener closes itself delivers disconnected exactly once", async () => {
      const { listener } = await connected();
      listener.close();
      await pumpUntil(listener, () => listener.count("Network_disconnected") > 0, "disconnected");
      await delay(50);
      listener.pump();
      expect(listener.calls).toEqual([["Network_disconnected", { action: "disconnected" }]]);
    });

    it("drops lifecycle actions forged by the server and keeps the connection up", async () => {
      const { listener, channel } = await connected();
      const arrived = collect(listener.messages$, 1);
      channel.send({ action: "disconnected" });
      channel.send({ action: "connected" });
      channel.send({ action: "socketConnect" });
      channel.send({ action: "error", error: "fake" });
      channel.send({ action: "marker" });
      expect(await arrived).toEqual([{ action: "marker" }]);
      listener.pump();
      expect(listener.calls).toEqual([["networkReceived", { action: "marker" }]]);
      expect(listener.connection?.isConnected).toBe(true);
    });
  });

  describe("handler lookup", () => {
    it("routes player.move to Network_player_move when Network_player.move is absent", async () => {
      const { listener, channel } = await connected();
      const handled: IncomingMessage[] = [];
      Object.assign(listener, { Network_player_move: (m: IncomingMessage) => handled.push(m) });
      await deliver(listener, channel, [{ action: "player.move", x: 3 }]);
      listener.pump();
      expect(handled).toEqual([{ action: "player.move", x: 3 }]);
      expect(listener.calls).toEqual([]);
    });

    it("routes player.move to Network_player.move when it exists, even beside Network_player_move", async () => {
      const { listener, channel } = await connected();
      const handled: string[] = [];
      Object.assign(listener, {
        "Network_player.move": () => handled.push("dotted"),
        Network_player_move: () => handled.push("underscored"),
      });
      await deliver(listener, channel, [{ action: "player.move" }]);
      listener.pump();
      expect(handled).toEqual(["dotted"]);
    });

    it("uses handlers assigned at run time, and stops using removed ones", async () => {
      const { listener, channel } = await connected();
      const handled: number[] = [];
      await deliver(listener, channel, [{ action: "late", n: 1 }]);
      listener.pump();
      const dynamic = listener as unknown as Record<string, unknown>;
      dynamic.Network_late = (m: IncomingMessage) => handled.push(m.n as number);
      await deliver(listener, channel, [{ action: "late", n: 2 }]);
      listener.pump();
      delete dynamic.Network_late;
      await deliver(listener, channel, [{ action: "late", n: 3 }]);
      listener.pump();
      expect(handled).toEqual([2]);
      expect(listener.calls).toEqual([
        ["networkReceived", { action: "late", n: 1 }],
        ["networkReceived", { action: "late", n: 3 }],
      ]);
    });

    it("falls back to networkReceived for an unknown action, a missing action and a non-string action", async () => {
      const { listener, channel } = await connected();
      await deliver(listener, channel, [{ action: "nobody" }, { text: "no action" }, { action: 42 }, { action: null }]);
      listener.pump();
      expect(listener.calls).toEqual([
        ["networkReceived", { action: "nobody" }],
        ["networkReceived", { text: "no action" }],
        ["networkReceived", { action: 42 }],
        ["networkReceived", { action: null }],
      ]);
    });

    it("passes binary fields to handlers as Uint8Array", async () => {
      const { listener, channel } = await connected();
      await deliver(listener, channel, [{ action: "blob", data: new Uint8Array([1, 2, 3]) }]);
      listener.pump();
      const data = listener.calls[0]?.[1].data;
      expect(data).toBeInstanceOf(Uint8Array);
      expect(Uint8Array.from(data as Uint8Array)).toEqual(new Uint8Array([1, 2, 3]));
    });
  });

  describe("send()", () => {
    it("returns 0 before connect()", () => {
      expect(new ConnectionListener().send({ action: "hello" })).toBe(0);
    });

    it("queues messages sent while connecting and delivers them in order once open", async () => {
      const srv = await server();
      const received = collect(srv.messages$, 3);
      const listener = cleanup.listener(new ConnectionListener());
      listener.connect("127.0.0.1", srv.port);
      expect(listener.connection?.state).toBe("connecting");
      const sizes = [1, 2, 3].map((n) => listener.send({ action: "early", n }));
      expect(sizes).toEqual([1, 2, 3].map((n) => encode({ action: "early", n }).byteLength));
      expect((await received).map(({ message }) => message)).toEqual([
        { action: "early", n: 1 },
        { action: "early", n: 2 },
        { action: "early", n: 3 },
      ]);
    });

    it("returns the bytes queued, header included, while connected", async () => {
      const { listener, server: srv } = await connected();
      const received = collect(srv.messages$, 1);
      expect(listener.send({ action: "chat", text: "héllo" })).toBe(
        encode({ action: "chat", text: "héllo" }).byteLength,
      );
      expect((await received)[0]?.message).toEqual({ action: "chat", text: "héllo" });
    });

    it("returns 0 after close()", async () => {
      const { listener } = await connected();
      listener.close();
      expect(listener.send({ action: "late" })).toBe(0);
    });

    it("returns 0 after the server closed the connection", async () => {
      const { listener, channel } = await connected();
      channel.close();
      await waitFor(() => listener.connection?.state === "closed", "the client to close");
      expect(listener.send({ action: "late" })).toBe(0);
    });

    it("returns 0 after a refused connection", async () => {
      const listener = cleanup.listener(new ConnectionListener());
      listener.connect("127.0.0.1", await closedPort());
      await waitFor(() => listener.connection?.state === "closed", "the client to close");
      expect(listener.send({ action: "late" })).toBe(0);
    });

    it("throws a TypeError synchronously for a value that is not a plain object, in every state", async () => {
      const notPlain = new Date(0) as unknown as { action: string };
      const error = new TypeError(
        'A message must be a plain object such as { action: "chat" }, got an instance of Date',
      );
      const idle = new ConnectionListener();
      expect(() => idle.send(notPlain)).toThrow(error);
      const { listener } = await connected();
      expect(() => listener.send(notPlain)).toThrow(error);
      listener.close();
      expect(() => listener.send(notPlain)).toThrow(error);
    });

    it("throws the same TypeError for send options of the wrong type before connect() as while connected", async () => {
      const error = new TypeError(
        'send options must be { volatile?: boolean, latest?: string }, got {"volatile":"yes"}',
      );
      const bad = { volatile: "yes" } as unknown as { volatile: boolean };
      expect(() => new ConnectionListener().send({ action: "move" }, bad)).toThrow(error);
      const { listener } = await connected();
      expect(() => listener.send({ action: "move" }, bad)).toThrow(error);
    });

    it("throws a TypeError synchronously for a value msgpack cannot encode", async () => {
      const { listener } = await connected();
      expect(() => listener.send({ action: "f", f: () => 1 })).toThrow(
        new TypeError("The message cannot be encoded as msgpack: Unrecognized object: [object Function]"),
      );
    });
  });

  describe("connect()", () => {
    it("returns at once and exposes the Client as connection", async () => {
      const srv = await server();
      const listener = cleanup.listener(new ConnectionListener());
      listener.connect("127.0.0.1", srv.port);
      expect(listener.connection?.address).toEqual({ host: "127.0.0.1", port: srv.port });
      expect(listener.connection?.isConnected).toBe(false);
      await waitFor(() => listener.connection?.isConnected === true, "open");
    });

    it("accepts a tcp:// URL", async () => {
      const srv = await server();
      const listener = cleanup.listener(new RecordingListener());
      listener.connect(`tcp://127.0.0.1:${srv.port}`);
      await pumpUntil(listener, () => listener.count("Network_connected") === 1, "connected");
      expect(listener.connection?.address).toEqual({ host: "127.0.0.1", port: srv.port });
    });

    it("closes the previous connection first, which still delivers its disconnected", async () => {
      const { listener, server: srv } = await connected();
      listener.connect("127.0.0.1", srv.port);
      await pumpUntil(
        listener,
        () => listener.count("Network_disconnected") === 1 && listener.count("Network_socketConnect") === 1,
        "the old disconnected and the new connection",
      );
      await waitFor(() => srv.channels.length === 1, "one channel left");
      await delay(30);
      listener.pump();
      expect(listener.count("Network_connected")).toBe(1);
      expect(listener.count("Network_disconnected")).toBe(1);
      expect(listener.connection?.isConnected).toBe(true);
    });

    it("connecting to an in-process server closes the previous connection first, as over TCP", async () => {
      const first = cleanup.server(new Server());
      first.listenLocal();
      const second = cleanup.server(new Server());
      second.listenLocal();
      const listener = cleanup.listener(new RecordingListener());
      listener.connect(first);
      await pumpUntil(listener, () => listener.count("Network_connected") === 1, "the first connection");
      await waitFor(() => first.channels.length === 1, "the first server's channel");
      listener.connect(second);
      await pumpUntil(
        listener,
        () => listener.count("Network_disconnected") === 1 && listener.count("Network_connected") === 2,
        "the old disconnected and the new connection",
      );
      await waitFor(() => first.channels.length === 0, "the first server to lose its player");
      expect(second.channels).toHaveLength(1);
    });

    it("applies the options given with a URL", async () => {
      const srv = await server();
      const logged: string[] = [];
      const note = (message: string): void => void logged.push(message);
      const listener = cleanup.listener(new RecordingListener());
      listener.connect(`tcp://127.0.0.1:${srv.port}`, { logger: { debug: note, info: note, warn: note, error: note } });
      await pumpUntil(listener, () => listener.count("Network_connected") === 1, "connected");
      expect(logged).toContain("connected");
    });

    it("takes null for no options, from JavaScript callers, after a URL as after a port", async () => {
      const srv = await server();
      for (const connect of [
        (listener: ConnectionListener) => listener.connect(`tcp://127.0.0.1:${srv.port}`, null as never),
        (listener: ConnectionListener) => listener.connect("127.0.0.1", srv.port, null as never),
      ]) {
        const listener = cleanup.listener(new RecordingListener());
        connect(listener);
        await pumpUntil(listener, () => listener.count("Network_connected") === 1, "connected");
        expect(listener.connection?.address).toEqual({ host: "127.0.0.1", port: srv.port });
      }
    });

    it.each([
      [
        "null",
        () => new ConnectionListener().connect(null as never),
        new TypeError("connect() takes a host name or a URL string, got object"),
      ],
      [
        "an object that is not a server",
        () => new ConnectionListener().connect({ host: "127.0.0.1" } as never),
        new TypeError("connect() takes a host name or a URL string, got object"),
      ],
      [
        "a port over 65535",
        () => new ConnectionListener().connect("127.0.0.1", 70_000),
        new RangeError("A port is an integer from 0 to 65535, got 70000"),
      ],
      [
        "a fractional port",
        () => new ConnectionListener().connect("127.0.0.1", 1.5),
        new RangeError("A port is an integer from 0 to 65535, got 1.5"),
      ],
      [
        "a host that is not a string",
        () => new ConnectionListener().connect(5071 as unknown as string),
        new TypeError("connect() takes a host name or a URL string, got number"),
      ],
      [
        "an unsupported URL scheme",
        () => new ConnectionListener().connect("http://127.0.0.1:5071"),
        new TypeError("connect() supports tcp://, ws:// and wss:// URLs, got http://"),
      ],
      [
        "a maxPayload of 0",
        () => new ConnectionListener().connect("127.0.0.1", 1, { maxPayload: 0 }),
        new RangeError("options.maxPayload must be between 1 and 4294967295, got 0"),
      ],
      [
        "a logger without methods",
        () => new ConnectionListener().connect("127.0.0.1", 1, { logger: {} as never }),
        new TypeError("options.logger must have debug, info, warn and error methods; debug is missing"),
      ],
    ])("throws for %s", (_name, call, error) => {
      expect(call).toThrow(error);
    });
  });

  describe("request()", () => {
    it("fails a request made while connecting with ERR_CONNECTION_LOST, inside pump(), when the connection cannot be made", async () => {
      const listener = cleanup.listener(new ConnectionListener());
      listener.connect("127.0.0.1", await closedPort());
      let failure: unknown;
      cleanup.subscription(
        listener
          .request({ action: "getScore" }, { timeout: 10_000 })
          .subscribe({ error: (error) => (failure = error) }),
      );
      await waitFor(() => listener.connection?.state === "closed", "the refusal");
      expect(failure).toBeUndefined();
      // Long before the request's own timeout.
      await pumpUntil(listener, () => failure !== undefined, "the request to fail", 5_000);
      expect(failure).toBeInstanceOf(ConnectionError);
      expect(failure).toMatchObject({ code: "ERR_CONNECTION_LOST" });
    });
  });

  describe("answering the server's requests", () => {
    class Thinker extends ConnectionListener {
      finish: ((move: string) => void) | null = null;
      readonly chats: IncomingMessage[] = [];

      Network_think(): Promise<string> {
        return new Promise((resolve) => {
          this.finish = resolve;
        });
      }

      Network_chat(message: IncomingMessage): void {
        this.chats.push(message);
      }
    }

    it("an answer still being computed goes out even though other messages were handled meanwhile", async () => {
      const srv = await server();
      const { listener, channel } = await connectTo(cleanup, srv, new Thinker());
      const reply = firstValueFrom(channel.request<string>({ action: "think" }, { timeout: 3_000 }));
      await pumpUntil(listener, () => listener.finish !== null, "the request");
      channel.send({ action: "chat", text: "hurry up" });
      await pumpUntil(listener, () => listener.chats.length === 1, "the chat");
      listener.finish!("e4");
      await expect(reply).resolves.toBe("e4");
    });
  });

  describe("clockSamples$", () => {
    it("carries the server's clock from each heartbeat of the listener's connection", async () => {
      const srv = await server();
      const listener = cleanup.listener(new ConnectionListener());
      const samples: ClockSample[] = [];
      cleanup.subscription(listener.clockSamples$.subscribe((sample) => samples.push(sample)));
      const before = Date.now();
      listener.connect("127.0.0.1", srv.port, { heartbeat: { interval: 20 } });
      await waitFor(() => samples.length >= 2, "two heartbeats");
      for (const sample of samples) {
        expect(sample.peerTime).toBeGreaterThanOrEqual(before);
        expect(sample.peerTime).toBeLessThanOrEqual(Date.now());
        expect(sample.rtt).toBeGreaterThanOrEqual(0);
      }
    });
  });

  describe("on(action)", () => {
    it("is a live Observable of one action's messages that composes with RxJS operators", async () => {
      const { listener, channel } = await connected();
      const xs = collect(
        listener.on("move").pipe(
          map((m) => m.x as number),
          filter((x) => x > 0),
          take(3),
          toArray(),
        ),
        1,
      );
      for (const x of [1, -2, 3, 4, 5]) {
        channel.send({ action: "chat", x: 100 });
        channel.send({ action: "move", x });
      }
      expect(await xs).toEqual([[1, 3, 4]]);
    });

    it("emits built-in actions too", async () => {
      const srv = await server();
      const listener = cleanup.listener(new ConnectionListener());
      listener.connect("127.0.0.1", srv.port);
      const opened = collect(listener.on("socketConnect"), 1);
      expect(await opened).toEqual([{ action: "socketConnect" }]);
    });
  });

  describe("autoPump(ticks$)", () => {
    it("dispatches on every tick of interval(5) without a manual pump()", async () => {
      const { listener, channel } = await connected();
      const handled: number[] = [];
      Object.assign(listener, { Network_n: (m: IncomingMessage) => handled.push(m.i as number) });
      cleanup.subscription(listener.autoPump(interval(5)));
      for (let i = 0; i < 3; i++) channel.send({ action: "n", i });
      await waitFor(() => handled.length === 3, "3 handled messages");
      expect(handled).toEqual([0, 1, 2]);
    });

    it("hands a handler's exception to onError and keeps pumping on the next tick", async () => {
      const { listener, channel } = await connected();
      const boom = new Error("boom");
      const handled: string[] = [];
      const onError = vi.fn();
      Object.assign(listener, {
        Network_ok: (m: IncomingMessage) => handled.push(String(m.n)),
        Network_fail: () => {
          throw boom;
        },
      });
      cleanup.subscription(listener.autoPump(interval(5), onError));
      await deliver(listener, channel, [{ action: "ok", n: 1 }, { action: "fail" }, { action: "ok", n: 2 }]);
      await waitFor(() => handled.length === 2, "both ok messages");
      expect(handled).toEqual(["1", "2"]);
      expect(onError).toHaveBeenCalledTimes(1);
      expect(onError).toHaveBeenCalledWith(boom);
    });

    it("without onError, rethrows a handler's exception asynchronously, like any timer callback, and keeps pumping", async () => {
      // The exception reaches the process as an uncaught exception; recorded here instead of
      // failing the run, then the runner's own handlers are put back.
      const runnerHandlers = process.listeners("uncaughtException");
      const uncaught: unknown[] = [];
      const record = (error: unknown): void => void uncaught.push(error);
      process.removeAllListeners("uncaughtException");
      process.on("uncaughtException", record);
      cleanup.add(() => {
        process.off("uncaughtException", record);
        for (const handler of runnerHandlers) process.on("uncaughtException", handler);
      });
      const { listener, channel } = await connected();
      const boom = new Error("boom");
      const handled: string[] = [];
      Object.assign(listener, {
        Network_ok: (m: IncomingMessage) => handled.push(String(m.n)),
        Network_fail: () => {
          throw boom;
        },
      });
      await deliver(listener, channel, [{ action: "ok", n: 1 }, { action: "fail" }, { action: "ok", n: 2 }]);
      let thrownSynchronously = false;
      const ticks = new Subject<void>();
      cleanup.subscription(listener.autoPump(ticks));
      try {
        ticks.next();
      } catch {
        thrownSynchronously = true;
      }
      expect(thrownSynchronously).toBe(false);
      expect(handled).toEqual(["1"]);
      expect(uncaught).toEqual([]);
      await waitFor(() => uncaught.length === 1, "the exception to reach the process");
      expect(uncaught).toEqual([boom]);
      ticks.next();
      expect(handled).toEqual(["1", "2"]);
    });

    it("stops pumping once its subscription is unsubscribed", async () => {
      const { listener, channel } = await connected();
      const handled: number[] = [];
      Object.assign(listener, { Network_n: (m: IncomingMessage) => handled.push(m.i as number) });
      listener.autoPump(interval(5)).unsubscribe();
      await deliver(listener, channel, [{ action: "n", i: 1 }]);
      await delay(30);
      expect(handled).toEqual([]);
      expect(listener.scheduler.size).toBe(1);
    });

    it("pumps once per tick and passes each exception to onError (marbles)", () => {
      new TestScheduler((actual, expected) => expect(actual).toEqual(expected)).run(
        ({ cold, expectObservable, flush }) => {
          const listener = new ConnectionListener();
          const ran: string[] = [];
          const errors: string[] = [];
          listener.scheduler.schedule(() => ran.push("a"));
          listener.scheduler.schedule(() => {
            throw new Error("b failed");
          });
          listener.scheduler.schedule(() => ran.push("c"));
          const ticks = cold("-t--t--t|");
          const frames = ticks.pipe(map(() => `${ran.join("")}/${errors.join(",")}`));
          listener.autoPump(ticks, (error) => errors.push((error as Error).message));
          // Observed after autoPump's own subscription, so each frame shows the state after that tick's pump.
          expectObservable(frames).toBe("-x--y--y|", { x: "a/b failed", y: "ac/b failed" });
          flush();
        },
      );
    });
  });

  describe("observeOn(listener.scheduler)", () => {
    it("runs a stream's subscribers inside pump(), interleaved with handlers in arrival order", async () => {
      const { listener, channel } = await connected();
      const order: string[] = [];
      Object.assign(listener, { Network_tick: (m: IncomingMessage) => order.push(`handler ${String(m.n)}`) });
      cleanup.subscription(
        listener
          .on("tick")
          .pipe(observeOn(listener.scheduler))
          .subscribe((m) => order.push(`stream ${String(m.n)}`)),
      );
      await deliver(listener, channel, [
        { action: "tick", n: 1 },
        { action: "tick", n: 2 },
      ]);
      expect(order).toEqual([]);
      listener.pump();
      expect(order).toEqual(["handler 1", "stream 1", "handler 2", "stream 2"]);
    });
  });

  describe("withConnectionListener(Base)", () => {
    class Scene {
      constructor(readonly name: string) {}
      title(): string {
        return `scene ${this.name}`;
      }
    }

    class Level extends withConnectionListener(Scene) {
      readonly greetings: IncomingMessage[] = [];
      Network_hello(message: IncomingMessage): void {
        this.greetings.push(message);
      }
    }

    it("keeps the base class's constructor, methods and instanceof", () => {
      const level = new Level("forest");
      expect(level).toBeInstanceOf(Scene);
      expect(level.name).toBe("forest");
      expect(level.title()).toBe("scene forest");
      expect(level.connection).toBeNull();
      expect(level.pump()).toBe(0);
    });

    it("connects, pumps and dispatches like a ConnectionListener", async () => {
      const srv = await server();
      const level = new Level("forest");
      const { channel } = await connectTo(cleanup, srv, level as unknown as ConnectionListener);
      channel.send({ action: "hello", from: "server" });
      await pumpUntil(level, () => level.greetings.length === 1, "hello");
      expect(level.greetings).toEqual([{ action: "hello", from: "server" }]);
      const received = collect(srv.messages$, 1);
      level.send({ action: "hi" });
      expect((await received)[0]?.message).toEqual({ action: "hi" });
    });
  });
});
