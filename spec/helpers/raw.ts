import * as net from "node:net";
import { decode, FrameDecoder } from "../../lib/index.js";
import type { Cleanup } from "./cleanup.js";

/** Decodes every frame `socket` receives into the returned array, as it arrives. */
export function receivedBy(socket: net.Socket): unknown[] {
  const received: unknown[] = [];
  const decoder = new FrameDecoder();
  socket.on("data", (chunk: Buffer) =>
    decoder.push(chunk, (payload) => received.push(decode(Uint8Array.from(payload)))),
  );
  return received;
}

/** One frame around raw payload bytes given in hex: `frameOf("c0")` is a msgpack nil. */
export function frameOf(payloadHex: string): Buffer {
  const payload = Buffer.from(payloadHex, "hex");
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.byteLength);
  return Buffer.concat([header, payload]);
}

/** A 4-byte frame header announcing `length` payload bytes. */
export function headerOf(length: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length);
  return header;
}

/**
 * A bare TCP server on 127.0.0.1:0 playing a misbehaving repod server: `onSocket` gets every
 * accepted socket. Closed (with its sockets) after the test.
 */
export async function rawServer(cleanup: Cleanup, onSocket: (socket: net.Socket) => void): Promise<number> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((socket) => {
    accepted.push(socket);
    socket.on("error", () => {});
    onSocket(socket);
  });
  cleanup.netServer(server, accepted);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}
