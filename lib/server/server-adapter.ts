import type { Logger } from "../logging.js";

/**
 * What a server offers its adapter: a way to deliver to its own channels a broadcast that was made
 * on another server.
 */
export interface AdapterHost {
  /**
   * Writes a broadcast made on another server to this server's channels: every channel when
   * `room` is `undefined`, else the local members of `room`. `payload` is the msgpack payload
   * (no length header), as given to `publish` on the other server.
   */
  deliverRemote(payload: Uint8Array, room: string | undefined): void;
  /** The rooms that have local members now; an adapter that (re)connects subscribes to these. */
  readonly roomNames: readonly string[];
  /** The local members of `room`, or `undefined` when it has none; an adapter counts them to size a room across servers. */
  roomMembers(room: string): ReadonlySet<unknown> | undefined;
  /** The server's logger. */
  readonly logger: Logger;
}

/**
 * Makes several servers act as one: what one broadcasts reaches the channels of all. A server
 * calls `start` in its own `start()` and `stop` in its `stop()`, `publish` after every local
 * broadcast, and the room callbacks when a room gets its first local member or loses its last,
 * so that room traffic only goes to servers with members.
 *
 * An adapter must not throw from `publish`: when its broker is unreachable it logs, keeps local
 * delivery going (the server has already written to its own channels) and resumes when it can.
 */
export interface ServerAdapter {
  start(host: AdapterHost): Promise<void>;
  publish(payload: Uint8Array, room: string | undefined): void;
  roomCreated(room: string): void;
  roomDeleted(room: string): void;
  stop(): Promise<void>;
}
