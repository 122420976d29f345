import * as net from "node:net";
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
import { startServer, waitFor } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

// Large enough for the 100,000-deep payloads below (one byte per level).
const MAX_PAYLOAD = 256 * 1024;
/** Random hostile connections per server; a few seconds for the whole file. */
const RUNS = 60;

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

/** Bytes on the wire: frames, broken frames, and garbage. */
const hostileBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  hostilePayload.map(frame),
  // Truncated: a frame cut short (the connection then closes mid-frame).
  fc.tuple(hostilePayload, fc.nat()).map(([payload, cut]) => {
    const whole = frame(payload);
    return whole.subarray(0, cut % whole.byteLength);
  }),
  // A header announcing more than maxPayload, up to 4 GiB.
  fc
    .tuple(fc.integer({ min: MAX_PAYLOAD + 1, max: 0xffff_ffff }), fc.uint8Array({ maxLength: 64 }))
    .map(([length, rest]) => Uint8Array.from([...header(length), ...rest])),
  // Raw random bytes, no framing at all.
  fc.uint8Array({ minLength: 1, maxLength: 512 }),
);

/** One hostile connection: a few chunks, then a way to leave. */
const hostileSession = fc.record({
  chunks: fc.array(hostileBytes, { minLength: 1, maxLength: 4 }),
  ending: fc.constantFrom("end", "destroy", "stay"),
});

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

  override onError(error: unknown): void {
    this.errors.push(error);
  }
}

/** A well-behaved client that sends numbered messages and checks they all come back, in order. */
async function goodClient(
  server: Server<TargetChannel>,
): Promise<{ send: (n: number) => void; received: unknown[]; log: IncomingMessage[] }> {
  const listener = cleanup.listener(new ConnectionListener());
  const log: IncomingMessage[] = [];
  cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
  listener.connect("127.0.0.1", server.port);
  await waitFor(() => listener.connection?.isConnected === true, "the good client to open");
  const received: unknown[] = [];
  cleanup.subscription(listener.on("seq").subscribe((message) => received.push(message.n)));
  return { send: (n) => listener.send({ action: "seq", n }), received, log };
}

function hostileSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.on("error", () => {}); // the server may reset it: that is the point
    cleanup.socket(socket);
  });
}

describe.each<DispatchMode>(["live", "pump"])("a %s-dispatch server under attack", (dispatch) => {
  it("stays up while a good client loses nothing", async () => {
    // Every event is formatted as configureLogging("debug") would print it, hostile values included.
    let logLines = 0;
    const format = (level: string) => (message: string, fields?: Record<string, unknown>) => {
      logLines += formatLogLine(level, message, fields).length > 0 ? 1 : 0;
    };
    const logger = { debug: format("debug"), info: format("info"), warn: format("warn"), error: format("error") };
    const server = cleanup.server(
      await startServer({ channelClass: TargetChannel, maxPayload: MAX_PAYLOAD, dispatch, logger }),
    );
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
    const good = await goodClient(server);
    let sent = 0;

    // The hand-written worst cases first, then whatever fast-check comes up with.
    const fixed: Uint8Array[] = [
      frame(mapWith("echo", "deep", nestedArrays(100_000))),
      frame(actionOf(nestedArrays(100_000))),
      frame(mapWith("echo", "deep", nestedMaps(20_000))),
      frame(mapWith("askLater", "@req", nestedArrays(200))),
      frame(mapWith("askStream", "@req", nestedArrays(200))),
      frame(mapWith("ask", "@req", nestedArrays(200))),
      frame(mapWith("echo", "__proto__", [0x81, ...str("isAdmin"), 0xc3])),
      frame([0xc0]),
      header(0xffff_ffff),
    ];
    for (const bytes of fixed) {
      const socket = await hostileSocket(server.port);
      socket.write(bytes);
      good.send(sent++);
    }

    await fc.assert(
      fc.asyncProperty(hostileSession, async ({ chunks, ending }) => {
        const socket = await hostileSocket(server.port);
        for (const chunk of chunks) socket.write(chunk);
        good.send(sent++);
        if (ending === "end") socket.end();
        if (ending === "destroy") socket.destroy();
        await waitFor(() => good.received.length === sent, `echo ${sent - 1}`);
        expect(server.isListening).toBe(true);
      }),
      { numRuns: RUNS },
    );

    await waitFor(() => good.received.length === sent, "every echo");
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
    const expectedError = (error: unknown): boolean => {
      // Network_echo of a value nested too deep to encode: a handler exception.
      if (error instanceof TypeError) return error.message.startsWith("The message cannot be encoded");
      // A limit, or the peer leaving (a socket error such as ECONNRESET as the cause).
      const cause = (error as Error).cause as NodeJS.ErrnoException | undefined;
      return error instanceof RepodError && (cause === undefined || /^E[A-Z]+$/.test(String(cause.code)));
    };
    expect(hostileChannels).toHaveLength(fixed.length + RUNS);
    const hostileErrors = hostileChannels.flatMap((channel) => channel.errors);
    expect(hostileErrors.filter((error) => !expectedError(error))).toEqual([]);
    expect(hostileErrors).toContainEqual(expect.objectContaining({ code: "ERR_PAYLOAD_TOO_LARGE" }));
    expect(logLines).toBeGreaterThan(sent);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
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
