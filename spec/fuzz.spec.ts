import fc from "fast-check";
import { of, type Observable } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import {
  Channel,
  ConnectionListener,
  decode,
  encode,
  FrameDecoder,
  RepodError,
  type DispatchMode,
  type IncomingMessage,
  type Server,
} from "../lib/index.js";
import { formatLogLine } from "../lib/logging.js";
import { Cleanup } from "./helpers/cleanup.js";
import {
  describeError,
  hostileServer,
  rawLinkTo,
  rawMap,
  rawStr,
  rawValue,
  recordUncaught,
  type RawLink,
  type Wire,
} from "./helpers/hostile.js";
import { startServer, waitFor } from "./helpers/net.js";
import { POISONS, sendPoison } from "./helpers/poisons.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

// Large enough for the 100,000-deep payloads below (one byte per level).
const MAX_PAYLOAD = 256 * 1024;
/** Random hostile connections per server; a few seconds for the whole file. */
const RUNS = 60;
/** Random hostile sessions per client (each against a fresh client). */
const CLIENT_RUNS = 40;

// ---------------------------------------------------------------------------------------------
// Hand-made msgpack, for what no encoder would write.

function str(text: string): number[] {
  const bytes = [...Buffer.from(text)];
  if (bytes.length < 32) return [0xa0 | bytes.length, ...bytes];
  return [0xd9, bytes.length, ...bytes];
}

/** A frame: 4-byte big-endian length, then `payload`. */
function frame(payload: Uint8Array | number[]): Uint8Array {
  const bytes = Uint8Array.from(payload);
  const out = new Uint8Array(4 + bytes.byteLength);
  new DataView(out.buffer).setUint32(0, bytes.byteLength);
  out.set(bytes, 4);
  return out;
}

/** A header announcing `length` bytes. */
function header(length: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, length);
  return out;
}

/** `depth` arrays nested in each other around a nil: `[[[...[nil]...]]]`, as msgpack. */
function nestedArrays(depth: number): Uint8Array {
  const out = new Uint8Array(depth + 1).fill(0x91);
  out[depth] = 0xc0;
  return out;
}

/** `depth` one-key maps nested in each other: `{k: {k: ... nil}}`, as msgpack. */
function nestedMaps(depth: number): Uint8Array {
  const one = [0x81, ...str("k")];
  const out = new Uint8Array(depth * one.length + 1);
  for (let i = 0; i < depth; i++) out.set(one, i * one.length);
  out[depth * one.length] = 0xc0;
  return out;
}

/** `{ action, [key]: value }` with `value` already msgpack. */
function mapWith(action: string, key: string, value: Uint8Array | number[]): Uint8Array {
  return Uint8Array.from([0x82, ...str("action"), ...str(action), ...str(key), ...value]);
}

/** `{ action: <raw msgpack> }`. */
function actionOf(value: Uint8Array | number[]): Uint8Array {
  return Uint8Array.from([0x81, ...str("action"), ...value]);
}

// ---------------------------------------------------------------------------------------------
// What a hostile peer sends.

/** Values msgpack can carry and that come back equal after a round trip. */
const { value: wireValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double().filter((number) => !Object.is(number, -0)),
    fc.string(),
    fc.uint8Array({ maxLength: 32 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(
      fc.string().filter((key) => key !== "__proto__"),
      tie("value"),
      { maxKeys: 4 },
    ),
  ),
}));

const wireMessage = fc.record({ action: fc.string({ maxLength: 12 }), data: wireValue });

// ---------------------------------------------------------------------------------------------
// Hostile values for the reserved `@` actions and keys: what the library would have to echo, print
// or compare, and cannot (msgpack, by hand).

