/**
 * `npm run provision`, also run by `npm test` first (its pretest script): makes sure the programs
 * the test suite runs besides Node are installed (spec/helpers/system-tools.ts lists them:
 * Chromium, redis-server, Python 3 with msgpack).
 *
 * - All present: prints nothing, installs nothing.
 * - Some missing, on Debian (apt-get on PATH) as root: says what it installs, runs
 *   `apt-get update` and `apt-get install` for the missing packages only, and checks again.
 * - Some missing otherwise: exits with 1 and the exact command to run (or, without apt-get, what
 *   to install), so that the suite never starts without them and never skips a test.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { SYSTEM_TOOLS, type SystemTool } from "../spec/helpers/system-tools.js";

const PREFIX = "provision:";

/** Whether an executable file named `command` is in one of PATH's directories (without running it). */
function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Whether this process runs as root. Asked of `id -u` (the way a shell script would) rather than
 * `process.getuid()`, so that spec/provision.spec.ts can play either user with a stub on PATH.
 */
function isRoot(): boolean {
  const result = spawnSync("id", ["-u"], { encoding: "utf8" });
  return result.status === 0 && result.stdout.trim() === "0";
}

/** Runs apt-get with `args`, its output shown; false if it failed. */
function aptGet(args: readonly string[]): boolean {
  const result = spawnSync("apt-get", args, {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return result.status === 0;
}

/** `tools` for a message: one indented line each. */
function listOf(tools: readonly SystemTool[]): string {
  return tools.map((tool) => `  - ${tool.description}`).join("\n");
}

const missing = SYSTEM_TOOLS.filter((tool) => !tool.isPresent());
if (missing.length === 0) process.exit(0);

const packages = missing.map((tool) => tool.debianPackage);
const installArgs = ["install", "-y", "-qq", "--no-install-recommends", ...packages];
const hasAptGet = onPath("apt-get");

if (!hasAptGet) {
  console.error(
    `${PREFIX} the tests need these programs, missing here:\n${listOf(missing)}\n` +
      `This machine has no apt-get: install them (Debian packages: ${packages.join(" ")}; Python's ` +
      "msgpack also comes with `pip install msgpack`; CHROMIUM may point at any Chromium " +
      "or Chrome binary, PYTHON at any Python 3 with msgpack), then run npm test again.",
  );
  process.exit(1);
}

if (!isRoot()) {
  console.error(
    `${PREFIX} the tests need these programs, missing here:\n${listOf(missing)}\n` +
      `Install them as root, then run npm test again:\n` +
      `  sudo apt-get update -qq && sudo apt-get ${installArgs.join(" ")}`,
  );
  process.exit(1);
}

console.info(
  `${PREFIX} the tests need these programs, missing here:\n${listOf(missing)}\n` +
    `${PREFIX} installing them: apt-get update -qq && apt-get ${installArgs.join(" ")}`,
);
if (!aptGet(["update", "-qq"]) || !aptGet(installArgs)) {
  console.error(`${PREFIX} apt-get failed; the tests cannot run without ${packages.join(", ")}`);
  process.exit(1);
}

const stillMissing = missing.filter((tool) => !tool.isPresent());
if (stillMissing.length > 0) {
  console.error(`${PREFIX} still missing after apt-get:\n${listOf(stillMissing)}`);
  process.exit(1);
}
console.info(`${PREFIX} installed ${packages.join(", ")}`);
