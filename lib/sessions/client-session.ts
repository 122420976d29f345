import { MAX_RESUME_WINDOW } from "./session-options.js";
import type { SessionBounds } from "./session-stream.js";
import { SessionStream } from "./session-stream.js";
import { isSessionToken } from "./session-token.js";

/**
 * What a client keeps for each session it may ask for: the messages it sends are numbered and
 * kept from the first one (before the server has even answered), so that none is missing if the
 * server grants a session and the connection drops early.
 */
export const CLIENT_SESSION_BOUNDS: SessionBounds = {
  maxMessages: 4_096,
  maxBytes: 1024 * 1024,
  maxInFlightBytes: 64 * 1024,
};

/**
 * The client's side of a resumable session: the token that lets it come back (single-use,
 * replaced at every resume), how long the server holds the seat, and the exactly-once
 * bookkeeping of both directions.
 */
export class ClientSession {
  /** When the connection was lost, in ms since the epoch; `null` while connected. */
  droppedAt: number | null = null;

  constructor(
    public token: string,
    /** Milliseconds the server holds the seat after a drop. */
    readonly window: number,
    readonly stream: SessionStream,
  ) {}

  /** Reads the server's `@session` answer; `null` if it is not one this client can use. */
  static grant(message: Readonly<Record<string, unknown>>, stream: SessionStream): ClientSession | null {
    const { token, window } = message;
    if (
      !isSessionToken(token) ||
      typeof window !== "number" ||
      !Number.isSafeInteger(window) ||
      window <= 0 ||
      // Longer than a timer can wait: the seat would be given up at the first drop.
      window > MAX_RESUME_WINDOW
    ) {
      return null;
    }
    return new ClientSession(token, window, stream);
  }

  /** Whether the seat may still be held, `now` being the time in ms since the epoch. */
  isHeld(now: number): boolean {
    return this.droppedAt === null || now - this.droppedAt < this.window;
  }
}
