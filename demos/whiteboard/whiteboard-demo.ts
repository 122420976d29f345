// The whole whiteboard demo in one call: the web host (page + WebSocket on one port) and the
// whiteboard server (which also accepts TCP clients). Used by `server.ts`, `npm start`, the
// browser tests and the screenshot script.

import { startWebDemo, type WebDemo } from "../shared/web-host.js";
import { WhiteboardServer } from "./whiteboard-server.js";

/** Options of {@link startWhiteboardDemo}. */
export interface WhiteboardDemoOptions {
  /** Interface of both listeners. Default `"127.0.0.1"`. */
  readonly host?: string;
  /** Port of the page and its WebSocket. Default 8080; `0` picks a free one. */
  readonly webPort?: number;
  /** TCP port of the whiteboard server. Default 5071; `0` picks a free one. */
  readonly tcpPort?: number;
  /** Receives the server's lines. Default `console.log`. */
  readonly log?: (line: string) => void;
}

/** A running whiteboard demo. */
export type WhiteboardDemo = WebDemo<WhiteboardServer>;

/** Starts the whiteboard demo; resolves once both listeners are bound. */
export function startWhiteboardDemo(options: WhiteboardDemoOptions = {}): Promise<WhiteboardDemo> {
  const { host = "127.0.0.1", webPort = 8080, tcpPort = 5071, log } = options;
  return startWebDemo(
    {
      host,
      port: webPort,
      page: new URL("./page/index.html", import.meta.url),
      script: new URL("./page/whiteboard-page.ts", import.meta.url),
    },
    (ws) => new WhiteboardServer({ host, port: tcpPort, ws, ...(log ? { log } : {}) }),
  );
}
