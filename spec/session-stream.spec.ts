import { afterEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "../lib/connections/connection.js";
import { decode } from "../lib/protocol/codec.js";
import { ClientSession } from "../lib/sessions/client-session.js";
import { ReplayLog } from "../lib/sessions/replay-log.js";
import { SessionStream } from "../lib/sessions/session-stream.js";
import { isSessionToken, newSessionToken } from "../lib/sessions/session-token.js";

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

const frame = (size: number, fill = 1): Uint8Array => new Uint8Array(size).fill(fill);

/** A connection as the stream sees it: records what is written and the pacing gate. */
class FakeConnection {
  readonly written: { frame: Uint8Array; options?: unknown; tag?: number }[] = [];
  state = "open";
  isClear = true;
  receivedBytes = 0;
  acks = 0;
  gate: ((backlogBytes: number) => boolean) | null = null;
  sendFrame(f: Uint8Array, options?: unknown, tag?: number): number {
    this.written.push({ frame: f, options, tag });
    return f.byteLength;
  }
  replaceLatest(): null {
    return null;
  }
  pace(gate: (backlogBytes: number) => boolean): void {
    this.gate = gate;
  }
  acknowledged(): void {
    this.acks++;
  }
  ackCounts(): number[] {
    return this.written
      .map((w) => decode(w.frame.subarray(4)) as Record<string, unknown>)
      .filter((m) => m.action === "@ack")
      .map((m) => m.n as number);
  }
}

const asConnection = (c: FakeConnection): Connection => c as unknown as Connection;

describe("session token", () => {
  it("is 32 lowercase hex digits and differs every time", () => {
    const tokens = new Set(Array.from({ length: 50 }, () => newSessionToken()));
    expect(tokens.size).toBe(50);
    for (const t of tokens) expect(isSessionToken(t)).toBe(true);
  });

  it("rejects values that are not exactly a token", () => {
    const t = newSessionToken();
    expect(isSessionToken(42)).toBe(false);
    expect(isSessionToken(t.slice(1))).toBe(false);
    expect(isSessionToken(t + "0")).toBe(false);
    expect(isSessionToken("X" + t.slice(1))).toBe(false);
    expect(isSessionToken(t.slice(0, -1) + "X")).toBe(false);
    expect(isSessionToken(t.toUpperCase().replace(/[0-9]/g, "A"))).toBe(false);
  });
});

describe("client session", () => {
  const stream = () => new SessionStream({ maxMessages: 10, maxBytes: 1000, maxInFlightBytes: 100 });

  it("refuses a grant with a window that is not a positive integer", () => {
    const token = newSessionToken();
    expect(ClientSession.grant({ token, window: 0 }, stream())).toBeNull();
    expect(ClientSession.grant({ token, window: -5 }, stream())).toBeNull();
    expect(ClientSession.grant({ token, window: 1.5 }, stream())).toBeNull();
    expect(ClientSession.grant({ token, window: 1 }, stream())?.window).toBe(1);
  });

  it("holds the seat for exactly the window after a drop", () => {
    const session = ClientSession.grant({ token: newSessionToken(), window: 1000 }, stream())!;
    expect(session.isHeld(5_000_000)).toBe(true);
    session.droppedAt = 10_000;
    expect(session.isHeld(10_999)).toBe(true);
    expect(session.isHeld(11_000)).toBe(false);
    expect(session.isHeld(20_000)).toBe(false);
  });
});

describe("replay log", () => {
  it("counts kept messages as sent less acknowledged", () => {
    const log = new ReplayLog(10, 1000);
    for (let i = 0; i < 5; i++) log.push(frame(1));
    log.ack(3);
    expect(log.keptMessages).toBe(2);
    expect(log.since(3)).toHaveLength(2);
  });

  it("keeps exactly maxBytes and overflows one byte past it", () => {
    const log = new ReplayLog(10, 10);
    expect(log.push(frame(6))).toBe(true);
    expect(log.push(frame(4))).toBe(true);
    expect(log.isOverflowed).toBe(false);
    expect(log.push(frame(1))).toBe(false);
    expect(log.isOverflowed).toBe(true);
    expect(log.keptBytes).toBe(0);
    expect(log.since(0)).toBeNull();
  });

  it("stays overflowed: later pushes keep nothing even after everything is acknowledged", () => {
    const log = new ReplayLog(2, 1000);
    log.push(frame(1));
    log.push(frame(1));
    expect(log.push(frame(1))).toBe(false);
    expect(log.ack(3)).toBe(true);
    expect(log.ackedCount).toBe(3);
    expect(log.push(frame(1))).toBe(false);
    expect(log.keptBytes).toBe(0);
    expect(log.since(3)).toBeNull();
    // An older acknowledgement does not move the count back.
    expect(log.ack(1)).toBe(true);
    expect(log.ackedCount).toBe(3);
  });

  it("replaces only a message that is still kept", () => {
    const log = new ReplayLog(10, 1000);
    log.push(frame(1, 1));
    log.push(frame(2, 2));
    log.push(frame(3, 3));
    log.ack(1);
    expect(log.replace(1, frame(9))).toBe(false); // acknowledged
    expect(log.replace(0, frame(9))).toBe(false);
    expect(log.replace(4, frame(9))).toBe(false); // never sent
    expect(log.since(1)!.map((f) => f[0])).toEqual([2, 3]);
    expect(log.replace(3, frame(5, 7))).toBe(true); // the newest
    expect(log.replace(2, frame(4, 6))).toBe(true);
    expect(log.since(1)!.map((f) => [f[0], f.byteLength])).toEqual([
      [6, 4],
      [7, 5],
    ]);
    expect(log.keptBytes).toBe(9);
  });

  it("a replacement up to maxBytes is kept, one byte more overflows", () => {
    const log = new ReplayLog(10, 10);
    log.push(frame(2));
    log.push(frame(2));
    expect(log.replace(2, frame(8))).toBe(true);
    expect(log.keptBytes).toBe(10);
    expect(log.replace(2, frame(9))).toBe(false);
    expect(log.isOverflowed).toBe(true);
    expect(log.keptBytes).toBe(0);
    expect(log.replace(1, frame(1))).toBe(false);
  });

  it("replays the right frames after many acknowledgements (compaction keeps numbering)", () => {
    const log = new ReplayLog(1000, 100_000);
    let next = 0;
    const expected: number[] = [];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 13; i++) log.push(frame(1, next++ % 256));
      expect(log.ack(log.sentCount - 3 - (round % 3))).toBe(true);
      const from = log.ackedCount;
      expected.length = 0;
      for (let n = from; n < log.sentCount; n++) expected.push(n % 256);
      expect(log.since(from)!.map((f) => f[0])).toEqual(expected);
      expect(log.keptBytes).toBe(log.sentCount - from);
      if (log.keptMessages > 0) {
        expect(log.replace(log.sentCount, frame(2, 250))).toBe(true);
        expect(log.since(log.sentCount - 1)![0]![0]).toBe(250);
        expect(log.replace(log.sentCount, frame(1, (log.sentCount - 1) % 256))).toBe(true);
      }
    }
  });
});

