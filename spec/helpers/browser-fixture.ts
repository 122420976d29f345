import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { Page } from "playwright-core";
import { expect } from "vitest";
import { bundleForBrowser } from "./browser-bundle.js";
import { launchChromium, type ChromiumBrowser } from "./chromium.js";
import type { Cleanup } from "./cleanup.js";

/** Options of {@link BrowserFixture}. */
export interface BrowserFixtureOptions {
  /** The page script, relative to the repository root, e.g. `"spec/fixtures/browser-game.ts"`. */
  readonly script: string;
  /** The page's title. */
  readonly title: string;
  /** The global the script sets once it runs (`window[global]`), through which the test drives it. */
  readonly global: string;
  /** What needs Chromium, for the error when it is missing, e.g. `"the browser tests"`. */
  readonly purpose: string;
  /** The prefix of Chromium's temporary profile directory. */
  readonly profilePrefix: string;
}

/** The browser and the server of the page, shared by the tests of one file. */
export interface BrowserEnvironment {
  readonly browser: ChromiumBrowser;
  /** `http://127.0.0.1:<port>`, the page's origin. */
  readonly origin: string;
}

/**
 * A page script of spec/fixtures bundled for browsers, served on 127.0.0.1 (`/` and `/?query` are
 * the page, `/game.js` the script) and opened in a headless Chromium. Both start on first use and
 * serve every test of a file; `close()` them in afterAll.
 */
export class BrowserFixture {
  #environment: Promise<BrowserEnvironment & { readonly pageServer: http.Server }> | undefined;

  constructor(readonly options: BrowserFixtureOptions) {}

  /**
   * Starts Chromium and the page server on first use. Every test awaits it, so a machine without
   * Chromium fails each test with the way to install it: never a skip.
   */
  start(): Promise<BrowserEnvironment> {
    this.#environment ??= this.#launch();
    return this.#environment;
  }

  async #launch(): Promise<BrowserEnvironment & { readonly pageServer: http.Server }> {
    const { script, title, purpose, profilePrefix } = this.options;
    const browser = await launchChromium({ purpose, profilePrefix });
    try {
      const bundle = await bundleForBrowser({ file: script });
      const html = `<!doctype html><meta charset="utf-8"><title>${title}</title><script type="module" src="/game.js"></script>`;
      const pageServer = http.createServer((request, response) => {
        if (request.url === "/game.js") {
          response.writeHead(200, { "Content-Type": "text/javascript" }).end(bundle.code);
        } else if (request.url?.startsWith("/?") || request.url === "/") {
          response.writeHead(200, { "Content-Type": "text/html" }).end(html);
        } else {
          response.writeHead(404).end();
        }
      });
      await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
      const origin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
      return { browser, pageServer, origin };
    } catch (error) {
      await browser.close();
      throw error;
    }
  }

  /**
   * Opens the page at `/?<query>` in a new tab, closed after the test, and resolves once its
   * script has set its global. A script error in the page fails the test.
   */
  async open(cleanup: Cleanup, query: string): Promise<Page> {
    const { browser, origin } = await this.start();
    const page = await browser.context.newPage();
    cleanup.add(() => page.close());
    const errors: Error[] = [];
    page.on("pageerror", (error) => errors.push(error));
    cleanup.add(() => expect(errors).toEqual([]));
    await page.goto(`${origin}/?${query}`);
    await page.waitForFunction(
      (name) => (window as unknown as Record<string, unknown>)[name] !== undefined,
      this.options.global,
    );
    return page;
  }

  /** Closes the browser and the page server, if they were started; for afterAll. */
  async close(): Promise<void> {
    const started = await this.#environment?.catch(() => undefined);
    if (started === undefined) return;
    await started.browser.close();
    started.pageServer.closeAllConnections();
    await new Promise((resolve) => started.pageServer.close(resolve));
  }
}
