import { TcpTransport } from "./tcp-transport.js";
import type { Connector } from "./transport.js";
import { WsTransport } from "./ws-transport.js";

/**
 * Opens client transports from Node: TCP for `tcp://` targets (and `connect(host, port)`), the
 * `ws` package for `ws://` and `wss://` URLs, without permessage-deflate. Both apply the options'
 * `maxPayload`, `closeTimeout` and `frameTimeout`; a `ws://` connect also fails after 10 s without
 * a completed handshake (`DEFAULT_HANDSHAKE_TIMEOUT`).
 */
export const nodeConnector: Connector = (target, options) => {
  switch (target.protocol) {
    case "tcp":
      return TcpTransport.connect(target.host, target.port, options);
    case "ws":
    case "wss":
      return WsTransport.connect(target.url, { host: target.host, port: target.port }, options);
    default:
      throw new TypeError(`${target.protocol}:// cannot be opened by URL; pass the server itself to connect()`);
  }
};
