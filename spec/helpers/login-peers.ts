import type * as http from "node:http";
import type * as net from "node:net";
import WebSocket from "ws";
import { decode } from "../../lib/index.js";
import type { Cleanup } from "./cleanup.js";
import { rawSocket } from "./net.js";
import { rawPeer } from "./players.js";
import { closeRawWebSocket, payloadOf } from "./ws.js";

/**
 * A hand-driven peer of a server, over TCP (framed as Python repod does) or a bare `ws` socket:
 * what a client that is not repod-rx sends and sees during a login.
 */
export interface LoginPeer {
  /** Every message received, decoded, in order. */
  readonly messages: Record<string, unknown>[];
  /** Sends one message. */
  send(message: object): void;
  /** Whether the connection has closed. */
  readonly isClosed: boolean;
  /** The peer's own port, as the server sees it in `remote.port`. */
  readonly localPort: number;
}

/** A raw TCP peer of `port`, closed after the test. */
export async function tcpLoginPeer(cleanup: Cleanup, port: number): Promise<LoginPeer> {
  const socket = cleanup.socket(await rawSocket(port));
  const peer = rawPeer(socket);
  let isClosed = false;
  socket.once("close", () => {
    isClosed = true;
  });
  return {
    messages: peer.messages,
    send: (message) => peer.send(message),
    get isClosed() {
      return isClosed;
    },
    localPort: socket.localPort ?? 0,
  };
}

/**
 * A bare `ws` client of `url` with extra upgrade request `headers` (a cookie...), open, closed
 * after the test.
 */
export async function wsLoginPeer(
  cleanup: Cleanup,
  url: string,
  headers: Record<string, string> = {},
): Promise<LoginPeer> {
  const socket = new WebSocket(url, { headers });
  cleanup.add(() => closeRawWebSocket(socket));
  const messages: Record<string, unknown>[] = [];
  socket.on("message", (data: Buffer) => messages.push(decode(Uint8Array.from(data)) as Record<string, unknown>));
  let isClosed = false;
  socket.once("close", () => {
    isClosed = true;
  });
  let localPort = 0;
  socket.once("upgrade", (response: http.IncomingMessage) => {
    localPort = (response.socket as net.Socket).localPort ?? 0;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  // A reset after the open is the test's business (isClosed), not an uncaught 'error' event.
  socket.on("error", () => {});
  return {
    messages,
    send: (message) => socket.send(payloadOf(message)),
    get isClosed() {
      return isClosed;
    },
    localPort,
  };
}
