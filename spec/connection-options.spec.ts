import { afterEach, describe, expect, it } from "vitest";
import { resolveLimits, type ConnectionLimits, type RateLimitOptions } from "../lib/connections/connection-options.js";
import { ConnectionListener, Server } from "../lib/index.js";
import {
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_MAX_INVALID_MESSAGES,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_PAYLOAD_DEPTH,
  DEFAULT_MAX_PAYLOAD_ITEMS,
  DEFAULT_MAX_PAYLOAD_KEYS,
  DEFAULT_MAX_PENDING_ANSWERS,
  DEFAULT_MAX_QUEUED_BYTES,
} from "../lib/constants.js";
import { Cleanup } from "./helpers/cleanup.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** The resolved `rateLimit` of `options`, as a connection gets it. */
function resolved(options: RateLimitOptions) {
  return resolveLimits({ rateLimit: options }).rateLimit!;
}

describe("connection options, as the server and the client resolve them", () => {
  const U32 = 0xffff_ffff;
  const TIMER = 2 ** 31 - 1;
  /** Each integer option, where it sits in the options, and the range it accepts. */
  const ranges: [name: string, min: number, max: number][] = [
    ["maxPayload", 1, U32],
    ["maxPayloadDepth", 1, 100],
    ["maxPayloadItems", 1, U32],
    ["maxPayloadKeys", 1, U32],
    ["frameTimeout", 0, TIMER],
    ["maxPendingAnswers", 1, U32],
    ["maxInvalidMessages", 0, U32],
    ["maxQueuedBytes", 1, Number.MAX_SAFE_INTEGER],
    ["idleTimeout", 0, TIMER],
    ["closeTimeout", 0, TIMER],
    ["heartbeat.interval", 1, TIMER],
    ["heartbeat.timeout", 1, TIMER],
    ["rateLimit.burst", 1, U32],
    ["rateLimit.byteBurst", 1, Number.MAX_SAFE_INTEGER],
    ["rateLimit.closeAfter", 0, TIMER],
  ];

  /**
   * The options with `value` at `name` ("heartbeat.interval" is `{ heartbeat: { interval } }`; a
   * timeout is given with it, or its default of 3 intervals could be the one out of range).
   */
  function withOption(name: string, value: unknown): ConnectionLimits {
    const [outer, inner] = name.split(".") as [string, string | undefined];
    if (inner === undefined) return { [outer]: value } as ConnectionLimits;
    return { [outer]: { ...(outer === "heartbeat" ? { timeout: 1_000 } : {}), [inner]: value } } as ConnectionLimits;
  }

  it.each(ranges)("%s takes an integer from %d to %d, and says so otherwise", (name, min, max) => {
    expect(() => resolveLimits(withOption(name, min))).not.toThrow();
    expect(() => resolveLimits(withOption(name, max))).not.toThrow();
    expect(() => resolveLimits(withOption(name, min - 1))).toThrow(
      new RangeError(`options.${name} must be between ${min} and ${max}, got ${min - 1}`),
    );
    expect(() => resolveLimits(withOption(name, max + 1))).toThrow(
      new RangeError(`options.${name} must be between ${min} and ${max}, got ${max + 1}`),
    );
    expect(() => resolveLimits(withOption(name, 1.5))).toThrow(
      new TypeError(`options.${name} must be an integer, got 1.5`),
    );
    expect(() => resolveLimits(withOption(name, "7"))).toThrow(
      new TypeError(`options.${name} must be an integer, got "7"`),
    );
  });

  it("apply the documented defaults", () => {
    expect(resolveLimits({})).toEqual({
      maxPayload: DEFAULT_MAX_PAYLOAD,
      maxPayloadDepth: DEFAULT_MAX_PAYLOAD_DEPTH,
      maxPayloadItems: DEFAULT_MAX_PAYLOAD_ITEMS,
      maxPayloadKeys: DEFAULT_MAX_PAYLOAD_KEYS,
      frameTimeout: DEFAULT_FRAME_TIMEOUT,
      maxPendingAnswers: DEFAULT_MAX_PENDING_ANSWERS,
      maxInvalidMessages: DEFAULT_MAX_INVALID_MESSAGES,
      maxQueuedBytes: DEFAULT_MAX_QUEUED_BYTES,
      idleTimeout: 0,
      closeTimeout: 5_000,
      heartbeat: null,
      rateLimit: {
        messages: 5_000,
        burst: 10_000,
        bytes: 8 * 1024 * 1024,
        byteBurst: 8 * 1024 * 1024,
        actions: new Map(),
        onExceed: "pause",
        closeAfter: 2_000,
      },
    });
  });

  it("keep what is given", () => {
    const given = {
      maxPayload: 10,
      maxPayloadDepth: 11,
      maxPayloadItems: 12,
      maxPayloadKeys: 13,
      frameTimeout: 14,
      maxPendingAnswers: 15,
      maxInvalidMessages: 16,
      maxQueuedBytes: 17,
      idleTimeout: 18,
      closeTimeout: 19,
    };
    expect(resolveLimits(given)).toMatchObject(given);
  });

  it("heartbeat: true for 5 s pings and a 15 s timeout; a longer interval stretches the default timeout to 3 intervals", () => {
    expect(resolveLimits({ heartbeat: true }).heartbeat).toEqual({ interval: 5_000, timeout: 15_000 });
    expect(resolveLimits({ heartbeat: false }).heartbeat).toBeNull();
    expect(resolveLimits({ heartbeat: {} }).heartbeat).toEqual({ interval: 5_000, timeout: 15_000 });
    expect(resolveLimits({ heartbeat: { interval: 1_000 } }).heartbeat).toEqual({ interval: 1_000, timeout: 15_000 });
    expect(resolveLimits({ heartbeat: { interval: 6_000 } }).heartbeat).toEqual({ interval: 6_000, timeout: 18_000 });
    expect(resolveLimits({ heartbeat: { interval: 10, timeout: 20 } }).heartbeat).toEqual({
      interval: 10,
      timeout: 20,
    });
    for (const wrong of ["yes", 1, null]) {
      expect(() => resolveLimits({ heartbeat: wrong as unknown as boolean })).toThrow(
        new TypeError(`options.heartbeat must be true, false or { interval, timeout }, got ${JSON.stringify(wrong)}`),
      );
    }
  });

  it("logger needs debug, info, warn and error", () => {
    const noop = (): void => undefined;
    const logger = { debug: noop, info: noop, warn: noop, error: noop };
    expect(() => resolveLimits({ logger })).not.toThrow();
    for (const level of ["debug", "info", "warn", "error"] as const) {
      expect(() => resolveLimits({ logger: { ...logger, [level]: "loud" } })).toThrow(
        new TypeError(`options.logger must have debug, info, warn and error methods; ${level} is missing`),
      );
    }
    expect(() => resolveLimits({ logger: null as never })).toThrow(TypeError);
  });

  it("errors show the bad value as it was written, whatever it is, and never hide it behind JSON's own error", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const long = "x".repeat(1_000);
    const shown = (value: unknown): string => {
      try {
        new Server({ dispatch: value as never });
      } catch (error) {
        return (error as Error).message.replace('options.dispatch must be "live" or "pump", got ', "");
      }
      throw new Error("no error");
    };
    expect(shown(7n)).toBe("7n");
    expect(shown(NaN)).toBe("NaN");
    expect(shown(-Infinity)).toBe("-Infinity");
    expect(shown({ limit: 7n })).toBe('{"limit":"7n"}');
    expect(shown(cyclic)).toBe("[object Object]");
    expect(shown(function live() {})).toBe("function live() {}");
    expect(shown(() => "pump")).toBe('() => "pump"');
    expect(shown(Symbol("pump"))).toBe("Symbol(pump)");
    expect(shown(null)).toBe("null");
    expect(shown(long)).toBe(`"${"x".repeat(99)}… (1002 characters)`);
    // Cut past 100 characters, not at 100: JSON gives 98 characters 100 with their quotes.
    expect(shown("x".repeat(98))).toBe(`"${"x".repeat(98)}"`);
    expect(shown("x".repeat(99))).toBe(`"${"x".repeat(99)}… (101 characters)`);
  });

  it("every option error describes its value so, on the server, the client, rooms and send()", () => {
    expect(() => new Server({ host: 7n as never })).toThrow(
      new TypeError("options.host must be a non-empty string, got 7n"),
    );
    expect(() => new Server({ heartbeat: 7n as never })).toThrow(/options\.heartbeat must be .*, got 7n$/);
    expect(() => new Server({ rateLimit: NaN as never })).toThrow(/options\.rateLimit must be .*, got NaN$/);
    expect(() => new Server({ rateLimit: { onExceed: 7n as never } })).toThrow(/onExceed must be .*, got 7n$/);
    expect(() => new Server({ rateLimit: { actions: { chat: 7n as never } } })).toThrow(/got 7n$/);
    expect(() => new Server({ resume: 7n as never })).toThrow(/options\.resume must be .*, got 7n$/);
    expect(() => new Server({ ws: { port: 0, path: 7n as never } })).toThrow(/options\.ws\.path must be .*, got 7n$/);
    expect(() => new Server({ ws: { port: 0, origins: [7n] as never } })).toThrow(/, got \["7n"\]$/);
    expect(() => new Server({ ws: { port: 0, perMessageDeflate: 7n as never } })).toThrow(/got 7n$/);
    expect(() => new Server().room(7n as never)).toThrow(
      new TypeError("A room name must be a non-empty string, got 7n"),
    );
    const listener = new ConnectionListener();
    expect(() => listener.connect("127.0.0.1", 1, { resume: 7n as never })).toThrow(
      new TypeError("options.resume must be true or false, got 7n"),
    );
    expect(() => listener.connect("127.0.0.1", 1, { reconnect: 7n as never })).toThrow(
      /options\.reconnect must .*, got 7n$/,
    );
    expect(() => listener.send({ action: "move" }, { latest: 7n as never })).toThrow(
      /send options must .*, got \{"latest":"7n"\}$/,
    );
    expect(() => listener.send({ action: "move" }, 7n as never)).toThrow(/send options must .*, got 7n$/);
  });
});

