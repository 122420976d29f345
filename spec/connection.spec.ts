import { afterEach, describe, expect, it } from "vitest";
import { Connection, type ConnectionOptions } from "../lib/connections/connection.js";
import { ConnectionError, decode, encode, silentLogger, type IncomingMessage } from "../lib/index.js";
import { MemoryTransport } from "../lib/transports/memory-transport.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, waitFor } from "./helpers/net.js";

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
 * with `open: false`, a client-side one, which opens in a later turn.
 */
function connect(options: Partial<ConnectionOptions>): { connection: Connection; peer: Peer; recorded: Recorded } {
  const [clientTransport, serverTransport] = MemoryTransport.pair(1024 * 1024, 1024 * 1024);
  const [peerTransport, ownTransport] =
    options.open === false ? [serverTransport, clientTransport] : [clientTransport, serverTransport];
  const recorded: Recorded = { messages: [], rtts: [], closes: [], opens: [] };
  const connection = new Connection(
    ownTransport,
    {
      // The state the owner sees when it hears of the open.
      open: () => void recorded.opens.push(connection.state),
      message: (message) => recorded.messages.push(message),
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
