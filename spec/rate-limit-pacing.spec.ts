// The rate limit's gate (InboundGate) on its own, against a stand-in for its connection and a clock
// the test moves by hand: which message waits, which jumps the queue, when reading pauses and
// resumes, when a peer over its budget is cut off. The same behaviours over real sockets are in
// spec/rate-limit.spec.ts.
import { afterEach, describe, expect, it } from "vitest";
import type { IncomingMessage, RepodError } from "../lib/index.js";
import type { RateLimitOptions } from "../lib/connections/connection-options.js";
import { InboundGate, RateLimiter, type Clock, type GateHost } from "../lib/connections/rate-limiter.js";
import { Cleanup } from "./helpers/cleanup.js";
import { manualClock, resolvedRateLimit } from "./helpers/rate-limit.js";
import { delay, waitFor } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A stand-in for the gate's connection: records what the gate asks of it. */
class Host implements GateHost {
  /** `pause` and `resume`, in order. */
  readonly reading: ("pause" | "resume")[] = [];
  /** What was delivered late, by `n` (or action when it has none), in order. */
  readonly delivered: unknown[] = [];
  exceeded: RepodError | null = null;
  open = true;
  /** How many times the gate looked at the connection: once each time it wakes up. */
  checks = 0;
  /** Called after each delivery, as a game handler would run. */
  onDeliver: (message: IncomingMessage) => void = () => {};

  pause(): void {
    this.reading.push("pause");
  }

  resume(): void {
    this.reading.push("resume");
  }

  isOpen(): boolean {
    this.checks++;
    return this.open;
  }

  /** Held payloads are JSON here; anything else is invalid and dropped. */
  decode(payload: Uint8Array): IncomingMessage | null {
    try {
      return JSON.parse(new TextDecoder().decode(payload)) as IncomingMessage;
    } catch {
      return null;
    }
  }

  deliver(message: IncomingMessage): void {
    this.delivered.push(message.n ?? message.action);
    this.onDeliver(message);
  }

  exceed(error: RepodError): void {
    this.exceeded = error;
  }
}

/** A gate with `options` over `host`, on `now` (the real clock when omitted), stopped after the test. */
function gateOf(options: RateLimitOptions, now?: Clock): { gate: InboundGate; host: Host } {
  const host = new Host();
  const gate = new InboundGate(new RateLimiter(resolvedRateLimit(options), now), host, now);
  cleanup.add(() => gate.stop());
  return { gate, host };
}

const game = (n: number): IncomingMessage => ({ action: "move", n });
const ping = (n: number): IncomingMessage => ({ action: "@ping", n });
const pong = (n: number): IncomingMessage => ({ action: "@pong", n });

/** Spends the whole control budget (a burst of 2,000) with heartbeats that all pass. */
function spendControlBudget(gate: InboundGate): void {
  for (let i = 0; i < 2_000; i++) expect(gate.admit(pong(-1), 20)).toBe(true);
}

/** Timers that keep the process alive. */
function liveTimers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length;
}

describe("heartbeats held by the gate", () => {
  it("a ping jumps the game messages held before it, however they were held", () => {
    const clock = manualClock();
    const { gate, host } = gateOf({ messages: 100, burst: 1 }, clock.now);
    expect(gate.admit(game(0), 10)).toBe(true);
    expect(gate.admit(game(1), 10)).toBe(false);
    expect(gate.admit(game(2), 10)).toBe(false);
    expect(host.reading).toEqual(["pause"]);
    // Within the control budget, and no heartbeat waits before it: answered now.
    expect(gate.admit(ping(3), 20)).toBe(true);
    expect(gate.admit(pong(4), 20)).toBe(true);
  });

  it("a ping flood over the control budget waits behind the game messages, and its pings keep their order", async () => {
    const clock = manualClock();
    const { gate, host } = gateOf({ messages: 100, burst: 1 }, clock.now);
    expect(gate.admit(game(0), 10)).toBe(true);
    spendControlBudget(gate);
    expect(gate.admit(game(1), 10)).toBe(false);
    expect(gate.admit(game(2), 10)).toBe(false);
    // The control budget is spent: this ping waits its turn.
    expect(gate.admit(ping(3), 20)).toBe(false);

    // 10 ms: one game message's budget, and ten pings'.
    clock.advance(10);
    await waitFor(() => host.delivered.length === 1, "the first held message");
    expect(host.delivered).toEqual([1]);
    // Ping 3 still waits (behind game message 2): a newer ping may not overtake it.
    expect(gate.admit(ping(4), 20)).toBe(false);

    clock.advance(10);
    await waitFor(() => host.reading.length === 2, "reading to resume");
    expect(host.delivered).toEqual([1, 2, 3, 4]);
    expect(host.reading).toEqual(["pause", "resume"]);
  });

  it.each([
    ["ping", ping],
    ["pong", pong],
  ])(
    "a %s held by the control budget goes as soon as it allows, and later pings jump the queue again",
    async (_, heartbeat) => {
      const clock = manualClock();
      const { gate, host } = gateOf({ messages: 100, burst: 1 }, clock.now);
      expect(gate.admit(game(0), 10)).toBe(true);
      spendControlBudget(gate);
      expect(gate.admit(heartbeat(1), 20)).toBe(false);
      expect(gate.admit(game(2), 10)).toBe(false);
      expect(host.reading).toEqual(["pause"]);

      // 2 ms: two heartbeats' budget, not yet a game message's.
      clock.advance(2);
      await waitFor(() => host.delivered.length === 1, "the held heartbeat");
      expect(host.delivered).toEqual([1]);
      // No heartbeat waits any more: a new ping is answered at once, ahead of game message 2.
      expect(gate.admit(ping(3), 20)).toBe(true);
      expect(host.reading).toEqual(["pause"]);
    },
  );
});

