import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { CHROMIUM, PROVISION_ADVICE } from "./system-tools.js";

export { CHROMIUM };

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A headless Chromium with a fresh profile of its own. */
export interface ChromiumBrowser {
  readonly context: BrowserContext;
  /** Closes the browser and deletes its profile. */
  close(): Promise<void>;
}

/** Options of {@link launchChromium}. */
export interface LaunchChromiumOptions {
  /** What needs Chromium, for the error when it is missing, e.g. `"the browser tests"`. */
  readonly purpose: string;
  /** The prefix of the temporary profile directory. */
  readonly profilePrefix: string;
  /** The size of the pages; Playwright's default when absent. */
  readonly viewport?: { readonly width: number; readonly height: number };
}

/**
 * Launches {@link CHROMIUM} headless with a fresh profile.
 * @throws {Error} naming the way to install it when Chromium is missing: a machine without it fails
 * the tests that await this, never skips them.
 */
export async function launchChromium(options: LaunchChromiumOptions): Promise<ChromiumBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}, needed by ${options.purpose}: ${PROVISION_ADVICE} (Debian's chromium), or set CHROMIUM to a Chromium or Chrome binary`,
    );
  }
  const userDataDir = mkdtempSync(join(tmpdir(), options.profilePrefix));
  const removeProfile = () => rmSync(userDataDir, { recursive: true, force: true });
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      ...(options.viewport ? { viewport: options.viewport } : {}),
    });
    return {
      context,
      close: async () => {
        await context.close();
        removeProfile();
      },
    };
  } catch (error) {
    removeProfile();
    throw error;
  }
}
