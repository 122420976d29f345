// Tools for playing a hostile peer: hand-made msgpack (what no encoder writes), raw links that send
// payloads over TCP or WebSocket and decode what comes back, hostile servers, victims running in a
// child process, and a recorder of exceptions that reach the process.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import WebSocket from "ws";
import { FrameDecoder } from "../../lib/index.js";
import type { Cleanup } from "./cleanup.js";
import { waitFor } from "./net.js";
import { rawServer } from "./raw.js";
import { rawWsServer } from "./ws.js";

/** The transports a hostile peer can use against a Node process. */
export type Wire = "tcp" | "ws";

// ---------------------------------------------------------------------------------------------
// Hand-made msgpack.

/** A msgpack string, with the smallest header that fits (fixstr, str 8, str 16, str 32). */
export function rawStr(text: string): Uint8Array {
  const bytes = Buffer.from(text);
  const n = bytes.byteLength;
  let head: number[];
  if (n < 32) head = [0xa0 | n];
  else if (n < 0x100) head = [0xd9, n];
  else if (n < 0x10000) head = [0xda, n >> 8, n & 0xff];
  else head = [0xdb, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return concat([Uint8Array.from(head), bytes]);
}

/** Any value the way `@msgpack/msgpack` writes it (bigints as int64 / uint64). */
export function rawValue(value: unknown): Uint8Array {
  return msgpackEncode(value, { useBigInt64: true });
}

/** A msgpack map of `entries`, each value already msgpack; keys are written as given, duplicates included. */
export function rawMap(entries: readonly (readonly [string, Uint8Array])[]): Uint8Array {
  const n = entries.length;
  const head = n < 16 ? [0x80 | n] : [0xde, n >> 8, n & 0xff];
  return concat([Uint8Array.from(head), ...entries.flatMap(([key, value]) => [rawStr(key), value])]);
}

/** `{ action, ...fields }` with every field value already msgpack. */
export function rawMessage(action: string, fields: Record<string, Uint8Array> = {}): Uint8Array {
  return rawMap([["action", rawStr(action)], ...Object.entries(fields)]);
}

/** `depth` arrays nested in each other around `inner` (nil by default): `[[[...[nil]...]]]`. */
export function rawNestedArrays(depth: number, inner: Uint8Array = Uint8Array.of(0xc0)): Uint8Array {
  const out = new Uint8Array(depth + inner.byteLength).fill(0x91);
  out.set(inner, depth);
  return out;
}

/** `depth` one-key maps nested in each other around a nil: `{k: {k: ... nil}}`. */
export function rawNestedMaps(depth: number): Uint8Array {
  const one = [0x81, 0xa1, 0x6b];
  const out = new Uint8Array(depth * one.length + 1);
  for (let i = 0; i < depth; i++) out.set(one, i * one.length);
  out[depth * one.length] = 0xc0;
  return out;
}

/** A TCP frame: the 4-byte big-endian length, then `payload`. */
export function tcpFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, 4);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Raw links: one hostile connection, TCP or WebSocket, seen from the test.

/** A message the test received on a raw link, decoded by `@msgpack/msgpack` itself. */
export type RawMessage = Record<string, unknown>;

