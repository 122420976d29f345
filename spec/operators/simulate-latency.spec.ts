import { observeOn, of } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionListener, type IncomingMessage } from "../../lib/index.js";
import { simulateLatency } from "../../lib/operators.js";
import { Cleanup } from "../helpers/cleanup.js";
import { delay, pumpUntil, startServer, waitFor } from "../helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A channel that records what its client sends, with when it arrived, and echoes `ping`s. */
function recordingChannel() {
  const got: { message: IncomingMessage; at: number }[] = [];
  const channels: Channel[] = [];
  class Recording extends Channel {
    override onConnect(): void {
      channels.push(this);
    }

    override networkReceived(message: IncomingMessage): void {
      got.push({ message, at: performance.now() });
    }
  }
  return { got, channels, channelClass: Recording };
}

/** A listener that records when its handlers ran and when messages$ emitted. */
class Recorder extends ConnectionListener {
  readonly handled: { action: unknown; n?: unknown; at: number }[] = [];

  override networkReceived(message: IncomingMessage): void {
    this.handled.push({ action: message.action, n: message.n, at: performance.now() });
  }
}

async function connected() {
  const record = recordingChannel();
  const server = cleanup.server(await startServer({ channelClass: record.channelClass }));
  const listener = cleanup.listener(new Recorder());
  return { ...record, server, listener };
}

describe("simulateLatency", () => {
  it("delays what the listener sends by `delay`", async () => {
    const { got, listener, server } = await connected();
    const lag = simulateLatency(listener, { delay: 120 });
    cleanup.add(() => lag.unsubscribe());
    listener.connect("127.0.0.1", server.port);
    await pumpUntil(listener, () => listener.handled.some((entry) => entry.action === "connected"), "connected");
    const sent = performance.now();
    expect(listener.send({ action: "hello" })).toBeGreaterThan(0);
    await waitFor(() => got.length === 1, "the hello");
    expect(got[0]!.message).toEqual({ action: "hello" });
    expect(got[0]!.at - sent).toBeGreaterThanOrEqual(110);
  });

  it("delays what the server sends, for the handlers run by pump() and for messages$ and on() alike", async () => {
    const { channels, listener, server } = await connected();
    const lag = simulateLatency(listener, { delay: 120 });
    cleanup.add(() => lag.unsubscribe());
    const seen: number[] = [];
    const viaOn: number[] = [];
    listener.messages$.subscribe((message) => {
      if (message.action === "tick") seen.push(performance.now());
    });
    listener.on("tick").subscribe(() => viaOn.push(performance.now()));
    listener.connect("127.0.0.1", server.port);
    await waitFor(() => channels.length === 1, "the channel");
    const sent = performance.now();
    channels[0]!.send({ action: "tick", n: 1 });
    await delay(60);
    listener.pump();
    expect(listener.handled.filter((entry) => entry.action === "tick")).toEqual([]);
    expect(seen).toEqual([]);
    await pumpUntil(listener, () => listener.handled.some((entry) => entry.action === "tick"), "the tick");
    expect(listener.handled.find((entry) => entry.action === "tick")!.at - sent).toBeGreaterThanOrEqual(110);
    expect(seen).toHaveLength(1);
    expect(viaOn).toHaveLength(1);
    expect(seen[0]! - sent).toBeGreaterThanOrEqual(110);
  });

  it("varies the waits with jitter but never reorders messages, either way", async () => {
    const { channels, got, listener, server } = await connected();
    const lag = simulateLatency(listener, { delay: 5, jitter: 40 });
    cleanup.add(() => lag.unsubscribe());
    listener.connect("127.0.0.1", server.port);
    await waitFor(() => channels.length === 1, "the channel");
    for (let n = 0; n < 40; n++) {
      channels[0]!.send({ action: "tick", n });
      listener.send({ action: "tock", n });
      await delay(1);
    }
    await pumpUntil(
      listener,
      () => listener.handled.filter((entry) => entry.action === "tick").length === 40,
      "40 ticks",
    );
    await waitFor(() => got.length === 40, "40 tocks");
    const order = Array.from({ length: 40 }, (_, n) => n);
    expect(listener.handled.filter((entry) => entry.action === "tick").map((entry) => entry.n)).toEqual(order);
    expect(got.map((entry) => entry.message.n)).toEqual(order);
  });

  it("stops when unsubscribed: what waits goes at once, in order, and sends go straight out again", async () => {
    const { channels, got, listener, server } = await connected();
    const lag = simulateLatency(listener, { delay: 5_000 });
    listener.connect("127.0.0.1", server.port);
    await waitFor(() => channels.length === 1, "the channel");
    listener.send({ action: "a" });
    channels[0]!.send({ action: "tick", n: 1 });
    await delay(50);
    expect(got).toEqual([]);
    let completed = false;
    listener.messages$.subscribe({ complete: () => (completed = true) });
    lag.unsubscribe();
    expect(completed).toBe(true);
    listener.send({ action: "b" });
    await waitFor(() => got.length === 2, "both messages");
    expect(got.map((entry) => entry.message.action)).toEqual(["a", "b"]);
    // `connected`, `socketConnect` and the tick, all released into the next pump().
    await pumpUntil(listener, () => listener.handled.some((entry) => entry.action === "tick"), "the tick");
    expect(listener.handled.map((entry) => entry.action)).toEqual(["connected", "socketConnect", "tick"]);
  });

  it("leaves the game's own work on the listener's scheduler alone (observeOn, timers)", () => {
    const listener = new Recorder();
    const lag = simulateLatency(listener, { delay: 10_000 });
    const ran: number[] = [];
    of(1, 2)
      .pipe(observeOn(listener.scheduler))
      .subscribe((value) => ran.push(value));
    listener.pump();
    expect(ran).toEqual([1, 2]);
    lag.unsubscribe();
  });

  it("throws at the call, as without it, for a message that cannot be encoded or bad send options", () => {
    const listener = new Recorder();
    const lag = simulateLatency(listener, { delay: 10 });
    expect(() => listener.send({ action: "x", f: () => 1 } as never)).toThrow(TypeError);
    expect(() => listener.send({ action: "x" }, { latest: 5 } as never)).toThrow(TypeError);
    expect(listener.send({ action: "x" })).toBe(0);
    lag.unsubscribe();
  });

  it("checks its options", () => {
    const listener = new Recorder();
    expect(() => simulateLatency(listener, { delay: -1 })).toThrow(
      new RangeError("incoming delay must be a number of milliseconds of at least 0, got -1"),
    );
    expect(() => simulateLatency(listener, { outgoing: { jitter: Number.NaN } })).toThrow(
      new RangeError("outgoing jitter must be a number of milliseconds of at least 0, got NaN"),
    );
  });
});
