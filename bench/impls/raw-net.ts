import * as net from "node:net";
import type { AppMessage } from "./bench-messages.js";
import { type BenchServer, type ClientLink, settleWithin, whenConnected } from "./bench-server.js";
import { decodePayload, encodeFrame, FrameSplitter, FrameWriter } from "./length-prefix.js";

/**
 * The TCP baseline: `node:net`, a 4-byte length prefix and @msgpack/msgpack, nothing else.
 * `coalesce` chooses between one `socket.write` per message and one per event-loop turn.
 */
export async function startRawNetServer(coalesce: boolean): Promise<BenchServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    const writer = new FrameWriter(socket, coalesce);
    const splitter = new FrameSplitter((payload) => {
      const message = decodePayload(payload) as AppMessage;
      if (message.action === "move") writer.write(encodeFrame(message));
    });
    socket.on("data", (chunk: Buffer) => splitter.push(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => sockets.size,
    broadcast(message) {
      // Encode once, write the same bytes to every socket.
      const frame = encodeFrame(message);
      for (const socket of sockets) socket.write(frame);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await settleWithin(new Promise((resolve) => server.close(resolve)), 2_000);
    },
  };
}

export async function openRawNetLink(port: number, coalesce: boolean): Promise<ClientLink> {
  const socket = net.connect({ host: "127.0.0.1", port, noDelay: true });
  await whenConnected(socket, "connect", `raw TCP connect to 127.0.0.1:${port}`);
  const writer = new FrameWriter(socket, coalesce);
  const link: ClientLink = {
    onMessage: () => {},
    send: (message) => writer.write(encodeFrame(message)),
    async close() {
      socket.end();
      await settleWithin(new Promise((resolve) => socket.once("close", resolve)), 1_000);
      socket.destroy();
    },
  };
  const splitter = new FrameSplitter((payload) => link.onMessage(decodePayload(payload) as AppMessage));
  socket.on("data", (chunk: Buffer) => splitter.push(chunk));
  socket.on("error", () => socket.destroy());
  return link;
}