describe("rateLimit options", () => {
  it("are on by default (the defaults are above), turned off with false, and complete what is given", () => {
    expect(resolveLimits({}).rateLimit).not.toBeNull();
    expect(resolveLimits({ rateLimit: true }).rateLimit).toEqual(resolveLimits({}).rateLimit);
    expect(resolveLimits({ rateLimit: false }).rateLimit).toBeNull();
    // The byte burst is never less than one payload of maxPayload bytes.
    expect(resolveLimits({ maxPayload: 16 * 1024 * 1024 }).rateLimit!.byteBurst).toBe(16 * 1024 * 1024);
    expect(resolved({ bytes: 1_000 }).byteBurst).toBe(4 * 1024 * 1024);
    const chosen = resolved({ messages: 0.5, actions: { chat: { messages: 5 }, slow: { messages: 0.2 } } });
    expect(chosen.messages).toBe(0.5);
    expect(chosen.actions).toEqual(
      new Map([
        ["chat", { messages: 5, burst: 5 }],
        ["slow", { messages: 0.2, burst: 1 }],
      ]),
    );
    expect(new Server({ rateLimit: false }).limits.rateLimit).toBeNull();
  });

  it("take each of the two ways to treat a peer over its budget", () => {
    expect(resolved({}).onExceed).toBe("pause");
    expect(resolved({ onExceed: "pause" }).onExceed).toBe("pause");
    expect(resolved({ onExceed: "close", closeAfter: 0 })).toMatchObject({ onExceed: "close", closeAfter: 0 });
  });

  it("are checked up front, by the server and the client, with what is allowed", () => {
    const bad: [unknown, ErrorConstructor, RegExp][] = [
      ["fast", TypeError, /rateLimit must be true, false or an object such as/],
      [[], TypeError, /rateLimit must be true, false or an object/],
      [{ messagesPerSecond: 5 }, TypeError, /no "messagesPerSecond" option; it takes messages, burst, bytes/],
      [{ messages: 0 }, RangeError, /rateLimit\.messages must be a finite number per second over 0, got 0/],
      [{ messages: -1 }, RangeError, /rateLimit\.messages must be a finite number per second over 0/],
      [{ messages: Infinity }, RangeError, /rateLimit\.messages must be a finite number/],
      [{ messages: "5" }, TypeError, /rateLimit\.messages must be a number per second/],
      [{ burst: 0 }, RangeError, /rateLimit\.burst must be between 1 and/],
      [{ burst: 1.5 }, TypeError, /rateLimit\.burst must be an integer/],
      [{ bytes: 0 }, RangeError, /rateLimit\.bytes must be a finite number per second over 0/],
      [{ byteBurst: 0 }, RangeError, /rateLimit\.byteBurst must be between 1 and/],
      [{ onExceed: "drop" }, TypeError, /rateLimit\.onExceed must be "pause" or "close", got "drop"/],
      [{ closeAfter: -1 }, RangeError, /rateLimit\.closeAfter must be between 0 and/],
      [{ actions: [] }, TypeError, /rateLimit\.actions must map action names to \{ messages, burst \}/],
      [{ actions: null }, TypeError, /rateLimit\.actions must map action names to \{ messages, burst \}/],
      [{ actions: "chat" }, TypeError, /rateLimit\.actions must map action names to \{ messages, burst \}/],
      [{ actions: 5 }, TypeError, /rateLimit\.actions must map action names to \{ messages, burst \}/],
      [{ actions: { chat: 5 } }, TypeError, /rateLimit\.actions\["chat"\] must be \{ messages, burst\? \}, got 5/],
      [{ actions: { chat: {} } }, TypeError, /rateLimit\.actions\["chat"\]\.messages is required/],
      [{ actions: { chat: { messages: 0 } } }, RangeError, /actions\["chat"\]\.messages must be a finite number/],
      [{ actions: { chat: { messages: 5, burst: 0 } } }, RangeError, /actions\["chat"\]\.burst must be between 1/],
      [{ actions: { chat: { messages: 5, bytes: 5 } } }, TypeError, /has no "bytes" option; it takes messages/],
    ];
    const listener = cleanup.listener(new ConnectionListener());
    for (const [rateLimit, type, message] of bad) {
      const options = { rateLimit } as { rateLimit: RateLimitOptions };
      expect(() => new Server(options), JSON.stringify(rateLimit)).toThrow(type);
      expect(() => new Server(options), JSON.stringify(rateLimit)).toThrow(message);
      expect(() => listener.connect("127.0.0.1", 5071, options), JSON.stringify(rateLimit)).toThrow(message);
    }
  });
});
