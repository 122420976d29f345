import type { Page } from "playwright-core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { startTagDemo, type TagDemo } from "../demos/tag/tag-demo.js";
import type { TagPageView } from "../demos/tag/page/tag-page.js";
import { BOARD_HEIGHT, BOARD_WIDTH } from "../demos/whiteboard/protocol.js";
import { startWhiteboardDemo, type WhiteboardDemo } from "../demos/whiteboard/whiteboard-demo.js";
import { launchChromium, type ChromiumBrowser } from "./helpers/chromium.js";
import { Cleanup } from "./helpers/cleanup.js";

let browser: Promise<ChromiumBrowser> | undefined;

/**
 * Starts Chromium on first use, with a fresh profile. Every test awaits it, so a machine without
 * Chromium fails each test with the way to install it: never a skip.
 */
function chromiumBrowser(): Promise<ChromiumBrowser> {
  browser ??= launchChromium({
    purpose: "the browser demo tests",
    profilePrefix: "repod-rx-demos-chromium-",
    viewport: { width: 1280, height: 800 },
  });
  return browser;
}

afterAll(async () => {
  const started = await browser?.catch(() => undefined);
  await started?.close();
});

const cleanup = new Cleanup();
/** The script errors of the pages a test opened; any fails the test once its pages and demos are closed. */
const pageErrors: string[] = [];
afterEach(async () => {
  await cleanup.run();
  expect(pageErrors.splice(0)).toEqual([]);
});

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

async function whiteboard(): Promise<WhiteboardDemo> {
  await chromiumBrowser();
  const demo = await startWhiteboardDemo({ webPort: 0, tcpPort: 0, log: () => {} });
  cleanup.add(() => demo.stop());
  return demo;
}

async function tag(roomSize: number): Promise<TagDemo> {
  await chromiumBrowser();
  const demo = await startTagDemo({ webPort: 0, tcpPort: 0, roomSize, log: () => {} });
  cleanup.add(() => demo.stop());
  return demo;
}

/** The RGBA of one pixel of the whiteboard, in board coordinates. */
function pixel(page: Page, [x, y]: readonly [number, number]): Promise<number[]> {
  return page.evaluate(
    ([px, py]) => {
      const canvas = document.getElementById("board-canvas") as HTMLCanvasElement;
      return Array.from(canvas.getContext("2d")!.getImageData(px, py, 1, 1).data);
    },
    [x, y] as const,
  );
}

const WHITE = [255, 255, 255, 255];

/** Waits until the pixel at `point` is no longer white on `page`, and returns it. */
async function inkAt(page: Page, point: readonly [number, number]): Promise<number[]> {
  await page.waitForFunction(
    ([px, py]) => {
      const canvas = document.getElementById("board-canvas") as HTMLCanvasElement;
      const [r, g, b] = canvas.getContext("2d")!.getImageData(px, py, 1, 1).data;
      return !(r === 255 && g === 255 && b === 255);
    },
    point,
    { timeout: 10_000 },
  );
  return pixel(page, point);
}

/** Draws a straight stroke with the mouse between two board points; returns the points it went through. */
async function drawStroke(
  page: Page,
  from: readonly [number, number],
  to: readonly [number, number],
): Promise<[number, number][]> {
  const box = (await page.locator("#board-canvas").boundingBox())!;
  const toScreen = ([x, y]: readonly [number, number]): [number, number] => [
    box.x + (x / BOARD_WIDTH) * box.width,
    box.y + (y / BOARD_HEIGHT) * box.height,
  ];
  const steps = 10;
  await page.mouse.move(...toScreen(from));
  await page.mouse.down();
  const points: [number, number][] = [[from[0], from[1]]];
  for (let step = 1; step <= steps; step++) {
    const point: [number, number] = [
      Math.round(from[0] + ((to[0] - from[0]) * step) / steps),
      Math.round(from[1] + ((to[1] - from[1]) * step) / steps),
    ];
    await page.mouse.move(...toScreen(point));
    points.push(point);
  }
  await page.mouse.up();
  return points;
}

