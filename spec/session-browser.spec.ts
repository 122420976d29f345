import type { Page } from "playwright-core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionError, type IncomingMessage } from "../lib/index.js";
import type { SessionPageApi } from "./fixtures/browser-session-game.js";
import { BrowserFixture } from "./helpers/browser-fixture.js";
import { Cleanup } from "./helpers/cleanup.js";
import { startServer, waitFor } from "./helpers/net.js";
import { tcpProxy } from "./helpers/proxy.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const game = new BrowserFixture({
  script: "spec/fixtures/browser-session-game.ts",
  title: "repod-rx session",
  global: "repodSession",
  purpose: "the browser session tests",
  profilePrefix: "repod-rx-session-",
});
afterAll(() => game.close());

/** Opens the session game page, which connects to `wsUrl` with `{ resume: true }`. */
function openGame(wsUrl: string): Promise<Page> {
  return game.open(cleanup, `ws=${encodeURIComponent(wsUrl)}`);
}

/** What the page has seen and sent so far. */
interface PageView {
  readonly ticks: number[];
  readonly ticksInPump: boolean;
  readonly events: { message: IncomingMessage; inPump: boolean; ticksBefore: number }[];
  readonly states: string[];
  readonly refused: number[];
  readonly sent: number;
}

function view(page: Page): Promise<PageView> {
  return page.evaluate(() => {
    const api = (window as unknown as { repodSession: SessionPageApi }).repodSession;
    return {
      ticks: api.ticks,
      ticksInPump: api.ticksInPump(),
      events: api.events,
      states: api.states,
      refused: api.refused,
      sent: api.sent(),
    };
  });
}

