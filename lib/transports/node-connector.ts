import { TcpTransport } from "./tcp-transport.js";
import type { Connector } from "./transport.js";

/** Opens client transports from Node: TCP for `tcp://` targets. */
export const nodeConnector: Connector = (target, options) => {
  if (target.protocol === "tcp") return TcpTransport.connect(target.host, target.port, options);
  throw new TypeError(`${target.protocol}:// is not supported yet`);
};
