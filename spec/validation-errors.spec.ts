// What schemaValidation refuses when it is declared, and what it says when a message fails: the
// reason a requester and the logs get is bounded (three issues, each cut short, then a count),
// whatever the schema and the peer put in it. Schemas here are hand-made Standard Schemas, so
// that each test controls exactly which issues come back.
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import {
  Channel,
  ConnectionListener,
  RequestError,
  schemaValidation,
  type IncomingMessage,
  type Server,
} from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { hostileServer, rawLinkTo } from "./helpers/hostile.js";
import { delay, first, startServer, waitFor } from "./helpers/net.js";
import { recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

type Validate = (value: unknown) => StandardSchemaV1.Result<object> | Promise<StandardSchemaV1.Result<object>>;

/** A Standard Schema v1 whose `validate` is the test's. */
function schemaOf(validate: Validate): StandardSchemaV1<object, object> {
  return { "~standard": { version: 1, vendor: "spec", validate } } as StandardSchemaV1<object, object>;
}

/** Fails with the issues of `kind`, passes `{ n }` otherwise: each test asks for the issues it checks. */
const ISSUES: Record<string, StandardSchemaV1.Issue[]> = {
  five: [
    { message: "first", path: ["list", 0, { key: "name" }] },
    { message: "second", path: [Symbol("tag")] },
    { message: "third", path: [] },
    { message: "fourth" },
    { message: "fifth" },
  ],
  three: [{ message: "a" }, { message: "b", path: [{ key: 7 }] }, { message: "c", path: [{ key: Symbol("k") }] }],
  none: [],
  long: [{ message: "m".repeat(121), path: ["p".repeat(200)] }],
  exact: [{ message: "m".repeat(120) }],
  // Outside the spec's types: what a schema that gets its paths wrong may still return.
  odd: [
    { message: "d", path: [null, { key: undefined }, { key: null }, 3] as unknown as StandardSchemaV1.Issue["path"] },
  ],
};

const checkSchema = schemaOf((value) => {
  const { kind } = value as { kind?: string };
  if (kind === "throws") throw "not an Error";
  if (kind === "rejects") return Promise.reject(new Error("late boom"));
  if (kind === "null") return { value: null as unknown as object };
  if (kind === "array") return { value: [] };
  if (kind === "number") return { value: 5 as unknown as object };
  if (kind !== undefined && kind in ISSUES) return { issues: ISSUES[kind]! };
  return { value: { kind: "passed" } };
});

class CheckChannel extends Channel {
  readonly checked: IncomingMessage[] = [];

  Network_check(message: IncomingMessage): string {
    this.checked.push(message);
    return "ok";
  }
}

/** A server checking `check` with `checkSchema`, and a listener connected to it in memory, pumped. */
async function checkingServer(): Promise<{ server: Server<CheckChannel>; listener: ConnectionListener }> {
  const server = cleanup.server(
    await startServer({ channelClass: CheckChannel, validation: schemaValidation({ check: checkSchema }) }),
  );
  server.listenLocal();
  const listener = cleanup.listener(new ConnectionListener());
  const accepted = first(server.connections$);
  listener.connect(server);
  await accepted;
  const loop = setInterval(() => listener.pump(), 2);
  cleanup.add(() => clearInterval(loop));
  return { server, listener };
}

/** The reason the server gives a requester whose `check` of `kind` fails. */
async function reasonFor(listener: ConnectionListener, kind: string): Promise<string> {
  const error = await firstValueFrom(listener.request({ action: "check", kind })).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(RequestError);
  expect((error as RequestError).code).toBe("ERR_INVALID_MESSAGE");
  return (error as Error).message;
}

describe("the reason a message failed its schema", () => {
  it("names at most three issues with their paths, and counts the others", async () => {
    const { listener } = await checkingServer();
    expect(await reasonFor(listener, "five")).toBe(
      '"check" failed its schema: list.0.name: first; Symbol(tag): second; third (and 2 more)',
    );
    expect(await reasonFor(listener, "three")).toBe('"check" failed its schema: a; 7: b; Symbol(k): c');
  });

  it("names the segments of a path a schema got wrong rather than failing on them", async () => {
    const { listener } = await checkingServer();
    expect(await reasonFor(listener, "odd")).toBe('"check" failed its schema: null.undefined.null.3: d');
  });

  it("says no reason was given for a failure without issues", async () => {
    const { listener } = await checkingServer();
    expect(await reasonFor(listener, "none")).toBe('"check" failed its schema: no reason given');
  });

  it("cuts each issue's message and path at 120 characters, which may quote what the peer sent", async () => {
    const { listener } = await checkingServer();
    expect(await reasonFor(listener, "long")).toBe(
      `"check" failed its schema: ${"p".repeat(120)}...: ${"m".repeat(120)}...`,
    );
    expect(await reasonFor(listener, "exact")).toBe(`"check" failed its schema: ${"m".repeat(120)}`);
  });

  it("says a schema threw, even a value that is not an Error, or that its promise rejected, and goes on checking", async () => {
    const { listener } = await checkingServer();
    expect(await reasonFor(listener, "throws")).toBe('"check" failed its schema: the schema threw: a non-Error value');
    expect(await reasonFor(listener, "rejects")).toBe('"check" failed its schema: the schema threw: late boom');
    expect(await firstValueFrom(listener.request({ action: "check", kind: "fine" }))).toBe("ok");
  });

  it("fails a message whose schema output is not an object of fields, saying what it returned", async () => {
    const { server, listener } = await checkingServer();
    expect(await reasonFor(listener, "null")).toBe(
      '"check" failed its schema: it returned null, not an object of fields',
    );
    expect(await reasonFor(listener, "array")).toBe(
      '"check" failed its schema: it returned an array, not an object of fields',
    );
    expect(await reasonFor(listener, "number")).toBe(
      '"check" failed its schema: it returned a number, not an object of fields',
    );
    expect(await firstValueFrom(listener.request({ action: "check", kind: "fine" }))).toBe("ok");
    const [channel] = server.channels;
    expect(channel!.checked).toEqual([{ action: "check", kind: "passed", "@req": expect.any(Number) }]);
  });
});

describe.each(["tcp", "ws"] as const)("a validating server, against a raw %s client", (wire) => {
  it("hands on a message that is not a request without a request id, and sends no error reply for one that fails", async () => {
    const logger = recordingLogger();
    const server = cleanup.server(
      await startServer({
        channelClass: CheckChannel,
        ws: { port: 0 },
        logger,
        validation: schemaValidation({ check: checkSchema }),
      }),
    );
    const accepted = first(server.connections$);
    const link = await rawLinkTo(cleanup, wire, wire === "tcp" ? server.port : server.wsPort!);
    const channel = await accepted;
    link.sendMessage({ action: "check", kind: "fine" });
    link.sendMessage({ action: "check", kind: "five" });
    // A request after both: once its reply is back, the two before it have been handled.
    link.sendMessage({ action: "check", kind: "fine", "@req": 9 });
    await link.next((message) => message["@re"] === 9, "the reply to the request");

    expect(Object.keys(channel.checked[0]!)).toEqual(["action", "kind"]);
    expect(link.received.filter((message) => message.action === "@reply")).toEqual([
      { action: "@reply", "@re": 9, result: "ok" },
    ]);
    expect(channel.rejectedMessages).toBe(1);
  });

  it("logs the peer's address when it closes for bad input", async () => {
    const logger = recordingLogger();
    const server = cleanup.server(
      await startServer({
        ws: { port: 0 },
        logger,
        validation: schemaValidation({ check: checkSchema }, { onInvalid: "close" }),
      }),
    );
    const link = await rawLinkTo(cleanup, wire, wire === "tcp" ? server.port : server.wsPort!);
    link.sendMessage({ action: "check", kind: "three" });
    await link.whenClosed();
    const closing = logger.entries.find((entry) => entry.message === "closing");
    expect(closing?.fields).toMatchObject({
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      code: "ERR_INVALID_MESSAGE",
    });
  });

  it("drops a message whose async check settles after its connection ended, and names maxWaiting when the backlog is over it", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = schemaOf(async (value) => {
      await gate;
      return { value: value as object };
    });
    const logger = recordingLogger();
    const server = cleanup.server(
      await startServer({
        channelClass: CheckChannel,
        ws: { port: 0 },
        logger,
        validation: schemaValidation({ check: slow }, { maxWaiting: 1 }),
      }),
    );
    const seen: IncomingMessage[] = [];
    cleanup.subscription(server.messages$.subscribe(({ message }) => seen.push(message)));

    // One connection leaves while its check is pending: nothing of it is handed on afterwards.
    const accepted = first(server.connections$);
    const leaving = await rawLinkTo(cleanup, wire, wire === "tcp" ? server.port : server.wsPort!);
    const channel = await accepted;
    leaving.sendMessage({ action: "check", n: 1 });
    await delay(20);
    leaving.destroy();
    await waitFor(() => !server.channels.includes(channel), "the server to see the connection end");

    // Another one sends more than maxWaiting messages behind the pending check.
    const flooding = await rawLinkTo(cleanup, wire, wire === "tcp" ? server.port : server.wsPort!);
    for (let n = 2; n <= 4; n++) flooding.sendMessage({ action: "check", n });
    const refused = await flooding.next((message) => message.action === "@refused", "the refusal");
    expect(refused).toMatchObject({
      code: "ERR_VALIDATION_BACKLOG",
      reason: "Closed the connection: more than 1 messages waited behind an async schema (maxWaiting)",
    });
    release();
    await delay(50);
    expect(channel.checked).toEqual([]);
    expect(seen.filter((message) => message.action === "check")).toEqual([]);
  });
});

