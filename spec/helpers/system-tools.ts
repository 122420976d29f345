// The programs outside node_modules that the test suite runs, how to tell that each is there, and
// the Debian package that brings it. scripts/provision.ts (`npm test`'s pretest) installs the
// missing ones; the helpers that launch them fail with the same advice when one is missing.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/**
 * The Chromium the browser tests drive: `CHROMIUM` when set (a Chrome or Chromium binary
 * anywhere, e.g. on a machine without apt-get), else Debian's (`apt-get install chromium`).
 */
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/**
 * The Python 3 the interop tests run Python repod peers with: `PYTHON` when set, else Debian's
 * (`apt-get install python3-msgpack`). A full path, never a PATH lookup: a pyenv or virtualenv
 * `python3` first on PATH need not have msgpack.
 */
export const PYTHON = process.env.PYTHON || "/usr/bin/python3";

/** What to tell a developer when one tool is missing. */
export const PROVISION_ADVICE = "`npm test` installs it (scripts/provision.ts), or run `npm run provision`";

/** One program the suite needs. */
export interface SystemTool {
  /** What it is and what needs it, for messages. */
  readonly description: string;
  /** The Debian package that installs it. */
  readonly debianPackage: string;
  /** Whether it is installed and works. */
  isPresent(): boolean;
}

/** Whether `command` (a path, or a name looked up on PATH) runs and exits with 0. */
function succeeds(command: string, args: readonly string[]): boolean {
  const result = spawnSync(command, args, { stdio: "ignore", timeout: 10_000 });
  return result.error === undefined && result.status === 0;
}

/** Everything the suite needs besides Node and node_modules. */
export const SYSTEM_TOOLS: readonly SystemTool[] = [
  {
    description: `Chromium at ${CHROMIUM} (the browser tests)`,
    debianPackage: "chromium",
    isPresent: () => existsSync(CHROMIUM),
  },
  {
    description: "redis-server (the Redis scale-out tests)",
    debianPackage: "redis-server",
    isPresent: () => succeeds("redis-server", ["--version"]),
  },
  {
    description: `Python 3 at ${PYTHON} with msgpack (the Python interop tests)`,
    debianPackage: "python3-msgpack",
    isPresent: () => succeeds(PYTHON, ["-c", "import msgpack"]),
  },
];
