import type { Address } from "../types.js";
import type { ConnectionState } from "./connection.js";
import type { SendOptions } from "./outbox.js";

/**
 * What a channel sends through: its connection, or, with session resume, the player's session,
 * which outlives the connections that carry it.
 */
export interface ChannelLink {
  /** `"open"` when what is sent now goes out at once. */
  readonly state: ConnectionState;
  /** The peer's address (the last known one for a session). */
  readonly remote: Address;
  /** Bytes accepted and not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /** Encodes and sends one message; the bytes accepted, or 0. @throws {TypeError} for a bad message. */
  send(message: object, options?: SendOptions): number;
  /** Sends an encoded frame (a broadcast's, shared); the bytes accepted, or 0. */
  sendFrame(frame: Uint8Array, options?: SendOptions): number;
  /** Closes gracefully: what was sent before is delivered first. */
  close(): void;
}
