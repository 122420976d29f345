import { RepodError, type RepodErrorCode } from "../errors.js";
import type { ServerSession } from "./server-session.js";
import type { ResolvedResume } from "./session-options.js";

/** Why a seat the server ended could not be resumed. */
export interface EndedSeat {
  readonly code: RepodErrorCode;
  readonly reason: string;
}

/**
 * The resumable seats of one server, by token: the seat each good token resumes, and, for one
 * window after the server ended a seat (its window passed, its messages overflowed), why, so that a
 * player who comes back late is told the real reason instead of that its token is unknown. One
 * small entry per seat ended within a window; `clear()` (when the server stops) forgets them all
 * and stops their timers.
 */
export class SessionRegistry {
  readonly #seats = new Map<string, ServerSession>();
  /** Each seat ended within a window, by its last token: why, and the timer that forgets it. */
  readonly #ended = new Map<string, { readonly why: EndedSeat; readonly timer: ReturnType<typeof setTimeout> }>();

  /** @param resume The server's `resume` option: each seat's bounds, and the window. */
  constructor(readonly resume: ResolvedResume) {}

  /** The seat `token` resumes, if this server holds it. */
  seat(token: string): ServerSession | undefined {
    return this.#seats.get(token);
  }

  /** Why the seat `token` resumed has ended, if it ended within a window on this server. */
  ended(token: string): EndedSeat | undefined {
    return this.#ended.get(token)?.why;
  }

  /** A new seat, under its first token. */
  add(seat: ServerSession): void {
    this.#seats.set(seat.token, seat);
  }

  /** The seat took its player back under a new token; the `stale` ones resume nothing any more. */
  resumed(seat: ServerSession, stale: readonly string[]): void {
    for (const token of stale) this.#seats.delete(token);
    this.#seats.set(seat.token, seat);
  }

  /** The player confirmed it holds the new token: the `spent` one resumes nothing any more. */
  confirmed(spent: string): void {
    this.#seats.delete(spent);
  }

  /** The seat ended, for `error` (`undefined` for a close): none of its tokens resumes it again. */
  end(seat: ServerSession, error: Error | undefined): void {
    this.#seats.delete(seat.token);
    if (seat.previousToken !== null) this.#seats.delete(seat.previousToken);
    if (error instanceof RepodError && error.code.startsWith("ERR_RESUME_")) {
      const token = seat.token;
      // A server runs on Node, whose timers have unref(): this one must not keep a process alive.
      const timer = setTimeout(() => this.#ended.delete(token), this.resume.window).unref();
      this.#ended.set(token, { why: { code: error.code, reason: error.message }, timer });
    }
  }

  /** Forgets every ended seat, and stops their timers. */
  clear(): void {
    for (const { timer } of this.#ended.values()) clearTimeout(timer);
    this.#ended.clear();
  }
}
