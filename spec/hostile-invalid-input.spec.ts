// What a connection does with invalid input from its peer, on both sides and both transports: the
// codes it drops it with (ERR_INVALID_CONTROL for reserved fields it cannot use,
// ERR_PAYLOAD_TOO_COMPLEX over the decode budget), the bound on what it logs, and the
// maxInvalidMessages budget after which the peer is cut off with ERR_TOO_MANY_INVALID.
import { afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionListener, type DispatchMode, type IncomingMessage, type Server } from "../lib/index.js";
import { formatLogLine } from "../lib/logging.js";
import { Cleanup } from "./helpers/cleanup.js";
import {
  describeError,
  hostileServer,
  rawLinkTo,
  rawMap,
  rawMessage,
  rawNestedArrays,
  rawNestedMaps,
  rawStr,
  rawValue,
  recordUncaught,
  type RawLink,
  type Wire,
} from "./helpers/hostile.js";
import { startServer, waitFor } from "./helpers/net.js";
import { nil, toStringTrap } from "./helpers/poisons.js";
import { recordingLogger, type LogEntry } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Ids a ping or a request may not carry: none is a number or a short string. */
const UNUSABLE_IDS: [string, Uint8Array][] = [
  ["[1, 2]", rawValue([1, 2])],
  ["{ toString: 1 }", toStringTrap],
  ["a string of 10,000 characters", rawStr("x".repeat(10_000))],
  ["true", rawValue(true)],
  ["nil", nil],
  ["binary", Uint8Array.from([0xc4, 1, 0])],
  ["10 nested arrays", rawNestedArrays(10)],
];

/** The log entries about `peer` ("host:port"). */
function linesAbout(entries: readonly LogEntry[], peer: string): LogEntry[] {
  return entries.filter((entry) => entry.fields.peer === peer);
}

const codesOf = (entries: readonly LogEntry[]): unknown[] => entries.map((entry) => entry.fields.code);

// ---------------------------------------------------------------------------------------------
// Server side.

class TargetChannel extends Channel {
  handled = 0;
  errors: unknown[] = [];

  Network_ask(): number {
    this.handled++;
    return 42;
  }

  Network_echo(message: IncomingMessage): void {
    this.send(message as { action: string });
  }

  override onError(error: unknown): void {
    this.errors.push(error);
  }
}

interface Target {
  readonly server: Server<TargetChannel>;
  readonly logger: ReturnType<typeof recordingLogger>;
  /** A new raw client, greeted, with its channel and its address as logged. */
  connect(): Promise<{ link: RawLink; channel: TargetChannel; peer: string }>;
}

/**
 * A server (TCP and WebSocket) with a recording logger; in pump dispatch, pumped every 2 ms. After
 * the test, fails if anything reached the process or pump() threw.
 */
async function target(
  wire: Wire,
  options: { dispatch?: DispatchMode; maxInvalidMessages?: number } = {},
): Promise<Target> {
  const uncaught = recordUncaught(cleanup);
  const logger = recordingLogger();
  const server = cleanup.server(
    await startServer({ channelClass: TargetChannel, ws: { port: 0 }, logger, ...options }),
  );
  if (options.dispatch === "pump") {
    // The game loop: nothing a peer sends may make pump() throw.
    const loop = setInterval(() => {
      try {
        server.pump();
      } catch (error) {
        uncaught.push(error);
      }
    }, 2);
    cleanup.add(() => clearInterval(loop));
  }
  const connect: Target["connect"] = async () => {
    const known = new Set(server.channels);
    const link = await rawLinkTo(cleanup, wire, wire === "tcp" ? server.port : server.wsPort!);
    await link.next((message) => message.action === "connected", "the greeting");
    let channel: TargetChannel | undefined;
    await waitFor(() => (channel = server.channels.find((candidate) => !known.has(candidate))) !== undefined);
    return { link, channel: channel!, peer: `${channel!.addr.host}:${channel!.addr.port}` };
  };
  // Checked after the test's own assertions: nothing reached the process.
  cleanup.add(() => expect(uncaught.map(describeError)).toEqual([]));
  return { server, logger, connect };
}

