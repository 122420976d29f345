import { afterEach, describe, expect, it, vi } from "vitest";
import { Connection, type ConnectionOptions } from "../lib/connections/connection.js";
import { resolveLimits, type RateLimitOptions } from "../lib/connections/connection-options.js";
import { ConnectionError, decode, encode, silentLogger, type IncomingMessage } from "../lib/index.js";
import { MemoryTransport } from "../lib/transports/memory-transport.js";
import { TcpTransport } from "../lib/transports/tcp-transport.js";
import { Cleanup } from "./helpers/cleanup.js";
import { closedPort, delay, rawSocket, startServer, waitFor } from "./helpers/net.js";
import { rawServer } from "./helpers/raw.js";
import { RecordingChannel } from "./helpers/recording-channel.js";
import { recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A clock the test moves by hand: silence is measured on it, while the timers tick in real time. */
class ManualClock {
  time = 1_000_000;
  readonly now = (): number => this.time;
}

/** What the connection under test reported to its owner. */
interface Recorded {
  readonly messages: IncomingMessage[];
  readonly rtts: number[];
  readonly closes: (Error | undefined)[];
  readonly opens: string[];
  /** For each greeting, how many messages had been delivered before it. */
  readonly greetings: number[];
}

/** The other end, driven by hand: every message it receives, and a way to write any frame. */
interface Peer {
  readonly received: IncomingMessage[];
  readonly transport: MemoryTransport;
  send(message: object): void;
  /** Called with each message the peer receives, after it is recorded. */
  onMessage: (message: IncomingMessage) => void;
}

const BASE: ConnectionOptions = {
  logger: silentLogger,
  open: true,
  expectGreeting: false,
  maxPayloadDepth: 32,
  maxPayloadItems: 10_000,
  maxPayloadKeys: 1_000,
  maxInvalidMessages: 10,
  maxQueuedBytes: 1024 * 1024,
  idleTimeout: 0,
  heartbeat: null,
};

/**
 * A server-side connection (open at once) over an in-memory pair, and the peer at the other end;
 * with `open: false`, a client-side one, which opens in a later turn. `onMessage` is the owner's
 * handling of each message, after it is recorded.
 */
function connect(
  options: Partial<ConnectionOptions>,
  onMessage: (message: IncomingMessage) => void = () => undefined,
): { connection: Connection; peer: Peer; recorded: Recorded } {
  const [clientTransport, serverTransport] = MemoryTransport.pair(1024 * 1024, 1024 * 1024);
  const [peerTransport, ownTransport] =
    options.open === false ? [serverTransport, clientTransport] : [clientTransport, serverTransport];
  const recorded: Recorded = { messages: [], rtts: [], closes: [], opens: [], greetings: [] };
  const connection = new Connection(
    ownTransport,
    {
      // The state the owner sees when it hears of the open.
      open: () => void recorded.opens.push(connection.state),
      message: (message) => {
        recorded.messages.push(message);
        onMessage(message);
      },
      greeted: () => void recorded.greetings.push(recorded.messages.length),
      rtt: (milliseconds) => recorded.rtts.push(milliseconds),
      close: (error) => recorded.closes.push(error),
    },
    { ...BASE, ...options },
  );
  const peer: Peer = {
    received: [],
    transport: peerTransport,
    send: (message) => peerTransport.write(encode(message)),
    onMessage: () => undefined,
  };
  peerTransport.start({
    open: () => undefined,
    payload: (payload) => {
      // The raw frames a test writes to fill the queue are no msgpack: they are not messages.
      if (payload.every((byte) => byte === 0)) return;
      const message = decode(payload) as IncomingMessage;
      peer.received.push(message);
      peer.onMessage(message);
    },
    invalid: () => undefined,
    close: () => undefined,
  });
  cleanup.add(async () => {
    connection.destroy();
    await waitFor(() => recorded.closes.length === 1, "the connection to close");
  });
  return { connection, peer, recorded };
}

function pings(peer: Peer): IncomingMessage[] {
  return peer.received.filter((message) => message.action === "@ping");
}

/** Sends `message` then a marker, and waits for the marker: `message` has been handled by then. */
async function sendAndSettle(peer: Peer, recorded: Recorded, message: object): Promise<void> {
  const marker = { action: "marker", n: recorded.messages.length };
  peer.send(message);
  peer.send(marker);
  await waitFor(() => recorded.messages.some((seen) => seen.n === marker.n), "the marker");
}

/** A rate limit as the server and the client resolve it from their options. */
function rateLimit(options: RateLimitOptions): ConnectionOptions["rateLimit"] {
  return resolveLimits({ rateLimit: options }).rateLimit;
}

function errorOf(recorded: Recorded): ConnectionError {
  const error = recorded.closes[0];
  expect(error).toBeInstanceOf(ConnectionError);
  return error as ConnectionError;
}

describe("heartbeat", () => {
  const heartbeat = { interval: 10, timeout: 100 };

  it("keeps a peer that answers every ping connected for as long as it lives, and times each round trip", async () => {
    const clock = new ManualClock();
    const { connection, peer, recorded } = connect({ heartbeat, now: clock.now });
    // Each answer takes 60 ms: far more than the timeout in total, never more than it in a row.
    peer.onMessage = (message) => {
      if (message.action !== "@ping") return;
      clock.time += 60;
      peer.send({ action: "@pong", id: message.id });
    };
    await waitFor(() => recorded.rtts.length >= 10, "ten round trips");
    expect(connection.state).toBe("open");
    expect(recorded.closes).toEqual([]);
    expect(new Set(recorded.rtts)).toEqual(new Set([60]));
  });

  it("cuts off a peer that answered pings once it is silent for more than the timeout, not at it", async () => {
    const clock = new ManualClock();
    const { connection, peer, recorded } = connect({ heartbeat, now: clock.now });
    await waitFor(() => pings(peer).length === 1, "the first ping");
    await sendAndSettle(peer, recorded, { action: "@pong", id: pings(peer)[0]!.id });
    expect(recorded.rtts).toEqual([0]);

    clock.time += heartbeat.timeout;
    const seen = pings(peer).length;
    await waitFor(() => pings(peer).length >= seen + 3, "three more pings");
    expect(connection.state).toBe("open");

    clock.time += 1;
    await waitFor(() => recorded.closes.length === 1, "the heartbeat timeout");
    const error = errorOf(recorded);
    expect(error.code).toBe("ERR_HEARTBEAT_TIMEOUT");
    expect(error.message).toBe("No answer from the peer for 101 ms, over the heartbeat timeout of 100 ms; it is gone");
    expect(connection.state).toBe("closed");
  });

  it("never cuts off a peer that has never answered a ping (a Python repod peer)", async () => {
    const clock = new ManualClock();
    const { connection, peer } = connect({ heartbeat, now: clock.now });
    clock.time += 100 * heartbeat.timeout;
    await waitFor(() => pings(peer).length >= 5, "five pings");
    expect(connection.state).toBe("open");
  });

  it("sends a ping every interval, each with the next id", async () => {
    const { peer } = connect({ heartbeat });
    await waitFor(() => pings(peer).length >= 3, "three pings");
    expect(
      pings(peer)
        .map((ping) => ping.id)
        .slice(0, 3),
    ).toEqual([1, 2, 3]);
  });

  it("answers a ping that asks for the clock with the wall clock, and any other ping with a bare pong", async () => {
    const { peer, recorded } = connect({});
    const before = Date.now();
    await sendAndSettle(peer, recorded, { action: "@ping", id: 7, clock: 1 });
    await sendAndSettle(peer, recorded, { action: "@ping", id: "eight" });
    await sendAndSettle(peer, recorded, { action: "@ping", id: 9, clock: 2 });
    await waitFor(() => peer.received.length === 3, "three pongs");
    const [timed, bare, other] = peer.received;
    expect(timed).toEqual({ action: "@pong", id: 7, time: expect.any(Number) });
    expect(timed!.time).toBeGreaterThanOrEqual(before);
    expect(timed!.time).toBeLessThanOrEqual(Date.now());
    expect(bare).toEqual({ action: "@pong", id: "eight" });
    expect(other).toEqual({ action: "@pong", id: 9 });
    // Pings are the library's business: the owner sees only the markers.
    expect(recorded.messages.every((message) => message.action === "marker")).toBe(true);
  });
});

describe("round-trip times", () => {
  it("ignores a pong nobody asked for, a duplicate one and one with another id", async () => {
    const clock = new ManualClock();
    const { peer, recorded } = connect({ heartbeat: { interval: 30, timeout: 1_000 }, now: clock.now });
    await sendAndSettle(peer, recorded, { action: "@pong", id: 0 });
    await sendAndSettle(peer, recorded, { action: "@pong", id: 1 });
    expect(recorded.rtts).toEqual([]);

    await waitFor(() => pings(peer).length === 1, "the first ping");
    clock.time += 5;
    const id = pings(peer)[0]!.id as number;
    await sendAndSettle(peer, recorded, { action: "@pong", id: id + 1 });
    expect(recorded.rtts).toEqual([]);
    await sendAndSettle(peer, recorded, { action: "@pong", id });
    await sendAndSettle(peer, recorded, { action: "@pong", id });
    expect(recorded.rtts).toEqual([5]);
  });

  it("emits none without a heartbeat, whatever pongs the peer sends", async () => {
    const { peer, recorded } = connect({});
    for (const id of [0, 1, undefined]) await sendAndSettle(peer, recorded, { action: "@pong", id });
    expect(recorded.rtts).toEqual([]);
    expect(recorded.messages.every((message) => message.action === "marker")).toBe(true);
  });
});

describe("idleTimeout", () => {
  const idleTimeout = 40;

  it("cuts off a peer silent for exactly idleTimeout, not one millisecond before", async () => {
    const clock = new ManualClock();
    const { connection, recorded } = connect({ idleTimeout, now: clock.now });
    clock.time += idleTimeout - 1;
    await delay(4 * idleTimeout);
    expect(connection.state).toBe("open");

    clock.time += 1;
    await waitFor(() => recorded.closes.length === 1, "the idle timeout");
    const error = errorOf(recorded);
    expect(error.code).toBe("ERR_IDLE_TIMEOUT");
    expect(error.message).toBe("The peer sent nothing for 40 ms, over the idleTimeout of 40 ms");
  });

  it("keeps counting after each message: a peer silent for idleTimeout after its last one is cut off", async () => {
    const clock = new ManualClock();
    const { connection, peer, recorded } = connect({ idleTimeout, now: clock.now });
    for (let n = 0; n < 3; n++) {
      await delay(idleTimeout);
      clock.time += idleTimeout / 2;
      await sendAndSettle(peer, recorded, { action: "move", n });
      expect(connection.state).toBe("open");
    }
    clock.time += idleTimeout;
    await waitFor(() => recorded.closes.length === 1, "the idle timeout");
    expect(errorOf(recorded).code).toBe("ERR_IDLE_TIMEOUT");
  });

  it("counts a ping-answering peer's pongs as activity when a heartbeat is on too", async () => {
    const clock = new ManualClock();
    const { connection, peer, recorded } = connect({
      idleTimeout: 200,
      heartbeat: { interval: 10, timeout: 1_000 },
      now: clock.now,
    });
    peer.onMessage = (message) => {
      if (message.action !== "@ping") return;
      clock.time += 150;
      peer.send({ action: "@pong", id: message.id });
    };
    await waitFor(() => recorded.rtts.length >= 5, "five round trips");
    expect(connection.state).toBe("open");
  });
});

describe("idleTimeout, re-armed for the time left", () => {
  it("cuts off a peer idleTimeout after its last message, not an idleTimeout later", async () => {
    // The real clock: what is measured is when the timer fires. The message comes a fifth of
    // idleTimeout after the open, so the first check finds most of idleTimeout gone silent and must
    // look again a fifth of it later.
    const idleTimeout = 1_000;
    const { peer, recorded } = connect({ idleTimeout });
    await delay(idleTimeout / 5);
    const sentAt = Date.now();
    peer.send({ action: "hello" });
    await waitFor(() => recorded.closes.length === 1, "the idle timeout", 10_000);
    const cutAfter = Date.now() - sentAt;
    expect(errorOf(recorded).code).toBe("ERR_IDLE_TIMEOUT");
    expect(cutAfter).toBeGreaterThanOrEqual(idleTimeout);
    // Re-armed for more than what was left (idleTimeout and the silence so far), it would come after 2.6 of them.
    expect(cutAfter).toBeLessThan(2 * idleTimeout);
  });

  it("counts a message the rate limit held back as activity when it is delivered, not when it arrived", async () => {
    const clock = new ManualClock();
    const idleTimeout = 40;
    const { connection, peer, recorded } = connect({
      idleTimeout,
      now: clock.now,
      rateLimit: rateLimit({ messages: 2, burst: 1 }),
    });
    // Both read in one turn: the second is held back for half a second, and nothing follows it.
    for (let n = 0; n < 2; n++) peer.send({ action: "move", n });
    await waitFor(() => recorded.messages.length === 1, "the first move, within the burst");
    // While the second waits for its budget, a long time passes.
    clock.time += 10 * idleTimeout;
    await waitFor(() => recorded.messages.length === 2, "the held move");
    await delay(4 * idleTimeout);
    expect(connection.state).toBe("open");

    clock.time += idleTimeout;
    await waitFor(() => recorded.closes.length === 1, "the idle timeout");
    expect(errorOf(recorded).code).toBe("ERR_IDLE_TIMEOUT");
  });
});

describe("maxQueuedBytes", () => {
  it("lets a peer that is not reading have exactly maxQueuedBytes waiting, and cuts it off past that", async () => {
    const { connection, peer, recorded } = connect({ maxQueuedBytes: 1_000 });
    peer.transport.pause();
    // Bytes of an earlier turn still wait: from now on the peer is behind.
    expect(connection.sendFrame(new Uint8Array(600))).toBe(600);
    await delay(10);
    expect(connection.bufferedAmount).toBe(600);
    expect(connection.sendFrame(new Uint8Array(395))).toBe(395);
    expect(connection.sendFrame(new Uint8Array(5))).toBe(5);
    expect(connection.bufferedAmount).toBe(1_000);
    expect(connection.state).toBe("open");

    expect(connection.sendFrame(new Uint8Array(5))).toBe(0);
    expect(connection.state).toBe("closing");
    await waitFor(() => recorded.closes.length === 1, "the close");
    const error = errorOf(recorded);
    expect(error.code).toBe("ERR_SEND_QUEUE_FULL");
    expect(error.message).toBe(
      "Closed the connection: 1005 bytes would wait for a peer that is not reading, over the maxQueuedBytes limit of 1000",
    );
  });

  it("cuts off a peer that is behind when a waiting latest frame is replaced by one that passes maxQueuedBytes", async () => {
    const { connection, peer, recorded } = connect({ maxQueuedBytes: 100_000 });
    peer.transport.pause();
    expect(connection.sendFrame(new Uint8Array(70_000))).toBe(70_000);
    await delay(10);
    // Over the transport's high-water mark: this one waits in the backlog, where it can be replaced.
    expect(connection.sendFrame(new Uint8Array(1_000), { latest: "state" }, 7)).toBe(1_000);
    expect(connection.replaceLatest("other", new Uint8Array(10))).toBeNull();
    expect(connection.replaceLatest("state", new Uint8Array(2_000))).toMatchObject({ key: "state", tag: 7 });
    expect(connection.bufferedAmount).toBe(72_000);
    expect(connection.state).toBe("open");

    expect(connection.replaceLatest("state", new Uint8Array(40_000))).toBeNull();
    expect(connection.state).toBe("closing");
    await waitFor(() => recorded.closes.length === 1, "the close");
    expect(errorOf(recorded).code).toBe("ERR_SEND_QUEUE_FULL");
  });

  it("while connecting, replaces a waiting latest frame, refuses a replacement that does not fit without cutting anything off, and replaces nothing after close()", async () => {
    const { connection, peer, recorded } = connect({ open: false, maxQueuedBytes: 1_000 });
    expect(connection.send({ action: "state", n: 1 }, { latest: "state" })).toBeGreaterThan(0);
    expect(connection.replaceLatest("state", encode({ action: "state", n: 2 }))).not.toBeNull();
    expect(connection.replaceLatest("state", new Uint8Array(2_000))).toBeNull();
    expect(connection.state).toBe("connecting");
    connection.close();
    expect(connection.replaceLatest("state", encode({ action: "state", n: 3 }))).toBeNull();
    await waitFor(() => recorded.closes.length === 1, "the close");
    expect(recorded.closes).toEqual([undefined]);
    expect(peer.received).toEqual([{ action: "state", n: 2 }]);
  });
});

describe("states", () => {
  it("refuses with 0, without cutting anything off, what does not fit in maxQueuedBytes while connecting", async () => {
    const { connection, peer, recorded } = connect({ open: false, maxQueuedBytes: 100 });
    expect(connection.state).toBe("connecting");
    expect(connection.send({ action: "big", text: "x".repeat(200) })).toBe(0);
    expect(connection.state).toBe("connecting");
    expect(connection.send({ action: "small" })).toBeGreaterThan(0);
    await waitFor(() => peer.received.length === 1, "the small message");
    expect(peer.received).toEqual([{ action: "small" }]);
    expect(connection.state).toBe("open");
    expect(recorded.closes).toEqual([]);
  });

  it("closed before it opened: delivers everything sent meanwhile, never counts as open, and sends nothing more", async () => {
    const { connection, peer, recorded } = connect({ open: false });
    const text = "x".repeat(100_000);
    for (let n = 0; n < 5; n++) connection.send({ action: "big", n, text });
    connection.close();
    expect(connection.state).toBe("closing");
    await waitFor(() => recorded.opens.length === 1, "the transport to open");
    expect(recorded.opens).toEqual(["closing"]);
    expect(connection.send({ action: "late" })).toBe(0);
    await waitFor(() => recorded.closes.length === 1, "the close");
    expect(peer.received.map((message) => message.n)).toEqual([0, 1, 2, 3, 4]);
  });

  it("stays closed whatever is called once it is", async () => {
    const { connection, recorded } = connect({});
    connection.close();
    await waitFor(() => recorded.closes.length === 1, "the close");
    connection.close();
    expect(connection.state).toBe("closed");
    connection.destroy(new Error("late"));
    expect(connection.state).toBe("closed");
    await delay(10);
    expect(recorded.closes).toEqual([undefined]);
  });
});

describe("the greeting (client side)", () => {
  it("takes the first connected as the server's greeting, once, and drops any other lifecycle message as forged", async () => {
    const logger = recordingLogger();
    const { peer, recorded } = connect({ open: false, expectGreeting: true, logger });
    peer.send({ action: "disconnected" });
    await sendAndSettle(peer, recorded, { action: "connected" });
    await sendAndSettle(peer, recorded, { action: "connected" });
    expect(recorded.greetings).toEqual([0]);
    expect(recorded.messages.map((message) => message.action)).toEqual(["marker", "marker"]);
    const drops = logger.entries.filter((entry) => entry.message === "dropped");
    expect(drops.map((entry) => [entry.fields.code, entry.fields.reason])).toEqual([
      ["ERR_FORGED_LIFECYCLE", 'Dropped a "disconnected" message sent by the peer: only the transport produces it'],
      ["ERR_FORGED_LIFECYCLE", 'Dropped a "connected" message sent by the peer: only the transport produces it'],
    ]);
  });
});

describe("what the peer sends", () => {
  it("is counted in receivedBytes, payloads only", async () => {
    const { connection, peer, recorded } = connect({});
    const messages = [{ action: "a" }, { action: "move", x: 1.5, text: "x".repeat(300) }];
    for (const message of messages) peer.send(message);
    await waitFor(() => recorded.messages.length === 2, "both messages");
    const payloads = messages.map((message) => encode(message).byteLength - 4);
    expect(connection.receivedBytes).toBe(payloads[0]! + payloads[1]!);
  });

  it("is ignored once close() was called: nothing more reaches the owner", async () => {
    const { connection, peer, recorded } = connect({});
    await sendAndSettle(peer, recorded, { action: "before" });
    // Written before close() and read after it, as from a client kicked while it still talks.
    peer.send({ action: "late" });
    connection.close();
    await waitFor(() => recorded.closes.length === 1, "the close");
    expect(recorded.messages.map((message) => message.action)).toEqual(["before", "marker"]);
  });
});

describe("closing", () => {
  /** Sends six 30 KB messages to a peer that does not read: the last three wait in the backlog. */
  function fillBacklog(connection: Connection, peer: Peer): void {
    peer.transport.pause();
    const text = "x".repeat(30_000);
    for (let n = 0; n < 6; n++) connection.send({ action: "big", n, text });
  }

  it("close() still delivers the backlog a slow peer had not taken, then closes", async () => {
    const { connection, peer, recorded } = connect({});
    fillBacklog(connection, peer);
    connection.close();
    await waitFor(() => recorded.closes.length === 1, "the close");
    expect(recorded.closes).toEqual([undefined]);
    expect(peer.received.map((message) => message.n)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("destroy() drops what waits at once: nothing is counted as buffered any more", async () => {
    const { connection, peer, recorded } = connect({});
    fillBacklog(connection, peer);
    expect(connection.bufferedAmount).toBeGreaterThan(6 * 30_000);
    connection.destroy();
    expect(connection.bufferedAmount).toBe(0);
    await waitFor(() => recorded.closes.length === 1, "the close");
    expect(peer.received).toEqual([]);
  });

  it("a peer that goes away leaves nothing counted as buffered", async () => {
    const { connection, peer, recorded } = connect({});
    fillBacklog(connection, peer);
    peer.transport.destroy();
    await waitFor(() => recorded.closes.length === 1, "the close");
    expect(connection.state).toBe("closed");
    expect(connection.bufferedAmount).toBe(0);
  });

  it("a channel closed gracefully is not then cut off by idleTimeout while its peer takes its time to close", async () => {
    const idleTimeout = 200;
    const server = cleanup.server(
      await startServer({ channelClass: RecordingChannel, idleTimeout, closeTimeout: 10_000 }),
    );
    // allowHalfOpen: this peer reads our FIN and closes its side only when the test says so.
    const slow = await rawSocket(server.port);
    cleanup.socket(slow);
    slow.allowHalfOpen = true;
    let ended = false;
    slow.on("data", () => {});
    slow.on("end", () => (ended = true));
    slow.write(encode({ action: "bye" }));
    await waitFor(() => server.channels.length === 1 && server.channels[0]!.received.length === 1, "the bye");
    // Closed right after the peer's last message: far from its idleTimeout.
    const channel = server.channels[0]!;
    channel.close();
    await waitFor(() => ended, "the server's FIN");
    await delay(3 * idleTimeout);
    expect(channel.closes).toBe(0);
    slow.end();
    await waitFor(() => channel.closes === 1, "the close");
    expect(channel.errors).toEqual([]);
  });
});

describe("timers", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Waits for `condition` over turns of the event loop: the timers are fake, setImmediate is not. */
  async function turnsUntil(condition: () => boolean, what: string): Promise<void> {
    for (let turn = 0; !condition(); turn++) {
      if (turn > 10_000) throw new Error(`Timed out waiting for ${what}`);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  it.each(["close()", "destroy()", "the peer's close"] as const)(
    "leave nothing behind once the connection ends through %s",
    async (how) => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
      const { connection, peer, recorded } = connect({
        heartbeat: { interval: 1_000, timeout: 5_000 },
        idleTimeout: 10_000,
        rateLimit: rateLimit({ messages: 10, burst: 1 }),
      });
      // A heartbeat, an idle check, and the rate limit's release of the move it holds.
      peer.send({ action: "move", n: 0 });
      peer.send({ action: "move", n: 1 });
      await turnsUntil(() => recorded.messages.length === 1, "the first move");
      expect(vi.getTimerCount()).toBe(3);

      if (how === "close()") connection.close();
      else if (how === "destroy()") connection.destroy();
      else peer.transport.destroy();
      await turnsUntil(() => recorded.closes.length === 1, "the close");
      expect(vi.getTimerCount()).toBe(0);
    },
  );
});

describe("transport errors", () => {
  /** A client-side connection over TCP to `port`. */
  function connectTcp(port: number): Recorded {
    const recorded: Recorded = { messages: [], rtts: [], closes: [], opens: [], greetings: [] };
    const connection = new Connection(
      TcpTransport.connect("127.0.0.1", port, { maxPayload: 1024 }),
      {
        open: () => {
          recorded.opens.push(connection.state);
          connection.send({ action: "hello" });
        },
        message: (message) => recorded.messages.push(message),
        rtt: () => undefined,
        close: (error) => recorded.closes.push(error),
      },
      { ...BASE, open: false },
    );
    cleanup.add(async () => {
      connection.destroy();
      await waitFor(() => recorded.closes.length === 1, "the connection to close");
    });
    return recorded;
  }

  it("reports a connection reset after the open as ERR_CONNECTION_LOST, with the socket's error as the cause", async () => {
    const port = await rawServer(cleanup, (socket) => socket.once("data", () => socket.resetAndDestroy()));
    const recorded = connectTcp(port);
    await waitFor(() => recorded.closes.length === 1, "the reset");
    expect(recorded.opens).toEqual(["open"]);
    const error = errorOf(recorded);
    expect(error.code).toBe("ERR_CONNECTION_LOST");
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.message).toBe((error.cause as Error).message);
  });

  it("reports a refused connection as ERR_CONNECT_FAILED, with the socket's error as the cause", async () => {
    const recorded = connectTcp(await closedPort());
    await waitFor(() => recorded.closes.length === 1, "the refusal");
    expect(recorded.opens).toEqual([]);
    const error = errorOf(recorded);
    expect(error.code).toBe("ERR_CONNECT_FAILED");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });
});

describe("a failure on the receive path (a bug)", () => {
  const bug = new Error("a bug on the receive path");
  const throwsOn = (n: number) => (message: IncomingMessage) => {
    if (message.n === n) throw bug;
  };

  function expectFailed(recorded: Recorded): void {
    const error = errorOf(recorded);
    expect(error.code).toBe("ERR_RECEIVE_FAILED");
    expect(error.message).toBe("Handling a message from the peer failed; closed this connection only");
    expect(error.cause).toBe(bug);
  }

  it("closes this connection with ERR_RECEIVE_FAILED and logs the error to the logger", async () => {
    const logger = recordingLogger();
    const printed = vi.spyOn(console, "error").mockImplementation(() => {});
    cleanup.add(() => printed.mockRestore());
    const { peer, recorded } = connect({ logger }, throwsOn(1));
    peer.send({ action: "move", n: 1 });
    await waitFor(() => recorded.closes.length === 1, "the close");
    expectFailed(recorded);
    expect(logger.entries.filter((entry) => entry.level === "error")).toEqual([
      { level: "error", message: "receive failed", fields: { peer: "local:0", reason: bug } },
    ]);
    expect(printed).not.toHaveBeenCalled();
  });

  it("prints it on the console when logging is silent, since a bug must not pass unseen", async () => {
    const printed = vi.spyOn(console, "error").mockImplementation(() => {});
    cleanup.add(() => printed.mockRestore());
    const { peer, recorded } = connect({}, throwsOn(1));
    peer.send({ action: "move", n: 1 });
    await waitFor(() => recorded.closes.length === 1, "the close");
    expectFailed(recorded);
    expect(printed).toHaveBeenCalledTimes(1);
    expect(printed.mock.calls[0]).toEqual([
      expect.stringMatching(/^repod-rx ERROR receive failed peer=local:0 reason=.*a bug on the receive path/),
      bug,
    ]);
  });

  it("closes the connection the same way for a message the rate limit held back", async () => {
    const logger = recordingLogger();
    const { peer, recorded } = connect({ logger, rateLimit: rateLimit({ messages: 10, burst: 1 }) }, throwsOn(2));
    for (let n = 1; n <= 3; n++) peer.send({ action: "move", n });
    await waitFor(() => recorded.closes.length === 1, "the close");
    expectFailed(recorded);
    expect(recorded.messages.map((message) => message.n)).toEqual([1, 2]);
    expect(logger.entries.filter((entry) => entry.message === "receive failed")).toHaveLength(1);
  });
});
