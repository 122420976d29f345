import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import type * as net from "node:net";
import {
  ConnectionListener,
  FrameDecoder,
  HEADER_SIZE,
  type Channel,
  type IncomingMessage,
  type Server,
} from "../../lib/index.js";
import type { Cleanup } from "./cleanup.js";
import { rawSocket, waitFor } from "./net.js";

/** How a test player reaches the server: a TCP socket on 127.0.0.1, or the in-memory transport. */
export type Via = "tcp" | "local";

/** A connected listener, the server's channel for it, and every message it received (live). */
export interface Player<C extends Channel<any>, L extends ConnectionListener = ConnectionListener> {
  readonly listener: L;
  readonly channel: C;
  /** Every message the listener received, built-in actions included, as they arrived. */
  readonly received: IncomingMessage[];
  /** The messages received with `action`, in order. */
  of(action: string): IncomingMessage[];
}

/**
 * Connects `listener` (a fresh `ConnectionListener` by default) to `server` and resolves with its
 * channel once the server has it. In pump mode the server is pumped while waiting.
 */
export async function connectPlayer<C extends Channel<any>, L extends ConnectionListener = ConnectionListener>(
  cleanup: Cleanup,
  server: Server<C>,
  via: Via,
  listener: L = new ConnectionListener() as L,
): Promise<Player<C, L>> {
  const received: IncomingMessage[] = [];
  let channel: C | undefined;
  const known = new Set(server.channels);
  cleanup.listener(listener);
  cleanup.subscription(listener.messages$.subscribe((message) => received.push(message)));
  if (via === "local") listener.connect(server);
  else listener.connect("127.0.0.1", server.port);
  await waitFor(() => {
    server.pump();
    listener.pump();
    channel = server.channels.find((candidate) => !known.has(candidate));
    return channel !== undefined && received.some((message) => message.action === "connected");
  }, "the player's channel");
  return {
    listener,
    channel: channel!,
    received,
    of: (action) => received.filter((message) => message.action === action),
  };
}

/** Every message a raw TCP socket received, decoded, as it arrives; `bytes` keeps each whole frame. */
export interface RawPeer {
  readonly socket: net.Socket;
  readonly messages: Record<string, unknown>[];
  /** Each frame as received, header included. */
  readonly frames: Uint8Array[];
  /** Writes one message framed as Python repod does: 4-byte big-endian length + msgpack. */
  send(message: object): void;
}

/** Frames `message` with `@msgpack/msgpack` directly, the way a Python repod peer would. */
export function pythonFrame(message: object): Uint8Array {
  const payload = msgpackEncode(message);
  const frame = new Uint8Array(HEADER_SIZE + payload.byteLength);
  new DataView(frame.buffer).setUint32(0, payload.byteLength);
  frame.set(payload, HEADER_SIZE);
  return frame;
}

/** Wraps an open socket as a raw msgpack peer that reads frames and writes them by hand. */
export function rawPeer(socket: net.Socket): RawPeer {
  const messages: Record<string, unknown>[] = [];
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder();
  socket.on("data", (chunk: Buffer) =>
    decoder.push(chunk, (payload) => {
      const frame = new Uint8Array(HEADER_SIZE + payload.byteLength);
      new DataView(frame.buffer).setUint32(0, payload.byteLength);
      frame.set(payload, HEADER_SIZE);
      frames.push(frame);
      messages.push(msgpackDecode(frame.subarray(HEADER_SIZE)) as Record<string, unknown>);
    }),
  );
  return { socket, messages, frames, send: (message) => socket.write(pythonFrame(message)) };
}

/** A raw TCP client of `server`, greeted, with its channel (the server is pumped while waiting). */
export async function connectRaw<C extends Channel<any>>(
  cleanup: Cleanup,
  server: Server<C>,
): Promise<{ peer: RawPeer; channel: C }> {
  const known = new Set(server.channels);
  const peer = rawPeer(cleanup.socket(await rawSocket(server.port)));
  let channel: C | undefined;
  await waitFor(() => {
    server.pump();
    channel = server.channels.find((candidate) => !known.has(candidate));
    return channel !== undefined && peer.messages.length > 0;
  }, "the raw peer's channel and greeting");
  return { peer, channel: channel! };
}