describe("a validating client", () => {
  it("completes messages$ when it closes for good, after the message an async check was holding", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = schemaOf(async (value) => {
      await gate;
      return { value: value as object };
    });
    const hostile = await hostileServer(cleanup, "tcp");
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect(hostile.url, { validation: schemaValidation({ state: slow }) });
    const client = listener.connection!;
    const all = lastValueFrom(client.messages$.pipe(toArray()));
    const link = await hostile.link(0);
    link.sendMessage({ action: "state", tick: 1 });
    await delay(20);
    link.destroy();
    await waitFor(() => client.state === "closed", "the client to close");
    release();
    const actions = (await all).map((message) => message.action);
    expect(actions.slice(-2)).toEqual(["state", "disconnected"]);
  });
});

describe("declaring a validation", () => {
  it("refuses a schema map that is not an object, and options that are not one, saying what to pass", () => {
    const map = "schemas must be an object mapping actions to schemas, such as { move: v.object({ x: v.number() }) }";
    for (const bad of [null, "move", 5, [checkSchema], () => checkSchema]) {
      expect(() => schemaValidation(bad as never)).toThrow(new TypeError(map));
    }
    const options = 'schemaValidation options must be an object such as { onInvalid: "close" }';
    for (const bad of [null, "close", 5]) {
      expect(() => schemaValidation({ check: checkSchema }, bad as never)).toThrow(new TypeError(options));
    }
  });

  it("takes a schema that is a function, as arktype's are, and refuses look-alikes, naming what they are", async () => {
    const callable = Object.assign((value: unknown) => value, {
      "~standard": {
        version: 1,
        vendor: "spec",
        validate: (value: unknown) =>
          typeof (value as { n?: unknown }).n === "number"
            ? { value: value as object }
            : { issues: [{ message: "n must be a number", path: ["n"] }] },
      },
    }) as unknown as StandardSchemaV1<object, object>;
    const server = cleanup.server(
      await startServer({ channelClass: CheckChannel, validation: schemaValidation({ check: callable }) }),
    );
    server.listenLocal();
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect(server);
    const loop = setInterval(() => listener.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    expect(await firstValueFrom(listener.request({ action: "check", n: 1 }))).toBe("ok");
    const error = await firstValueFrom(listener.request({ action: "check", n: "1" })).catch(
      (caught: unknown) => caught,
    );
    expect((error as Error).message).toBe('"check" failed its schema: n: n must be a number');

    const refusal = (got: string): TypeError =>
      new TypeError(`schemas.check must be a Standard Schema v1 (a zod, valibot or arktype schema...), got ${got}`);
    const validate = (): StandardSchemaV1.Result<object> => ({ value: {} });
    for (const [bad, got] of [
      [{ "~standard": { version: 2, validate } }, 'an object without "~standard"'],
      [{ "~standard": { version: 1, validate: "no" } }, 'an object without "~standard"'],
      [{ "~standard": null }, 'an object without "~standard"'],
      [{ "~standard": "v1" }, 'an object without "~standard"'],
      [() => ({}), 'a function without "~standard"'],
      [5, "a number"],
      [null, "null"],
    ] as const) {
      expect(() => schemaValidation({ check: bad as never })).toThrow(refusal(got));
    }
    expect(() => schemaValidation({ check: undefined as never })).toThrow(
      /^schemas\.check must be a Standard Schema v1 \(a zod, valibot or arktype schema\.\.\.\), got undefined$/,
    );
  });
});
