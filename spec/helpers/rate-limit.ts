import { resolveLimits, type RateLimitOptions } from "../../lib/connections/connection-options.js";

/** A clock the test moves by hand. */
export function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

/** The resolved `rateLimit` of `options`, as a connection gets it. */
export function resolvedRateLimit(options: RateLimitOptions) {
  return resolveLimits({ rateLimit: options }).rateLimit!;
}
