import { describe, expect, it } from "vitest";
import { bundleForBrowser, formatKiB } from "./helpers/browser-bundle.js";

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
    // Sessions (login, resume) and inbound rate limits added about 3 KiB to every page, used or not;
    // making the entry tree-shake, so that a page pays only for what it uses, brings it down.
    // The outbox (a backlog held in the library, volatile and latest-wins sends) added 1.5 KiB.
    expect(bundle.gzipBytes).toBeLessThan(30 * 1024);
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
