import { once } from "node:events";
import WebSocket, { WebSocketServer } from "ws";
import { ConnectionListener, HEADER_SIZE, encode, type IncomingMessage, type Logger } from "../../lib/index.js";
import type { Cleanup } from "./cleanup.js";

/** A listener that records every message its handlers see, built-in actions included. */
export class Recorder extends ConnectionListener {
  readonly log: IncomingMessage[] = [];

  override networkReceived(message: IncomingMessage): void {
    this.log.push(message);
  }

  /** The actions seen so far, in order. */
  get actions(): unknown[] {
    return this.log.map((message) => message.action);
  }

  /** The messages seen so far with `action`. */
  of(action: string): IncomingMessage[] {
    return this.log.filter((message) => message.action === action);
  }
}

/** One logged event. */
export interface LogEntry {
  readonly level: keyof Logger;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/** A logger that keeps every event, for asserting on drops and refusals. */
export function recordingLogger(): Logger & { readonly entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: keyof Logger) =>
    (message: string, fields: Record<string, unknown> = {}): void => {
      entries.push({ level, message, fields });
    };
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A `ws` client, resolved once open (or rejected with the handshake error), for raw frames. */
export function openRawWebSocket(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options);
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Closes a raw `ws` client and waits until it is closed. */
export function closeRawWebSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once("close", () => resolve());
    socket.terminate();
  });
}

/** The WebSocket payload of a message: its TCP frame without the 4-byte length header. */
export function payloadOf(message: object): Uint8Array {
  return encode(message).subarray(HEADER_SIZE);
}

/**
 * A bare `ws` server on a free port, to send what a repod-rx server never would; `onConnection`
 * gets each socket it accepts. After the test its clients are terminated and it is closed.
 */
export async function rawWsServer(
  cleanup: Cleanup,
  onConnection?: (socket: WebSocket) => void,
): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  if (onConnection) wss.on("connection", onConnection);
  await once(wss, "listening");
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  );
  const { port } = wss.address() as { port: number };
  return { wss, url: `ws://127.0.0.1:${port}/` };
}
