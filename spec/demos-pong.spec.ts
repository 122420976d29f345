import type { Page } from "playwright-core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { PongPageView } from "../demos/pong/page/pong-page.js";
import { startPongDemo, type PongDemo, type PongDemoOptions } from "../demos/pong/pong-demo.js";
import { launchChromium, type ChromiumBrowser } from "./helpers/chromium.js";
import { Cleanup } from "./helpers/cleanup.js";
import { waitFor } from "./helpers/net.js";

let browser: Promise<ChromiumBrowser> | undefined;

/**
 * Starts Chromium on first use, with a fresh profile. Every test awaits it, so a machine without
 * Chromium fails each test with the way to install it: never a skip.
 */
function chromiumBrowser(): Promise<ChromiumBrowser> {
  browser ??= launchChromium({
    purpose: "the pong demo tests",
    profilePrefix: "repod-rx-pong-chromium-",
    viewport: { width: 1200, height: 720 },
  });
  return browser;
}

afterAll(async () => {
  const started = await browser?.catch(() => undefined);
  await started?.close();
});

const cleanup = new Cleanup();
/** The script errors of the pages a test opened; any fails the test once its pages and demo are closed. */
const pageErrors: string[] = [];
afterEach(async () => {
  await cleanup.run();
  expect(pageErrors.splice(0)).toEqual([]);
});

async function pong(options: PongDemoOptions = {}): Promise<PongDemo> {
  await chromiumBrowser();
  const demo = await startPongDemo({ webPort: 0, tcpPort: 0, log: () => {}, ...options });
  cleanup.add(() => demo.stop());
  return demo;
}

/** Opens `url` in a new tab; its script errors fail the test. */
async function open(url: string): Promise<Page> {
  const { context } = await chromiumBrowser();
  const page = await context.newPage();
  cleanup.add(() => page.close());
  page.on("pageerror", (error) => pageErrors.push(`${url}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(`${url}: console: ${message.text()}`);
  });
  await page.goto(url);
  return page;
}

/** The page's view of the game (`window.pongDemo`). */
function view(page: Page): Promise<PongPageView> {
  return page.evaluate(() => (window as unknown as { pongDemo: PongPageView }).pongDemo);
}

/** Waits until `test` holds for the page's view. */
async function until(page: Page, test: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(
    (body) => new Function("view", `return ${body};`)((window as unknown as { pongDemo: unknown }).pongDemo),
    test,
    { timeout, polling: 50 },
  );
}

describe("the pong demo in Chromium", () => {
  it("pairs two pages; the game runs, scores change, and a paddle moved in one page moves in the other", async () => {
    const demo = await pong({ botDelay: null, serveSpeed: 700 });
    const left = await open(demo.url);
    await until(left, `view.side === "left"`);
    const right = await open(`${demo.url}?name=bob`);
    await until(right, `view.side === "right"`);
    await until(left, `view.opponent.name === "bob" && view.playing`);
    expect((await view(right)).opponent).toEqual({ name: expect.stringMatching(/^P\d+$/), bot: false });
    expect(demo.server.lineup).toEqual([{ match: "match-1", left: expect.any(String), right: "bob" }]);

    // The ball moves on both pages.
    const before = (await view(right)).ball!;
    await until(right, `view.ball !== null && Math.abs(view.ball.x - ${before.x}) > 50`);

    // The left player holds ArrowUp: its own paddle moves at once (predicted), the other page sees it move too.
    const startY = (await view(right)).paddles.left!;
    await left.locator("#field").focus();
    await left.keyboard.down("ArrowUp");
    await until(left, `view.inputs > 10 && view.paddles.left < ${startY - 60}`);
    await until(right, `view.paddles.left < ${startY - 60}`);
    await left.keyboard.up("ArrowUp");
    const sent = (await view(left)).inputs;
    expect(sent).toBeGreaterThan(10);

    // Nobody defends the middle of the left side now: points are scored, and both pages see the score.
    await until(left, `view.score.left + view.score.right > 0`, 30_000);
    const score = (await view(left)).score;
    await until(right, `view.score.left + view.score.right >= ${score.left + score.right}`);
  }, 90_000);

  it("gives a player alone a bot over TCP, and the bot's seat to the next player", async () => {
    const demo = await pong({ botDelay: 200 });
    const alone = await open(demo.url);
    await until(alone, `view.side === "left"`);
    await until(alone, `view.opponent.bot === true && view.playing`);
    expect(demo.server.lineup).toEqual([{ match: "match-1", left: expect.any(String), right: "bot" }]);
    // A native client: over TCP, to the server's TCP port (the page uses the web port's WebSocket).
    const [bot] = demo.server.botPlayers;
    expect(bot!.connection!.address).toEqual({ host: "127.0.0.1", port: demo.server.port });
    expect(demo.server.port).not.toBe(demo.web.port);
    // The bot plays: its paddle moves.
    const first = (await view(alone)).paddles.right!;
    await until(alone, `view.paddles.right !== null && Math.abs(view.paddles.right - ${first}) > 20`, 30_000);

    const second = await open(`${demo.url}?name=carol`);
    await until(second, `view.side === "right"`);
    await until(alone, `view.opponent.name === "carol" && view.opponent.bot === false`);
    expect(demo.server.lineup).toEqual([{ match: "match-1", left: expect.any(String), right: "carol" }]);
    await until(alone, `view.opponent.name === "carol"`);
    // The bot saw its connection end, and the server let it go.
    await waitFor(() => demo.server.botPlayers.length === 0, "the bot to leave");
    expect(bot!.ended).toBe(true);
  }, 90_000);

  it("with ?lag=150, still predicts its own paddle at once while the server's word comes 75 ms later", async () => {
    const demo = await pong({ botDelay: 0 });
    const page = await open(`${demo.url}?lag=150`);
    await until(page, `view.side === "left" && view.playing && view.paddles.left !== null`);
    expect((await view(page)).lag).toBe(150);
    expect(await page.locator("#lag").textContent()).toContain("150 ms round trip simulated");
    const startY = (await view(page)).paddles.left!;
    await page.locator("#field").focus();
    await page.keyboard.down("ArrowDown");
    // Predicted: the paddle moves before the server could have answered the first input.
    await until(page, `view.inputs >= 1 && view.paddles.left > ${startY}`);
    await page.keyboard.up("ArrowDown");
    // The clock estimate runs on heartbeats; snapshots are seen at least 75 ms after the server took them.
    await page.waitForFunction(
      () => /ms after the server took them/.test(document.getElementById("age")!.textContent!),
      {
        timeout: 15_000,
      },
    );
    const age = Number(/(-?\d+) ms after/.exec((await page.locator("#age").textContent())!)![1]);
    expect(age).toBeGreaterThanOrEqual(70);
  }, 90_000);
});
