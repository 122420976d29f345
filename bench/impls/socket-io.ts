import * as http from "node:http";
import type * as net from "node:net";
import type { AppMessage } from "./bench-messages.js";
import { type BenchServer, type ClientLink, settleWithin, within } from "./bench-server.js";

/** socket.io-msgpack-parser is CommonJS: its module object is the parser socket.io expects. */
async function loadParser(): Promise<unknown> {
  const module = (await import("socket.io-msgpack-parser")) as { default?: unknown };
  return module.default ?? module;
}

/** The peer users would pick instead: socket.io, WebSocket transport only, msgpack parser. */
export async function startSocketIoServer(): Promise<BenchServer> {
  const { Server } = await import("socket.io");
  const parser = await loadParser();
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    transports: ["websocket"],
    parser,
    serveClient: false,
    perMessageDeflate: false,
  });
  io.on("connection", (socket) => {
    socket.on("move", (message: AppMessage) => {
      socket.emit("move", message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (httpServer.address() as net.AddressInfo).port,
    connections: () => io.engine.clientsCount,
    broadcast(message) {
      io.emit(String(message.action), message);
    },
    async close() {
      io.disconnectSockets(true);
      await settleWithin(new Promise((resolve) => io.close(() => resolve(undefined))), 2_000);
    },
  };
}

export async function openSocketIoLink(port: number): Promise<ClientLink> {
  const { io } = await import("socket.io-client");
  const parser = await loadParser();
  const socket = io(`ws://127.0.0.1:${port}`, {
    transports: ["websocket"],
    parser,
    forceNew: true,
    reconnection: false,
    timeout: 10_000,
  });
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    }),
    10_000,
    `socket.io connect to 127.0.0.1:${port}`,
  );
  const link: ClientLink = {
    onMessage: () => {},
    send: (message) => {
      socket.emit(String(message.action), message);
    },
    async close() {
      socket.disconnect();
    },
  };
  socket.on("move", (message: AppMessage) => link.onMessage(message));
  socket.on("state", (message: AppMessage) => link.onMessage(message));
  return link;
}
