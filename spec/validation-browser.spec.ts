// Validation in a real Chromium, over the browser's own WebSocket: the page (lib/browser.ts with
// a valibot schema) drops what its server sends that fails the schema, and a validating server
// drops what the page sends that fails its own.
import type { Page } from "playwright-core";
import * as v from "valibot";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Channel, schemaValidation, type IncomingMessage } from "../lib/index.js";
import type { ValidationPageApi } from "./fixtures/validation-page.js";
import { BrowserFixture } from "./helpers/browser-fixture.js";
import { Cleanup } from "./helpers/cleanup.js";
import { first, startServer, waitFor } from "./helpers/net.js";
import { recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const fixture = new BrowserFixture({
  script: "spec/fixtures/validation-page.ts",
  title: "repod-rx validation",
  global: "validationPage",
  purpose: "the browser validation tests",
  profilePrefix: "repod-rx-chromium-validation-",
});
afterAll(() => fixture.close());

class MoveChannel extends Channel {
  readonly moves: IncomingMessage[] = [];

  Network_move(message: IncomingMessage): void {
    this.moves.push(message);
  }
}

/** What the page saw so far, once `done` holds for it (polled for up to 10 s). */
async function pageSeen(
  page: Page,
  what: string,
  done: (seen: Pick<ValidationPageApi, "states" | "live">) => boolean,
): Promise<Pick<ValidationPageApi, "states" | "live">> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const seen = await page.evaluate(() => {
      const { states, live } = window.validationPage;
      return { states, live };
    });
    if (done(seen)) return seen;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}; the page saw ${JSON.stringify(seen)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("validation in a browser", () => {
  it("stops what fails a schema on both sides of a browser's WebSocket", { timeout: 60_000 }, async () => {
    const server = cleanup.server(
      await startServer({
        channelClass: MoveChannel,
        ws: { port: 0 },
        logger: recordingLogger(),
        validation: schemaValidation({ move: v.object({ x: v.number() }) }),
      }),
    );
    const joined = first(server.connections$);
    const page = await fixture.open(cleanup, `ws=${encodeURIComponent(`ws://127.0.0.1:${server.wsPort!}/`)}`);
    const channel = await joined;

    channel.send({ action: "state", tick: "lol" });
    channel.send({ action: "state", tick: 1 });
    channel.send({ action: "state", tick: [1] });
    channel.send({ action: "state" });
    channel.send({ action: "state", tick: 2, extra: "stripped" });
    const seen = await pageSeen(page, "the two valid states", (candidate) => candidate.states.length === 2);
    expect(seen.states).toEqual([
      { action: "state", tick: 1 },
      { action: "state", tick: 2 },
    ]);
    expect(seen.live.map((message) => message.action)).toEqual(["connected", "socketConnect", "state", "state"]);

    await page.evaluate(() => {
      window.validationPage.send({ action: "move", x: "lol" });
      window.validationPage.send({ action: "move", x: 3 });
    });
    await waitFor(() => channel.moves.length === 1, "the valid move");
    expect(channel.moves).toEqual([{ action: "move", x: 3 }]);
    expect(channel.rejectedMessages).toBe(1);
  });
});