describe("the gate's timer", () => {
  it("sleeps until the held message's budget is back, instead of waking up every few milliseconds", async () => {
    const clock = manualClock(); // stopped: the budget never comes back during the test
    const { gate, host } = gateOf({ messages: 10, burst: 1 }, clock.now);
    expect(gate.admit(game(0), 10)).toBe(true);
    expect(gate.admit(game(1), 10)).toBe(false);
    await delay(250);
    // 100 ms until the next message's budget: two or three wake-ups in 250 ms, not dozens.
    expect(host.checks).toBeLessThanOrEqual(4);
    expect(host.delivered).toEqual([]);
  });

  it("is gone once the gate stops: nothing held keeps the process alive, and reading resumes once", () => {
    const clock = manualClock();
    const { gate, host } = gateOf({ messages: 1, burst: 1 }, clock.now);
    const before = liveTimers();
    expect(gate.admit(game(0), 10)).toBe(true);
    expect(gate.admit(game(1), 10)).toBe(false);
    expect(liveTimers()).toBe(before + 1);
    gate.stop();
    expect(liveTimers()).toBe(before);
    expect(gate.holding).toBe(false);
    expect(host.reading).toEqual(["pause", "resume"]);
    expect(host.delivered).toEqual([]);
  });

  it("is gone once the gate flushes what it held, all delivered at once and in order", () => {
    const clock = manualClock();
    const { gate, host } = gateOf({ messages: 1, burst: 1 }, clock.now);
    const before = liveTimers();
    expect(gate.admit(game(0), 10)).toBe(true);
    expect(gate.admit(game(1), 10)).toBe(false);
    gate.hold(new TextEncoder().encode(JSON.stringify(game(2))));
    expect(liveTimers()).toBe(before + 1);
    gate.flush();
    expect(liveTimers()).toBe(before);
    expect(host.delivered).toEqual([1, 2]);
    expect(gate.holding).toBe(false);
  });
});

describe("a gate whose connection closed", () => {
  it("delivers no more of what it held, and leaves reading paused", async () => {
    const clock = manualClock();
    const { gate, host } = gateOf({ messages: 1_000, burst: 1 }, clock.now);
    expect(gate.admit(game(0), 10)).toBe(true);
    expect(gate.admit(game(1), 10)).toBe(false);
    expect(gate.admit(game(2), 10)).toBe(false);
    host.open = false;
    clock.advance(1_000);
    await waitFor(() => host.checks > 0, "the gate to wake up");
    await delay(20);
    expect(host.delivered).toEqual([]);
    expect(host.reading).toEqual(["pause"]);
  });

  it("does not resume reading when the last held message's handler closes the connection", async () => {
    const clock = manualClock();
    const { gate, host } = gateOf({ messages: 1_000, burst: 2 }, clock.now);
    host.onDeliver = (message) => {
      if (message.n === 3) host.open = false; // the game kicks the player on this message
    };
    expect(gate.admit(game(0), 10)).toBe(true);
    expect(gate.admit(game(1), 10)).toBe(true);
    expect(gate.admit(game(2), 10)).toBe(false);
    expect(gate.admit(game(3), 10)).toBe(false);
    clock.advance(1_000); // the budget of both
    await waitFor(() => host.delivered.length === 2, "the held messages");
    await delay(20);
    expect(host.delivered).toEqual([2, 3]);
    expect(host.reading).toEqual(["pause"]);
  });
});

