// A resumable client facing a server that lies in its session answers: what it accepts, what
// it cuts, and what its player is told, on TCP and on WebSocket.
import { afterEach, describe, expect, it } from "vitest";
import type { IncomingMessage } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { hostileServer, type RawLink, type RawMessage, type Wire } from "./helpers/hostile.js";
import { delay, waitFor } from "./helpers/net.js";
import { openPlayer, RecordingPlayer, type ObservedPlayer } from "./helpers/sessions.js";
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
  /** Cuts the first connection without a goodbye and returns the resume hello of the second. */
  dropAndAwaitResume(): Promise<{ link: RawLink; hello: RawMessage }>;
}

/** A player holding a session the hostile server granted over its first connection. */
async function grantedPlayer(wire: Wire): Promise<GrantedPlayer> {
  const server = await hostileServer(cleanup, wire);
  const logger = recordingLogger();
  const player = openPlayer(cleanup, new RecordingPlayer(), server.url, { resume: true, logger });
  const first = await server.link(0);
  await first.next(isHello, "the first hello");
  first.sendMessage({ action: "connected" });
  first.sendMessage({ action: "@session", token: TOKEN, window: 5_000 });
  await waitFor(() => player.states.includes("open"), "the player to enter");
  player.listener.send({ action: "m", n: 1 });
  await first.next((message) => message.action === "m", "the player's first message");
  return {
    player,
    logger,
    link: (index) => server.link(index),
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
