// A resumable client facing a server that lies in its session answers: what it accepts, what
// it cuts, and what its player is told, on TCP and on WebSocket.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ConnectOptions, IncomingMessage } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { hostileServer, type RawLink, type RawMessage, type Wire } from "./helpers/hostile.js";
import { delay, waitFor } from "./helpers/net.js";
import { holdsSession, openPlayer, RecordingPlayer, type ObservedPlayer } from "./helpers/sessions.js";
import { recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const TOKEN = "0123456789abcdef0123456789abcdef";
const NEXT_TOKEN = "fedcba9876543210fedcba9876543210";

function isHello(message: RawMessage): boolean {
  return message.action === "@hello";
}

interface GrantedPlayer {
  readonly player: ObservedPlayer<RecordingPlayer>;
  readonly logger: ReturnType<typeof recordingLogger>;
  readonly link: (index: number) => Promise<RawLink>;
  /** Every connection the hostile server accepted so far. */
  readonly links: readonly RawLink[];
  /** Cuts the first connection without a goodbye and returns the resume hello of the second. */
  dropAndAwaitResume(): Promise<{ link: RawLink; hello: RawMessage }>;
}

/**
 * A player holding a session the hostile server granted over its first connection, for `window`
 * ms (5 s by default), connected with `options` besides `resume` and a recording logger.
 */
async function grantedPlayer(wire: Wire, window = 5_000, options: ConnectOptions = {}): Promise<GrantedPlayer> {
  const server = await hostileServer(cleanup, wire);
  const logger = recordingLogger();
  const player = openPlayer(cleanup, new RecordingPlayer(), server.url, { ...options, resume: true, logger });
  const first = await server.link(0);
  await first.next(isHello, "the first hello");
  first.sendMessage({ action: "connected" });
  first.sendMessage({ action: "@session", token: TOKEN, window });
  await waitFor(() => player.states.includes("open"), "the player to enter");
  player.listener.send({ action: "m", n: 1 });
  await first.next((message) => message.action === "m", "the player's first message");
  return {
    player,
    logger,
    link: (index) => server.link(index),
    links: server.links,
    async dropAndAwaitResume() {
      first.destroy();
      const link = await server.link(1);
      const hello = await link.next(isHello, "the resume hello");
      return { link, hello };
    },
  };
}

function errorsOf(log: IncomingMessage[]): IncomingMessage[] {
  return log.filter((message) => message.action === "error");
}

for (const wire of ["tcp", "ws"] as const) {
  describe(`a resumable client over ${wire}, facing a lying server`, () => {
    it("comes back with the token it was granted and the count it received", async () => {
      const { dropAndAwaitResume } = await grantedPlayer(wire);
      const { hello } = await dropAndAwaitResume();
      expect(hello).toEqual({ action: "@hello", session: true, resume: { token: TOKEN, received: 0 } });
    });

    it("told the resume failed with a code and a reason that are not strings, says ERR_RESUME_UNKNOWN with its own reason, then starts afresh", async () => {
      const { player, logger, dropAndAwaitResume } = await grantedPlayer(wire);
      const { link } = await dropAndAwaitResume();
      link.sendMessage({ action: "connected" });
      link.sendMessage({ action: "@resume-failed", code: 42, reason: { evil: true } });
      link.sendMessage({ action: "@session", token: NEXT_TOKEN, window: 5_000 });
      await waitFor(() => player.listener.events.filter((event) => event === "connected").length === 2, "connected");

      expect(errorsOf(player.log)).toEqual([
        { action: "error", code: "ERR_RESUME_UNKNOWN", error: "The server could not resume the session" },
      ]);
      expect(player.listener.events).toEqual([
        "connected",
        "socketConnect",
        "dropped:ERR_CONNECTION_LOST",
        "error:ERR_RESUME_UNKNOWN",
        "disconnected",
        "connected",
        "socketConnect",
      ]);
      expect(player.states.at(-1)).toBe("open");
      expect(logger.entries).toContainEqual({
        level: "warn",
        message: "session ended",
        fields: { server: expect.any(String), reason: "The server could not resume the session" },
      });
    });

    it("told the resume failed with a code and a reason, passes both on to its player", async () => {
      const { player, dropAndAwaitResume } = await grantedPlayer(wire);
      const { link } = await dropAndAwaitResume();
      link.sendMessage({ action: "connected" });
      link.sendMessage({ action: "@resume-failed", code: "ERR_RESUME_MISMATCH", reason: "not your seat" });
      await waitFor(() => player.listener.events.includes("disconnected"), "the session to end");
      expect(errorsOf(player.log)).toEqual([{ action: "error", code: "ERR_RESUME_MISMATCH", error: "not your seat" }]);
    });

    it("resumed, keeps the new token it is given for the next resume, acknowledges at once and logs the resume", async () => {
      const { player, logger, link: linkAt, dropAndAwaitResume } = await grantedPlayer(wire);
      const { link } = await dropAndAwaitResume();
      link.sendMessage({ action: "@resumed", token: NEXT_TOKEN, received: 1 });
      await link.next((message) => message.action === "@ack", "the client's acknowledgement");
      await waitFor(() => player.listener.events.includes("resumed"), "resumed");
      expect(player.states.slice(-2)).toEqual(["resuming", "open"]);
      expect(logger.entries).toContainEqual({
        level: "info",
        message: "resumed",
        fields: { server: expect.any(String) },
      });

      link.destroy();
      const third = await linkAt(2);
      const hello = await third.next(isHello, "the second resume hello");
      expect(hello.resume).toEqual({ token: NEXT_TOKEN, received: 0 });
    });

    it("resumed with a token that is not one, comes back next time with the token it had", async () => {
      const { link: linkAt, dropAndAwaitResume } = await grantedPlayer(wire);
      const { link } = await dropAndAwaitResume();
      link.sendMessage({ action: "@resumed", token: "not a token", received: 1 });
      await link.next((message) => message.action === "@ack", "the client's acknowledgement");
      link.destroy();
      const hello = await (await linkAt(2)).next(isHello, "the second resume hello");
      expect(hello.resume).toEqual({ token: TOKEN, received: 0 });
    });

    for (const [what, received] of [
      ["a count that is not a number", "1"],
      ["a count beyond what was sent", 2],
    ] as const) {
      it(`resumed with ${what}, cuts the connection with ERR_INVALID_CONTROL and ends the session`, async () => {
        const { player, dropAndAwaitResume } = await grantedPlayer(wire);
        const { link } = await dropAndAwaitResume();
        link.sendMessage({ action: "@resumed", token: NEXT_TOKEN, received });
        await link.whenClosed();
        await waitFor(() => player.listener.events.includes("disconnected"), "the session to end");
        expect(errorsOf(player.log)).toEqual([
          expect.objectContaining({ code: "ERR_INVALID_CONTROL", error: expect.stringContaining("resume answer") }),
        ]);
        expect(player.listener.events).not.toContain("resumed");
      });
    }

    it("acknowledged for more messages than it sent, cuts the connection with ERR_INVALID_CONTROL", async () => {
      const { player, link: linkAt } = await grantedPlayer(wire);
      const first = await linkAt(0);
      first.sendMessage({ action: "@ack", n: 2 });
      await first.whenClosed();
      await waitFor(() => errorsOf(player.log).length > 0, "the error");
      expect(errorsOf(player.log)[0]).toEqual(
        expect.objectContaining({ code: "ERR_INVALID_CONTROL", error: "The server acknowledged messages never sent" }),
      );
    });

    it("sent a second @session it did not ask for, drops it and says why in its log", async () => {
      const { player, logger, link: linkAt } = await grantedPlayer(wire);
      const first = await linkAt(0);
      first.sendMessage({ action: "@session", token: NEXT_TOKEN, window: 1 });
      first.sendMessage({ action: "m", n: 7 });
      await waitFor(() => player.listener.got.includes(7), "the next message");
      expect(logger.entries).toContainEqual({
        level: "warn",
        message: "dropped",
        fields: expect.objectContaining({ reason: "Dropped a @session message the client did not ask for" }),
      });
      expect(player.states.at(-1)).toBe("open");
    });

    it("told the resume failed before it is greeted, is not in until the greeting; then its new session carries its messages", async () => {
      const { player, link: linkAt, dropAndAwaitResume } = await grantedPlayer(wire);
      const { link } = await dropAndAwaitResume();
      link.sendMessage({ action: "@resume-failed", code: "ERR_RESUME_UNKNOWN", reason: "restarted" });
      await waitFor(() => player.listener.events.includes("disconnected"), "the session to end");
      await delay(50);
      expect(player.listener.events.filter((event) => event === "connected")).toHaveLength(1);
      expect(player.states.at(-1)).not.toBe("open");

      link.sendMessage({ action: "connected" });
      link.sendMessage({ action: "@session", token: NEXT_TOKEN, window: 5_000 });
      await waitFor(() => player.states.at(-1) === "open", "the fresh start");
      player.listener.send({ action: "m", n: 2 });
      await link.next((message) => message.action === "m" && message.n === 2, "the message on the new session");
      link.destroy();
      const hello = await (await linkAt(2)).next(isHello, "the new session's resume hello");
      expect(hello.resume).toEqual({ token: NEXT_TOKEN, received: 0 });
    });

    it("sent an ordinary message before the resume answer, still resumes", async () => {
      const { player, dropAndAwaitResume } = await grantedPlayer(wire);
      const { link } = await dropAndAwaitResume();
      link.sendMessage({ action: "m", n: 9 });
      link.sendMessage({ action: "@resumed", token: NEXT_TOKEN, received: 1 });
      await waitFor(() => player.listener.events.includes("resumed"), "resumed");
      expect(player.listener.events).not.toContain("disconnected");
      expect(errorsOf(player.log)).toEqual([]);
    });

    for (const answer of ["@resumed", "@resume-failed"]) {
      it(`sent a second resume answer (${answer}) after the first, drops it as unasked and keeps its session`, async () => {
        const { player, logger, dropAndAwaitResume } = await grantedPlayer(wire);
        const { link } = await dropAndAwaitResume();
        link.sendMessage({ action: "@resumed", token: NEXT_TOKEN, received: 1 });
        await waitFor(() => player.listener.events.includes("resumed"), "resumed");
        link.sendMessage({ action: answer, token: TOKEN, received: 1, code: "ERR_RESUME_UNKNOWN", reason: "late" });
        link.sendMessage({ action: "m", n: 3 });
        await waitFor(() => player.listener.got.includes(3), "the next message");
        expect(player.listener.events).not.toContain("disconnected");
        expect(logger.entries).toContainEqual({
          level: "warn",
          message: "dropped",
          fields: expect.objectContaining({ reason: `Dropped a ${answer} message the client did not ask for` }),
        });
      });
    }

    it("closed gracefully by the server without a goodbye, takes it for a network failure and resumes", async () => {
      const { player, logger, link: linkAt } = await grantedPlayer(wire);
      (await linkAt(0)).end();
      const hello = await (await linkAt(1)).next(isHello, "the resume hello");
      expect(hello.resume).toEqual({ token: TOKEN, received: 0 });
      const dropped = player.log.find((message) => message.action === "dropped");
      expect(dropped).toEqual({
        action: "dropped",
        code: "ERR_CONNECTION_LOST",
        error: expect.stringMatching(/closed the connection without a goodbye: taken for a network failure$/),
      });
      expect(logger.entries).toContainEqual({
        level: "warn",
        message: "dropped",
        fields: { server: expect.any(String), reason: dropped!.error },
      });
    });
  });

  describe(`a client asking for a session over ${wire}, from a server that grants none or grants nonsense`, () => {
    async function playerOf(): Promise<{
      player: ObservedPlayer<RecordingPlayer>;
      logger: ReturnType<typeof recordingLogger>;
      link: RawLink;
      linkAt: (index: number) => Promise<RawLink>;
    }> {
      const server = await hostileServer(cleanup, wire);
      const logger = recordingLogger();
      const player = openPlayer(cleanup, new RecordingPlayer(), server.url, { resume: true, logger });
      const link = await server.link(0);
      await link.next(isHello, "the hello");
      return { player, logger, link, linkAt: (index) => server.link(index) };
    }

    it("granted none, sends straight on its connection and says no goodbye when it closes", async () => {
      const { player, link } = await playerOf();
      link.sendMessage({ action: "connected" });
      link.sendMessage({ action: "m", n: 1 });
      await waitFor(() => player.listener.got.includes(1), "the first message");
      expect(player.listener.send({ action: "n", n: 7 })).toBeGreaterThan(0);
      await link.next((message) => message.action === "n", "the message");
      player.listener.close();
      await link.whenClosed();
      expect(link.received.map((message) => message.action)).toEqual(["@hello", "n"]);
    });

    it("granted none, drops the session control messages it did not ask for (@bye, @ack), saying which", async () => {
      const { player, logger, link } = await playerOf();
      link.sendMessage({ action: "connected" });
      link.sendMessage({ action: "m", n: 1 });
      for (const action of ["@bye", "@ack"]) link.sendMessage({ action, n: 0 });
      link.sendMessage({ action: "m", n: 2 });
      await waitFor(() => player.listener.got.includes(2), "the next message");
      const reasons = logger.entries.filter((entry) => entry.message === "dropped").map((entry) => entry.fields.reason);
      expect(reasons).toEqual([
        "Dropped a @bye message the client did not ask for",
        "Dropped a @ack message the client did not ask for",
      ]);
    });

    it("granted none, gets the server's first message as an ordinary one, and ends at a drop", async () => {
      const { player, logger, link } = await playerOf();
      link.sendMessage({ action: "connected" });
      link.sendMessage({ action: "m", n: 4 });
      await waitFor(() => player.listener.got.includes(4), "the first message");
      expect(logger.entries.filter((entry) => entry.level === "warn")).toEqual([]);
      link.destroy();
      await waitFor(() => player.states.at(-1) === "closed", "the client to close");
      expect(player.listener.events).not.toContain("dropped:ERR_CONNECTION_LOST");
    });

    for (const [what, grant] of [
      ["a token that is not one", { token: "short", window: 5_000 }],
      ["a window of 0", { token: TOKEN, window: 0 }],
      ["a window that is not an integer", { token: TOKEN, window: 1.5 }],
      ["a window longer than a timer can wait", { token: TOKEN, window: 2 ** 31 }],
      ["a window given as a string", { token: TOKEN, window: "5000" }],
    ] as const) {
      it(`granted a session with ${what}, logs it as unusable and goes on without one`, async () => {
        const { player, logger, link } = await playerOf();
        link.sendMessage({ action: "connected" });
        link.sendMessage({ action: "@session", ...grant });
        link.sendMessage({ action: "m", n: 5 });
        await waitFor(() => player.listener.got.includes(5), "the next message");
        expect(logger.entries).toContainEqual({
          level: "warn",
          message: "dropped",
          fields: { server: expect.any(String), code: "ERR_INVALID_CONTROL", reason: "unusable @session" },
        });
        link.destroy();
        await waitFor(() => player.states.at(-1) === "closed", "the client to close");
        expect(player.listener.events).not.toContain("dropped:ERR_CONNECTION_LOST");
      });
    }
    it("granted a session with the longest window a timer can wait, holds it", async () => {
      const { player, logger, link } = await playerOf();
      link.sendMessage({ action: "connected" });
      link.sendMessage({ action: "@session", token: TOKEN, window: 2 ** 31 - 1 });
      link.sendMessage({ action: "m", n: 5 });
      await waitFor(() => player.listener.got.includes(5), "the next message");
      expect(holdsSession(player.listener)).toBe(true);
      expect(logger.entries.filter((entry) => entry.level === "warn")).toEqual([]);
    });
    it("granted a session before the server let it in, then cut, reports a failed connection: nothing dropped, nothing disconnected", async () => {
      const server = await hostileServer(cleanup, wire);
      // Logging in: the client is in only once the server greets it.
      const player = openPlayer(cleanup, new RecordingPlayer(), server.url, { resume: true, auth: "ann" });
      const link = await server.link(0);
      await link.next(isHello, "the hello");
      link.sendMessage({ action: "@session", token: TOKEN, window: 5_000 });
      await delay(50);
      link.destroy();
      await waitFor(() => player.states.at(-1) === "closed", "the client to close");
      await waitFor(() => player.listener.events.length > 0, "the error to be handled");
      await delay(50);
      expect(player.listener.events).toEqual(["error:ERR_CONNECTION_LOST"]);
      expect(player.states).toEqual(["connecting", "closed"]);
    });
  });

  describe(`a client without a session over ${wire}`, () => {
    it("drops the session control messages it did not ask for (@bye, @ack, @resumed, @resume-failed), saying which", async () => {
      const server = await hostileServer(cleanup, wire);
      const logger = recordingLogger();
      const player = openPlayer(cleanup, new RecordingPlayer(), server.url, { logger });
      const link = await server.link(0);
      link.sendMessage({ action: "connected" });
      await waitFor(() => player.states.includes("open"), "the player to enter");
      for (const action of ["@bye", "@ack", "@resumed", "@resume-failed"]) link.sendMessage({ action, n: 0 });
      link.sendMessage({ action: "m", n: 6 });
      await waitFor(() => player.listener.got.includes(6), "the next message");
      const reasons = logger.entries.filter((entry) => entry.message === "dropped").map((entry) => entry.fields.reason);
      expect(reasons).toEqual([
        "Dropped a @bye message the client did not ask for",
        "Dropped a @ack message the client did not ask for",
        "Dropped a @resumed message the client did not ask for",
        "Dropped a @resume-failed message the client did not ask for",
      ]);
    });

    it("logging in, closed before the server lets it in, says ERR_CONNECTION_LOST", async () => {
      const server = await hostileServer(cleanup, wire);
      const player = openPlayer(cleanup, new RecordingPlayer(), server.url, { auth: "ann" });
      const link = await server.link(0);
      await link.next(isHello, "the hello");
      link.end();
      await waitFor(() => player.states.at(-1) === "closed", "the client to close");
      expect(player.log).toEqual([
        {
          action: "error",
          code: "ERR_CONNECTION_LOST",
          error: expect.stringMatching(/closed the connection before letting the client in$/),
        },
      ]);
      expect(player.states).toEqual(["connecting", "closed"]);
    });

    it("counts in bufferedAmount what it sent before the server let it in", async () => {
      const server = await hostileServer(cleanup, wire);
      const player = openPlayer(cleanup, new RecordingPlayer(), server.url, { auth: "ann" });
      const link = await server.link(0);
      await link.next(isHello, "the hello");
      const client = player.listener.connection!;
      const sent = client.send({ action: "m", n: 1 });
      expect(sent).toBeGreaterThan(0);
      // The frame as sent (a WebSocket adds its own header).
      expect(client.bufferedAmount).toBeGreaterThanOrEqual(sent);
      link.sendMessage({ action: "connected" });
      await link.next((message) => message.action === "m", "the message");
      expect(client.bufferedAmount).toBe(0);
    });

    it("keeps a latest-wins message sent while its credentials were fetched replaceable until its connection opens", async () => {
      const server = await hostileServer(cleanup, wire);
      let credentials!: (value: string) => void;
      const fetched = new Promise<string>((resolve) => (credentials = resolve));
      const player = openPlayer(cleanup, new RecordingPlayer(), server.url, { auth: () => fetched });
      expect(player.listener.send({ action: "m", n: 1 }, { latest: "pos" })).toBeGreaterThan(0);
      credentials("ann");
      // The connection is made once the credentials are in (a few promise steps), and opens later,
      // after the event loop has polled the socket: in between, the newer position replaces the older.
      const client = player.listener.connection as unknown as { connection: unknown };
      for (let step = 0; step < 100 && client.connection === null; step++) await Promise.resolve();
      expect(client.connection).not.toBeNull();
      expect(player.listener.send({ action: "m", n: 2 }, { latest: "pos" })).toBeGreaterThan(0);
      const link = await server.link(0);
      await link.next(isHello, "the hello");
      link.sendMessage({ action: "connected" });
      await link.next((message) => message.action === "m", "the message");
      await delay(50);
      expect(link.received.filter((message) => message.action === "m").map((message) => message.n)).toEqual([2]);
    });

    it("refused its credentials with reconnection on, closes without ever reconnecting", async () => {
      const server = await hostileServer(cleanup, wire);
      const logger = recordingLogger();
      const player = openPlayer(cleanup, new RecordingPlayer(), server.url, {
        auth: "ann",
        logger,
        reconnect: { initialDelay: 10, maxDelay: 20, maxAttempts: 10 },
      });
      const link = await server.link(0);
      await link.next(isHello, "the hello");
      link.sendMessage({ action: "@refused", code: "ERR_UNAUTHORIZED", reason: "who?" });
      link.end();
      await waitFor(() => player.states.at(-1) === "closed", "the client to close");
      await delay(50);
      expect(player.states).toEqual(["connecting", "closed"]);
      expect(logger.entries.filter((entry) => entry.message === "reconnecting")).toEqual([]);
      expect(server.links).toHaveLength(1);
    });

    it("logging in, cut for a frame bigger than it accepts, reports that rather than a plain close", async () => {
      const server = await hostileServer(cleanup, wire);
      const player = openPlayer(cleanup, new RecordingPlayer(), server.url, { auth: "ann", maxPayload: 1_024 });
      const link = await server.link(0);
      await link.next(isHello, "the hello");
      link.sendMessage({ action: "m", text: "x".repeat(2_000) });
      await waitFor(() => player.states.at(-1) === "closed", "the client to close");
      expect(player.log).toEqual([
        {
          action: "error",
          code: "ERR_PAYLOAD_TOO_LARGE",
          error: expect.stringContaining("1024-byte maxPayload limit"),
        },
      ]);
    });

    it("refused by a full server, tries again later with the same credentials; refused the credentials, does not", async () => {
      const server = await hostileServer(cleanup, wire);
      const player = openPlayer(cleanup, new RecordingPlayer(), server.url, {
        auth: "ann",
        reconnect: { initialDelay: 10, maxDelay: 20, maxAttempts: 10 },
      });
      const first = await server.link(0);
      await first.next(isHello, "the first hello");
      first.sendMessage({ action: "@refused", code: "ERR_SERVER_FULL", reason: "full" });
      first.end();
      const second = await server.link(1);
      expect(await second.next(isHello, "the second hello")).toEqual({ action: "@hello", auth: "ann" });
      second.sendMessage({ action: "@refused", code: "ERR_UNAUTHORIZED", reason: "who?" });
      second.end();
      await waitFor(() => player.states.at(-1) === "closed", "the client to give up");
      await delay(50);
      expect(server.links).toHaveLength(2);
      expect(player.listener.events.filter((event) => event.startsWith("error:"))).toEqual([
        "error:ERR_SERVER_FULL",
        "error:ERR_UNAUTHORIZED",
      ]);
    });
  });
}

/** The `attempt` of each "resuming" line the client logged, in order. */
function resumingAttempts(logger: ReturnType<typeof recordingLogger>): unknown[] {
  return logger.entries.filter((entry) => entry.message === "resuming").map((entry) => entry.fields.attempt);
}

describe("a resumable client whose server stays away past the window", () => {
  it("facing a server that never answers its resume, ends the session with ERR_RESUME_EXPIRED naming the window, closes that connection and tries no more", async () => {
    const { player, logger, links, dropAndAwaitResume } = await grantedPlayer("tcp", 250);
    const { link } = await dropAndAwaitResume();
    await waitFor(() => player.states.at(-1) === "closed", "the client to give the session up", 5_000);
    await link.whenClosed();
    await delay(150);

    expect(errorsOf(player.log)).toEqual([
      {
        action: "error",
        code: "ERR_RESUME_EXPIRED",
        error: "Could not resume the session within the server's window of 250 ms",
      },
    ]);
    expect(player.listener.events).toEqual([
      "connected",
      "socketConnect",
      "dropped:ERR_CONNECTION_LOST",
      "error:ERR_RESUME_EXPIRED",
      "disconnected",
    ]);
    expect(player.states).toEqual(["connecting", "open", "resuming", "closed"]);
    expect(links).toHaveLength(2);
    expect(logger.entries).toContainEqual({
      level: "warn",
      message: "session ended",
      fields: {
        server: expect.any(String),
        reason: "Could not resume the session within the server's window of 250 ms",
      },
    });
  });

  it("facing a server that cuts every resume, logs each attempt with its delay, then stops at the window", async () => {
    const { player, logger, links, dropAndAwaitResume } = await grantedPlayer("tcp", 600);
    await dropAndAwaitResume();
    // The server is there but cuts every connection that comes back, as a crashing one would.
    const cutter = setInterval(() => links.slice(1).forEach((link) => link.destroy()), 1);
    cleanup.add(() => clearInterval(cutter));
    await waitFor(() => player.states.at(-1) === "closed", "the client to give the session up", 5_000);
    const tried = links.length;
    await delay(250);

    expect(links).toHaveLength(tried);
    expect(player.listener.events.slice(-2)).toEqual(["error:ERR_RESUME_EXPIRED", "disconnected"]);
    const resuming = logger.entries.filter((entry) => entry.message === "resuming");
    expect(resuming.length).toBeGreaterThanOrEqual(2);
    resuming.forEach((entry, index) => {
      expect(entry).toEqual({
        level: "info",
        message: "resuming",
        fields: { server: expect.any(String), attempt: index + 1, delay: expect.any(Number) },
      });
    });
  });

  it("resumed after failed attempts, counts its attempts afresh at the next drop", async () => {
    const { player, logger, link: linkAt, dropAndAwaitResume } = await grantedPlayer("tcp");
    const { link } = await dropAndAwaitResume();
    link.destroy();
    const second = await linkAt(2);
    await second.next(isHello, "the second resume hello");
    second.sendMessage({ action: "@resumed", token: TOKEN, received: 1 });
    await waitFor(() => player.listener.events.includes("resumed"), "resumed");
    second.destroy();
    await (await linkAt(3)).next(isHello, "the resume hello after the next drop");

    expect(resumingAttempts(logger)).toEqual([1, 2, 1]);
  });

  it("told its resume failed, then let in afresh, counts its attempts afresh at the next drop", async () => {
    const { player, logger, link: linkAt, dropAndAwaitResume } = await grantedPlayer("tcp");
    const { link } = await dropAndAwaitResume();
    link.sendMessage({ action: "connected" });
    link.sendMessage({ action: "@resume-failed", code: "ERR_RESUME_UNKNOWN", reason: "restarted" });
    link.sendMessage({ action: "@session", token: NEXT_TOKEN, window: 5_000 });
    await waitFor(() => player.listener.events.filter((event) => event === "connected").length === 2, "connected");
    player.listener.send({ action: "m", n: 2 });
    await link.next((message) => message.action === "m" && message.n === 2, "a message on the new session");
    link.destroy();
    await (await linkAt(2)).next(isHello, "the resume hello after the next drop");

    expect(resumingAttempts(logger)).toEqual([1, 1]);
  });

  it("after a sleep that carried its clock past the window, tries to resume no more and says ERR_RESUME_EXPIRED, even before the window's timer fires", async () => {
    const { player, logger, links, dropAndAwaitResume } = await grantedPlayer("tcp", 5_000);
    const { link } = await dropAndAwaitResume();
    // As after a laptop's sleep: the wall clock jumped past the window, its timer has not fired yet.
    const realNow = Date.now.bind(Date);
    const clock = vi.spyOn(Date, "now").mockImplementation(() => realNow() + 10_000);
    cleanup.add(() => clock.mockRestore());
    link.destroy();
    await waitFor(() => player.states.at(-1) === "closed", "the client to give the session up", 4_000);
    await waitFor(() => player.listener.events.includes("disconnected"), "the session to end");
    await delay(300);

    expect(links).toHaveLength(2);
    expect(resumingAttempts(logger)).toEqual([1]);
    expect(player.listener.events.slice(-3)).toEqual([
      "dropped:ERR_CONNECTION_LOST",
      "error:ERR_RESUME_EXPIRED",
      "disconnected",
    ]);
    expect(errorsOf(player.log)).toEqual([
      expect.objectContaining({ error: "Could not resume the session within the server's window of 5000 ms" }),
    ]);
  });

  it("told its resume failed only after the window passed, does not end the session a second time", async () => {
    const { player, dropAndAwaitResume } = await grantedPlayer("tcp", 600, {
      reconnect: { initialDelay: 10, maxDelay: 20, maxAttempts: 10 },
    });
    const { link } = await dropAndAwaitResume();
    await waitFor(() => player.listener.events.includes("disconnected"), "the window to pass", 5_000);
    expect(player.states.at(-1)).toBe("reconnecting");
    link.sendMessage({ action: "@resume-failed", code: "ERR_RESUME_UNKNOWN", reason: "too late" });
    link.sendMessage({ action: "connected" });
    link.sendMessage({ action: "@session", token: NEXT_TOKEN, window: 5_000 });
    await waitFor(() => player.states.at(-1) === "open", "the fresh start");

    expect(player.listener.events).toEqual([
      "connected",
      "socketConnect",
      "dropped:ERR_CONNECTION_LOST",
      "error:ERR_RESUME_EXPIRED",
      "disconnected",
      "connected",
      "socketConnect",
    ]);
  });
});

describe("a resumable client closed or cut off by its own side", () => {
  it("closed while its resume waits for the server's answer, closes that connection, says disconnected and tries no more", async () => {
    const { player, links, dropAndAwaitResume } = await grantedPlayer("tcp");
    const { link } = await dropAndAwaitResume();
    const client = player.listener.connection!;
    player.listener.close();
    expect(player.states.at(-1)).toBe("closed");
    expect(client.send({ action: "m", n: 2 })).toBe(0);
    await link.whenClosed();
    await delay(250);
    expect(links).toHaveLength(2);
    expect(player.listener.events.slice(-2)).toEqual(["dropped:ERR_CONNECTION_LOST", "disconnected"]);
    expect(errorsOf(player.log)).toEqual([]);
  });

  it("closed while it waits to try its resume again, tries no more", async () => {
    const { player, logger, links, dropAndAwaitResume } = await grantedPlayer("tcp");
    const { link } = await dropAndAwaitResume();
    link.destroy();
    await waitFor(() => resumingAttempts(logger).length === 2, "the wait before the second resume");
    player.listener.close();
    expect(player.states.at(-1)).toBe("closed");
    // The second resume was due within 200 ms: well past that, nothing has come.
    await delay(400);
    expect(links).toHaveLength(2);
  });

  it("closed gracefully while connected, says goodbye and refuses to send anything after it", async () => {
    const { player, link: linkAt } = await grantedPlayer("tcp");
    const first = await linkAt(0);
    const client = player.listener.connection!;
    player.listener.close();
    expect(client.send({ action: "m", n: 2 })).toBe(0);
    await first.next((message) => message.action === "@bye", "the goodbye");
    first.end();
    await waitFor(() => player.states.at(-1) === "closed", "the client to close");
    expect(first.received.filter((message) => message.action === "m").map((message) => message.n)).toEqual([1]);
  });

  it("sending more than it keeps for a resume while connected goes on until the next drop, which then ends the session with ERR_RESUME_OVERFLOW", async () => {
    const { player, logger, links, link: linkAt } = await grantedPlayer("tcp");
    const first = await linkAt(0);
    // The server never acknowledges: past 4,096 messages the client keeps less than it sent.
    const count = 4_100;
    for (let n = 2; n <= count; n++) expect(player.listener.send({ action: "m", n })).toBeGreaterThan(0);
    await first.next((message) => message.action === "m" && message.n === count, "the last message", 10_000);
    expect(errorsOf(player.log)).toEqual([]);
    expect(player.states.at(-1)).toBe("open");

    first.destroy();
    await waitFor(() => player.listener.events.includes("disconnected"), "the session to end");
    expect(player.states.at(-1)).toBe("closed");
    const overflow =
      "More than 4096 messages or 1048576 bytes were sent without the server's acknowledgement: the session cannot be resumed";
    expect(errorsOf(player.log)).toEqual([{ action: "error", code: "ERR_RESUME_OVERFLOW", error: overflow }]);
    expect(player.listener.events.slice(2)).toEqual(["error:ERR_RESUME_OVERFLOW", "disconnected"]);
    expect(logger.entries).toContainEqual({
      level: "warn",
      message: "connection lost",
      fields: { server: expect.any(String), reason: overflow },
    });
    expect(links).toHaveLength(1);
  });

  it("while resuming, drops a volatile message, keeps only the newest of a latest-wins key, and delivers what it kept once resumed", async () => {
    const { player, dropAndAwaitResume } = await grantedPlayer("tcp");
    const { link } = await dropAndAwaitResume();
    expect(player.listener.send({ action: "m", n: 2 }, { volatile: true })).toBe(0);
    expect(player.listener.send({ action: "m", n: 3 })).toBeGreaterThan(0);
    expect(player.listener.send({ action: "m", n: 4 }, { latest: "pos" })).toBeGreaterThan(0);
    expect(player.listener.send({ action: "m", n: 5 }, { latest: "pos" })).toBeGreaterThan(0);
    expect(player.listener.send({ action: "m", n: 6 })).toBeGreaterThan(0);
    link.sendMessage({ action: "@resumed", token: NEXT_TOKEN, received: 1 });
    await link.next((message) => message.action === "m" && message.n === 6, "the last message kept for the resume");
    await delay(50);
    expect(link.received.filter((message) => message.action === "m").map((message) => message.n)).toEqual([3, 5, 6]);
  });

  it("refused by a full server when it comes back, ends the session: error, then disconnected, logged", async () => {
    const { player, logger, dropAndAwaitResume } = await grantedPlayer("tcp");
    const { link } = await dropAndAwaitResume();
    link.sendMessage({ action: "@refused", code: "ERR_SERVER_FULL", reason: "full" });
    link.end();
    await waitFor(() => player.listener.events.includes("disconnected"), "the session to end");
    expect(player.states.at(-1)).toBe("closed");
    expect(player.listener.events).toEqual([
      "connected",
      "socketConnect",
      "dropped:ERR_CONNECTION_LOST",
      "error:ERR_SERVER_FULL",
      "disconnected",
    ]);
    expect(logger.entries.filter((entry) => entry.message === "disconnected")).toEqual([
      { level: "info", message: "disconnected", fields: { server: expect.any(String) } },
    ]);
  });
});