/** One connection the test drives by hand. */
export interface RawLink {
  readonly wire: Wire;
  /** Every map received, decoded, in order. */
  readonly received: RawMessage[];
  /** Whether the other end (or the test) has closed the connection. */
  readonly closed: boolean;
  /** Sends one msgpack payload: framed on TCP, one binary message on WebSocket. */
  send(payload: Uint8Array): void;
  /** Sends `message` encoded by `@msgpack/msgpack`. */
  sendMessage(message: object): void;
  /** Writes bytes as they are: on TCP, straight to the socket; on WebSocket, as one text message. */
  sendRaw(bytes: Uint8Array | string): void;
  /** Resolves with the first received message matching `predicate`; rejects once closed or after `timeout`. */
  next(predicate: (message: RawMessage) => boolean, what: string, timeout?: number): Promise<RawMessage>;
  /** Resolves once the connection is closed; rejects after `timeout`. */
  whenClosed(timeout?: number): Promise<void>;
  /** Closes gracefully: TCP `end()`, a WebSocket close frame. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
}

function decodeOrMark(payload: Uint8Array): RawMessage {
  try {
    const value = msgpackDecode(payload) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as RawMessage;
    return { "!": "not a map" };
  } catch {
    return { "!": "unreadable" };
  }
}

function makeLink(
  wire: Wire,
  transmit: (bytes: Uint8Array) => void,
  raw: (bytes: Uint8Array | string) => void,
  end: () => void,
  destroy: () => void,
): RawLink & { deliver(message: RawMessage): void; markClosed(): void } {
  const received: RawMessage[] = [];
  let closed = false;
  const link = {
    wire,
    received,
    get closed() {
      return closed;
    },
    send: (payload: Uint8Array) => {
      if (!closed) transmit(payload);
    },
    sendMessage: (message: object) => link.send(msgpackEncode(message)),
    sendRaw: (bytes: Uint8Array | string) => {
      if (!closed) raw(bytes);
    },
    async next(predicate: (message: RawMessage) => boolean, what: string, timeout = 3_000): Promise<RawMessage> {
      let found: RawMessage | undefined;
      await waitFor(
        () => {
          found = received.find(predicate);
          if (found === undefined && closed) throw new Error(`The connection closed before ${what}`);
          return found !== undefined;
        },
        what,
        timeout,
      );
      return found!;
    },
    whenClosed: (timeout = 3_000) => waitFor(() => closed, `the ${wire} connection to close`, timeout),
    end,
    destroy,
    deliver: (message: RawMessage) => received.push(message),
    markClosed: () => {
      closed = true;
    },
  };
  return link;
}

/** Wraps an open TCP socket. */
export function tcpLink(socket: net.Socket): RawLink {
  const link = makeLink(
    "tcp",
    (payload) => socket.write(tcpFrame(payload)),
    (bytes) => socket.write(bytes),
    () => socket.end(),
    () => socket.destroy(),
  );
  const decoder = new FrameDecoder(0xffff_ffff);
  socket.on("data", (chunk: Buffer) => {
    try {
      decoder.push(chunk, (payload) => link.deliver(decodeOrMark(Uint8Array.from(payload))));
    } catch {
      socket.destroy();
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => link.markClosed());
  return link;
}

/** Wraps an open `ws` WebSocket. */
export function wsLink(socket: WebSocket): RawLink {
  const link = makeLink(
    "ws",
    (payload) => socket.send(payload, { binary: true }),
    (bytes) => socket.send(bytes, { binary: false }),
    () => socket.close(1000),
    () => socket.terminate(),
  );
  socket.binaryType = "nodebuffer";
  socket.on("message", (data, isBinary) => {
    link.deliver(isBinary ? decodeOrMark(Uint8Array.from(data as Buffer)) : { "!": "text" });
  });
  socket.on("error", () => {});
  socket.on("close", () => link.markClosed());
  return link;
}

/** A raw client connection to a server's TCP `port` or WebSocket `port`, destroyed after the test. */
export async function rawLinkTo(cleanup: Cleanup, wire: Wire, port: number): Promise<RawLink> {
  if (wire === "tcp") {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
      socket.once("error", reject);
    });
    cleanup.add(() => socket.destroy());
    return tcpLink(socket);
  }
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  cleanup.add(() => socket.terminate());
  // Listening before it opens: the greeting may come in the same chunk as the handshake's answer,
  // and is then emitted right after "open", before any promise continuation could subscribe.
  const link = wsLink(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return link;
}

/** A bare server playing a hostile repod server: `url` for `connect()`, and each connection as a raw link. */
export interface HostileServer {
  /** `tcp://127.0.0.1:PORT` or `ws://127.0.0.1:PORT/`. */
  readonly url: string;
  /** Every connection accepted so far. */
  readonly links: RawLink[];
  /** Resolves with the `index`-th connection (0 for the first) once it is accepted. */
  link(index: number, timeout?: number): Promise<RawLink>;
}

/** Starts a hostile server on 127.0.0.1, a free port; closed with its connections after the test. */
export async function hostileServer(cleanup: Cleanup, wire: Wire): Promise<HostileServer> {
  const links: RawLink[] = [];
  let url: string;
  if (wire === "tcp") {
    const port = await rawServer(cleanup, (socket) => {
      socket.setNoDelay(true);
      links.push(tcpLink(socket));
    });
    url = `tcp://127.0.0.1:${port}`;
  } else {
    const server = await rawWsServer(cleanup, (socket) => links.push(wsLink(socket)));
    url = server.url;
  }
  return {
    url,
    links,
    async link(index, timeout = 5_000) {
      await waitFor(() => links.length > index, `connection ${index} to the hostile server`, timeout);
      return links[index]!;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Victims in a child process.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** One line a fixture printed: a JSON object with an `ev` field. */
export interface VictimEvent {
  readonly ev: string;
  readonly [field: string]: unknown;
}

/** A fixture running under tsx in a child process, printing one JSON event per line. */
export interface Victim {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every event printed so far, in order. */
  readonly events: VictimEvent[];
  /** Whether the process still runs. */
  alive(): boolean;
  /** Resolves with the first event matching `predicate` (already printed or to come). */
  event(predicate: (event: VictimEvent) => boolean, what: string, timeout?: number): Promise<VictimEvent>;
  /** Writes one command line on the fixture's stdin. */
  command(line: string): void;
  /**
   * Waits until the fixture has printed everything it printed before this call: sends `sync N`
   * and waits for its `{ ev: "sync", n: N }` (stdout keeps its order).
   */
  sync(): Promise<void>;
  /** How the process ended (or that it runs), its `fatal` events and the end of its stderr: for failure messages. */
  describe(): string;
}

let syncCounter = 0;

/**
 * Runs `node [nodeArgs...] --import tsx <fixture> [args...]` from the repository root and resolves
 * once it prints `{ "ev": "ready" }`. After the test its stdin is closed and it is killed with
 * SIGKILL and awaited, so no process outlives the test.
 * @throws {Error} if it exits or stays silent for 15 s before it is ready.
 */
export async function spawnVictim(
  cleanup: Cleanup,
  fixture: string,
  args: readonly string[] = [],
  nodeArgs: readonly string[] = [],
): Promise<Victim> {
  const file = fileURLToPath(new URL(`../fixtures/${fixture}`, import.meta.url));
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", file, ...args], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let exit: string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
      resolve();
    });
  });
  cleanup.add(async () => {
    child.stdin.end();
    child.kill("SIGKILL");
    await exited;
  });
  child.stdin.on("error", () => {});
  const events: VictimEvent[] = [];
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    let newline: number;
    while ((newline = stdout.indexOf("\n")) >= 0) {
      const line = stdout.slice(0, newline);
      stdout = stdout.slice(newline + 1);
      try {
        events.push(JSON.parse(line) as VictimEvent);
      } catch {
        events.push({ ev: "text", line });
      }
    }
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const victim: Victim = {
    child,
    events,
    alive: () => exit === null,
    async event(predicate, what, timeout = 5_000) {
      let found: VictimEvent | undefined;
      await waitFor(
        () => {
          found = events.find(predicate);
          if (found === undefined && exit !== null) throw new Error(`${what}: the process ${victim.describe()}`);
          return found !== undefined;
        },
        what,
        timeout,
      );
      return found!;
    },
    command: (line) => {
      if (exit === null) child.stdin.write(`${line}\n`);
    },
    async sync() {
      const n = ++syncCounter;
      victim.command(`sync ${n}`);
      await victim.event((event) => event.ev === "sync" && event.n === n, `sync ${n}`);
    },
    describe() {
      const fatal = events.filter((event) => event.ev === "fatal").map((event) => String(event.error));
      return [
        exit ?? "is still running",
        ...fatal.map((error) => `fatal: ${error}`),
        stderr.trim() === "" ? "" : `stderr: ${stderr.trim()}`,
      ]
        .filter((line) => line !== "")
        .join("\n");
    },
  };
  await victim.event((event) => event.ev === "ready", `${fixture} to be ready`, 15_000);
  return victim;
}

// ---------------------------------------------------------------------------------------------

/**
 * Records every exception and rejection that reaches this process (nobody caught it) while the
 * test runs: a hostile peer must never cause one.
 */
export function recordUncaught(cleanup: Cleanup): unknown[] {
  const uncaught: unknown[] = [];
  const record = (error: unknown): void => {
    uncaught.push(error);
  };
  process.on("uncaughtException", record);
  process.on("unhandledRejection", record);
  cleanup.add(() => {
    process.off("uncaughtException", record);
    process.off("unhandledRejection", record);
  });
  return uncaught;
}

/** A short description of an error for a failure message: its stack, or what it is. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  try {
    return String(error);
  } catch {
    return typeof error;
  }
}
