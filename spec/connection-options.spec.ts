import { describe, expect, it } from "vitest";
import { resolveLimits, type ConnectionLimits } from "../lib/connections/connection-options.js";
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
});
