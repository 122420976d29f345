import {
  Channel,
  ConnectionError,
  ConnectionListener,
  type ConnectOptions,
  type ClientState,
  type IncomingMessage,
  type LocalServer,
  type Server,
} from "../../lib/index.js";
import type { Transport } from "../../lib/transports/transport.js";
import type { Cleanup } from "./cleanup.js";
import { delay, rawSocket, waitFor } from "./net.js";
import { rawPeer, type RawPeer } from "./players.js";

/** `count` numbers from `from` on: what a side that sent them numbered expects to be seen. */
export function range(count: number, from = 0): number[] {
  return Array.from({ length: count }, (_, index) => from + index);
}

/** A small seeded generator (mulberry32): the same seed gives the same chaos on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The code of an error or of a built-in `error`/`dropped` message, if it has one. */
export function codeOf(value: unknown): unknown {
  return (value as { code?: unknown } | null)?.code;
}

/**
 * A server seat that records what reaches it: the numbers of its `n` messages, and a timeline of
 * its hooks and messages in the order they ran (`n:5`, `drop:ERR_CONNECTION_LOST`, `resume`...),
 * so that a test can tell what ran before what. It answers `ask` requests with `q * 2`, the odd
 * ones through a Promise (an answer computed later, possibly across a drop).
 */
export class RecordingSeat extends Channel {
  readonly got: number[] = [];
  readonly timeline: string[] = [];
  readonly errors: unknown[] = [];
  readonly asked: number[] = [];
  drops = 0;
  resumes = 0;
  closes = 0;
  connects = 0;

  Network_n(message: { n: number }): void {
    this.got.push(message.n);
    this.timeline.push(`n:${message.n}`);
  }

  Network_ask(message: { q: number }): unknown {
    this.asked.push(message.q);
    const answer = { a: message.q * 2 };
    return message.q % 2 === 1 ? delay(1).then(() => answer) : answer;
  }

  override onConnect(): void {
    this.connects++;
    this.timeline.push("connect");
  }

  override onDrop(error: Error): void {
    this.drops++;
    this.timeline.push(`drop:${String(codeOf(error))}`);
  }

  override onResume(): void {
    this.resumes++;
    this.timeline.push("resume");
  }

  override onClose(): void {
    this.closes++;
    this.timeline.push("close");
  }

  override onError(error: unknown): void {
    this.errors.push(error);
    this.timeline.push(`error:${String(codeOf(error))}`);
  }
}

/**
 * A player that records what its handlers see inside `pump()`: the numbers of its `m` messages,
 * and every built-in action with its code, in order. It answers `ask` requests with `q * 3`, the
 * odd ones through a Promise.
 */
export class RecordingPlayer extends ConnectionListener {
  readonly got: number[] = [];
  /** Built-in actions as handled, `dropped:CODE` and `error:CODE` with their code. */
  readonly events: string[] = [];
  /** Every other message, as handled. */
  readonly other: IncomingMessage[] = [];
  readonly asked: number[] = [];

  Network_m(message: { n: number }): void {
    this.got.push(message.n);
  }

  Network_ask(message: { q: number }): unknown {
    this.asked.push(message.q);
    const answer = { a: message.q * 3 };
    return message.q % 2 === 1 ? delay(1).then(() => answer) : answer;
  }

  Network_connected(): void {
    this.events.push("connected");
  }

  Network_socketConnect(): void {
    this.events.push("socketConnect");
  }

  Network_disconnected(): void {
    this.events.push("disconnected");
  }

  Network_dropped(message: { code?: string }): void {
    this.events.push(`dropped:${String(message.code)}`);
  }

  Network_resumed(): void {
    this.events.push("resumed");
  }

  Network_error(message: { code?: string }): void {
    this.events.push(`error:${String(message.code)}`);
  }

  override networkReceived(message: IncomingMessage): void {
    this.other.push(message);
  }
}

