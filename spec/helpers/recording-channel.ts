import { Channel, type IncomingMessage } from "../../lib/index.js";

/**
 * A server channel that records what reached it and how it ended: every message its handlers saw
 * (`networkReceived`), every error of `onError`, and its `onClose` calls. Subclass it to add
 * handlers.
 */
export class RecordingChannel extends Channel {
  /** The messages it received, in order. */
  readonly received: IncomingMessage[] = [];
  /** What reached `onError`, in order. */
  readonly errors: unknown[] = [];
  /** How many times `onClose` ran (once at most, if the library keeps its promise). */
  closes = 0;
  /** When `onClose` last ran (`Date.now()`), 0 before. */
  closedAt = 0;

  override networkReceived(message: IncomingMessage): void {
    this.received.push(message);
  }

  override onError(error: unknown): void {
    this.errors.push(error);
  }

  override onClose(): void {
    this.closes++;
    this.closedAt = Date.now();
  }
}
