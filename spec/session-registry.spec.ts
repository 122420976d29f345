import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConnectionError, RepodError } from "../lib/errors.js";
import type { ServerSession } from "../lib/sessions/server-session.js";
import { resolveResume } from "../lib/sessions/session-options.js";
import { SessionRegistry } from "../lib/sessions/session-registry.js";

const WINDOW = 1_000;

/** A seat as the registry sees it: its current token, and the one it resumed with until confirmed. */
function seatOf(token: string, previousToken: string | null = null): ServerSession {
  return { token, previousToken } as unknown as ServerSession;
}

function registry(): SessionRegistry {
  return new SessionRegistry(resolveResume({ window: WINDOW })!);
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("SessionRegistry", () => {
  it("finds a seat by its token, by its new one once resumed, and lets the spent and stale ones go", () => {
    const seats = registry();
    const seat = seatOf("first");
    seats.add(seat);
    expect(seats.seat("first")).toBe(seat);

    const resumed = seatOf("second", "first");
    seats.resumed(resumed, ["older"]);
    // The token it came back with stays good until the player confirms the new one arrived.
    expect(seats.seat("second")).toBe(resumed);
    expect(seats.seat("first")).toBe(seat);
    seats.confirmed("first");
    expect(seats.seat("first")).toBeUndefined();
    expect(seats.seat("second")).toBe(resumed);

    seats.add(seatOf("third"));
    seats.resumed(seatOf("fourth", "third"), ["third"]);
    expect(seats.seat("third")).toBeUndefined();
  });

  it("lets every token of a seat that ends go, its current one and the one not yet confirmed", () => {
    const seats = registry();
    const seat = seatOf("new", "old");
    seats.resumed(seat, []);
    seats.add(seatOf("old"));
    seats.end(seat, undefined);
    expect(seats.seat("new")).toBeUndefined();
    expect(seats.seat("old")).toBeUndefined();
    expect(seats.ended("new")).toBeUndefined();
  });

  it("remembers why the server ended a seat (a resume error) for one window, then forgets it", () => {
    const seats = registry();
    const seat = seatOf("gone");
    seats.add(seat);
    seats.end(seat, new ConnectionError("ERR_RESUME_EXPIRED", "window passed"));
    expect(seats.ended("gone")).toEqual({ code: "ERR_RESUME_EXPIRED", reason: "window passed" });
    vi.advanceTimersByTime(WINDOW - 1);
    expect(seats.ended("gone")).toEqual({ code: "ERR_RESUME_EXPIRED", reason: "window passed" });
    vi.advanceTimersByTime(1);
    expect(seats.ended("gone")).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("remembers nothing of a seat ended by a close, a connection error or a plain error", () => {
    const seats = registry();
    const endings = [undefined, new ConnectionError("ERR_CONNECTION_LOST", "reset"), new Error("ERR_RESUME_EXPIRED")];
    endings.forEach((error, index) => {
      const seat = seatOf(`seat-${index}`);
      seats.add(seat);
      seats.end(seat, error);
      expect(seats.ended(`seat-${index}`)).toBeUndefined();
    });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("forgets every ended seat on clear(), and leaves no timer behind", () => {
    const seats = registry();
    for (const token of ["a", "b"]) {
      const seat = seatOf(token);
      seats.add(seat);
      seats.end(seat, new RepodError("ERR_RESUME_OVERFLOW", "too much"));
    }
    expect(vi.getTimerCount()).toBe(2);
    seats.clear();
    expect(seats.ended("a")).toBeUndefined();
    expect(seats.ended("b")).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });
});
