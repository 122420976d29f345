// The web half of the browser demos: one node:http server that serves the demo's page and its
// script (the page's TypeScript bundled by esbuild when the host starts), and on which the game
// server accepts its WebSocket clients (`ws: { server: host.http, path: WS_PATH }`). Page and
// WebSocket share one port, so there is one URL to open and no cross-origin question.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** The path the pages open their WebSocket on. */
export const WS_PATH = "/ws";

/** Options of {@link startWebHost}. */
export interface WebHostOptions {
  /** Interface to listen on. Default `"127.0.0.1"`. */
  readonly host?: string;
  /** HTTP port. Default 8080; `0` picks a free one, readable as `port`. */
  readonly port?: number;
  /** The page, an HTML file that loads `/app.js` as a module. */
  readonly page: URL;
  /** The page's TypeScript entry, bundled for the browser into `/app.js`. */
  readonly script: URL;
}

/** A running web host. */
export interface WebHost {
  /** The HTTP server; hand it to the game server's `ws.server` option. */
  readonly http: http.Server;
  /** The bound port. */
  readonly port: number;
  /** The page's address, e.g. `http://127.0.0.1:8080/`. */
  readonly url: string;
  /** Stops listening and closes the connections still open (stop the game server first). */
  close(): Promise<void>;
}

/**
 * Bundles the page's script, then serves `GET /` (the page) and `GET /app.js` (the bundle).
 * @throws {Error} when the script does not compile or the port cannot be bound.
 */
export async function startWebHost(options: WebHostOptions): Promise<WebHost> {
  const { host = "127.0.0.1", port = 8080 } = options;
  const [page, script] = await Promise.all([readFile(options.page, "utf8"), bundle(options.script)]);
  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET" && request.method !== "HEAD") return reply(response, 405, "text/plain", "GET only");
    if (path === "/" || path === "/index.html") return reply(response, 200, "text/html; charset=utf-8", page);
    if (path === "/app.js") return reply(response, 200, "text/javascript; charset=utf-8", script);
    if (path === "/favicon.ico") return reply(response, 204, "image/x-icon", "");
    return reply(response, 404, "text/plain", "Not found");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const hint =
        error.code === "EADDRINUSE" ? "; another process uses it: pick another port (0 picks a free one)" : "";
      reject(new Error(`Cannot serve the page on ${host}:${port}: ${error.message}${hint}`, { cause: error }));
    });
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    http: server,
    port: bound,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The game server of a browser demo, as {@link startWebDemo} drives it. */
export interface DemoServer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A running browser demo: its game server and the web host it accepts WebSocket clients on. */
export interface WebDemo<S extends DemoServer> {
  readonly server: S;
  readonly web: WebHost;
  /** The page to open. */
  readonly url: string;
  /** Stops the game server (closing every client), then the web host. */
  stop(): Promise<void>;
}

/**
 * Starts the web host of `options`, then the game server `createServer` makes to accept its
 * WebSocket clients on it (`ws`); resolves once both listeners are bound. When the game server
 * cannot start, the web host is closed again.
 */
export async function startWebDemo<S extends DemoServer>(
  options: WebHostOptions,
  createServer: (ws: { readonly server: http.Server; readonly path: string }) => S,
): Promise<WebDemo<S>> {
  const web = await startWebHost(options);
  const server = createServer({ server: web.http, path: WS_PATH });
  try {
    await server.start();
  } catch (error) {
    await web.close();
    throw error;
  }
  return {
    server,
    web,
    url: web.url,
    stop: async () => {
      await server.stop();
      await web.close();
    },
  };
}

/** Bundles a browser entry point (and everything it imports, rxjs included) into one ES module. */
async function bundle(entry: URL): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: "inline",
    logLevel: "silent",
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error(`esbuild produced nothing for ${fileURLToPath(entry)}`);
  return output.text;
}

function reply(response: http.ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
  });
  response.end(body);
}
