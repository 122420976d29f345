// Takes the screenshots of the docs: `npx tsx demos/screenshots.ts [whiteboard] [tag] [pong]`
// writes docs/images/whiteboard.png, docs/images/tag.png and docs/images/pong.png (those named,
// or all three). It runs the demos on free ports of 127.0.0.1 and drives them with headless
// Chromium (Debian's /usr/bin/chromium, or CHROMIUM=path).

import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { interval, takeWhile } from "rxjs";
import { chromium, type Page } from "playwright-core";
import { startPongDemo } from "./pong/pong-demo.js";
import { startTagDemo } from "./tag/tag-demo.js";
import { TagBot } from "./tag/tag-bot.js";
import { BOARD_HEIGHT, BOARD_WIDTH } from "./whiteboard/protocol.js";
import { startWhiteboardDemo } from "./whiteboard/whiteboard-demo.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const OUT = fileURLToPath(new URL("../docs/images/", import.meta.url));
const quiet = (): void => {};
const DEMOS = ["whiteboard", "tag", "pong"];
const named = process.argv.slice(2);
const unknown = named.filter((name) => !DEMOS.includes(name));
if (unknown.length > 0) {
  console.error(`No demo named ${unknown.join(", ")}: choose among ${DEMOS.join(", ")}`);
  process.exit(1);
}
const wanted = (name: string): boolean => named.length === 0 || named.includes(name);

if (!existsSync(CHROMIUM)) {
  console.error(`Chromium is missing at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM to its path)`);
  process.exit(1);
}
mkdirSync(OUT, { recursive: true });
const userDataDir = mkdtempSync(join(tmpdir(), "repod-rx-screenshots-"));
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1200, height: 720 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Draws a polyline through board points with the mouse. */
async function draw(page: Page, points: [number, number][]): Promise<void> {
  const box = (await page.locator("#board-canvas").boundingBox())!;
  const screen = ([x, y]: [number, number]): [number, number] => [
    box.x + (x / BOARD_WIDTH) * box.width,
    box.y + (y / BOARD_HEIGHT) * box.height,
  ];
  const [first, ...rest] = points;
  if (first === undefined) return;
  await page.mouse.move(...screen(first));
  await page.mouse.down();
  for (const point of rest) await page.mouse.move(...screen(point));
  await page.mouse.up();
}

const curve = (count: number, at: (t: number) => [number, number]): [number, number][] =>
  Array.from({ length: count + 1 }, (_, index) => at(index / count));

/** The whiteboard: three people drawing, seen from the first one's tab. */
async function shootWhiteboard(): Promise<void> {
  const whiteboard = await startWhiteboardDemo({ webPort: 0, tcpPort: 0, log: quiet });
  try {
    const pages = [];
    for (let index = 0; index < 3; index++) {
      const page = await browser.newPage();
      await page.goto(whiteboard.url);
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "connected");
      pages.push(page);
    }
    const [ann, ben, cat] = pages as [Page, Page, Page];
    await draw(
      ann,
      curve(80, (t) => [
        480 + Math.cos(t * Math.PI * 6) * (40 + 180 * t),
        300 + Math.sin(t * Math.PI * 6) * (40 + 180 * t),
      ]),
    );
    await draw(
      ben,
      curve(60, (t) => [60 + t * 840, 520 + Math.sin(t * Math.PI * 4) * 40]),
    );
    await draw(
      ben,
      curve(60, (t) => [60 + t * 840, 80 + Math.sin(t * Math.PI * 4 + Math.PI) * 40]),
    );
    await draw(
      cat,
      curve(40, (t) => [130 + Math.cos(t * Math.PI * 2) * 60, 300 + Math.sin(t * Math.PI * 2) * 60]),
    );
    await draw(
      cat,
      curve(40, (t) => [830 + Math.cos(t * Math.PI * 2) * 60, 300 + Math.sin(t * Math.PI * 2) * 60]),
    );
    await sleep(300);
    await ann.screenshot({ path: join(OUT, "whiteboard.png") });
    console.log(`wrote ${join(OUT, "whiteboard.png")}`);
    for (const page of pages) await page.close();
  } finally {
    await whiteboard.stop();
  }
}

/** Tag: a browser player and bots over TCP; six bots and one player fill one game of four and start a second one beside it. */
async function shootTag(): Promise<void> {
  const tag = await startTagDemo({ webPort: 0, tcpPort: 0, log: quiet });
  const bots = Array.from({ length: 6 }, () => new TagBot());
  const play = (bot: TagBot): void => {
    bot.connect("127.0.0.1", tag.server.port);
    bot.autoPump(interval(16).pipe(takeWhile(() => !bot.ended, true)));
  };
  try {
    // A bot first, so that a bot is "it" and chases.
    play(bots[0]!);
    await sleep(300);
    const page = await browser.newPage();
    await page.goto(tag.url);
    await page.waitForFunction(() => ((window as unknown as { tagDemo?: { me: number } }).tagDemo?.me ?? 0) > 0);
    for (const bot of bots.slice(1)) play(bot);
    await page.keyboard.down("ArrowDown");
    await page.keyboard.down("ArrowRight");
    await sleep(900);
    await page.keyboard.up("ArrowDown");
    await sleep(2500);
    await page.keyboard.up("ArrowRight");
    await page.screenshot({ path: join(OUT, "tag.png") });
    console.log(`wrote ${join(OUT, "tag.png")}`);
    await page.close();
  } finally {
    for (const bot of bots) bot.close();
    await sleep(100);
    await tag.stop();
  }
}

/** Pong: a browser player against the server's bot. */
async function shootPong(): Promise<void> {
  // Seen mid-rally, with a simulated 150 ms lag.
  const pong = await startPongDemo({ webPort: 0, tcpPort: 0, botDelay: 0, log: quiet });
  try {
    const page = await browser.newPage();
    await page.goto(`${pong.url}?lag=150`);
    type View = {
      playing: boolean;
      ball: { x: number; y: number } | null;
      paddles: { left: number | null };
    };
    const view = (): Promise<View> => page.evaluate(() => (window as unknown as { pongDemo: View }).pongDemo);
    await page.waitForFunction(() => (window as unknown as { pongDemo: View }).pongDemo.playing);
    await page.locator("#field").focus();
    // Play a few seconds: follow the ball with the keys, as a person would.
    for (const end = Date.now() + 8_000; Date.now() < end;) {
      const { ball, paddles } = await view();
      const gap = ball === null || paddles.left === null ? 0 : ball.y - paddles.left;
      if (Math.abs(gap) < 20) {
        await sleep(50);
        continue;
      }
      const key = gap < 0 ? "ArrowUp" : "ArrowDown";
      await page.keyboard.down(key);
      await sleep(80);
      await page.keyboard.up(key);
    }
    await page.waitForFunction(() => ((window as unknown as { pongDemo: View }).pongDemo.ball?.x ?? 0) > 520);
    await page.screenshot({ path: join(OUT, "pong.png") });
    console.log(`wrote ${join(OUT, "pong.png")}`);
    await page.close();
  } finally {
    await pong.stop();
  }
}

try {
  if (wanted("whiteboard")) await shootWhiteboard();
  if (wanted("tag")) await shootTag();
  if (wanted("pong")) await shootPong();
} finally {
  await browser.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
