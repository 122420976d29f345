// Typed runtime validation over real sockets: a server with `validation` stops what clients send
// that fails its action's schema before any handler, `messages$` or request answer sees it, on
// TCP, WebSocket and in memory; a client with `validation` does the same with what its server
// sends. Hostile peers are raw links and raw servers that send hand-made msgpack.
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import * as v from "valibot";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Channel,
  ConnectionListener,
  RequestError,
  schemaValidation,
  type ChannelMessage,
  type DispatchMode,
  type IncomingMessage,
  type InferActions,
  type Message,
  type SchemaValidationOptions,
  type Server,
} from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import {
  describeError,
  hostileServer,
  rawLinkTo,
  rawMessage,
  rawNestedArrays,
  rawStr,
  rawValue,
  recordUncaught,
  type RawLink,
  type Wire,
} from "./helpers/hostile.js";
import { first, startServer, waitFor } from "./helpers/net.js";
import { nil, toStringTrap } from "./helpers/poisons.js";
import { tcpProxy } from "./helpers/proxy.js";
import { openPlayer, sessionGranted } from "./helpers/sessions.js";
import { recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** What clients send: valibot and zod side by side, one action with a transform. */
const ClientSchemas = {
  move: v.object({ x: v.number(), y: v.number() }),
  say: z.object({
    text: z
      .string()
      .max(20)
      .transform((text) => text.trim()),
  }),
  ask: v.object({ n: v.number() }),
};
type ClientActions = InferActions<typeof ClientSchemas>;

/** Hostile shapes of `move`, each one a msgpack payload built by hand. */
const HOSTILE_MOVES: [string, Uint8Array][] = [
  ['x: "lol"', rawMessage("move", { x: rawStr("lol"), y: rawValue(1) })],
  ["no y", rawMessage("move", { x: rawValue(1) })],
  ["x: nil", rawMessage("move", { x: nil, y: rawValue(1) })],
  ["x: { toString: 1 }", rawMessage("move", { x: toStringTrap, y: rawValue(1) })],
  ["x: 60 nested arrays", rawMessage("move", { x: rawNestedArrays(60), y: rawValue(1) })],
  ["x: [1, 2]", rawMessage("move", { x: rawValue([1, 2]), y: rawValue(1) })],
  ["x: a string of 100,000 characters", rawMessage("move", { x: rawStr("x".repeat(100_000)), y: rawValue(1) })],
];

class GameChannel extends Channel<Server<GameChannel>, ClientActions> {
  readonly moves: Message<ClientActions, "move">[] = [];
  readonly says: Message<ClientActions, "say">[] = [];
  readonly other: IncomingMessage[] = [];
  readonly errors: unknown[] = [];

  Network_move(message: Message<ClientActions, "move">): void {
    this.moves.push(message);
  }

  Network_say(message: Message<ClientActions, "say">): void {
    this.says.push(message);
  }

  Network_ask(message: Message<ClientActions, "ask">): number {
    return message.n * 2;
  }

  Network_echo(message: IncomingMessage): void {
    this.send(message as { action: string });
  }

  override networkReceived(message: IncomingMessage): void {
    this.other.push(message);
  }

  override onError(error: unknown): void {
    this.errors.push(error);
  }
}

interface Game {
  readonly server: Server<GameChannel>;
  readonly logger: ReturnType<typeof recordingLogger>;
  /** Every message of `server.messages$`. */
  readonly seen: ChannelMessage<GameChannel>[];
}

/** A validating server on TCP and WebSocket (and in memory), pumped every 2 ms in pump mode. */
async function game(
  options: { dispatch?: DispatchMode; maxInvalidMessages?: number } & SchemaValidationOptions = {},
): Promise<Game> {
  const uncaught = recordUncaught(cleanup);
  const logger = recordingLogger();
  const { onInvalid, maxWaiting, ...serverOptions } = options;
  const validation = schemaValidation(ClientSchemas, {
    ...(onInvalid === undefined ? {} : { onInvalid }),
    ...(maxWaiting === undefined ? {} : { maxWaiting }),
  });
  const server = cleanup.server(
    await startServer({ channelClass: GameChannel, ws: { port: 0 }, logger, validation, ...serverOptions }),
  );
  server.listenLocal();
  if (options.dispatch === "pump") {
    const loop = setInterval(() => server.pump(), 2);
    cleanup.add(() => clearInterval(loop));
  }
  const seen: ChannelMessage<GameChannel>[] = [];
  cleanup.subscription(server.messages$.subscribe((message) => seen.push(message)));
  cleanup.add(() => expect(uncaught.map(describeError)).toEqual([]));
  return { server, logger, seen };
}

/** A raw client of `server` over `wire`, greeted, with its channel. */
async function rawClient(server: Server<GameChannel>, wire: Wire): Promise<{ link: RawLink; channel: GameChannel }> {
  const accepted = first(server.connections$);
  const link = await rawLinkTo(cleanup, wire, wire === "tcp" ? server.port : server.wsPort!);
  await link.next((message) => message.action === "connected", "the greeting");
  return { link, channel: await accepted };
}

/** Sends an echo and waits for it: everything sent before has been handled. */
async function roundTrip(link: RawLink, tag: string): Promise<void> {
  link.sendMessage({ action: "echo", tag });
  await link.next((message) => message.action === "echo" && message.tag === tag, `the echo of ${tag}`);
}

describe.each(["tcp", "ws"] as const)("a server with validation, against a raw %s client", (wire) => {
  it.each(["live", "pump"] as const)(
    "stops every hostile shape before handlers and messages$ (%s dispatch), and delivers the schema's output",
    async (dispatch) => {
      const { server, logger, seen } = await game({ dispatch });
      const { link, channel } = await rawClient(server, wire);
      const channelSeen: IncomingMessage[] = [];
      cleanup.subscription(channel.messages$.subscribe((message) => channelSeen.push(message)));

      for (const [, payload] of HOSTILE_MOVES) link.send(payload);
      link.sendMessage({ action: "move", x: 1, y: 2, extra: "stripped" });
      link.sendMessage({ action: "say", text: "  hello  " });
      link.sendMessage({ action: "say", text: "far too long for the schema's max" });
      await roundTrip(link, "after");

      expect(channel.moves).toEqual([{ action: "move", x: 1, y: 2 }]);
      expect(channel.says).toEqual([{ action: "say", text: "hello" }]);
      expect(channel.rejectedMessages).toBe(HOSTILE_MOVES.length + 1);
      expect(channel.errors).toEqual([]);
      const validActions = ["move", "say", "echo"];
      expect(channelSeen.map((message) => message.action)).toEqual(validActions);
      expect(seen.map(({ message }) => message.action)).toEqual(validActions);
      expect(channelSeen[0]).toEqual({ action: "move", x: 1, y: 2 });
      const drops = logger.entries.filter((entry) => entry.message === "dropped");
      expect(drops).toHaveLength(5);
      expect(drops.map((entry) => entry.fields.code)).toEqual(Array(5).fill("ERR_INVALID_MESSAGE"));
      expect(drops[0]!.fields.reason).toMatch(/^"move" failed its schema: x: /);
      // Every reason is bounded, even for a 100,000-character field.
      for (const entry of drops) expect(String(entry.fields.reason).length).toBeLessThan(600);
      expect(link.closed).toBe(false);
    },
  );

  it("answers a request that fails its schema with an ERR_INVALID_MESSAGE error reply, without running its handler", async () => {
    const { server } = await game();
    const { link, channel } = await rawClient(server, wire);
    link.sendMessage({ action: "ask", n: "two", "@req": 7 });
    link.sendMessage({ action: "ask", n: 2, "@req": 8 });
    const failed = await link.next((message) => message["@re"] === 7, "the error reply");
    const answered = await link.next((message) => message["@re"] === 8, "the answer");
    expect(failed).toMatchObject({ action: "@reply", code: "ERR_INVALID_MESSAGE" });
    expect(failed.error).toMatch(/^"ask" failed its schema: n: /);
    expect(answered).toEqual({ action: "@reply", "@re": 8, result: 4 });
    expect(channel.rejectedMessages).toBe(1);
  });

  it("with onInvalid: close, tells the client why and closes at the first failing message; nothing after it is handled", async () => {
    const { server, logger } = await game({ onInvalid: "close" });
    const { link, channel } = await rawClient(server, wire);
    const closed = first(server.disconnections$);
    link.sendMessage({ action: "move", x: 1, y: 1 });
    link.sendMessage({ action: "move", x: "lol", y: 1 });
    link.sendMessage({ action: "move", x: 3, y: 3 });
    const refused = await link.next((message) => message.action === "@refused", "the reason");
    expect(refused).toMatchObject({ code: "ERR_INVALID_MESSAGE" });
    expect(refused.reason).toMatch(/^"move" failed its schema: x: /);
    await link.whenClosed();
    expect(await closed).toBe(channel);
    expect(channel.moves).toEqual([{ action: "move", x: 1, y: 1 }]);
    expect(logger.entries.find((entry) => entry.message === "closing")?.fields.code).toBe("ERR_INVALID_MESSAGE");
  });

  it("cuts off with ERR_TOO_MANY_INVALID a client over maxInvalidMessages failing messages", async () => {
    const { server } = await game({ maxInvalidMessages: 3 });
    const { link, channel } = await rawClient(server, wire);
    for (let i = 0; i < 3; i++) link.sendMessage({ action: "move", x: "lol", y: i });
    await roundTrip(link, "still open");
    link.sendMessage({ action: "move", x: "lol", y: 4 });
    const refused = await link.next((message) => message.action === "@refused", "the reason");
    expect(refused.code).toBe("ERR_TOO_MANY_INVALID");
    await link.whenClosed();
    expect(channel.rejectedMessages).toBe(4);
    expect(channel.moves).toEqual([]);
  });
});

describe("a server with validation, in memory and for every client", () => {
  it("stops a ConnectionListener's invalid messages in memory, and keeps actions without a schema as they were", async () => {
    const { server } = await game();
    const listener = cleanup.listener(new ConnectionListener());
    const accepted = first(server.connections$);
    listener.connect(server);
    const channel = await accepted;
    listener.send({ action: "move", x: "lol", y: 1 });
    listener.send({ action: "move", x: 5, y: 6 });
    listener.send({ action: "unlisted", anything: [1, "two"] });
    listener.send({ action: "say", text: 42 });
    await waitFor(() => channel.other.length === 1, "the unlisted action");
    expect(channel.moves).toEqual([{ action: "move", x: 5, y: 6 }]);
    expect(channel.other).toEqual([{ action: "unlisted", anything: [1, "two"] }]);
    expect(channel.rejectedMessages).toBe(2);
  });

  it("sums up in one line, once a client has left, the failing messages past those it logged", async () => {
    const { server, logger } = await game();
    const listener = cleanup.listener(new ConnectionListener());
    const accepted = first(server.connections$);
    listener.connect(server);
    const channel = await accepted;
    for (let y = 0; y < 7; y++) listener.send({ action: "move", x: "lol", y });
    await waitFor(() => channel.rejectedMessages === 7, "the failing moves");
    const left = first(server.disconnections$);
    listener.close();
    await left;
    expect(logger.entries.filter((entry) => entry.message === "dropped")).toHaveLength(5);
    expect(logger.entries.filter((entry) => entry.message === "dropped in all").map((entry) => entry.fields)).toEqual([
      expect.objectContaining({ count: 7, unlogged: 2 }),
    ]);
  });

  it("gives a repod-rx requester a RequestError coded ERR_INVALID_MESSAGE", async () => {
    const { server } = await game();
    const listener = cleanup.listener(new ConnectionListener());
    const accepted = first(server.connections$);
    listener.connect(server);
    await accepted;
    const loop = setInterval(() => listener.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    const error = await firstValueFrom(listener.request({ action: "ask", n: "x" })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({
      code: "ERR_INVALID_MESSAGE",
      message: expect.stringMatching(/^"ask" failed its schema/),
    });
    expect(await firstValueFrom(listener.request({ action: "ask", n: 21 }))).toBe(42);
  });

  it("keeps each connection's order through an async schema, in pump dispatch", async () => {
    const slow = v.objectAsync({
      n: v.pipeAsync(
        v.number(),
        v.checkAsync(async (n) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return n >= 0;
        }, "n must not be negative"),
      ),
    });
    const logger = recordingLogger();
    const order: string[] = [];
    class OrderChannel extends Channel {
      Network_slow(message: IncomingMessage): void {
        order.push(`slow ${String(message.n)}`);
      }
      Network_fast(message: IncomingMessage): void {
        order.push(`fast ${String(message.n)}`);
      }
    }
    const server = cleanup.server(
      await startServer({
        channelClass: OrderChannel,
        dispatch: "pump",
        logger,
        validation: schemaValidation({ slow, fast: v.object({ n: v.number() }) }),
      }),
    );
    const loop = setInterval(() => server.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    const link = await rawLinkTo(cleanup, "tcp", server.port);
    await link.next((message) => message.action === "connected", "the greeting");
    link.sendMessage({ action: "slow", n: 1 });
    link.sendMessage({ action: "fast", n: 2 });
    link.sendMessage({ action: "slow", n: -3 });
    link.sendMessage({ action: "fast", n: 4 });
    link.sendMessage({ action: "plain", n: 5 });
    link.sendMessage({ action: "slow", n: 6 });
    await waitFor(() => order.length === 4, "the valid messages", 5_000);
    expect(order).toEqual(["slow 1", "fast 2", "fast 4", "slow 6"]);
    expect(logger.entries.filter((entry) => entry.message === "dropped").map((entry) => entry.fields.reason)).toEqual([
      '"slow" failed its schema: n: n must not be negative',
    ]);
  });
});

/**
 * A schema whose checks all wait for `release()`, recording the fields it was asked to check:
 * what a slow async check looks like, settled when the test decides.
 */
function gatedSchema(): { schema: never; checked: unknown[]; release: () => void } {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const checked: unknown[] = [];
  const validate = async (value: unknown): Promise<{ value: unknown }> => {
    checked.push(value);
    await gate;
    return { value };
  };
  return { schema: { "~standard": { version: 1, vendor: "spec", validate } } as never, checked, release };
}

// ---------------------------------------------------------------------------------------------
// Client side.

/** What the server sends. */
const ServerSchemas = {
  state: v.object({ tick: v.number(), name: v.optional(v.string(), "anonymous") }),
  ask: z.object({ n: z.number() }),
};
type ServerActions = InferActions<typeof ServerSchemas>;

class GameListener extends ConnectionListener<ServerActions> {
  readonly states: Message<ServerActions, "state">[] = [];
  readonly other: IncomingMessage[] = [];

  Network_state(message: Message<ServerActions, "state">): void {
    this.states.push(message);
  }

  Network_ask(message: Message<ServerActions, "ask">): number {
    return message.n + 1;
  }

  override networkReceived(message: IncomingMessage): void {
    this.other.push(message);
  }
}

/** A validating listener, pumped every 2 ms, with everything its `on("state")` and `messages$` emit. */
function gameListener(options: SchemaValidationOptions = {}): {
  listener: GameListener;
  validation: ReturnType<typeof schemaValidation<typeof ServerSchemas>>;
  onState: IncomingMessage[];
  all: IncomingMessage[];
  logger: ReturnType<typeof recordingLogger>;
} {
  const listener = cleanup.listener(new GameListener());
  const onState: IncomingMessage[] = [];
  const all: IncomingMessage[] = [];
  cleanup.subscription(listener.on("state").subscribe((message) => onState.push(message)));
  cleanup.subscription(listener.messages$.subscribe((message) => all.push(message)));
  const loop = setInterval(() => listener.pump(), 2);
  cleanup.add(() => clearInterval(loop));
  return { listener, validation: schemaValidation(ServerSchemas, options), onState, all, logger: recordingLogger() };
}

describe.each(["tcp", "ws"] as const)("a client with validation, against a raw %s server", (wire) => {
  it("stops every hostile shape before handlers, on() and messages$, and delivers the schema's output", async () => {
    const hostile = await hostileServer(cleanup, wire);
    const { listener, validation, onState, all, logger } = gameListener();
    listener.connect(hostile.url, { validation, logger });
    const link = await hostile.link(0);
    link.sendMessage({ action: "connected" });
    link.send(rawMessage("state", { tick: rawStr("lol") }));
    link.send(rawMessage("state", { tick: toStringTrap }));
    link.send(rawMessage("state", { tick: rawNestedArrays(60) }));
    link.send(rawMessage("state", {}));
    link.sendMessage({ action: "state", tick: 1 });
    link.sendMessage({ action: "state", tick: 2, name: "ada", extra: true });
    link.sendMessage({ action: "unlisted", tick: "anything" });
    await waitFor(() => listener.other.some((message) => message.action === "unlisted"), "the unlisted action");
    expect(listener.states).toEqual([
      { action: "state", tick: 1, name: "anonymous" },
      { action: "state", tick: 2, name: "ada" },
    ]);
    expect(onState).toEqual(listener.states);
    expect(all.map((message) => message.action)).toEqual(["connected", "socketConnect", "state", "state", "unlisted"]);
    const drops = logger.entries.filter((entry) => entry.message === "dropped");
    expect(drops.map((entry) => entry.fields.code)).toEqual(Array(4).fill("ERR_INVALID_MESSAGE"));
    expect(listener.connection?.isConnected).toBe(true);
  });

  it("answers the server's request that fails its schema with an ERR_INVALID_MESSAGE error reply", async () => {
    const hostile = await hostileServer(cleanup, wire);
    const { listener, validation, logger } = gameListener();
    listener.connect(hostile.url, { validation, logger });
    const link = await hostile.link(0);
    link.sendMessage({ action: "connected" });
    link.sendMessage({ action: "ask", n: "x", "@req": 1 });
    link.sendMessage({ action: "ask", n: 1, "@req": 2 });
    const failed = await link.next((message) => message["@re"] === 1, "the error reply");
    expect(failed).toMatchObject({ action: "@reply", code: "ERR_INVALID_MESSAGE" });
    expect(failed.error).toMatch(/^"ask" failed its schema: n: /);
    expect(await link.next((message) => message["@re"] === 2, "the answer")).toEqual({
      action: "@reply",
      "@re": 2,
      result: 2,
    });
  });

  it("with onInvalid: close, reports an ERR_INVALID_MESSAGE error and closes for good", async () => {
    const hostile = await hostileServer(cleanup, wire);
    const { listener, validation, all, logger } = gameListener({ onInvalid: "close" });
    listener.connect(hostile.url, { validation, logger, reconnect: true });
    const link = await hostile.link(0);
    link.sendMessage({ action: "connected" });
    link.sendMessage({ action: "state", tick: 1 });
    link.sendMessage({ action: "state", tick: "lol" });
    link.sendMessage({ action: "state", tick: 3 });
    await waitFor(() => all.some((message) => message.action === "disconnected"), "the disconnection");
    expect(all.map((message) => message.action)).toEqual([
      "connected",
      "socketConnect",
      "state",
      "error",
      "disconnected",
    ]);
    expect(all[3]).toMatchObject({ code: "ERR_INVALID_MESSAGE", error: expect.stringMatching(/^"state" failed/) });
    listener.pump();
    expect(listener.states).toEqual([{ action: "state", tick: 1, name: "anonymous" }]);
    await waitFor(() => listener.connection?.state === "closed", "the client to close for good");
    expect(hostile.links).toHaveLength(1);
  });
});

describe("a client with validation, across reconnections", () => {
  it("gives each connection its own maxInvalidMessages budget, sums up each one's unlogged drops, and completes messages$ when closed", async () => {
    const hostile = await hostileServer(cleanup, "tcp");
    const { listener, validation, all, logger } = gameListener();
    listener.connect(hostile.url, {
      validation,
      logger,
      maxInvalidMessages: 7,
      reconnect: { initialDelay: 10, maxDelay: 10 },
    });
    const client = listener.connection!;
    let completed = false;
    cleanup.subscription(client.messages$.subscribe({ complete: () => (completed = true) }));
    // Six failing states on each connection: twelve in all would be over the budget of seven.
    for (const index of [0, 1]) {
      const link = await hostile.link(index);
      link.sendMessage({ action: "connected" });
      for (let n = 0; n < 6; n++) link.sendMessage({ action: "state", tick: "lol" });
      link.sendMessage({ action: "state", tick: index });
      await waitFor(() => listener.states.length === index + 1, `the valid state on connection ${index}`);
      if (index === 0) link.end();
    }
    expect(client.isConnected).toBe(true);
    expect(all.filter((message) => message.action === "error")).toEqual([]);
    client.close();
    await waitFor(() => completed, "messages$ to complete");
    expect(logger.entries.filter((entry) => entry.message === "dropped")).toHaveLength(10);
    expect(logger.entries.filter((entry) => entry.message === "dropped in all").map((entry) => entry.fields)).toEqual([
      expect.objectContaining({ count: 6, unlogged: 1 }),
      expect.objectContaining({ count: 6, unlogged: 1 }),
    ]);
  });
});

describe("a client with validation, in memory", () => {
  it("stops what a real server sends that fails its schema, and hears a server's validation closing it", async () => {
    const { server } = await game({ onInvalid: "close" });
    const { listener, validation, all } = gameListener();
    const accepted = first(server.connections$);
    listener.connect(server, { validation });
    const channel = await accepted;
    channel.send({ action: "state", tick: "lol" });
    channel.send({ action: "state", tick: 7 });
    await waitFor(() => listener.states.length === 1, "the valid state");
    expect(listener.states).toEqual([{ action: "state", tick: 7, name: "anonymous" }]);
    // The server's own validation closes this client, which hears why.
    listener.send({ action: "move", x: "lol", y: 0 });
    await waitFor(() => all.some((message) => message.action === "disconnected"), "the disconnection");
    expect(all.filter((message) => message.action === "error")).toEqual([
      { action: "error", code: "ERR_INVALID_MESSAGE", error: expect.stringMatching(/^"move" failed its schema/) },
    ]);
  });
});

describe("schemas that misbehave", () => {
  it("fails the message of a schema that throws or whose output is not an object, and cuts off a backlog behind an async one", async () => {
    const logger = recordingLogger();
    const never = new Promise<never>(() => {});
    const schemas = {
      throws: {
        "~standard": {
          version: 1,
          vendor: "test",
          validate: () => {
            throw new Error("boom");
          },
        },
      },
      text: z.object({ n: z.number() }).transform(() => "a string"),
      stuck: { "~standard": { version: 1, vendor: "test", validate: () => never } },
    } as never;
    const server = cleanup.server(
      await startServer({
        channelClass: GameChannel,
        logger,
        validation: schemaValidation(schemas, { maxWaiting: 2 }),
      }),
    );
    const joined = first(server.connections$);
    const link = await rawLinkTo(cleanup, "tcp", server.port);
    await link.next((message) => message.action === "connected", "the greeting");
    const channel = await joined;
    link.sendMessage({ action: "throws", n: 1 });
    link.sendMessage({ action: "text", n: 2 });
    await roundTrip(link, "after the failures");
    expect(channel.rejectedMessages).toBe(2);
    expect(logger.entries.filter((entry) => entry.message === "dropped").map((entry) => entry.fields.reason)).toEqual([
      '"throws" failed its schema: the schema threw: boom',
      '"text" failed its schema: it returned a string, not an object of fields',
    ]);

    // One message waits on a check that never ends, two more may wait behind it, not a third.
    for (let n = 0; n < 4; n++) link.sendMessage({ action: n === 0 ? "stuck" : "move", x: n, y: n });
    const refused = await link.next((message) => message.action === "@refused", "the reason");
    expect(refused).toMatchObject({ code: "ERR_VALIDATION_BACKLOG" });
    await link.whenClosed();
    expect(channel.moves).toEqual([]);
  });
});

describe("validation across a resumed session", () => {
  it("checks what a player sends before and after its connection dropped, counted on the one seat", async () => {
    const server = cleanup.server(
      await startServer({
        channelClass: GameChannel,
        resume: { window: 5_000 },
        validation: schemaValidation(ClientSchemas),
        logger: recordingLogger(),
      }),
    );
    const proxy = await tcpProxy(cleanup, server.port);
    const joined = first(server.connections$);
    const player = openPlayer(cleanup, new ConnectionListener(), proxy.port, { resume: true });
    const seat = await joined;
    await sessionGranted(player.listener);
    player.listener.send({ action: "move", x: "lol", y: 0 });
    player.listener.send({ action: "move", x: 1, y: 1 });
    await waitFor(() => seat.moves.length === 1, "the first valid move");
    proxy.cut();
    // Sent while the connection is down: kept by the session, checked when it is replayed.
    player.listener.send({ action: "move", x: 2, y: "lol" });
    player.listener.send({ action: "move", x: 2, y: 2 });
    await waitFor(() => player.log.some((message) => message.action === "resumed"), "the resume");
    await waitFor(() => seat.moves.length === 2, "the move sent during the gap");
    expect(seat.moves).toEqual([
      { action: "move", x: 1, y: 1 },
      { action: "move", x: 2, y: 2 },
    ]);
    expect(seat.rejectedMessages).toBe(2);
    expect(server.channels).toEqual([seat]);
  });
});

describe("a client with an async schema", () => {
  it("keeps the order of everything it delivers, the disconnection last, while a check is running", async () => {
    const hostile = await hostileServer(cleanup, "tcp");
    const slowState = v.objectAsync({
      tick: v.pipeAsync(
        v.number(),
        v.checkAsync(async (tick) => {
          await new Promise((resolve) => setTimeout(resolve, 200));
          return tick >= 0;
        }, "tick must not be negative"),
      ),
    });
    const listener = cleanup.listener(new ConnectionListener());
    const all: IncomingMessage[] = [];
    cleanup.subscription(listener.messages$.subscribe((message) => all.push(message)));
    listener.connect(hostile.url, { validation: schemaValidation({ state: slowState }), logger: recordingLogger() });
    const link = await hostile.link(0);
    link.sendMessage({ action: "connected" });
    link.sendMessage({ action: "state", tick: 1 });
    link.sendMessage({ action: "other", n: 2 });
    link.sendMessage({ action: "state", tick: -3 });
    link.sendMessage({ action: "state", tick: 4 });
    link.end();
    // The client has closed before the checks are done; what it delivers waits for them.
    await waitFor(() => listener.connection?.state === "closed", "the client to close");
    expect(all.map((message) => message.action)).toEqual(["connected", "socketConnect"]);
    await waitFor(() => all.some((message) => message.action === "disconnected"), "the disconnection");
    expect(all).toEqual([
      { action: "connected" },
      { action: "socketConnect" },
      { action: "state", tick: 1 },
      { action: "other", n: 2 },
      { action: "state", tick: 4 },
      { action: "disconnected" },
    ]);
  });

  it("once it closes for a backlog, hands on only built-in actions and checks nothing more, the held message included", async () => {
    const { schema, checked, release } = gatedSchema();
    const hostile = await hostileServer(cleanup, "tcp");
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect(hostile.url, {
      validation: schemaValidation({ state: schema }, { maxWaiting: 2 }),
      logger: recordingLogger(),
    });
    const client = listener.connection!;
    const delivered = lastValueFrom(client.messages$.pipe(toArray()));
    const link = await hostile.link(0);
    link.sendMessage({ action: "connected" });
    link.sendMessage({ action: "state", tick: 1 });
    link.sendMessage({ action: "other", n: 2 });
    link.sendMessage({ action: "state", tick: 3 });
    // One more than maxWaiting behind the held check: the client closes.
    link.sendMessage({ action: "other", n: 4 });
    await waitFor(() => client.state === "closed", "the client to close");
    release();
    expect(await delivered).toEqual([
      { action: "connected" },
      { action: "socketConnect" },
      {
        action: "error",
        code: "ERR_VALIDATION_BACKLOG",
        error: "Closed the connection: more than 2 messages waited behind an async schema (maxWaiting)",
      },
      { action: "disconnected" },
    ]);
    expect(checked).toEqual([{ tick: 1 }]);
  });

  it("closed from a subscriber while its session is in a gap, hands on what waited before the disconnection it causes, then completes", async () => {
    const { schema, checked, release } = gatedSchema();
    const server = cleanup.server(await startServer({ resume: { window: 30_000 }, logger: recordingLogger() }));
    const proxy = await tcpProxy(cleanup, server.port);
    const joined = first(server.connections$);
    const player = openPlayer(cleanup, new ConnectionListener(), proxy.port, {
      resume: true,
      // The gap lasts: no attempt to resume before the test ends.
      reconnect: { initialDelay: 60_000, maxDelay: 60_000 },
      validation: schemaValidation({ state: schema }),
      logger: recordingLogger(),
    });
    const seat = await joined;
    await sessionGranted(player.listener);
    const client = player.listener.connection!;
    seat.send({ action: "state", tick: 1 });
    await waitFor(() => checked.length === 1, "the check of the state");
    proxy.cut();
    await waitFor(() => client.state === "resuming", "the gap");
    const seen: unknown[] = [];
    let completed = false;
    cleanup.subscription(
      client.messages$.subscribe({
        next: (message) => {
          seen.push(message.action);
          // Closing in a gap ends the session at once: its `disconnected` arrives during this call.
          if (message.action === "state") client.close();
        },
        complete: () => (completed = true),
      }),
    );
    release();
    await waitFor(() => completed, "messages$ to complete");
    expect(seen).toEqual(["state", "dropped", "disconnected"]);
  });
});

describe("declaring a validation", () => {
  it("refuses what is not a Standard Schema, reserved actions and bad options, with what is allowed", () => {
    expect(() => schemaValidation({ move: { x: "number" } } as never)).toThrow(
      new TypeError(
        'schemas.move must be a Standard Schema v1 (a zod, valibot or arktype schema...), got an object without "~standard"',
      ),
    );
    expect(() => schemaValidation(null as never)).toThrow(TypeError);
    expect(() => schemaValidation({ connected: v.object({}) })).toThrow(
      new TypeError(
        'schemas.connected: "connected" is reserved by the library (built-in actions and those starting with "@" are never validated)',
      ),
    );
    expect(() => schemaValidation({ "@reply": v.object({}) })).toThrow(/reserved by the library/);
    expect(() => schemaValidation({}, { onInvalid: "kick" as never })).toThrow(
      new TypeError('options.onInvalid must be "drop" or "close", got "kick"'),
    );
    expect(() => schemaValidation({}, { maxWaiting: 0 })).toThrow(
      new RangeError("options.maxWaiting must be between 1 and 4294967295, got 0"),
    );
  });

  it("refuses a bare schema map as the validation option of a server or a client", async () => {
    const message =
      "options.validation must be made by schemaValidation(schemas), such as schemaValidation({ move: v.object({ x: v.number() }) })";
    await expect(startServer({ validation: ClientSchemas as never })).rejects.toThrow(new TypeError(message));
    const listener = new ConnectionListener();
    expect(() => listener.connect("127.0.0.1", 1, { validation: ServerSchemas as never })).toThrow(
      new TypeError(message),
    );
  });

  it("keeps the schemas, the policy and the actions it checks", async () => {
    const validation = schemaValidation(ClientSchemas, { onInvalid: "close" });
    expect(validation.schemas).toBe(ClientSchemas);
    expect(validation.onInvalid).toBe("close");
    expect(validation.maxWaiting).toBe(1024);
    expect(validation.actions).toEqual(["move", "say", "ask"]);
    // A channel without validation counts nothing.
    expect(new Channel().rejectedMessages).toBe(0);
    expect(await firstValueFrom(new Channel().messages$.pipe(toArray()))).toEqual([]);
  });
});
