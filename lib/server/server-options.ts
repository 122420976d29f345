import { checkInteger } from "../connections/connection-options.js";
import type { ServerOptions } from "./server.js";

/**
 * Checks the server's own options before anything starts, so a typo fails at construction with a
 * message saying what is allowed, not later with a confusing socket error. Connection limits are
 * checked by `resolveLimits`.
 * @throws {TypeError} for a value of the wrong type.
 * @throws {RangeError} for a value out of range.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function validateServerOptions(options: ServerOptions<any>): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError('Server options must be an object such as { host: "127.0.0.1", port: 5071 }');
  }
  const { host, port, channelClass, dispatch, maxConnections } = options;
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
  if (maxConnections !== undefined) checkInteger("maxConnections", maxConnections, 1, Number.MAX_SAFE_INTEGER);
}