describe("the whiteboard demo in Chromium", () => {
  it("shows a stroke drawn with the mouse in one page in the other, in its author's colour, and to a late joiner", async () => {
    const demo = await whiteboard();
    const alice = await open(demo.url);
    const bob = await open(demo.url);
    for (const page of [alice, bob])
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "connected");
    const colors = await Promise.all(
      [alice, bob].map((page) => page.evaluate(() => document.getElementById("me")!.style.background)),
    );
    expect(colors[0]).not.toBe(colors[1]);

    const points = await drawStroke(alice, [120, 150], [520, 350]);
    const middle = points[5]!;
    const end = points[points.length - 1]!;

    const drawnByAlice = await inkAt(alice, middle);
    expect(`rgb(${drawnByAlice.slice(0, 3).join(", ")})`).toBe(colors[0]);
    expect(await inkAt(bob, middle)).toEqual(drawnByAlice);
    expect(await inkAt(bob, end)).toEqual(drawnByAlice);
    expect(await pixel(bob, [700, 100])).toEqual(WHITE);

    const late = await open(demo.url);
    expect(await inkAt(late, middle)).toEqual(drawnByAlice);
    expect(await inkAt(late, end)).toEqual(drawnByAlice);

    // Another board is another room: the stroke is not there.
    const elsewhere = await open(`${demo.url}?board=team-b`);
    await elsewhere.waitForFunction(() => document.getElementById("board")?.textContent === "team-b");
    expect(await pixel(elsewhere, middle)).toEqual(WHITE);
    expect(demo.server.boardNames.sort()).toEqual(["main", "team-b"]);
  }, 60_000);
});

describe("the tag demo in Chromium", () => {
  /** What the page's game state says (`window.tagDemo`). */
  function view(page: Page): Promise<TagPageView> {
    return page.evaluate(() => {
      const { me, room, it, players } = (window as unknown as { tagDemo: TagPageView }).tagDemo;
      return { me, room, it, players };
    });
  }

  async function welcomed(page: Page): Promise<TagPageView> {
    await page.waitForFunction(() => ((window as unknown as { tagDemo?: TagPageView }).tagDemo?.me ?? 0) > 0);
    return view(page);
  }

  it("moves a player in the other page when a key is held in its own page", async () => {
    const demo = await tag(2);
    const alice = await open(demo.url);
    const bob = await open(demo.url);
    const me = (await welcomed(alice)).me;
    await welcomed(bob);
    await bob.waitForFunction(
      (id) => (window as unknown as { tagDemo: TagPageView }).tagDemo.players.some((player) => player.id === id),
      me,
    );
    const before = (await view(bob)).players.find((player) => player.id === me)!;
    const key = before.x < 400 ? "ArrowRight" : "ArrowLeft";
    const sign = key === "ArrowRight" ? 1 : -1;

    await alice.bringToFront();
    await alice.keyboard.down(key);
    await bob.waitForFunction(
      ({ id, x, sign }) => {
        const player = (window as unknown as { tagDemo: TagPageView }).tagDemo.players.find(
          (candidate) => candidate.id === id,
        );
        return player !== undefined && (player.x - x) * sign > 60;
      },
      { id: me, x: before.x, sign },
      { timeout: 10_000 },
    );
    await alice.keyboard.up(key);

    // The key moved only along x, and only alice's player.
    const after = (await view(bob)).players.find((player) => player.id === me)!;
    expect(after.y).toBeCloseTo(before.y, 0);
  }, 60_000);

  it("starts a new game beside the full one: rooms keep the games apart", async () => {
    const demo = await tag(2);
    const pages = [await open(demo.url), await open(demo.url), await open(demo.url)];
    const views = [];
    for (const page of pages) views.push(await welcomed(page));
    expect(views.map((seen) => seen.room)).toEqual(["game-1", "game-1", "game-2"]);

    const third = pages[2]!;
    await third.waitForFunction(() => (window as unknown as { tagDemo: TagPageView }).tagDemo.players.length === 1);
    const alone = await view(third);
    expect(alone.players.map((player) => player.id)).toEqual([views[2]!.me]);
    expect(alone.it).toBe(views[2]!.me);
    await pages[0]!.waitForFunction(() => document.getElementById("games")?.children.length === 2);
    expect(demo.server.lobby).toEqual([
      { room: "game-1", players: 2 },
      { room: "game-2", players: 1 },
    ]);
  }, 60_000);
});