/** Polls the page until `condition` holds, for at most `timeout` ms. */
async function waitForPage(
  page: Page,
  what: string,
  condition: (seen: PageView) => boolean,
  timeout = 10_000,
): Promise<PageView> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const seen = await view(page);
    if (condition(seen)) return seen;
    if (Date.now() > deadline) {
      const events = seen.events.map((event) => event.message);
      throw new Error(
        `Timed out waiting for ${what} in the page; it handled ${seen.ticks.length} ticks, sent ${seen.sent} moves, saw ${JSON.stringify(events)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);

/** How often the server sends a tick to each player. */
const TICK_EVERY_MS = 3;

/** A seat that plays: records the page's moves, and sends numbered ticks without a pause. */
class PlayingSeat extends Channel {
  readonly moves: number[] = [];
  readonly drops: Error[] = [];
  readonly errors: unknown[] = [];
  /** Moves received when each resume was announced. */
  readonly resumedAfter: number[] = [];
  /** Ticks `send()` refused (returned 0 for). */
  readonly refusedTicks: number[] = [];
  ticksSent = 0;
  closes = 0;
  #ticker: ReturnType<typeof setInterval> | undefined;

  override onConnect(): void {
    this.#ticker = setInterval(() => {
      const n = this.ticksSent++;
      if (this.send({ action: "tick", n }) === 0) this.refusedTicks.push(n);
    }, TICK_EVERY_MS);
  }

  Network_move(message: { n: number }): void {
    this.moves.push(message.n);
  }

  override onDrop(error: Error): void {
    this.drops.push(error);
  }

  override onResume(): void {
    this.resumedAfter.push(this.moves.length);
  }

  override onError(error: unknown): void {
    this.errors.push(error);
  }

  override onClose(): void {
    this.closes++;
    this.stopTicking();
  }

  stopTicking(): number {
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    return this.ticksSent;
  }
}

describe("session resume in a real Chromium", () => {
  it(
    "resumes a page whose connection is reset mid-game: dropped and resumed through pump(), no disconnected, nothing lost or repeated either way",
    { timeout: 60_000 },
    async () => {
      await game.start();
      const server = cleanup.server(
        await startServer({ channelClass: PlayingSeat, ws: { port: 0 }, resume: { window: 10_000 } }),
      );
      // The page reaches the server through a proxy that can fail the way a network does: a
      // reset on both sides, no close frame, no FIN.
      const proxy = await tcpProxy(cleanup, server.wsPort!);
      const wsUrl = `ws://127.0.0.1:${proxy.port}/`;
      const page = await openGame(wsUrl);
      cleanup.add(() => {
        for (const seat of server.channels) seat.stopTicking();
      });

      await waitFor(() => server.channels.length === 1, "the page's channel");
      const seat = server.channels[0]!;
      // Mid-game: both sides have been sending for a while and go on sending.
      await waitFor(() => seat.moves.length >= 50, "50 moves from the page");
      await waitForPage(page, "50 ticks", (seen) => seen.ticks.length >= 50);
      expect(proxy.open).toBe(1);
      proxy.cut();

      // A reset is a drop: the seat is held, never closed (onClose would end the game for good).
      await waitFor(() => seat.drops.length + seat.closes > 0, "the server to notice the reset");
      expect(seat.closes, "onClose after a reset").toBe(0);
      expect(seat.drops).toHaveLength(1);
      const gap = await waitForPage(page, "the page to notice the reset", (s) =>
        s.events.some((event) => ["dropped", "disconnected", "error"].includes(event.message.action as string)),
      );
      expect(gap.events.slice(2).map((event) => event.message.action)).toEqual(["dropped"]);
      await waitFor(() => seat.resumedAfter.length === 1, "the page to resume", 10_000);
      const movesAtResume = seat.moves.length;
      const ticksAtResume = seat.ticksSent;
      // The game goes on after the resume, both ways.
      await waitFor(() => seat.moves.length >= movesAtResume + 50, "50 more moves after the resume");
      await waitForPage(page, "50 more ticks after the resume", (seen) => seen.ticks.length >= ticksAtResume + 50);

      // Stop both sides, then everything each sent must arrive, exactly once and in order.
      const movesSent = await page.evaluate(() =>
        (window as unknown as { repodSession: SessionPageApi }).repodSession.stopSending(),
      );
      const ticksSent = seat.stopTicking();
      await waitFor(() => seat.moves.length >= movesSent, `the page's ${movesSent} moves`);
      const seen = await waitForPage(page, `the server's ${ticksSent} ticks`, (s) => s.ticks.length >= ticksSent);

      expect(seat.moves).toEqual(range(movesSent));
      expect(seen.ticks).toEqual(range(ticksSent));
      expect(seen.refused).toEqual([]);
      expect(seat.refusedTicks).toEqual([]);

      // The page heard of the gap once, through its handlers in pump(), and of nothing else.
      expect(seen.events.map((event) => event.message.action)).toEqual([
        "connected",
        "socketConnect",
        "dropped",
        "resumed",
      ]);
      expect(seen.events.every((event) => event.inPump)).toBe(true);
      expect(seen.ticksInPump).toBe(true);
      // Browsers hide why a WebSocket failed from scripts: the reason's wording is the library's.
      expect(seen.events[2]!.message).toEqual({
        action: "dropped",
        error: expect.any(String) as string,
        code: "ERR_CONNECTION_LOST",
      });
      // `dropped` came in the middle of the ticks, `resumed` after it, before the ticks that
      // were replayed or sent after it.
      expect(seen.events[2]!.ticksBefore).toBeGreaterThanOrEqual(50);
      expect(seen.events[3]!.ticksBefore).toBe(seen.events[2]!.ticksBefore);
      expect(seen.states).toEqual(["connecting", "open", "resuming", "open"]);

      // The server kept the same seat: one channel, dropped once, resumed once, never closed.
      expect(server.channels).toEqual([seat]);
      expect(seat.drops).toHaveLength(1);
      expect(seat.drops[0]).toBeInstanceOf(ConnectionError);
      expect((seat.drops[0] as ConnectionError).code).toBe("ERR_CONNECTION_LOST");
      expect(seat.resumedAfter).toHaveLength(1);
      expect(seat.closes).toBe(0);
      expect(seat.errors).toEqual([]);
      expect(seat.isConnected).toBe(true);
    },
  );
});