/** Sends an echo on `link` and waits for it: everything sent before has been handled. */
async function roundTrip(link: RawLink, tag: string): Promise<void> {
  link.sendMessage({ action: "echo", tag });
  await link.next((message) => message.action === "echo" && message.tag === tag, `the echo of ${tag}`);
}

describe.each<Wire>(["tcp", "ws"])("a server, over %s", (wire) => {
  it("drops a @ping whose id is not a number or a short string with ERR_INVALID_CONTROL, without a pong", async () => {
    const { logger, connect } = await target(wire);
    for (const [label, id] of UNUSABLE_IDS) {
      const { link, peer } = await connect();
      link.send(rawMessage("@ping", { id }));
      await roundTrip(link, label);
      expect(
        link.received.filter((message) => message.action === "@pong"),
        label,
      ).toEqual([]);
      expect(codesOf(linesAbout(logger.entries, peer)), label).toContain("ERR_INVALID_CONTROL");
      expect(link.closed, label).toBe(false);
    }
    // Numbers and short strings are still echoed.
    const { link } = await connect();
    link.sendMessage({ action: "@ping", id: 7 });
    link.sendMessage({ action: "@ping", id: "abc" });
    await link.next((message) => message.action === "@pong" && message.id === "abc", "the second pong");
    expect(link.received.filter((message) => message.action === "@pong")).toEqual([
      { action: "@pong", id: 7 },
      { action: "@pong", id: "abc" },
    ]);
  });

  it("drops a request whose @req is not a number or a short string with ERR_INVALID_CONTROL: no handler, no reply", async () => {
    const { logger, connect } = await target(wire);
    for (const [label, id] of UNUSABLE_IDS) {
      const { link, channel, peer } = await connect();
      link.send(rawMessage("ask", { "@req": id }));
      await roundTrip(link, label);
      expect(channel.handled, label).toBe(0);
      expect(
        link.received.filter((message) => message.action === "@reply"),
        label,
      ).toEqual([]);
      expect(codesOf(linesAbout(logger.entries, peer)), label).toContain("ERR_INVALID_CONTROL");
    }
    const { link, channel } = await connect();
    link.sendMessage({ action: "ask", "@req": 5 });
    link.sendMessage({ action: "ask", "@req": "r" });
    await link.next((message) => message["@re"] === "r", "the second reply");
    expect(channel.handled).toBe(2);
    expect(link.received.filter((message) => message.action === "@reply")).toEqual([
      { action: "@reply", "@re": 5, result: 42 },
      { action: "@reply", "@re": "r", result: 42 },
    ]);
  });

  it.each<DispatchMode>(["live", "pump"])(
    "survives a @reply whose error is not a string (%s dispatch); the channel keeps working",
    async (dispatch) => {
      const { connect } = await target(wire, { dispatch });
      const errors: [string, Uint8Array][] = [
        ["{ toString: 1 }", toStringTrap],
        ["{ valueOf: 1, toString: 1 }", rawMap([["valueOf", rawValue(1)], ...[["toString", rawValue(1)] as const]])],
        ["[{ toString: 1 }]", Uint8Array.from([0x91, ...toStringTrap])],
        ["binary", Uint8Array.from([0xc4, 1, 0])],
      ];
      for (const [label, error] of errors) {
        const { link, channel } = await connect();
        const outcome: { error?: unknown; value?: unknown } = {};
        cleanup.subscription(
          channel.request({ action: "whoAreYou" }).subscribe({
            next: (value) => (outcome.value = value),
            error: (failure: unknown) => (outcome.error = failure),
          }),
        );
        const request = await link.next((message) => message.action === "whoAreYou", "the request");
        link.send(rawMessage("@reply", { "@re": rawValue(request["@req"]), error }));
        await roundTrip(link, label);
        // Dropped (still pending) or settled with a message that is a string: either way printable.
        if (outcome.error !== undefined) expect(typeof (outcome.error as Error).message, label).toBe("string");
        expect(outcome.value, label).toBeUndefined();
        expect(link.closed, label).toBe(false);
        expect(channel.errors, label).toEqual([]);
      }
    },
  );

  it("drops a payload nested deeper than 64 levels with ERR_PAYLOAD_TOO_COMPLEX, unread", async () => {
    const { logger, connect } = await target(wire);
    const { link, channel, peer } = await connect();
    // The top-level map is level 1: 63 arrays inside it make 64 levels, accepted; 64 make 65.
    link.send(rawMessage("ask", { "@req": rawValue(1), deep: rawNestedArrays(63) }));
    link.send(rawMessage("ask", { "@req": rawValue(2), deep: rawNestedArrays(64) }));
    link.send(rawMessage("ask", { "@req": rawValue(3), deep: rawNestedMaps(100) }));
    await roundTrip(link, "depth");
    expect(link.received.filter((message) => message.action === "@reply").map((message) => message["@re"])).toEqual([
      1,
    ]);
    expect(channel.handled).toBe(1);
    expect(codesOf(linesAbout(logger.entries, peer))).toEqual(
      expect.arrayContaining(["ERR_PAYLOAD_TOO_COMPLEX", "ERR_PAYLOAD_TOO_COMPLEX"]),
    );
    expect(codesOf(linesAbout(logger.entries, peer)).filter((code) => code === "ERR_PAYLOAD_TOO_COMPLEX")).toHaveLength(
      2,
    );
  });

  it("drops a payload of more than maxPayloadItems values with ERR_PAYLOAD_TOO_COMPLEX", async () => {
    const { server, logger, connect } = await target(wire);
    const { link, channel, peer } = await connect();
    const nils = (count: number): Uint8Array => {
      const out = new Uint8Array(5 + count).fill(0xc0);
      out.set([0xdd, count >>> 24, (count >> 16) & 0xff, (count >> 8) & 0xff, count & 0xff]);
      return out;
    };
    const max = server.limits.maxPayloadItems;
    link.send(rawMessage("ask", { "@req": rawValue(1), data: nils(Math.floor(max / 2)) }));
    link.send(rawMessage("ask", { "@req": rawValue(2), data: nils(max + 1) }));
    await roundTrip(link, "items");
    expect(link.received.filter((message) => message.action === "@reply").map((message) => message["@re"])).toEqual([
      1,
    ]);
    expect(channel.handled).toBe(1);
    expect(codesOf(linesAbout(logger.entries, peer))).toContain("ERR_PAYLOAD_TOO_COMPLEX");
  });

  it("keeps a peer that sent maxInvalidMessages (100) invalid messages, cuts it off at the next one", async () => {
    const { server, logger, connect } = await target(wire);
    const good = await connect();
    const { link, channel, peer } = await connect();
    for (let n = 0; n < 100; n++) link.send(n % 2 === 0 ? nil : rawMessage("@ping", { id: toStringTrap }));
    await roundTrip(link, "after 100");
    expect(link.closed).toBe(false);

    link.send(nil);
    await link.whenClosed();
    await waitFor(() => !server.channels.includes(channel), "the channel to close");
    expect(channel.errors.map((error) => (error as { code?: unknown }).code)).toEqual(["ERR_TOO_MANY_INVALID"]);
    expect(linesAbout(logger.entries, peer).length).toBeLessThan(20);
    await roundTrip(good.link, "the good client");
    expect(good.channel.errors).toEqual([]);
  });

  it("logs a few lines however many invalid messages arrive, and a count when the connection ends", async () => {
    const { logger, connect } = await target(wire, { maxInvalidMessages: 100_000 });
    const { link, channel, peer } = await connect();
    for (let n = 0; n < 1_000; n++) link.send(n % 2 === 0 ? nil : rawMessage("ask", { "@req": toStringTrap }));
    await roundTrip(link, "after 1,000");
    expect(channel.handled).toBe(0);
    const whileOpen = linesAbout(logger.entries, peer).length;
    expect(whileOpen).toBeLessThan(20);
    expect(codesOf(linesAbout(logger.entries, peer))).toEqual(
      expect.arrayContaining(["ERR_NOT_A_MAP", "ERR_INVALID_CONTROL"]),
    );

    link.destroy();
    await waitFor(() => !channel.isConnected && logger.entries.some((entry) => entry.message === "disconnected"));
    const atClose = linesAbout(logger.entries, peer).slice(whileOpen);
    expect(atClose.length).toBeLessThan(5);
    // The summary carries the count of what was dropped, whatever its wording.
    expect(atClose.map((entry) => formatLogLine(entry.level, entry.message, entry.fields)).join("\n")).toMatch(
      /\b1000\b/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Client side: a Node ConnectionListener and a hostile server.

class VictimListener extends ConnectionListener {
  handled = 0;
  readonly actions: unknown[] = [];

  Network_ask(): number {
    this.handled++;
    return 42;
  }

  override networkReceived(message: IncomingMessage): void {
    this.actions.push(message.action);
  }
}

/** A listener connected to a hostile server over `wire`, greeted; pumped while waiting. */
async function victimClient(wire: Wire) {
  const uncaught = recordUncaught(cleanup);
  cleanup.add(() => expect(uncaught.map(describeError)).toEqual([]));
  const server = await hostileServer(cleanup, wire);
  const logger = recordingLogger();
  const listener = cleanup.listener(new VictimListener());
  const log: IncomingMessage[] = [];
  cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
  listener.connect(server.url, undefined, { logger });
  const link = await server.link(0);
  link.sendMessage({ action: "connected" });
  /** Pumps until `condition` holds; pump() must never throw because of what the server sent. */
  const pumpUntil = (condition: () => boolean, what: string): Promise<void> =>
    waitFor(() => {
      listener.pump();
      return condition();
    }, what);
  await pumpUntil(() => listener.connection?.isConnected === true, "the client to be connected");
  let markers = 0;
  /** Sends a marker and pumps until the listener has handled it: everything before it was handled. */
  const roundTrip = async (): Promise<void> => {
    const n = ++markers;
    link.sendMessage({ action: "marker", n });
    await pumpUntil(() => log.some((message) => message.action === "marker" && message.n === n), `marker ${n}`);
    listener.pump();
  };
  return { listener, link, logger, log, roundTrip, pumpUntil };
}

describe.each<Wire>(["tcp", "ws"])("a Node client, over %s", (wire) => {
  it("drops a @ping whose id is not a number or a short string with ERR_INVALID_CONTROL, without a pong", async () => {
    const { link, logger, log, roundTrip } = await victimClient(wire);
    // Five at most: the first few drops of a connection are logged one by one.
    for (const [, id] of UNUSABLE_IDS.slice(0, 5)) link.send(rawMessage("@ping", { id }));
    await roundTrip();
    expect(link.received.filter((message) => message.action === "@pong")).toEqual([]);
    expect(codesOf(logger.entries).filter((code) => code === "ERR_INVALID_CONTROL")).toHaveLength(5);
    link.sendMessage({ action: "@ping", id: 7 });
    await link.next((message) => message.action === "@pong", "the pong to a good ping");
    expect(link.received.filter((message) => message.action === "@pong")).toEqual([{ action: "@pong", id: 7 }]);
    expect(log.map((message) => message.action).filter((action) => action !== "marker")).toEqual([
      "connected",
      "socketConnect",
    ]);
  });

  it("drops a request whose @req is not a number or a short string with ERR_INVALID_CONTROL: no handler, no reply", async () => {
    const { listener, link, logger, roundTrip } = await victimClient(wire);
    for (const [, id] of UNUSABLE_IDS.slice(2)) link.send(rawMessage("ask", { "@req": id }));
    await roundTrip();
    expect(listener.handled).toBe(0);
    expect(link.received.filter((message) => message.action === "@reply")).toEqual([]);
    expect(codesOf(logger.entries).filter((code) => code === "ERR_INVALID_CONTROL")).toHaveLength(5);
    link.sendMessage({ action: "ask", "@req": 5 });
    await roundTrip();
    await link.next((message) => message.action === "@reply", "the reply to a good request");
    expect(link.received.filter((message) => message.action === "@reply")).toEqual([
      { action: "@reply", "@re": 5, result: 42 },
    ]);
  });

  it("survives a @reply whose error is not a string: pump() does not throw, the connection keeps working", async () => {
    const { listener, link, roundTrip, log } = await victimClient(wire);
    const outcomes: { error?: unknown; value?: unknown }[] = [];
    for (let n = 0; n < 3; n++) {
      const outcome: { error?: unknown; value?: unknown } = {};
      outcomes.push(outcome);
      cleanup.subscription(
        listener.request({ action: "whoAreYou", n }).subscribe({
          next: (value) => (outcome.value = value),
          error: (failure: unknown) => (outcome.error = failure),
        }),
      );
    }
    await link.next((message) => message.action === "whoAreYou" && message.n === 2, "the requests");
    const ids = link.received.filter((message) => message.action === "whoAreYou").map((message) => message["@req"]);
    link.send(rawMessage("@reply", { "@re": rawValue(ids[0]), error: toStringTrap }));
    link.send(
      rawMessage("@reply", {
        "@re": rawValue(ids[1]),
        error: rawMap([
          ["valueOf", rawValue(1)],
          ["toString", rawValue(1)],
        ]),
      }),
    );
    link.send(rawMessage("@reply", { "@re": rawValue(ids[2]), error: Uint8Array.from([0x91, ...toStringTrap]) }));
    await roundTrip();
    for (const outcome of outcomes) {
      if (outcome.error !== undefined) expect(typeof (outcome.error as Error).message).toBe("string");
      expect(outcome.value).toBeUndefined();
    }
    expect(link.closed).toBe(false);
    expect(log.filter((message) => message.action === "disconnected")).toEqual([]);
  });

  it("drops a payload nested deeper than 64 levels with ERR_PAYLOAD_TOO_COMPLEX, unread", async () => {
    const { listener, link, logger, roundTrip } = await victimClient(wire);
    link.send(rawMessage("deep", { deep: rawNestedArrays(63) }));
    link.send(rawMessage("deep", { deep: rawNestedArrays(64) }));
    link.send(rawMessage("deep", { deep: rawNestedArrays(100_000) }));
    await roundTrip();
    expect(listener.actions.filter((action) => action === "deep")).toHaveLength(1);
    expect(codesOf(logger.entries).filter((code) => code === "ERR_PAYLOAD_TOO_COMPLEX")).toHaveLength(2);
  });

  it("keeps a server that sent maxInvalidMessages (100) invalid messages, cuts it off at the next one", async () => {
    const { link, logger, log, roundTrip, pumpUntil } = await victimClient(wire);
    for (let n = 0; n < 100; n++) link.send(n % 2 === 0 ? nil : rawMessage("@ping", { id: toStringTrap }));
    await roundTrip();
    expect(link.closed).toBe(false);

    link.send(nil);
    await link.whenClosed();
    await pumpUntil(() => log.some((message) => message.action === "disconnected"), "disconnected");
    expect(log.filter((message) => message.action === "error").map((message) => message.code)).toEqual([
      "ERR_TOO_MANY_INVALID",
    ]);
    expect(logger.entries.length).toBeLessThan(20);
  });
});
