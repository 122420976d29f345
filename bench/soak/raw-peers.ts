/**
 * Raw connections for the soak's attackers: a TCP socket or a `ws` WebSocket to the soak server,
 * opened with a deadline, with no repod-rx code on the attacker's side.
 */
import * as net from "node:net";
import WebSocket from "ws";

const OPEN_TIMEOUT_MS = 5_000;

/** Opens a TCP connection to 127.0.0.1:`port`; rejects on error or after 5 s. */
export function openTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("TCP connect timed out"));
    }, OPEN_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Opens a WebSocket to ws://127.0.0.1:`port`/; rejects on error or after 5 s. */
export function openWs(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    socket.binaryType = "nodebuffer";
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error("WebSocket open timed out"));
    }, OPEN_TIMEOUT_MS);
    socket.once("open", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Resolves once `socket` has closed, or after `ms` (then destroys it). */
export function whenClosed(socket: net.Socket | WebSocket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const isTcp = socket instanceof net.Socket;
    if (isTcp ? socket.closed : socket.readyState === WebSocket.CLOSED) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      if (isTcp) socket.destroy();
      else socket.terminate();
      resolve();
    }, ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A random integer in [min, max]. */
export function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/** A TCP frame header announcing `length` payload bytes. */
export function header(length: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(length >>> 0);
  return out;
}