const NIL = Uint8Array.of(0xc0);
/** Maps whose `toString` / `valueOf` are not functions: `String()` of them throws. */
const TRAPS: Uint8Array[] = [
  rawMap([["toString", rawValue(1)]]),
  rawMap([
    ["valueOf", rawValue(1)],
    ["toString", rawValue("x")],
  ]),
  Uint8Array.from([0x91, ...rawMap([["toString", rawValue(1)]])]),
  rawMap([["constructor", rawMap([["prototype", rawMap([["polluted", rawValue(true)]])]])]]),
  rawMap([["__proto__", rawMap([["polluted", rawValue(true)]])]]),
];
/** Numbers a JavaScript peer would not send: NaN, ±Infinity, -0, float32 NaN, 64-bit extremes. */
const ODD_NUMBERS: Uint8Array[] = [
  Uint8Array.from([0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]),
  Uint8Array.from([0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0]),
  Uint8Array.from([0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0]),
  Uint8Array.from([0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0]),
  Uint8Array.from([0xca, 0x7f, 0xc0, 0, 0]),
  Uint8Array.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
  Uint8Array.from([0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]),
  Uint8Array.from([0xcf, 0, 0x20, 0, 0, 0, 0, 0, 1]),
  rawValue(-1),
  rawValue(0x7fff_ffff),
];

/** An extension value of any type with `data`: fixext for the sizes it has, ext 8 otherwise. */
function ext(type: number, data: Uint8Array): Uint8Array {
  const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  const head = fixed[data.byteLength];
  return Uint8Array.from(
    head === undefined ? [0xc7, data.byteLength, type & 0xff, ...data] : [head, type & 0xff, ...data],
  );
}

const hostileValue: fc.Arbitrary<Uint8Array> = fc.oneof(
  // Around both depth limits: the decode budget (64) and what the encoder writes (100).
  fc.integer({ min: 55, max: 120 }).map((depth) => nestedArrays(depth)),
  fc.integer({ min: 55, max: 120 }).map((depth) => nestedMaps(depth)),
  // Strings too long to be an id, short ones, and keys of the prototype chain.
  fc.integer({ min: 129, max: 70_000 }).map((length) => rawStr("x".repeat(length))),
  fc.string({ maxLength: 8 }).map(rawStr),
  fc.constantFrom(...TRAPS),
  fc.constantFrom(...ODD_NUMBERS),
  fc.integer().map(rawValue),
  fc.double().map(rawValue),
  fc
    .bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n })
    .map((big) => rawValue(big >= 2n ** 63n ? big - 2n ** 64n : big)),
  fc.uint8Array({ maxLength: 16 }).map(rawValue),
  fc.constantFrom(NIL, rawValue(true), rawValue(false)),
  fc
    .tuple(fc.integer({ min: -128, max: 127 }), fc.uint8Array({ maxLength: 20 }))
    .map(([type, data]) => ext(type, data)),
  wireValue.map(rawValue),
);

/** Small request ids, so that a hostile `@reply` often names a request really pending. */
const pendingId = fc.integer({ min: 0, max: 3 }).map(rawValue);

/** A reserved or lifecycle action (or a request on any action) with hostile values in the reserved keys. */
const controlPayload: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.constantFrom(
      "@ping",
      "@pong",
      "@reply",
      "@refused",
      "@req",
      "@other",
      "connected",
      "socketConnect",
      "disconnected",
      "error",
      "ask",
      "askLater",
      "askStream",
      "askMe",
      "echo",
      "seq",
    ),
    fc.array(
      fc.tuple(
        fc.constantFrom("id", "@re", "@req", "result", "error", "reason", "code", "n"),
        fc.oneof(hostileValue, pendingId),
      ),
      { maxLength: 4 },
    ),
  )
  .map(([action, fields]) => rawMap([["action", rawStr(action)], ...fields]));

