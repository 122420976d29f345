import { describe, expect, it } from "vitest";
import { bundleForBrowser, formatKiB } from "./helpers/browser-bundle.js";

/**
 * Bounds on what a browser downloads (minified and gzipped, rxjs and @msgpack/msgpack included),
 * a little above the sizes the docs report. The typical page carries every feature that is on by
 * default for a client (inbound rate limit, decode budget, outbox, answers to the server's
 * requests) and those turned on by plain options (`reconnect`, `resume`, `auth`): a bundler
 * cannot drop the code of an option it cannot see is never set.
 */
const WHOLE_ENTRY_BOUND = 30 * 1024;
const TYPICAL_PAGE_BOUND = 28 * 1024;

describe("the browser build (repod-rx/client)", () => {
  it("bundles lib/browser.ts with rxjs and msgpack and without any Node module", async () => {
    const bundle = await bundleForBrowser({ file: "lib/browser.ts" });

    expect(bundle.inputs.some((file) => file.startsWith("node_modules/ws/"))).toBe(false);
    expect(bundle.inputs).toContain("lib/transports/browser-websocket-transport.ts");
    expect(bundle.inputs).not.toContain("lib/transports/tcp-transport.ts");
    expect(bundle.inputs).not.toContain("lib/transports/ws-transport.ts");
    expect(bundle.inputs.some((file) => file.startsWith("node_modules/rxjs/"))).toBe(true);
    expect(bundle.inputs.some((file) => file.startsWith("node_modules/@msgpack/"))).toBe(true);
    expect(bundle.code).not.toMatch(/\brequire\(/);
    expect(bundle.code).not.toMatch(/from\s*["']/);
  });

  it("stays small: reports its minified and gzipped size", async () => {
    const bundle = await bundleForBrowser({ file: "lib/browser.ts" });
    console.info(
      `repod-rx/client: ${formatKiB(bundle.bytes)} minified, ${formatKiB(bundle.gzipBytes)} minified+gzipped`,
    );

    // The size the docs report (docs/websocket-and-browsers.md); raise it there too if this has to grow.
    expect(bundle.gzipBytes).toBeLessThan(WHOLE_ENTRY_BOUND);
  });

  it("keeps the typical page small: a listener subclass, autoPump(animationFrames()), one composed stream", async () => {
    const bundle = await bundleForBrowser({ file: "spec/fixtures/typical-browser-page.ts" });
    console.info(`typical page: ${formatKiB(bundle.bytes)} minified, ${formatKiB(bundle.gzipBytes)} minified+gzipped`);

    // Only what the page reaches: no in-memory transport (it connects over WebSocket), no RxJS
    // retry machinery (reconnection runs on plain timers).
    expect(bundle.inputs).not.toContain("lib/transports/memory-transport.ts");
    expect(bundle.inputs.filter((file) => /rxjs\/.*\/(retry|innerFrom|timer|AsyncAction)\.js$/.test(file))).toEqual([]);
    // The size the docs report beside the whole entry's; raise it there too if this has to grow.
    expect(bundle.gzipBytes).toBeLessThan(TYPICAL_PAGE_BOUND);
  });

  it("fails the build on an import of a Node builtin, naming the importer", async () => {
    await expect(bundleForBrowser({ source: 'import "node:net";' })).rejects.toThrow(
      /imports the Node module "node:net", which browsers do not have/,
    );
    await expect(bundleForBrowser({ source: 'import "events";' })).rejects.toThrow(/imports the Node module "events"/);
  });

  it("fails the build on an import of the ws package, whose browser stub would otherwise slip in", async () => {
    await expect(bundleForBrowser({ source: 'import "ws";' })).rejects.toThrow(/imports the Node module "ws"/);
  });

  it("fails the build for the Node entry point, which needs net and ws", async () => {
    await expect(bundleForBrowser({ file: "lib/index.ts" })).rejects.toThrow(/imports the Node module/);
  });
});
