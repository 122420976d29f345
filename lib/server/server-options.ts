import type { ServerOptions } from "./server.js";

/**
 * Checks every option before anything starts, so a typo fails at construction with a message
 * saying what is allowed, not later with a confusing socket error.
 * @throws {TypeError} for a value of the wrong type.
 * @throws {RangeError} for a value out of range.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function validateServerOptions(options: ServerOptions<any>): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Server options must be an object such as { host: \"127.0.0.1\", port: 5071 }");
  }
  const { host, port, channelClass, dispatch, maxPayload, logger } = options;
  if (host !== undefined && (typeof host !== "string" || host === "")) {
    throw new TypeError(`options.host must be a non-empty string, got ${JSON.stringify(host)}`);
  }
  if (port !== undefined) checkInteger("port", port, 0, 65535);
  if (channelClass !== undefined && typeof channelClass !== "function") {
    throw new TypeError("options.channelClass must be a class extending Channel");
  }
  if (dispatch !== undefined && dispatch !== "live" && dispatch !== "pump") {
    throw new TypeError(`options.dispatch must be "live" or "pump", got ${JSON.stringify(dispatch)}`);
  }
  if (maxPayload !== undefined) checkInteger("maxPayload", maxPayload, 1, 0xffff_ffff);
  if (logger !== undefined) {
    for (const level of ["debug", "info", "warn", "error"] as const) {
      if (typeof logger?.[level] !== "function") {
        throw new TypeError(`options.logger must have debug, info, warn and error methods; ${level} is missing`);
      }
    }
  }
}

/** @throws {TypeError} or {RangeError} unless `value` is an integer in `[min, max]`. */
export function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`options.${name} must be an integer, got ${JSON.stringify(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`options.${name} must be between ${min} and ${max}, got ${value}`);
  }
}