const hostilePayload: fc.Arbitrary<Uint8Array> = fc.oneof(
  // Random bytes inside a well-formed frame.
  fc.uint8Array({ maxLength: 256 }),
  // msgpack nil and other values that are not maps.
  fc.constantFrom([0xc0], [0x90], [0x01], [0xa1, 0x61], [0xc4, 0x01, 0x00]).map((bytes) => Uint8Array.from(bytes)),
  // Deep nesting, as a field or as the action itself.
  fc.integer({ min: 1, max: 20_000 }).map((depth) => mapWith("echo", "deep", nestedArrays(depth))),
  fc.integer({ min: 1, max: 5_000 }).map((depth) => mapWith("echo", "deep", nestedMaps(depth))),
  fc.integer({ min: 1, max: 5_000 }).map((depth) => actionOf(nestedArrays(depth))),
  // __proto__ and friends as keys, at the top and nested.
  fc
    .constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty")
    .chain((key) =>
      fc.constantFrom(
        mapWith("echo", key, [0x81, ...str("polluted"), 0xc3]),
        mapWith("echo", "nested", [0x81, ...str(key), 0x81, ...str("polluted"), 0xc3]),
        actionOf(str(key)),
      ),
    ),
  // Actions that are not strings.
  wireValue.filter((value) => typeof value !== "string").map((value) => encode({ action: value }).subarray(4)),
  // Lifecycle and reserved actions, with odd fields.
  fc
    .tuple(
      fc.constantFrom("connected", "socketConnect", "disconnected", "error", "@ping", "@pong", "@reply", "@refused"),
      wireValue,
    )
    .map(([action, value]) => encode({ action, id: value, "@re": value, reason: value }).subarray(4)),
  // Every reserved action and key with values the library cannot use, twice as often as the rest.
  { arbitrary: controlPayload, weight: 2 },
  // Requests whose id cannot be echoed (nested deeper than the encoder goes), or can.
  fc
    .tuple(
      fc.constantFrom("ask", "askLater", "askStream", "echo"),
      fc.oneof(fc.integer({ min: 101, max: 2_000 }), fc.constant(1)),
    )
    .map(([action, depth]) => mapWith(action, "@req", nestedArrays(depth))),
  // Extension types, valid and not.
  fc
    .tuple(fc.integer({ min: -128, max: 127 }), fc.uint8Array({ minLength: 1, maxLength: 1 }))
    .map(([type, data]) => mapWith("echo", "ext", [0xd4, type & 0xff, ...data])),
  // A valid message.
  wireMessage.map((message) => encode(message).subarray(4)),
);

/** Bytes on a TCP connection; `whole` when they are whole frames, which leave the stream in sync. */
interface Chunk {
  readonly bytes: Uint8Array;
  readonly whole: boolean;
}

/** A chunk that fast-check prints in one short line (hex of its first bytes) when reporting a failure. */
function chunk(bytes: Uint8Array, whole: boolean): Chunk {
  return {
    bytes,
    whole,
    [fc.toStringMethod]: () =>
      `${whole ? "frame" : "bytes"}(${bytes.byteLength}: ${Buffer.from(bytes.subarray(0, 48)).toString("hex")}${bytes.byteLength > 48 ? "..." : ""})`,
  } as Chunk;
}

const hostileBytes: fc.Arbitrary<Chunk> = fc.oneof(
  { arbitrary: hostilePayload.map((payload) => chunk(frame(payload), true)), weight: 3 },
  // Truncated: a frame cut short (the connection then closes mid-frame).
  fc.tuple(hostilePayload, fc.nat()).map(([payload, cut]) => {
    const whole = frame(payload);
    return chunk(whole.subarray(0, cut % whole.byteLength), false);
  }),
  // A header announcing more than maxPayload, up to 4 GiB.
  fc
    .tuple(fc.integer({ min: MAX_PAYLOAD + 1, max: 0xffff_ffff }), fc.uint8Array({ maxLength: 64 }))
    .map(([length, rest]) => chunk(Uint8Array.from([...header(length), ...rest]), false)),
  // Raw random bytes, no framing at all.
  fc.uint8Array({ minLength: 1, maxLength: 512 }).map((bytes) => chunk(bytes, false)),
);

/** One WebSocket message: a binary payload, a text message, or one over maxPayload (`whole` false). */
interface WsChunk {
  readonly payload: Uint8Array | string;
  readonly whole: boolean;
}

function wsChunk(payload: Uint8Array | string, whole: boolean): WsChunk {
  return {
    payload,
    whole,
    [fc.toStringMethod]: () =>
      typeof payload === "string"
        ? `text(${JSON.stringify(payload)})`
        : `binary(${payload.byteLength}: ${Buffer.from(payload.subarray(0, 48)).toString("hex")}${payload.byteLength > 48 ? "..." : ""})`,
  } as WsChunk;
}

