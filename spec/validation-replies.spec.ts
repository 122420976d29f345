// Typed replies over real sockets: with `schemaValidation(incoming, { replies: outgoing })`, the
// reply to a request of an action declared `withReply(fields, reply)` is checked against `reply`
// before the requester's subscriber sees it, on TCP, WebSocket and in memory, for a client's
// `request()` and a server's `channel.request()`. Hostile peers are raw links and raw servers that
// answer with hand-made msgpack, and real peers whose handlers answer junk.
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { tap, type Observable } from "rxjs";
import * as v from "valibot";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Channel,
  ConnectionListener,
  RequestError,
  schemaValidation,
  withReply,
  type IncomingMessage,
  type InferActions,
  type InferInputActions,
  type SchemaValidationOptions,
  type Server,
} from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import {
  describeError,
  hostileServer,
  rawLinkTo,
  rawMap,
  rawNestedArrays,
  rawStr,
  rawValue,
  recordUncaught,
  type RawLink,
  type RawMessage,
  type Wire,
} from "./helpers/hostile.js";
import { first, startServer, waitFor } from "./helpers/net.js";
import { nil, toStringTrap } from "./helpers/poisons.js";
import { recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** What clients send: `join`, `score` and `check` are requests whose reply is declared. */
const ClientSchemas = {
  move: v.object({ x: v.number(), y: v.number() }),
  join: withReply(
    v.object({ room: v.string() }),
    v.object({ seat: v.number(), name: v.optional(v.string(), "guest") }),
  ),
  score: withReply(
    z.object({ of: z.string() }),
    z
      .number()
      .int()
      .transform((points) => points * 10),
  ),
  check: withReply(
    v.object({}),
    v.objectAsync({
      n: v.pipeAsync(
        v.number(),
        v.checkAsync(async (n) => {
          await new Promise((resolve) => setTimeout(resolve, 10));
          return n >= 0;
        }, "n must not be negative"),
      ),
    }),
  ),
};
/** What the server sends: `pick` is a request whose reply is declared. */
const ServerSchemas = {
  state: v.object({ tick: v.number() }),
  pick: withReply(
    z.object({ options: z.array(z.number()) }),
    z.object({ choice: z.number(), note: z.string().default("none") }),
  ),
};
type ClientIn = InferActions<typeof ClientSchemas>;
type ClientOut = InferInputActions<typeof ClientSchemas>;
type ServerIn = InferActions<typeof ServerSchemas>;
type ServerOut = InferInputActions<typeof ServerSchemas>;

/** What one request did: the values it emitted, its error, whether it completed. */
interface Outcome {
  readonly values: unknown[];
  error?: unknown;
  completed?: boolean;
}

function observe(source: Observable<unknown>): Outcome & { readonly done: () => boolean } {
  const outcome: Outcome = { values: [] };
  cleanup.subscription(
    source.subscribe({
      next: (value) => outcome.values.push(value),
      error: (error: unknown) => (outcome.error = error),
      complete: () => (outcome.completed = true),
    }),
  );
  return Object.assign(outcome, { done: () => "error" in outcome || outcome.completed === true });
}

/** Waits for a request's end; a failed check names the action and the field. */
async function ended(request: Outcome & { done: () => boolean }, what: string): Promise<Outcome> {
  await waitFor(request.done, what);
  return request;
}

function expectRefused(outcome: Outcome, pattern: RegExp): void {
  expect(outcome.values).toEqual([]);
  expect(outcome.error).toBeInstanceOf(RequestError);
  expect(outcome.error).toMatchObject({ code: "ERR_INVALID_MESSAGE", message: expect.stringMatching(pattern) });
}

/** A reply built by hand: `result` is raw msgpack. */
function rawReply(id: unknown, result: Uint8Array): Uint8Array {
  return rawMap([
    ["action", rawStr("@reply")],
    ["@re", rawValue(id)],
    ["result", result],
  ]);
}

/** The hostile shapes of `join`'s reply `{ seat: number }`, each raw msgpack. */
const HOSTILE_SEATS: [string, Uint8Array][] = [
  ['seat: "x"', rawMap([["seat", rawStr("x")]])],
  ["no seat", rawMap([])],
  ["a string, not an object", rawStr("nope")],
  ["nil", nil],
  ["[1, 2]", rawValue([1, 2])],
  ["seat: { toString: 1 }", rawMap([["seat", toStringTrap]])],
  ["seat: 60 nested arrays", rawMap([["seat", rawNestedArrays(60)]])],
  ["seat: a string of 100,000 characters", rawMap([["seat", rawStr("x".repeat(100_000))]])],
  ["only a constructor key", rawMap([["constructor", rawMap([["prototype", rawMap([["seat", rawValue(1)]])]])]])],
];

// ---------------------------------------------------------------------------------------------
// A client's requests.

/** A validating listener of a hostile server over `wire`, pumped every 2 ms, greeted. */
async function requester(
  wire: Wire,
  options: Pick<SchemaValidationOptions, "onInvalid"> & { maxInvalidMessages?: number; reconnect?: boolean } = {},
): Promise<{
  listener: ConnectionListener<ServerIn, ClientOut>;
  link: RawLink;
  logger: ReturnType<typeof recordingLogger>;
  all: IncomingMessage[];
  stopPumping: () => void;
}> {
  const { onInvalid, ...clientOptions } = options;
  const hostile = await hostileServer(cleanup, wire);
  const logger = recordingLogger();
  const listener = cleanup.listener(new ConnectionListener<ServerIn, ClientOut>());
  const all: IncomingMessage[] = [];
  cleanup.subscription(listener.messages$.subscribe((message) => all.push(message)));
  const loop = setInterval(() => listener.pump(), 2);
  const stopPumping = (): void => clearInterval(loop);
  cleanup.add(stopPumping);
  const validation = schemaValidation(ServerSchemas, {
    replies: ClientSchemas,
    ...(onInvalid === undefined ? {} : { onInvalid }),
  });
  listener.connect(hostile.url, { validation, logger, ...clientOptions });
  const link = await hostile.link(0);
  link.sendMessage({ action: "connected" });
  await waitFor(() => all.some((message) => message.action === "connected"), "the greeting");
  return { listener, link, logger, all, stopPumping };
}

/** The request the raw peer received whose `tag` field (room, of...) is `tag`. */
function requestOn(link: RawLink, key: string, tag: unknown): Promise<RawMessage> {
  return link.next((message) => message[key] === tag && message["@req"] !== undefined, `the request ${String(tag)}`);
}

function drops(logger: ReturnType<typeof recordingLogger>): Record<string, unknown>[] {
  return logger.entries.filter((entry) => entry.message === "dropped").map((entry) => entry.fields);
}

describe.each(["tcp", "ws"] as const)("a client's request answered by a raw %s server", (wire) => {
  it("refuses every hostile reply before next, with ERR_INVALID_MESSAGE naming the action and the field", async () => {
    const uncaught = recordUncaught(cleanup);
    const { listener, link, logger } = await requester(wire);
    const requests = HOSTILE_SEATS.map(([name]) => observe(listener.request({ action: "join", room: name })));
    for (const [name, result] of HOSTILE_SEATS)
      link.send(rawReply((await requestOn(link, "room", name))["@req"], result));
    const outcomes = await Promise.all(requests.map((request, i) => ended(request, HOSTILE_SEATS[i]![0])));
    for (const outcome of outcomes) expectRefused(outcome, /^the reply to "join" failed its schema: /);
    expect(outcomes[0]!.error).toMatchObject({
      message: expect.stringMatching(/^the reply to "join" failed its schema: seat: /),
    });
    // Logged within bounds: the first five, then counted; every reason short whatever was sent.
    const logged = drops(logger);
    expect(logged).toHaveLength(5);
    expect(logged.map((fields) => fields.code)).toEqual(Array(5).fill("ERR_INVALID_MESSAGE"));
    expect(logger.entries.some((entry) => entry.message === "dropping quietly")).toBe(true);
    for (const outcome of outcomes) expect((outcome.error as Error).message.length).toBeLessThan(600);
    expect(listener.connection?.isConnected).toBe(true);
    expect(({} as Record<string, unknown>).seat).toBeUndefined();
    expect(uncaught.map(describeError)).toEqual([]);
  });

  it("delivers a valid reply as the reply schema outputs it, and leaves error replies and unknown ids alone", async () => {
    const { listener, link, logger } = await requester(wire);
    const join = observe(listener.request({ action: "join", room: "lobby" }));
    const score = observe(listener.request({ action: "score", of: "ada" }));
    const badScore = observe(listener.request({ action: "score", of: "bob" }));
    const failed = observe(listener.request({ action: "join", room: "full" }));
    const unchecked = observe(listener.request({ action: "move", x: 1, y: 2 }));
    link.sendMessage({
      action: "@reply",
      "@re": (await requestOn(link, "room", "lobby"))["@req"],
      result: { seat: 3, extra: true, constructor: { prototype: { polluted: true } } },
    });
    link.sendMessage({ action: "@reply", "@re": (await requestOn(link, "of", "ada"))["@req"], result: 4 });
    link.sendMessage({ action: "@reply", "@re": (await requestOn(link, "of", "bob"))["@req"], result: 4.5 });
    const full = await requestOn(link, "room", "full");
    link.sendMessage({ action: "@reply", "@re": full["@req"], error: "the room is full", result: "ignored" });
    link.sendMessage({
      action: "@reply",
      "@re": (await requestOn(link, "action", "move"))["@req"],
      result: "anything",
    });
    link.sendMessage({ action: "@reply", "@re": 999, result: { seat: "junk" } });

    const joined = await ended(join, "join");
    expect(joined.values).toEqual([{ seat: 3, name: "guest" }]);
    expect(joined.completed).toBe(true);
    expect((await ended(score, "score")).values).toEqual([40]);
    expectRefused(await ended(badScore, "the bad score"), /^the reply to "score" failed its schema: /);
    const failedOutcome = await ended(failed, "the error reply");
    expect(failedOutcome.error).toBeInstanceOf(RequestError);
    expect(failedOutcome.error).toMatchObject({ code: "ERR_REQUEST_FAILED", message: "the room is full" });
    // An action whose entry declares no reply: its reply is not checked.
    expect((await ended(unchecked, "move")).values).toEqual(["anything"]);
    // Only the bad score counted: the error reply and the reply to an unknown id did not.
    expect(drops(logger)).toEqual([
      expect.objectContaining({ code: "ERR_INVALID_MESSAGE", reason: expect.stringMatching(/^the reply to "score"/) }),
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("checks a reply with an async schema, and delivers the verdict inside pump()", async () => {
    const { listener, link, stopPumping } = await requester(wire);
    stopPumping();
    let pumping = false;
    const loop = setInterval(() => {
      pumping = true;
      listener.pump();
      pumping = false;
    }, 2);
    cleanup.add(() => clearInterval(loop));
    const deliveredInPump: boolean[] = [];
    const note = (): void => void deliveredInPump.push(pumping);
    const good = observe(
      listener.request({ action: "check" }, { timeout: 5_000 }).pipe(tap({ next: note, error: note })),
    );
    const bad = observe(
      listener.request({ action: "check" }, { timeout: 5_000 }).pipe(tap({ next: note, error: note })),
    );
    await link.next((message) => message["@req"] === 2, "the second check");
    link.sendMessage({ action: "@reply", "@re": 1, result: { n: 1 } });
    link.sendMessage({ action: "@reply", "@re": 2, result: { n: -1 } });
    expect((await ended(good, "the good check")).values).toEqual([{ n: 1 }]);
    expectRefused(
      await ended(bad, "the bad check"),
      /^the reply to "check" failed its schema: n: n must not be negative$/,
    );
    expect(deliveredInPump).toEqual([true, true]);
  });

  it("never delivers a reply carrying a __proto__ key: the frame is refused unread, the request times out", async () => {
    const { listener, link, logger } = await requester(wire);
    const request = observe(listener.request({ action: "join", room: "proto" }, { timeout: 300 }));
    const id = (await requestOn(link, "room", "proto"))["@req"];
    link.send(rawReply(id, rawMap([["__proto__", rawMap([["seat", rawValue(1)]])]])));
    const outcome = await ended(request, "the timeout");
    expect(outcome.values).toEqual([]);
    expect(outcome.error).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    expect(drops(logger).map((fields) => fields.code)).toEqual(["ERR_INVALID_PAYLOAD"]);
    expect(({} as Record<string, unknown>).seat).toBeUndefined();
  });

  it("counts refused replies against maxInvalidMessages, then cuts the server off", async () => {
    const { listener, link, all } = await requester(wire, { maxInvalidMessages: 2 });
    const requests = [0, 1, 2].map((n) => observe(listener.request({ action: "join", room: `r${n}` })));
    const waiting = observe(listener.request({ action: "move", x: 0, y: 0 }));
    for (let n = 0; n < 3; n++) {
      link.sendMessage({
        action: "@reply",
        "@re": (await requestOn(link, "room", `r${n}`))["@req"],
        result: { seat: "x" },
      });
    }
    for (const request of requests) expectRefused(await ended(request, "a refused reply"), /^the reply to "join"/);
    await waitFor(() => all.some((message) => message.action === "disconnected"), "the disconnection");
    expect(all.filter((message) => message.action === "error")).toEqual([
      {
        action: "error",
        code: "ERR_TOO_MANY_INVALID",
        error: expect.stringMatching(/over the maxInvalidMessages limit of 2/),
      },
    ]);
    expect((await ended(waiting, "the request left waiting")).error).toMatchObject({ code: "ERR_CONNECTION_LOST" });
    await link.whenClosed();
  });

  it("with onInvalid: close, closes for good at the first refused reply and says why", async () => {
    const { listener, link, all } = await requester(wire, { onInvalid: "close", reconnect: true });
    const request = observe(listener.request({ action: "join", room: "once" }));
    link.sendMessage({
      action: "@reply",
      "@re": (await requestOn(link, "room", "once"))["@req"],
      result: { seat: null },
    });
    expectRefused(await ended(request, "the refused reply"), /^the reply to "join" failed its schema: seat: /);
    await waitFor(() => all.some((message) => message.action === "disconnected"), "the disconnection");
    expect(all.filter((message) => message.action === "error")).toEqual([
      {
        action: "error",
        code: "ERR_INVALID_MESSAGE",
        error: expect.stringMatching(/^the reply to "join" failed its schema/),
      },
    ]);
    await waitFor(() => listener.connection?.state === "closed", "the client to close for good");
    await link.whenClosed();
  });
});

// ---------------------------------------------------------------------------------------------
// A server's `channel.request`.

class GameChannel extends Channel<Server<GameChannel>, ClientIn, ServerOut> {}

/** A validating server on TCP, WebSocket and in memory, checking the replies to its requests. */
async function game(
  options: Pick<SchemaValidationOptions, "onInvalid"> & { maxInvalidMessages?: number } = {},
): Promise<{ server: Server<GameChannel>; logger: ReturnType<typeof recordingLogger> }> {
  const uncaught = recordUncaught(cleanup);
  const logger = recordingLogger();
  const { onInvalid, ...serverOptions } = options;
  const validation = schemaValidation(ClientSchemas, {
    replies: ServerSchemas,
    ...(onInvalid === undefined ? {} : { onInvalid }),
  });
  const server = cleanup.server(
    await startServer({ channelClass: GameChannel, ws: { port: 0 }, logger, validation, ...serverOptions }),
  );
  server.listenLocal();
  cleanup.add(() => expect(uncaught.map(describeError)).toEqual([]));
  return { server, logger };
}

async function rawClient(server: Server<GameChannel>, wire: Wire): Promise<{ link: RawLink; channel: GameChannel }> {
  const accepted = first(server.connections$);
  const link = await rawLinkTo(cleanup, wire, wire === "tcp" ? server.port : server.wsPort!);
  await link.next((message) => message.action === "connected", "the greeting");
  return { link, channel: await accepted };
}

/** The raw client answers the `pick` request whose options are `[n]` with `result` (raw msgpack). */
async function answerPick(link: RawLink, n: number, result: Uint8Array): Promise<void> {
  const request = await link.next(
    (message) => message.action === "pick" && (message.options as unknown[])[0] === n,
    `the pick ${n}`,
  );
  link.send(rawReply(request["@req"], result));
}

describe.each(["tcp", "ws"] as const)("a channel's request answered by a raw %s client", (wire) => {
  it("refuses hostile replies, delivers valid ones transformed, leaves error replies alone, and counts", async () => {
    const { server, logger } = await game();
    const { link, channel } = await rawClient(server, wire);
    const hostile: [string, Uint8Array][] = [
      ['choice: "x"', rawMap([["choice", rawStr("x")]])],
      ["no choice", rawMap([["note", rawStr("hi")]])],
      ["a number, not an object", rawValue(7)],
      ["choice: { toString: 1 }", rawMap([["choice", toStringTrap]])],
    ];
    const refused = hostile.map((_, n) => observe(channel.request({ action: "pick", options: [n] })));
    const valid = observe(channel.request({ action: "pick", options: [10] }));
    const failed = observe(channel.request({ action: "pick", options: [11] }));
    for (const [n, [, result]] of hostile.entries()) await answerPick(link, n, result);
    await answerPick(
      link,
      10,
      rawMap([
        ["choice", rawValue(2)],
        ["extra", rawValue(true)],
      ]),
    );
    const request = await link.next(
      (message) => message.action === "pick" && (message.options as unknown[])[0] === 11,
      "the pick 11",
    );
    link.sendMessage({ action: "@reply", "@re": request["@req"], error: "no choice" });

    for (const outcome of refused)
      expectRefused(await ended(outcome, "a refused pick"), /^the reply to "pick" failed its schema: /);
    expect(refused[0]!.error).toMatchObject({
      message: expect.stringMatching(/^the reply to "pick" failed its schema: choice: /),
    });
    expect((await ended(valid, "the valid pick")).values).toEqual([{ choice: 2, note: "none" }]);
    expect((await ended(failed, "the error reply")).error).toMatchObject({
      code: "ERR_REQUEST_FAILED",
      message: "no choice",
    });
    expect(channel.rejectedMessages).toBe(hostile.length);
    expect(drops(logger).map((fields) => fields.code)).toEqual(Array(hostile.length).fill("ERR_INVALID_MESSAGE"));
    expect(link.closed).toBe(false);
  });

  it("cuts off with ERR_TOO_MANY_INVALID a client over maxInvalidMessages refused replies", async () => {
    const { server } = await game({ maxInvalidMessages: 2 });
    const { link, channel } = await rawClient(server, wire);
    const requests = [0, 1, 2].map((n) => observe(channel.request({ action: "pick", options: [n] })));
    for (let n = 0; n < 3; n++) await answerPick(link, n, rawValue("junk"));
    const refusal = await link.next((message) => message.action === "@refused", "the refusal");
    expect(refusal.code).toBe("ERR_TOO_MANY_INVALID");
    await link.whenClosed();
    for (const request of requests) expectRefused(await ended(request, "a refused pick"), /^the reply to "pick"/);
    expect(channel.rejectedMessages).toBe(3);
  });

  it("with onInvalid: close, closes the client at its first refused reply and tells it why", async () => {
    const { server } = await game({ onInvalid: "close" });
    const { link, channel } = await rawClient(server, wire);
    const closed = first(server.disconnections$);
    const request = observe(channel.request({ action: "pick", options: [1] }));
    await answerPick(link, 1, rawMap([["choice", rawStr("one")]]));
    const refusal = await link.next((message) => message.action === "@refused", "the refusal");
    expect(refusal).toMatchObject({ code: "ERR_INVALID_MESSAGE" });
    expect(refusal.reason).toMatch(/^the reply to "pick" failed its schema: choice: /);
    expectRefused(await ended(request, "the refused pick"), /^the reply to "pick"/);
    await link.whenClosed();
    expect(await closed).toBe(channel);
  });
});

// ---------------------------------------------------------------------------------------------
// In memory, with real peers whose handlers answer junk.

describe("replies in memory", () => {
  it("checks what a listener's handler answers to channel.request", async () => {
    const { server } = await game();
    let answer: unknown = { choice: "junk" };
    class Player extends ConnectionListener {
      Network_pick(): unknown {
        return answer;
      }
    }
    const player = cleanup.listener(new Player());
    const loop = setInterval(() => player.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    const accepted = first(server.connections$);
    player.connect(server);
    const channel = await accepted;
    expectRefused(
      await ended(observe(channel.request({ action: "pick", options: [1] })), "the junk"),
      /^the reply to "pick"/,
    );
    answer = { choice: 5 };
    expect((await ended(observe(channel.request({ action: "pick", options: [1] })), "the answer")).values).toEqual([
      { choice: 5, note: "none" },
    ]);
    expect(channel.rejectedMessages).toBe(1);
  });

  it("checks the fields of a channel's request before the listener's handler, and answers a refused one with an error reply", async () => {
    const { server } = await game();
    let picked = 0;
    class Player extends ConnectionListener<ServerIn, ServerOut> {
      Network_pick(): unknown {
        picked++;
        return { choice: 1 };
      }
    }
    const player = cleanup.listener(new Player());
    const loop = setInterval(() => player.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    const accepted = first(server.connections$);
    player.connect(server, { validation: schemaValidation(ServerSchemas), logger: recordingLogger() });
    const channel = await accepted;
    const wrong = await ended(observe(channel.request({ action: "pick", options: "junk" } as never)), "the refusal");
    expect(wrong.error).toMatchObject({
      code: "ERR_INVALID_MESSAGE",
      message: expect.stringMatching(/^"pick" failed its schema: options: /),
    });
    expect(picked).toBe(0);
    // The server checks the answer against its reply schema, which adds the default note.
    expect((await ended(observe(channel.request({ action: "pick", options: [2] })), "the answer")).values).toEqual([
      { choice: 1, note: "none" },
    ]);
    expect(picked).toBe(1);
  });

  it("checks what a server's handler answers to a listener's request, and the request's own fields", async () => {
    const answers: Record<string, unknown> = { join: { seat: "junk" }, score: 3 };
    class Junk extends Channel {
      Network_join(): unknown {
        return answers.join;
      }
      Network_score(): unknown {
        return answers.score;
      }
    }
    const server = cleanup.server(
      await startServer({
        channelClass: Junk,
        logger: recordingLogger(),
        validation: schemaValidation(ClientSchemas),
      }),
    );
    server.listenLocal();
    const listener = cleanup.listener(new ConnectionListener<ServerIn, ClientOut>());
    const loop = setInterval(() => listener.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    const logger = recordingLogger();
    listener.connect(server, { validation: schemaValidation(ServerSchemas, { replies: ClientSchemas }), logger });
    expectRefused(
      await ended(observe(listener.request({ action: "join", room: "a" })), "the junk"),
      /^the reply to "join" failed its schema: seat: /,
    );
    expect((await ended(observe(listener.request({ action: "score", of: "ada" })), "the score")).values).toEqual([30]);
    // The server checks the request's fields with the same map: `join`'s fields are `fields`.
    const wrong = await ended(observe(listener.request({ action: "join", room: 1 } as never)), "the wrong join");
    expect(wrong.error).toMatchObject({
      code: "ERR_INVALID_MESSAGE",
      message: expect.stringMatching(/^"join" failed its schema: room: /),
    });
    answers.join = { seat: 1 };
    expect((await ended(observe(listener.request({ action: "join", room: "b" })), "the seat")).values).toEqual([
      { seat: 1, name: "guest" },
    ]);
    expect(drops(logger).map((fields) => fields.reason)).toEqual([expect.stringMatching(/^the reply to "join"/)]);
  });
});

describe("a reply schema that misbehaves", () => {
  it("refuses the reply of a schema that throws, and counts it", async () => {
    const throws = {
      "~standard": {
        version: 1 as const,
        vendor: "test",
        validate: (): never => {
          throw new Error("boom");
        },
      },
    };
    const logger = recordingLogger();
    const server = cleanup.server(
      await startServer({
        logger,
        validation: schemaValidation({}, { replies: { ask: withReply(v.object({}), throws) } }),
      }),
    );
    server.listenLocal();
    class Answering extends ConnectionListener {
      Network_ask(): number {
        return 1;
      }
    }
    const player = cleanup.listener(new Answering());
    const loop = setInterval(() => player.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    const accepted = first(server.connections$);
    player.connect(server);
    const channel = await accepted;
    expectRefused(
      await ended(observe(channel.request({ action: "ask" })), "the refused answer"),
      /^the reply to "ask" failed its schema: the schema threw: boom$/,
    );
    expect(channel.rejectedMessages).toBe(1);
    expect(drops(logger).map((fields) => fields.reason)).toEqual([
      'the reply to "ask" failed its schema: the schema threw: boom',
    ]);
  });
});

/** A reply schema that refuses every reply once the test calls `release()`, recording what it checked. */
function lateRefusal(): { schema: StandardSchemaV1<unknown, never>; checked: unknown[]; release: () => void } {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const checked: unknown[] = [];
  const schema: StandardSchemaV1<unknown, never> = {
    "~standard": {
      version: 1,
      vendor: "spec",
      validate: async (value) => {
        checked.push(value);
        await gate;
        return { issues: [{ message: "no seat" }] };
      },
    },
  };
  return { schema, checked, release };
}

describe("an async reply check whose verdict comes late", () => {
  /** A validating listener of a raw TCP server, with a `join` request whose reply `late` is checking. */
  async function joining(
    late: StandardSchemaV1<unknown, never>,
    options: Pick<SchemaValidationOptions, "onInvalid"> = {},
  ): Promise<{
    listener: ConnectionListener;
    link: RawLink;
    logger: ReturnType<typeof recordingLogger>;
    request: ReturnType<typeof observe>;
  }> {
    const hostile = await hostileServer(cleanup, "tcp");
    const logger = recordingLogger();
    const listener = cleanup.listener(new ConnectionListener());
    const loop = setInterval(() => listener.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    const replies = { join: withReply(v.object({ room: v.string() }), late) };
    listener.connect(hostile.url, {
      validation: schemaValidation({ state: v.object({ tick: v.number() }) }, { ...options, replies }),
      logger,
    });
    const link = await hostile.link(0);
    link.sendMessage({ action: "connected" });
    const request = observe(listener.request({ action: "join", room: "late" }));
    link.sendMessage({ action: "@reply", "@re": (await requestOn(link, "room", "late"))["@req"], result: { seat: 1 } });
    return { listener, link, logger, request };
  }

  it("still refuses the reply to its requester, but counts and logs nothing, when the client has closed meanwhile", async () => {
    const { schema, checked, release } = lateRefusal();
    const { listener, link, logger, request } = await joining(schema);
    await waitFor(() => checked.length === 1, "the reply's check");
    link.destroy();
    await waitFor(() => listener.connection?.state === "closed", "the client to close");
    release();
    // The requester still hears the verdict, which came once the reply's check was done.
    expectRefused(await ended(request, "the verdict"), /^the reply to "join" failed its schema: no seat$/);
    expect(drops(logger)).toEqual([]);
  });

  it("with onInvalid: close, counts a refusal that comes while the client is closing, and closes only once", async () => {
    const { schema, checked, release } = lateRefusal();
    const { listener, link, logger, request } = await joining(schema, { onInvalid: "close" });
    await waitFor(() => checked.length === 1, "the reply's check");
    const client = listener.connection!;
    const errors: IncomingMessage[] = [];
    cleanup.subscription(
      client.messages$.subscribe((message) => {
        if (message.action !== "error") return;
        errors.push(message);
        // The verdict comes in this turn, before the connection has finished closing.
        release();
      }),
    );
    link.sendMessage({ action: "state", tick: "lol" });
    expectRefused(await ended(request, "the verdict"), /^the reply to "join" failed its schema: no seat$/);
    await waitFor(() => client.state === "closed", "the client to close");
    expect(errors).toEqual([
      { action: "error", code: "ERR_INVALID_MESSAGE", error: expect.stringMatching(/^"state" failed its schema/) },
    ]);
    expect(logger.entries.filter((entry) => entry.message === "closing")).toHaveLength(1);
    expect(drops(logger).map((fields) => fields.reason)).toEqual([
      expect.stringMatching(/^"state" failed its schema/),
      'the reply to "join" failed its schema: no seat',
    ]);
  });
});

describe("declaring reply schemas", () => {
  it("keeps the fields' schema and the reply's, and checks the fields with the former", () => {
    const fields = v.object({ room: v.string() });
    const reply = z.object({ seat: z.number() });
    const join = withReply(fields, reply);
    expect(join.fields).toBe(fields);
    expect(join.reply).toBe(reply);
    expect((join["~standard"].validate({ room: "a", extra: 1 }) as { value: unknown }).value).toEqual({ room: "a" });
    expect(join["~standard"].validate({ room: 1 })).toMatchObject({ issues: [expect.anything()] });
    const validation = schemaValidation(ServerSchemas, { replies: ClientSchemas });
    expect(validation.replies).toBe(ClientSchemas);
    expect(validation.replyActions).toEqual(["join", "score", "check"]);
    expect(schemaValidation(ServerSchemas).replies).toBeNull();
    expect(schemaValidation(ServerSchemas).replyActions).toEqual([]);
  });

  it("refuses a reply that is not a Standard Schema, and replies that are not a schema map, with what is expected", () => {
    expect(() => withReply(v.object({}), { seat: "number" } as never)).toThrow(
      new TypeError(
        'withReply(fields, reply): reply must be a Standard Schema v1 of the reply (a zod, valibot or arktype schema...), got an object without "~standard"',
      ),
    );
    expect(() => withReply(null as never, v.number())).toThrow(
      new TypeError(
        "withReply(fields, reply): fields must be a Standard Schema v1 of the message's fields (a zod, valibot or arktype schema...), got null",
      ),
    );
    const example =
      "options.replies must be the schema map of what this side sends, such as { join: withReply(v.object({ room: v.string() }), v.object({ seat: v.number() })) }";
    expect(() => schemaValidation(ServerSchemas, { replies: [] as never })).toThrow(
      new TypeError(`${example}, got an array`),
    );
    expect(() => schemaValidation(ServerSchemas, { replies: null as never })).toThrow(
      new TypeError(`${example}, got null`),
    );
    expect(() => schemaValidation(ServerSchemas, { replies: "join" as never })).toThrow(
      new TypeError(`${example}, got a string`),
    );
    expect(() => schemaValidation(ServerSchemas, { replies: { join: { seat: 1 } } as never })).toThrow(
      new TypeError(
        'options.replies.join must be a Standard Schema v1 (a zod, valibot or arktype schema...), got an object without "~standard"',
      ),
    );
    expect(() =>
      schemaValidation(ServerSchemas, { replies: { connected: withReply(v.object({}), v.number()) } }),
    ).toThrow(
      new TypeError(
        'options.replies.connected: "connected" is reserved by the library (built-in actions and those starting with "@" are never validated)',
      ),
    );
  });
});
