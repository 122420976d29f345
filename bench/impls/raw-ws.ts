import type * as http from "node:http";
import type * as net from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import type { AppMessage } from "./bench-messages.js";
import { type BenchServer, type ClientLink, settleWithin, whenConnected } from "./bench-server.js";
import { decodePayload, encodePayload } from "./length-prefix.js";

/**
 * Sends binary WebSocket messages either one socket write each, or coalesced: the first send of
 * an event-loop turn corks the socket and a microtask uncorks it, so every frame of the turn
 * leaves in one `writev`. (`ws` corks around its own two-part writes; corks nest.)
 */
class WsSender {
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket?.uncork();
  };

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: net.Socket | undefined,
    private readonly coalesce: boolean,
  ) {}

  send(payload: Uint8Array): void {
    if (this.coalesce && !this.corked && this.socket !== undefined) {
      this.corked = true;
      this.socket.cork();
      queueMicrotask(this.uncork);
    }
    this.ws.send(payload, { binary: true });
  }
}

/** The WebSocket baseline: `ws` (no compression), one msgpack payload per binary message. */
export async function startRawWsServer(coalesce: boolean): Promise<BenchServer> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });
  wss.on("connection", (ws: WebSocket, request: http.IncomingMessage) => {
    const sender = new WsSender(ws, request.socket as net.Socket, coalesce);
    ws.on("message", (data: Buffer) => {
      const message = decodePayload(data) as AppMessage;
      if (message.action === "move") sender.send(encodePayload(message));
    });
    ws.on("error", () => ws.terminate());
  });
  return {
    port: (wss.address() as net.AddressInfo).port,
    connections: () => wss.clients.size,
    broadcast(message) {
      const payload = encodePayload(message);
      for (const ws of wss.clients) ws.send(payload, { binary: true });
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await settleWithin(new Promise((resolve) => wss.close(resolve)), 2_000);
    },
  };
}

export async function openRawWsLink(port: number, coalesce: boolean): Promise<ClientLink> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  let socket: net.Socket | undefined;
  ws.once("upgrade", (response: http.IncomingMessage) => {
    socket = response.socket as net.Socket;
  });
  await whenConnected(ws, "open", `raw WebSocket connect to 127.0.0.1:${port}`);
  const sender = new WsSender(ws, socket, coalesce);
  const link: ClientLink = {
    onMessage: () => {},
    send: (message) => sender.send(encodePayload(message)),
    async close() {
      ws.close();
      await settleWithin(new Promise((resolve) => ws.once("close", resolve)), 1_000);
      ws.terminate();
    },
  };
  ws.on("message", (data: Buffer) => link.onMessage(decodePayload(data) as AppMessage));
  ws.on("error", () => ws.terminate());
  return link;
}
