// The whole pong demo in one call: the web host (page + WebSocket on one port) and the pong
// server (which also accepts TCP clients such as its bots). Used by `server.ts`, `npm start`,
// the browser tests and the screenshot script.

import { startWebDemo, type WebDemo } from "../shared/web-host.js";
import { PongServer } from "./pong-server.js";

/** Options of {@link startPongDemo}. */
export interface PongDemoOptions {
  /** Interface of both listeners. Default `"127.0.0.1"`. */
  readonly host?: string;
  /** Port of the page and its WebSocket. Default 8082; `0` picks a free one. */
  readonly webPort?: number;
  /** TCP port of the pong server (bots). Default 5073; `0` picks a free one. */
  readonly tcpPort?: number;
  /** Milliseconds a player waits alone before a bot joins; `null` for no bots. Default 1,500. */
  readonly botDelay?: number | null;
  /** The ball's speed at each serve, in units per second. Default 380. */
  readonly serveSpeed?: number;
  /** Receives the server's lines. Default `console.log`. */
  readonly log?: (line: string) => void;
}

/** A running pong demo. */
export type PongDemo = WebDemo<PongServer>;

/** Starts the pong demo; resolves once both listeners are bound. */
export function startPongDemo(options: PongDemoOptions = {}): Promise<PongDemo> {
  const { host = "127.0.0.1", webPort = 8082, tcpPort = 5073, ...game } = options;
  return startWebDemo(
    {
      host,
      port: webPort,
      page: new URL("./page/index.html", import.meta.url),
      script: new URL("./page/pong-page.ts", import.meta.url),
    },
    (ws) => new PongServer({ host, port: tcpPort, ws, heartbeat: { interval: 1_000 }, ...game }),
  );
}
