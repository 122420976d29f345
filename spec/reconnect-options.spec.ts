import { afterEach, describe, expect, it } from "vitest";
import { ConnectionListener, Server, type ReconnectOptions } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { waitFor } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A server that accepts in-process clients, so that an accepted policy can be seen to connect. */
function localServer(): Server {
  const server = cleanup.server(new Server());
  server.listenLocal();
  return server;
}

/** Connects a fresh listener to `server` with `reconnect` and resolves once its client is open. */
async function connectsWith(server: Server, reconnect: unknown): Promise<void> {
  const listener = cleanup.listener(new ConnectionListener());
  listener.connect(server, { reconnect: reconnect as ReconnectOptions });
  await waitFor(() => listener.connection?.state === "open", `a client with reconnect ${String(reconnect)} to open`);
}

/** What `connect()` throws for `reconnect` (it must throw, before any connection is made). */
function refusal(server: Server, reconnect: unknown): Error {
  const listener = new ConnectionListener();
  try {
    listener.connect(server, { reconnect: reconnect as ReconnectOptions });
  } catch (error) {
    expect(listener.connection, "no client is created for a refused option").toBeNull();
    return error as Error;
  }
  listener.close();
  throw new Error(`connect() accepted reconnect ${JSON.stringify(reconnect)}`);
}

describe("connect() checks the reconnect option up front", () => {
  const TIMER = 2 ** 31 - 1;
  /** Each integer field of `reconnect` and the range it accepts (docs/getting-started.md). */
  const ranges: [name: keyof ReconnectOptions, min: number, max: number][] = [
    ["maxAttempts", 0, Number.MAX_SAFE_INTEGER],
    ["initialDelay", 0, TIMER],
    ["maxDelay", 0, TIMER],
    ["maxQueuedBytes", 0, Number.MAX_SAFE_INTEGER],
  ];

  it.each(ranges)("reconnect.%s takes an integer from %d to %d, and says so otherwise", async (name, min, max) => {
    const server = localServer();
    await connectsWith(server, { [name]: min });
    await connectsWith(server, { [name]: max });
    for (const outside of [min - 1, max + 1]) {
      const error = refusal(server, { [name]: outside });
      expect(error).toBeInstanceOf(RangeError);
      expect(error.message).toBe(`options.reconnect.${name} must be between ${min} and ${max}, got ${outside}`);
    }
    for (const [wrong, shown] of [
      [1.5, "1.5"],
      ["7", '"7"'],
      [NaN, "NaN"],
      [-Infinity, "-Infinity"],
      [7n, "7n"],
    ] as const) {
      const error = refusal(server, { [name]: wrong });
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toBe(`options.reconnect.${name} must be an integer, got ${shown}`);
    }
  });

  it("reconnect.maxAttempts takes Infinity: a client that never gives up", async () => {
    await connectsWith(localServer(), { maxAttempts: Infinity });
  });

  it("reconnect.factor takes any number from 1 up, and names the bad value otherwise", async () => {
    const server = localServer();
    // 1 keeps every delay at initialDelay: a steady retry.
    for (const factor of [1, 1.5, 3]) await connectsWith(server, { factor });
    for (const bad of [0.999, 0, -2, NaN]) {
      const error = refusal(server, { factor: bad });
      expect(error).toBeInstanceOf(RangeError);
      expect(error.message).toBe(`options.reconnect.factor must be a number >= 1, got ${String(bad)}`);
    }
    // Not a number, even one that compares as one: a TypeError that shows the type.
    for (const [bad, shown] of [
      ["2", '"2"'],
      [true, "true"],
    ] as const) {
      const error = refusal(server, { factor: bad });
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toBe(`options.reconnect.factor must be a number >= 1, got ${shown}`);
    }
  });

  it("reconnect.jitter takes a number from 0 to 1, both included, and names the bad value otherwise", async () => {
    const server = localServer();
    for (const jitter of [0, 0.25, 1]) await connectsWith(server, { jitter });
    for (const bad of [-0.01, 1.01, NaN]) {
      const error = refusal(server, { jitter: bad });
      expect(error).toBeInstanceOf(RangeError);
      expect(error.message).toBe(`options.reconnect.jitter must be a number from 0 to 1, got ${String(bad)}`);
    }
    // Not a number, even one that compares as one: a TypeError that shows the type.
    for (const [bad, shown] of [
      ["0.5", '"0.5"'],
      [true, "true"],
    ] as const) {
      const error = refusal(server, { jitter: bad });
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toBe(`options.reconnect.jitter must be a number from 0 to 1, got ${shown}`);
    }
  });

  it("reconnect itself is true, false or an object; anything else is a TypeError naming it", async () => {
    const server = localServer();
    for (const accepted of [true, false, undefined, {}]) await connectsWith(server, accepted);
    for (const [bad, shown] of [
      [null, "null"],
      ["always", '"always"'],
      [1, "1"],
    ] as const) {
      const error = refusal(server, bad);
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toBe(`options.reconnect must be true, false or an object, got ${shown}`);
    }
  });

  it("a refused option leaves the listener's open connection as it was", async () => {
    const server = localServer();
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect(server);
    await waitFor(() => listener.connection?.state === "open", "the first connection to open");
    const first = listener.connection;

    expect(() => listener.connect(server, { reconnect: { jitter: 2 } })).toThrow(RangeError);
    expect(() => listener.connect("127.0.0.1", 1, { resume: "yes" as unknown as boolean })).toThrow(TypeError);
    expect(listener.connection).toBe(first);
    expect(first?.state).toBe("open");
  });
});
