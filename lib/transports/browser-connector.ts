import { BrowserWebSocketTransport, type WebSocketConstructor } from "./browser-websocket-transport.js";
import type { Connector, ConnectorOptions, ConnectTarget, Transport } from "./transport.js";

/**
 * Throws unless a browser can open `target`: only `ws://` and `wss://` URLs. Checked when
 * `connect()` is called, so the mistake surfaces at the call, not as a failed connection later.
 * @throws {TypeError} for a TCP target (`connect(host, port)`, `tcp://...`).
 */
export function assertBrowserTarget(target: ConnectTarget): void {
  if (target.protocol === "ws" || target.protocol === "wss") return;
  throw new TypeError(
    `Browsers cannot open TCP connections (${target.url}): connect to the server's WebSocket ` +
      `endpoint with a ws:// or wss:// URL, e.g. connect("ws://${target.host}:8080"), and start the ` +
      `server with the ws option`,
  );
}

/**
 * Opens client transports in a browser: the native `WebSocket` for `ws://` and `wss://` URLs.
 * @param WebSocketClass the WebSocket class; default the global one, looked up at each connect.
 */
export function createBrowserConnector(WebSocketClass?: WebSocketConstructor): Connector {
  const connector = (target: ConnectTarget, options: ConnectorOptions): Transport => {
    assertBrowserTarget(target);
    return new BrowserWebSocketTransport(
      target.url,
      { host: target.host, port: target.port },
      {
        maxPayload: options.maxPayload,
        ...(options.closeTimeout === undefined ? {} : { closeTimeout: options.closeTimeout }),
        ...(WebSocketClass === undefined ? {} : { WebSocket: WebSocketClass }),
      },
    );
  };
  return Object.assign(connector, { check: assertBrowserTarget });
}

/** The connector of the browser entry point. */
export const browserConnector: Connector = createBrowserConnector();