/** A player and what was observed of it outside its handlers. */
export interface ObservedPlayer<L extends ConnectionListener> {
  readonly listener: L;
  /** Every message of `messages$`, live, built-in actions included. */
  readonly log: IncomingMessage[];
  /** Every state the client went through, from its first. */
  readonly states: ClientState[];
}

/**
 * Connects `listener` to `target` (a port on 127.0.0.1, a `ws://` URL, or a local server) with
 * `options`, and records its messages and states. The listener is pumped every millisecond, as a
 * game loop would, and closed after the test.
 */
export function openPlayer<L extends ConnectionListener>(
  cleanup: Cleanup,
  listener: L,
  target: number | string | LocalServer,
  options: ConnectOptions,
): ObservedPlayer<L> {
  cleanup.listener(listener);
  const log: IncomingMessage[] = [];
  const states: ClientState[] = [];
  cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
  if (typeof target === "number") listener.connect("127.0.0.1", target, options);
  else if (typeof target === "string") listener.connect(target, undefined, options);
  else listener.connect(target, options);
  cleanup.subscription(listener.connection!.state$.subscribe((state) => states.push(state)));
  pumpEvery(cleanup, listener);
  return { listener, log, states };
}

/** Calls `pump()` on each target every millisecond until the test ends: a game loop. */
export function pumpEvery(cleanup: Cleanup, ...targets: { pump(): number }[]): void {
  const timer = setInterval(() => {
    for (const target of targets) target.pump();
  }, 1);
  cleanup.add(() => clearInterval(timer));
}

/**
 * Whether the client holds a resumable session. The client says nothing when the server's
 * `@session` arrives (its `connected` may come before), so the test reads the session its private
 * `resume` field holds, the only place where that is known.
 */
export function holdsSession(listener: ConnectionListener): boolean {
  const client = listener.connection as unknown as { resume: { session: unknown } | null } | null;
  return client?.resume?.session != null;
}

/** Waits until `listener` holds a session granted by the server. */
export function sessionGranted(listener: ConnectionListener): Promise<void> {
  return waitFor(() => holdsSession(listener), "the server's @session to reach the client");
}

/** The only channel of `server` not in `known`, once there is one. */
export async function newChannel<C extends Channel<any>>(
  server: Server<C>,
  known: readonly C[] = [],
  what = "a new channel",
): Promise<C> {
  let found: C | undefined;
  await waitFor(() => {
    found = server.channels.find((channel) => !known.includes(channel));
    return found !== undefined;
  }, what);
  return found!;
}

/** A raw TCP peer speaking the session protocol by hand (hello, resume) to see every frame. */
export async function rawSessionPeer(cleanup: Cleanup, port: number): Promise<RawPeer> {
  return rawPeer(cleanup.socket(await rawSocket(port)));
}

/** The actions a raw peer received, in order. */
export function actionsOf(peer: RawPeer): unknown[] {
  return peer.messages.map((message) => message.action);
}

/** Waits until the raw peer has received a message with `action`, and returns it. */
export async function receivedAction(peer: RawPeer, action: string): Promise<Record<string, unknown>> {
  await waitFor(() => peer.messages.some((message) => message.action === action), `${action} on the raw peer`);
  return peer.messages.find((message) => message.action === action)!;
}

/**
 * An in-process link to `server` that a test can drop: `drop()` fails the client's end of the
 * in-memory transport with a reset, as a heartbeat timeout would. The server's end then sees a
 * clean close (there is no network between them) without the player's goodbye. `isUp()` says
 * whether a connection was opened since the last drop.
 */
export function droppableLocal(server: Server<any>): { target: LocalServer; isUp(): boolean; drop(): void } {
  let current: Transport | null = null;
  return {
    target: {
      openLocal: (options) => {
        current = server.openLocal(options);
        return current;
      },
    },
    isUp: () => current !== null,
    drop() {
      if (current === null) throw new Error("nothing to drop: no local connection since the last drop");
      current.destroy(new ConnectionError("ERR_CONNECTION_LOST", "read ECONNRESET (simulated)"));
      current = null;
    },
  };
}