const hostileWsMessage: fc.Arbitrary<WsChunk> = fc.oneof(
  { arbitrary: hostilePayload.map((payload) => wsChunk(payload, true)), weight: 4 },
  fc.string({ maxLength: 64 }).map((text) => wsChunk(text, true)),
  fc.constant(wsChunk(new Uint8Array(MAX_PAYLOAD + 1).fill(0xc0), false)),
);

/** How a hostile connection leaves once it has sent everything. */
type Ending = "end" | "destroy" | "stay";
const ending = fc.constantFrom<Ending>("end", "destroy", "stay");

/**
 * One hostile connection: maybe a request made first (so that a hostile `@reply` names a pending
 * request), a few chunks, then a way to leave.
 */
interface Session {
  readonly askFirst: boolean;
  readonly chunks: readonly (Chunk | WsChunk)[];
  readonly ending: Ending;
}

function hostileSession(wire: Wire): fc.Arbitrary<Session> {
  return fc.record({
    askFirst: fc.boolean(),
    chunks: fc.array<Chunk | WsChunk>(wire === "tcp" ? hostileBytes : hostileWsMessage, { minLength: 1, maxLength: 4 }),
    ending,
  });
}

/** Sends a session's chunks on `link`: raw bytes on TCP, one message each on WebSocket. */
function sendChunks(link: RawLink, chunks: readonly (Chunk | WsChunk)[]): void {
  for (const chunk of chunks) {
    if ("bytes" in chunk) link.sendRaw(chunk.bytes);
    else if (typeof chunk.payload === "string") link.sendRaw(chunk.payload);
    else link.send(chunk.payload);
  }
}

function leave(link: RawLink, how: Ending): void {
  if (how === "end") link.end();
  if (how === "destroy") link.destroy();
}

// ---------------------------------------------------------------------------------------------

/** The server under attack: echoes, answers requests three ways, records its errors in `errors`. */
class TargetChannel extends Channel {
  errors: unknown[] = [];

  Network_seq(message: IncomingMessage): void {
    this.send({ action: "seq", n: message.n });
  }

  Network_echo(message: IncomingMessage): void {
    this.send(message as { action: string }); // whatever it is, hostile values included
  }

  Network_ask(): number {
    return 42;
  }

  Network_askLater(): Promise<number> {
    return Promise.resolve(42);
  }

  Network_askStream(): Observable<number> {
    return of(42);
  }

  /** Asks the client something: a request of this channel is then pending, for hostile replies. */
  Network_askMe(): void {
    this.request({ action: "whoAreYou" }, { timeout: 2_000 }).subscribe({ error: () => {} });
  }

  override onError(error: unknown): void {
    this.errors.push(error);
  }
}

/** A well-behaved client that sends numbered messages and checks they all come back, in order. */
async function goodClient(
  target: { url: string } | Server<TargetChannel>,
  wire: Wire,
): Promise<{ send: (n: number) => void; received: unknown[]; log: IncomingMessage[] }> {
  const listener = cleanup.listener(new ConnectionListener());
  const log: IncomingMessage[] = [];
  cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
  if ("url" in target) listener.connect(target.url);
  else if (wire === "tcp") listener.connect("127.0.0.1", target.port);
  else listener.connect(`ws://127.0.0.1:${target.wsPort}/`);
  await waitFor(() => listener.connection?.isConnected === true, "the good client to open");
  const received: unknown[] = [];
  cleanup.subscription(listener.on("seq").subscribe((message) => received.push(message.n)));
  return { send: (n) => listener.send({ action: "seq", n }), received, log };
}

