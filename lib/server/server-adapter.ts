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
  /** Connects to the broker on behalf of `host`; called by the server's `start()`, which fails if this rejects. */
  start(host: AdapterHost): Promise<void>;
  /** Relays a local broadcast to the other servers: to all of them, or to those with members of `room`. */
  publish(payload: Uint8Array, room: string | undefined): void;
  /** `room` got its first local member: from now on, this server wants that room's traffic. */
  roomCreated(room: string): void;
  /** `room` lost its last local member: this server no longer needs that room's traffic. */
  roomDeleted(room: string): void;
  /** Disconnects from the broker; called by the server's `stop()`. */
  stop(): Promise<void>;
}
