// The whole tag demo in one call: the web host (page + WebSocket on one port) and the tag server
// (which also accepts TCP clients such as `bot.ts`). Used by `server.ts`, `npm start`, the browser
// tests and the screenshot script.

import { startWebDemo, type WebDemo } from "../shared/web-host.js";
import { TagServer } from "./tag-server.js";

/** Options of {@link startTagDemo}. */
export interface TagDemoOptions {
  /** Interface of both listeners. Default `"127.0.0.1"`. */
  readonly host?: string;
  /** Port of the page and its WebSocket. Default 8081; `0` picks a free one. */
  readonly webPort?: number;
  /** TCP port of the tag server. Default 5072; `0` picks a free one. */
  readonly tcpPort?: number;
  /** Players per game. Default 4. */
  readonly roomSize?: number;
  /** Simulation ticks per second. Default 30. */
  readonly tickRate?: number;
  /** Receives the server's lines. Default `console.log`. */
  readonly log?: (line: string) => void;
}

/** A running tag demo. */
export type TagDemo = WebDemo<TagServer>;

/** Starts the tag demo; resolves once both listeners are bound. */
export function startTagDemo(options: TagDemoOptions = {}): Promise<TagDemo> {
  const { host = "127.0.0.1", webPort = 8081, tcpPort = 5072, ...game } = options;
  return startWebDemo(
    {
      host,
      port: webPort,
      page: new URL("./page/index.html", import.meta.url),
      script: new URL("./page/tag-page.ts", import.meta.url),
    },
    (ws) => new TagServer({ host, port: tcpPort, ws, ...game }),
  );
}