/** The library's own limits and the peer leaving end a connection; nothing else may. */
function expectedError(error: unknown): boolean {
  // Network_echo of a value nested too deep to encode: a handler exception.
  if (error instanceof TypeError) return error.message.startsWith("The message cannot be encoded");
  // A limit, or the peer leaving (a socket error such as ECONNRESET, or ws's own, as the cause).
  const cause = (error as Error).cause as NodeJS.ErrnoException | undefined;
  return (
    error instanceof RepodError && (cause === undefined || /^(E[A-Z]+|WS_ERR_[A-Z_0-9]+)$/.test(String(cause.code)))
  );
}

describe.each<[Wire, DispatchMode]>([
  ["tcp", "live"],
  ["tcp", "pump"],
  ["ws", "live"],
  ["ws", "pump"],
])("a %s server with %s dispatch under attack", (wire, dispatch) => {
  it("stays up while a good client loses nothing, and every connection that only sent whole messages stays", async () => {
    // Nothing a peer sends may reach the process (over WebSocket, an exception in a message
    // handler is an uncaught exception).
    const uncaught = recordUncaught(cleanup);
    // Every event is formatted as configureLogging("debug") would print it, hostile values included.
    let logLines = 0;
    const format = (level: string) => (message: string, fields?: Record<string, unknown>) => {
      logLines += formatLogLine(level, message, fields).length > 0 ? 1 : 0;
    };
    const logger = { debug: format("debug"), info: format("info"), warn: format("warn"), error: format("error") };
    const server = cleanup.server(
      await startServer({ channelClass: TargetChannel, maxPayload: MAX_PAYLOAD, dispatch, logger, ws: { port: 0 } }),
    );
    const port = wire === "tcp" ? server.port : server.wsPort!;
    const channels: TargetChannel[] = [];
    cleanup.subscription(server.connections$.subscribe((channel) => channels.push(channel)));
    const pumpFailures: unknown[] = [];
    if (dispatch === "pump") {
      // The game loop: a hostile peer must never make pump() throw.
      const loop = setInterval(() => {
        try {
          server.pump();
        } catch (error) {
          pumpFailures.push(error);
        }
      }, 2);
      cleanup.add(() => clearInterval(loop));
    }
    const good = await goodClient(server, wire);
    let sent = 0;
    let hostileConnections = 0;
    let probes = 0;
    /** A hostile connection that only sent whole messages still works: its probe comes back. */
    const probe = async (link: RawLink, what: string): Promise<void> => {
      const n = -1 - probes++;
      link.sendMessage({ action: "seq", n });
      try {
        await link.next((message) => message.action === "seq" && message.n === n, `${what}: the probe`);
      } catch (error) {
        const crash = uncaught.length > 0 ? `; an exception reached the process: ${describeError(uncaught[0])}` : "";
        throw new Error(`${what}: the connection stopped working: ${(error as Error).message}${crash}`, {
          cause: error,
        });
      }
    };
    const open = async (): Promise<RawLink> => {
      hostileConnections++;
      return rawLinkTo(cleanup, wire, port);
    };

    // The hand-written worst cases first, then every poison of the crash tests, then whatever
    // fast-check comes up with.
    const fixed: Uint8Array[] = [
      mapWith("echo", "deep", nestedArrays(100_000)),
      actionOf(nestedArrays(100_000)),
      mapWith("echo", "deep", nestedMaps(20_000)),
      mapWith("askLater", "@req", nestedArrays(200)),
      mapWith("askStream", "@req", nestedArrays(200)),
      mapWith("ask", "@req", nestedArrays(200)),
      mapWith("echo", "__proto__", [0x81, ...str("isAdmin"), 0xc3]),
      Uint8Array.of(0xc0),
    ];
    for (const payload of fixed) {
      const link = await open();
      link.send(payload);
      good.send(sent++);
    }
    // What ends a connection: a header over maxPayload on TCP, a message over it on WebSocket.
    const oversized = await open();
    if (wire === "tcp") oversized.sendRaw(header(0xffff_ffff));
    else oversized.send(new Uint8Array(MAX_PAYLOAD + 1));
    for (const poison of POISONS) {
      const link = await open();
      let pending = 0;
      if (poison.needsRequest) {
        link.sendMessage({ action: "askMe" });
        pending = Number((await link.next((message) => message.action === "whoAreYou", "the request"))["@req"]);
      }
      sendPoison(link, poison, pending);
      good.send(sent++);
      await probe(link, poison.name);
      link.destroy();
    }

    await fc.assert(
      fc.asyncProperty(hostileSession(wire), async ({ askFirst, chunks, ending }) => {
        const link = await open();
        if (askFirst) link.sendMessage({ action: "askMe" });
        sendChunks(link, chunks);
        good.send(sent++);
        if (ending === "stay" && chunks.every((chunk) => chunk.whole)) await probe(link, "whole messages");
        leave(link, ending);
        await waitFor(() => good.received.length === sent, `echo ${sent - 1}`);
        expect(server.isListening).toBe(true);
        expect(uncaught.map(describeError)).toEqual([]);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );

    await waitFor(() => good.received.length === sent, "every echo");
    expect(uncaught.map(describeError)).toEqual([]);
    expect(good.received).toEqual(Array.from({ length: sent }, (_, n) => n));
    expect(good.log.map((message) => message.action).filter((action) => action !== "seq")).toEqual([
      "connected",
      "socketConnect",
    ]);
    const [goodChannel, ...hostileChannels] = channels;
    expect(goodChannel!.errors).toEqual([]);
    expect(server.channels[0]).toBe(goodChannel);
    expect(pumpFailures).toEqual([]);
    // The hostile channels ended for the reasons the library names, and nothing else.
    expect(hostileChannels).toHaveLength(hostileConnections);
    const hostileErrors = hostileChannels.flatMap((channel) => channel.errors);
    expect(hostileErrors.filter((error) => !expectedError(error)).map(describeError)).toEqual([]);
    expect(hostileErrors).toContainEqual(expect.objectContaining({ code: "ERR_PAYLOAD_TOO_LARGE" }));
    expect(logLines).toBeGreaterThan(sent);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// The other way round: a hostile server and a Node client.

/** The client under attack: answers requests, records what it handles. */
class VictimListener extends ConnectionListener {
  readonly seen: IncomingMessage[] = [];

  Network_ask(): number {
    return 42;
  }

  Network_marker(message: IncomingMessage): void {
    this.seen.push(message);
  }

  override networkReceived(message: IncomingMessage): void {
    void message;
  }
}

describe.each<Wire>(["tcp", "ws"])("a Node client whose server attacks it over %s", (wire) => {
  it("stays up and keeps pumping, keeps a connection that only got whole messages, and a good one beside it loses nothing", async () => {
    const uncaught = recordUncaught(cleanup);
    const pumpFailures: unknown[] = [];
    const hostile = await hostileServer(cleanup, wire);
    // A good connection in the same process, to a real server.
    const goodServer = cleanup.server(await startServer({ channelClass: TargetChannel, ws: { port: 0 } }));
    const good = await goodClient(goodServer, wire);
    let sent = 0;
    let accepted = 0;
    let markers = 0;

    /** One hostile session against a fresh client; `whole` when the connection must survive it. */
    const attack = async (what: string, send: (link: RawLink) => void, whole: boolean, how: Ending): Promise<void> => {
      const listener = new VictimListener();
      const log: IncomingMessage[] = [];
      const subscription = listener.messages$.subscribe((message) => log.push(message));
      const pump = (): void => {
        try {
          listener.pump();
        } catch (error) {
          pumpFailures.push(error);
        }
      };
      listener.connect(hostile.url, undefined, { maxPayload: MAX_PAYLOAD });
      try {
        const link = await hostile.link(accepted++);
        link.sendMessage({ action: "connected" });
        await waitFor(() => (pump(), listener.connection?.isConnected === true), `${what}: the client to connect`);
        // A pending request (id 1) for the hostile replies to name.
        listener.request({ action: "hello" }, { timeout: 2_000 }).subscribe({ error: () => {} });
        send(link);
        good.send(sent++);
        const ended = (): boolean => log.some((message) => message.action === "disconnected");
        if (whole) {
          // Only whole messages: the connection must still work, both ways.
          const n = ++markers;
          link.sendMessage({ action: "marker", n });
          await waitFor(
            () => (pump(), listener.seen.some((message) => message.n === n) || ended()),
            `${what}: the marker`,
          );
          expect(ended(), `${what}: the client closed a connection that only got whole messages`).toBe(false);
          link.sendMessage({ action: "@ping", id: n });
          await link.next((message) => message.action === "@pong" && message.id === n, `${what}: the pong`);
        } else {
          // A cut frame may wait for its end (up to frameTimeout): only pump for a while.
          for (let turn = 0; turn < 5; turn++) {
            await new Promise((resolve) => setTimeout(resolve, 1));
            pump();
          }
        }
        // Whatever the connection ended with has a code of the library's, and is not a failure of its own.
        const codes = log.filter((message) => message.action === "error").map((message) => message.code);
        expect(codes.filter((code) => typeof code !== "string" || code === "ERR_RECEIVE_FAILED")).toEqual([]);
        leave(link, how === "stay" || !whole ? "destroy" : how);
        await waitFor(() => (pump(), listener.connection?.state === "closed" || ended()), `${what}: the end`);
      } catch (error) {
        const crash = uncaught.length > 0 ? `; an exception reached the process: ${describeError(uncaught[0])}` : "";
        const failure = pumpFailures.length > 0 ? `; pump() threw: ${describeError(pumpFailures[0])}` : "";
        throw new Error(`${(error as Error).message}${crash}${failure}`, { cause: error });
      } finally {
        listener.close();
        subscription.unsubscribe();
      }
      expect(uncaught.map(describeError)).toEqual([]);
    };

    for (const poison of POISONS) {
      await attack(poison.name, (link) => sendPoison(link, poison, 1), true, "stay");
    }
    const oversized = wire === "tcp" ? header(0xffff_ffff) : new Uint8Array(MAX_PAYLOAD + 1);
    await attack(
      "over maxPayload",
      (link) => (wire === "tcp" ? link.sendRaw(oversized) : link.send(oversized)),
      false,
      "stay",
    );

    await fc.assert(
      fc.asyncProperty(hostileSession(wire), async ({ chunks, ending }) => {
        await attack(
          "a random session",
          (link) => sendChunks(link, chunks),
          chunks.every((chunk) => chunk.whole),
          ending,
        );
      }),
      { numRuns: CLIENT_RUNS, endOnFailure: true },
    );

    await waitFor(() => good.received.length === sent, "every echo of the good connection");
    expect(good.received).toEqual(Array.from({ length: sent }, (_, n) => n));
    expect(good.log.map((message) => message.action).filter((action) => action !== "seq")).toEqual([
      "connected",
      "socketConnect",
    ]);
    expect(pumpFailures.map(describeError)).toEqual([]);
    expect(uncaught.map(describeError)).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("framing", () => {
  it("decodes any message sequence split at any byte boundaries to the same sequence", () => {
    fc.assert(
      fc.property(fc.array(wireMessage, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (messages, cuts) => {
        const stream = Buffer.concat(messages.map((message) => encode(message)));
        const points = [...new Set(cuts.map((cut) => cut % (stream.byteLength + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let from = 0;
        for (const point of [...points, stream.byteLength]) {
          chunks.push(Uint8Array.from(stream.subarray(from, point)));
          from = point;
        }
        const decoder = new FrameDecoder();
        const decoded: unknown[] = [];
        for (const chunk of chunks) decoder.push(chunk, (payload) => decoded.push(decode(payload)));
        expect(decoded).toEqual(messages);
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it("decodes a stream fed one byte at a time", () => {
    fc.assert(
      fc.property(fc.array(wireMessage, { minLength: 1, maxLength: 5 }), (messages) => {
        const stream = Buffer.concat(messages.map((message) => encode(message)));
        const decoder = new FrameDecoder();
        const decoded: unknown[] = [];
        for (const byte of stream) decoder.push(Uint8Array.of(byte), (payload) => decoded.push(decode(payload)));
        expect(decoded).toEqual(messages);
      }),
      { numRuns: 50 },
    );
  });
});
