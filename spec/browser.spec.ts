import type { Page } from "playwright-core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Channel, type IncomingMessage } from "../lib/index.js";
import type { PageApi, SeenMessage } from "./fixtures/browser-game.js";
import type { TimersPageApi } from "./fixtures/browser-timers.js";
import { BrowserFixture } from "./helpers/browser-fixture.js";
import { Cleanup } from "./helpers/cleanup.js";
import { pumpUntil, startServer, waitFor } from "./helpers/net.js";
import { Recorder } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const game = new BrowserFixture({
  script: "spec/fixtures/browser-game.ts",
  title: "repod-rx",
  global: "repod",
  purpose: "the browser tests",
  profilePrefix: "repod-rx-chromium-",
});
afterAll(() => game.close());

const timersPage = new BrowserFixture({
  script: "spec/fixtures/browser-timers.ts",
  title: "repod-rx timers",
  global: "timers",
  purpose: "the browser tests",
  profilePrefix: "repod-rx-chromium-timers-",
});
afterAll(() => timersPage.close());

/** What the timers page saw so far, once `done` holds for it (polled for up to 10 s). */
async function timersSeen(page: Page, what: string, done: (seen: TimersPageApi) => boolean): Promise<TimersPageApi> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const seen = await page.evaluate(() => {
      const { handled, rtts } = (window as unknown as { timers: TimersPageApi }).timers;
      return { handled, rtts };
    });
    if (done(seen)) return seen;
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what} in the page; it saw ${JSON.stringify(seen)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Opens the game page, which connects to `wsUrl` and sends `chats` chat messages once connected. */
function openGame(wsUrl: string, chats = 0): Promise<Page> {
  return game.open(cleanup, `ws=${encodeURIComponent(wsUrl)}&chats=${chats}`);
}

/** What the page's handlers and `messages$` saw so far. */
function seen(page: Page): Promise<{ handled: SeenMessage[]; live: SeenMessage[] }> {
  return page.evaluate(() => {
    const { handled, live } = (window as unknown as { repod: PageApi }).repod;
    return { handled, live };
  });
}

async function waitForHandled(
  page: Page,
  what: string,
  count: (handled: SeenMessage[]) => boolean,
): Promise<SeenMessage[]> {
  let handled: SeenMessage[] = [];
  const deadline = Date.now() + 10_000;
  while (!count(handled)) {
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what} in the page; it saw ${JSON.stringify(handled)}`);
    handled = (await seen(page)).handled;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return handled;
}

const actionsOf = (handled: SeenMessage[], action: string): IncomingMessage[] =>
  handled.filter((entry) => entry.message.action === action).map((entry) => entry.message);

class ChatChannel extends Channel {
  Network_chat(message: IncomingMessage): void {
    this.server.sendToAll({ action: "chat", from: message.from, n: message.n });
  }
}

describe("repod-rx/client in a real Chromium", () => {
  it(
    "plays with a TCP client in one server, running its handlers in autoPump(animationFrames())",
    { timeout: 60_000 },
    async () => {
      await game.start();
      const server = cleanup.server(await startServer({ channelClass: ChatChannel, ws: { port: 0 } }));
      const tcp = cleanup.listener(new Recorder());
      tcp.connect("127.0.0.1", server.port);
      await pumpUntil(tcp, () => tcp.of("connected").length === 1, "the TCP player");

      const page = await openGame(`ws://127.0.0.1:${server.wsPort}/`, 5);
      await waitFor(() => server.channels.length === 2, "the browser player");
      for (let n = 0; n < 5; n++) tcp.send({ action: "chat", from: "tcp", n });
      await pumpUntil(tcp, () => tcp.of("chat").length === 10, "ten broadcasts on the TCP side");
      const handled = await waitForHandled(
        page,
        "ten broadcasts",
        (entries) => actionsOf(entries, "chat").length === 10,
      );

      // Both players saw every chat, the other's included, in the server's order.
      expect(actionsOf(handled, "chat")).toEqual(tcp.of("chat"));
      expect(
        actionsOf(handled, "chat")
          .filter((message) => message.from === "browser")
          .map((message) => message.n),
      ).toEqual([0, 1, 2, 3, 4]);
      expect(handled.slice(0, 2).map((entry) => entry.message)).toEqual([
        { action: "connected" },
        { action: "socketConnect" },
      ]);
      // Handlers ran inside pump(), on animation frames; messages$ emitted live, outside it.
      expect(handled.every((entry) => entry.inPump && entry.frame > 0)).toBe(true);
      const { live } = await seen(page);
      expect(live.length).toBeGreaterThanOrEqual(handled.length);
      expect(live.every((entry) => !entry.inPump)).toBe(true);

      await server.stop();
      const final = await waitForHandled(
        page,
        "disconnected",
        (entries) => actionsOf(entries, "disconnected").length === 1,
      );
      expect(actionsOf(final, "error")).toEqual([]);
    },
  );

  it(
    "is refused by a server whose ws.origins does not list the page's origin, and accepted by one that does",
    { timeout: 60_000 },
    async () => {
      const { origin: pageOrigin } = await game.start();
      const strict = cleanup.server(await startServer({ ws: { port: 0, origins: ["https://game.example"] } }));
      const friendly = cleanup.server(await startServer({ ws: { port: 0, origins: [pageOrigin] } }));

      const refused = await openGame(`ws://127.0.0.1:${strict.wsPort}/`);
      const handled = await waitForHandled(refused, "the error", (entries) => actionsOf(entries, "error").length === 1);
      expect(handled.map((entry) => entry.message)).toEqual([
        {
          action: "error",
          error: `Cannot connect to ws://127.0.0.1:${strict.wsPort}/: the WebSocket connection failed`,
          code: "ERR_CONNECT_FAILED",
        },
      ]);
      expect(strict.channels).toHaveLength(0);

      const accepted = await openGame(`ws://127.0.0.1:${friendly.wsPort}/`);
      await waitForHandled(accepted, "connected", (entries) => actionsOf(entries, "connected").length === 1);
      expect(friendly.channels).toHaveLength(1);
    },
  );

  it(
    "keeps a client with heartbeat and idleTimeout on connected, its timers being plain numbers there",
    { timeout: 60_000 },
    async () => {
      const server = cleanup.server(await startServer({ ws: { port: 0 } }));
      const page = await timersPage.open(
        cleanup,
        `ws=${encodeURIComponent(`ws://127.0.0.1:${server.wsPort}/`)}&interval=50&timeout=1000&idle=400`,
      );
      // Many round trips, and past idleTimeout several times over: the pongs keep it alive.
      const seen = await timersSeen(page, "twenty round trips", ({ rtts }) => rtts.length >= 20);
      expect(seen.handled.map((message) => message.action)).toEqual(["connected", "socketConnect"]);
      expect(seen.rtts.every((rtt) => rtt >= 0 && rtt < 1_000)).toBe(true);
      expect(server.channels).toHaveLength(1);
    },
  );

  it("cuts off a silent server with ERR_IDLE_TIMEOUT when only idleTimeout is on", { timeout: 60_000 }, async () => {
    const server = cleanup.server(await startServer({ ws: { port: 0 } }));
    const page = await timersPage.open(
      cleanup,
      `ws=${encodeURIComponent(`ws://127.0.0.1:${server.wsPort}/`)}&idle=300`,
    );
    const seen = await timersSeen(page, "disconnected", ({ handled }) =>
      handled.some((message) => message.action === "disconnected"),
    );
    expect(seen.handled).toEqual([
      { action: "connected" },
      { action: "socketConnect" },
      { action: "error", code: "ERR_IDLE_TIMEOUT", error: expect.stringMatching(/idleTimeout of 300 ms/) },
      { action: "disconnected" },
    ]);
  });
});