describe('onExceed: "close", closeAfter (injected clock)', () => {
  const limit = {
    messages: 1_000,
    burst: 1,
    bytes: 1_000_000,
    onExceed: "close",
    closeAfter: 300,
  } as const satisfies RateLimitOptions;

  /**
   * After `gap` ms of calm, one message within the budget and one over it, held until the budget
   * is back 1 ms later: the peer goes over its budget again and is paused briefly.
   */
  async function burstAfter(
    gate: InboundGate,
    host: Host,
    clock: ReturnType<typeof manualClock>,
    gap: number,
    n: number,
  ): Promise<void> {
    clock.advance(gap);
    expect(gate.admit(game(n), 10)).toBe(true);
    expect(gate.admit(game(n + 1), 10)).toBe(false);
    if (host.exceeded !== null) return;
    clock.advance(1);
    await waitFor(() => host.delivered.includes(n + 1), `held message ${n + 1}`);
  }

  it("counts pauses that follow each other within 100 ms as one overrun, and one after a calmer spell as a new one", async () => {
    const clock = manualClock();
    const { gate, host } = gateOf(limit, clock.now);
    await burstAfter(gate, host, clock, 0, 0); // over from 1,000 ms
    // 101 ms of calm: a new overrun, from 1,102 ms.
    await burstAfter(gate, host, clock, 101, 2);
    // Each 100 ms after the end of the previous pause: the same overrun goes on.
    await burstAfter(gate, host, clock, 100, 4); // 1,203
    await burstAfter(gate, host, clock, 100, 6); // 1,304: 202 ms over, not 304
    expect(host.exceeded).toBeNull();
    expect(host.reading).toEqual(["pause", "resume", "pause", "resume", "pause", "resume", "pause", "resume"]);
    await burstAfter(gate, host, clock, 100, 8); // 1,405: 303 ms over
    expect(host.exceeded?.code).toBe("ERR_RATE_LIMITED");
    expect(host.exceeded?.message).toBe(
      "Closed the connection: the peer kept sending faster than its rate limit (1000 messages/s, " +
        "1000000 bytes/s, or an action's own budget) for 303 ms, over rateLimit.closeAfter of 300 ms",
    );
    expect(host.delivered).toEqual([1, 3, 5, 7]);
    expect(gate.holding).toBe(false);
  });

  it("starts afresh after a long calm: a peer over its budget once, long ago, is not cut off at once", async () => {
    const clock = manualClock();
    const { gate, host } = gateOf(limit, clock.now);
    await burstAfter(gate, host, clock, 0, 0);
    await burstAfter(gate, host, clock, 1_000, 2);
    expect(host.exceeded).toBeNull();
    expect(host.delivered).toEqual([1, 3]);
  });

  it("with closeAfter 0, cuts the peer off at its first message over the budget, which is never delivered", async () => {
    const clock = manualClock();
    const { gate, host } = gateOf({ ...limit, closeAfter: 0 }, clock.now);
    expect(gate.admit(game(0), 10)).toBe(true);
    expect(gate.admit(game(1), 10)).toBe(false);
    expect(host.exceeded?.code).toBe("ERR_RATE_LIMITED");
    expect(host.exceeded?.message).toMatch(/for 0 ms, over rateLimit.closeAfter of 0 ms$/);
    expect(gate.holding).toBe(false);
    clock.advance(1_000);
    await delay(20);
    expect(host.delivered).toEqual([]);
  });

  it('with onExceed "pause", ignores closeAfter: the peer only waits', async () => {
    const clock = manualClock();
    const { gate, host } = gateOf({ ...limit, onExceed: "pause", closeAfter: 0 }, clock.now);
    expect(gate.admit(game(0), 10)).toBe(true);
    expect(gate.admit(game(1), 10)).toBe(false);
    clock.advance(5_000);
    await waitFor(() => host.delivered.length === 1, "the held message");
    expect(host.exceeded).toBeNull();
    expect(host.reading).toEqual(["pause", "resume"]);
  });
});

describe('onExceed: "close", closeAfter (real clock)', () => {
  it("cuts off after closeAfter a peer whose held message waits longer than that, before its budget is back", async () => {
    // One message every two seconds: the held one waits two seconds, closeAfter is 100 ms.
    const { gate, host } = gateOf({ messages: 0.5, burst: 1, onExceed: "close", closeAfter: 100 });
    const started = performance.now();
    expect(gate.admit(game(0), 10)).toBe(true);
    expect(gate.admit(game(1), 10)).toBe(false);
    await waitFor(() => host.exceeded !== null, "the cut", 3_000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(99);
    expect(host.exceeded?.code).toBe("ERR_RATE_LIMITED");
    expect(host.delivered).toEqual([]);
  });
});
