import type { AppMessage } from "./bench-messages.js";

/**
 * One implementation's server, as the server process drives it. Every server echoes each `move`
 * message back to its sender and can broadcast to all its clients.
 */
export interface BenchServer {
  /** The port clients connect to (the WebSocket port for WebSocket implementations). */
  readonly port: number;
  /** How many clients are connected now. */
  connections(): number;
  /** Sends one message to every connected client, encoded once where the implementation can. */
  broadcast(message: AppMessage): void;
  /** Closes the server and its connections. */
  close(): Promise<void>;
}

/** What starting a server gives: the server, or why this implementation is not available. */
export type StartedServer = { readonly server: BenchServer } | { readonly unavailable: string };

/**
 * One implementation's client connection, as the client process drives it. `onMessage` receives
 * every application message (`move`, `state`, ...) once the implementation has dispatched it the
 * way a user of that implementation would receive it.
 */
export interface ClientLink {
  onMessage: (message: AppMessage) => void;
  send(message: AppMessage): void;
  /** Closes the connection; resolves once closed, or after a short grace period. */
  close(): Promise<void>;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with `what` if `promise` has not settled after `ms` milliseconds. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What `whenConnected` listens on: a Node `EventEmitter` (a `net.Socket`, a `ws` WebSocket). */
interface OnceEmitter {
  once(event: string, listener: (...args: never[]) => void): unknown;
}

/**
 * Resolves on `emitter`'s first `event` (`"connect"`, `"open"`), rejects on its first `"error"`
 * or after 10 s; `what` names the attempt in the timeout error.
 */
export function whenConnected(emitter: OnceEmitter, event: string, what: string): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      emitter.once(event, () => resolve());
      emitter.once("error", reject);
    }),
    10_000,
    what,
  );
}

/** `within`, but settles quietly: for closing things that may already be gone. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  try {
    await within(promise, ms, "close");
  } catch {
    // Closing is best effort: the process is ended by the harness anyway.
  }
}
