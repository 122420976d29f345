import { DEFAULT_HOST, DEFAULT_PORT } from "../constants.js";
import type { ConnectTarget } from "./transport.js";

const DEFAULT_WS_PORTS = { ws: 80, wss: 443 } as const;

/**
 * Reads the arguments of `connect()`: `(host, port)`, `("tcp://host:port")`, or a WebSocket URL
 * `("ws://host:port/path")` / `("wss://...")`. Both arguments are optional: repod's defaults
 * `127.0.0.1` and `5071` apply.
 *
 * @throws {TypeError} for a host that is not a string or an unsupported URL scheme.
 * @throws {RangeError} for a port outside 0..65535.
 */
export function parseConnectTarget(hostOrUrl: string = DEFAULT_HOST, port?: number): ConnectTarget {
  if (typeof hostOrUrl !== "string") {
    throw new TypeError(`connect() takes a host name or a URL string, got ${typeof hostOrUrl}`);
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(hostOrUrl)?.[1]?.toLowerCase();
  if (scheme === undefined)
    return {
      protocol: "tcp",
      host: hostOrUrl,
      port: checkPort(port ?? DEFAULT_PORT),
      url: `tcp://${hostOrUrl}:${port ?? DEFAULT_PORT}`,
    };
  let url: URL;
  try {
    url = new URL(hostOrUrl);
  } catch {
    throw new TypeError(`connect() got an unreadable URL: ${JSON.stringify(hostOrUrl)}`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (scheme === "tcp") {
    const tcpPort = url.port === "" ? (port ?? DEFAULT_PORT) : Number(url.port);
    return { protocol: "tcp", host, port: checkPort(tcpPort), url: hostOrUrl };
  }
  if (scheme === "ws" || scheme === "wss") {
    const wsPort = url.port === "" ? DEFAULT_WS_PORTS[scheme] : Number(url.port);
    return { protocol: scheme, host, port: wsPort, url: url.href };
  }
  throw new TypeError(`connect() supports tcp://, ws:// and wss:// URLs, got ${scheme}://`);
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`A port is an integer from 0 to 65535, got ${String(port)}`);
  }
  return port;
}