describe("session stream", () => {
  const bounds = { maxMessages: 100, maxBytes: 10_000, maxInFlightBytes: 100 };

  it("drops a volatile send while there is no connection or it holds a backlog, numbers it otherwise", () => {
    const stream = new SessionStream(bounds);
    expect(stream.send(frame(5), { volatile: true })).toBe(0);
    const c = new FakeConnection();
    expect(stream.attach(asConnection(c), 0)).toBe(true);
    c.isClear = false;
    expect(stream.send(frame(5), { volatile: true })).toBe(0);
    expect(c.written).toHaveLength(0);
    c.isClear = true;
    expect(stream.send(frame(5), { volatile: true })).toBe(5);
    expect(c.written).toHaveLength(1);
    expect(stream.keptBytes).toBe(5);
    expect(stream.canReplay(0)).toBe(true);
    expect(stream.canReplay(1)).toBe(true);
    expect(stream.canReplay(2)).toBe(false);
    expect(stream.canReplay("1")).toBe(false);
  });

  it("a latest-wins send during a gap replaces the waiting one and keeps its number on replay", () => {
    const stream = new SessionStream(bounds);
    stream.send(frame(1, 1));
    stream.send(frame(1, 2), { latest: "pos" });
    stream.send(frame(1, 3), { latest: "pos" });
    stream.send(frame(1, 4), { latest: "other" });
    const c = new FakeConnection();
    expect(stream.attach(asConnection(c), 0)).toBe(true);
    expect(c.written.map((w) => w.frame[0])).toEqual([1, 3, 4]);
    expect(c.written.map((w) => w.options)).toEqual([undefined, { latest: "pos" }, { latest: "other" }]);
    expect(c.written.map((w) => w.tag)).toEqual([undefined, 2, 3]);
  });

  it("a latest-wins send with a connection is numbered and kept for replay", () => {
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    stream.attach(asConnection(c), 0);
    stream.send(frame(2, 1), { latest: "k" });
    stream.send(frame(3, 2), { latest: "k" });
    expect(c.written.map((w) => w.tag)).toEqual([1, 2]);
    stream.detach();
    const d = new FakeConnection();
    expect(stream.attach(asConnection(d), 1)).toBe(true);
    expect(d.written.map((w) => w.frame[0])).toEqual([2]);
    expect(d.written[0]!.options).toBeUndefined();
  });

  it("replay stops at the first frame the connection refuses", () => {
    const stream = new SessionStream(bounds);
    for (let i = 0; i < 5; i++) stream.send(frame(1, i));
    const c = new FakeConnection();
    let calls = 0;
    c.sendFrame = () => (++calls === 2 ? 0 : 1);
    expect(stream.attach(asConnection(c), 0)).toBe(true);
    expect(calls).toBe(2);
  });

  it("resuming trims what the peer says it received: a later resume cannot go back before it", () => {
    const stream = new SessionStream(bounds);
    for (let i = 0; i < 4; i++) stream.send(frame(10, i));
    expect(stream.attach(asConnection(new FakeConnection()), 3)).toBe(true);
    expect(stream.keptBytes).toBe(10);
    stream.detach();
    expect(stream.canReplay(2)).toBe(false);
    expect(stream.attach(asConnection(new FakeConnection()), 2)).toBe(false);
  });

  it("acknowledgements: rejects impossible counts, trims what is kept", () => {
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    stream.attach(asConnection(c), 0);
    stream.send(frame(10));
    stream.send(frame(10));
    expect(stream.acknowledge("1")).toBe(false);
    expect(stream.acknowledge(3)).toBe(false);
    expect(c.acks).toBe(0);
    expect(stream.acknowledge(1)).toBe(true);
    expect(c.acks).toBe(1);
    expect(stream.keptBytes).toBe(10);
  });

  it("paces only once the peer acknowledges, while in-flight bytes are under maxInFlightBytes", () => {
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    stream.attach(asConnection(c), 0);
    for (let i = 0; i < 15; i++) stream.send(frame(10));
    // The peer has not acknowledged anything yet: no pacing.
    expect(c.gate!(0)).toBe(true);
    expect(stream.acknowledge(5)).toBe(true);
    // 100 bytes kept: 0 waiting means 100 in flight, at the bound.
    expect(c.gate!(0)).toBe(false);
    expect(c.gate!(1)).toBe(true);
    // An old connection's gate does not hold back.
    stream.detach();
    const d = new FakeConnection();
    stream.attach(asConnection(d), 5);
    expect(c.gate!(0)).toBe(true);
    expect(d.gate!(0)).toBe(false);
    // Once overflowed, nothing is known about what is unacknowledged.
    for (let i = 0; i < 100; i++) stream.send(frame(10));
    expect(stream.isOverflowed).toBe(true);
    expect(d.gate!(0)).toBe(true);
  });

  it("ending the session lets go of everything kept", () => {
    const stream = new SessionStream(bounds);
    stream.send(frame(10));
    stream.end();
    expect(stream.keptBytes).toBe(0);
  });

  it("acknowledges every 32 messages at once, and the rest after a short delay", () => {
    vi.useFakeTimers();
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    stream.attach(asConnection(c), 0);
    for (let i = 0; i < 31; i++) stream.countReceived();
    expect(c.ackCounts()).toEqual([]);
    stream.countReceived();
    expect(c.ackCounts()).toEqual([32]);
    for (let i = 0; i < 31; i++) stream.countReceived();
    expect(c.ackCounts()).toEqual([32]);
    stream.countReceived();
    expect(c.ackCounts()).toEqual([32, 64]);
    stream.countReceived();
    vi.advanceTimersByTime(150);
    stream.countReceived(); // does not push the timer back
    vi.advanceTimersByTime(60);
    expect(c.ackCounts()).toEqual([32, 64, 66]);
    vi.advanceTimersByTime(1000);
    expect(c.ackCounts()).toEqual([32, 64, 66]);
  });

  it("acknowledges at once after 16 KiB received", () => {
    vi.useFakeTimers();
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    c.receivedBytes = 1000;
    stream.attach(asConnection(c), 0);
    c.receivedBytes = 1000 + 16 * 1024 - 1;
    stream.countReceived();
    expect(c.ackCounts()).toEqual([]);
    c.receivedBytes = 1000 + 16 * 1024;
    stream.countReceived();
    expect(c.ackCounts()).toEqual([2]);
    c.receivedBytes += 16 * 1024 - 1;
    stream.countReceived();
    expect(c.ackCounts()).toEqual([2]);
    vi.advanceTimersByTime(1000);
    expect(c.ackCounts()).toEqual([2, 3]);
  });

  it("a pending acknowledgement is cancelled by a drop, and none goes out without an open connection", () => {
    vi.useFakeTimers();
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    stream.attach(asConnection(c), 0);
    stream.countReceived();
    stream.detach();
    const d = new FakeConnection();
    stream.attach(asConnection(d), 0);
    vi.advanceTimersByTime(1000);
    expect(c.ackCounts()).toEqual([]);
    expect(d.ackCounts()).toEqual([]);
    d.state = "closing";
    stream.acknowledgeNow();
    expect(d.written).toHaveLength(0);
    d.state = "open";
    stream.acknowledgeNow();
    expect(d.ackCounts()).toEqual([1]);
  });

  it("acknowledges after the delay where a timer is a number without unref(), as in a browser", () => {
    // A client's stream runs in browsers too, whose setTimeout returns a number.
    const due: (() => void)[] = [];
    vi.stubGlobal("setTimeout", (work: () => void) => due.push(work));
    vi.stubGlobal("clearTimeout", (id: number) => {
      due[id - 1] = () => {};
    });
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    stream.attach(asConnection(c), 0);
    stream.countReceived();
    expect(due).toHaveLength(1);
    expect(c.ackCounts()).toEqual([]);
    due[0]!();
    expect(c.ackCounts()).toEqual([1]);
  });

  it("acknowledgeNow cancels the pending delayed acknowledgement", () => {
    vi.useFakeTimers();
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    stream.attach(asConnection(c), 0);
    stream.countReceived();
    stream.acknowledgeNow();
    vi.advanceTimersByTime(1000);
    expect(c.ackCounts()).toEqual([1]);
  });
  it("a latest-wins send replacing one waiting in the backlog is what a resume replays", () => {
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    stream.attach(asConnection(c), 0);
    stream.send(frame(1, 1), { latest: "k" });
    // The connection still holds message 1 in its backlog: the newer one takes its place.
    c.replaceLatest = (() => ({ tag: 1 })) as unknown as () => null;
    expect(stream.send(frame(2, 2), { latest: "k" })).toBe(2);
    stream.detach();
    const d = new FakeConnection();
    expect(stream.attach(asConnection(d), 0)).toBe(true);
    expect(d.written.map((w) => [w.frame[0], w.frame.byteLength])).toEqual([[2, 2]]);
  });

  it("after the session ends nothing more is written to the connection", () => {
    const stream = new SessionStream(bounds);
    const c = new FakeConnection();
    stream.attach(asConnection(c), 0);
    stream.end();
    stream.send(frame(3));
    expect(c.written).toHaveLength(0);
  });
});
