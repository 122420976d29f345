import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

// scripts/provision.ts run for real, in a child process whose PATH holds only stubs: `id` says
// who we are, `apt-get` logs its arguments and "installs" a package by creating a marker file,
// and `redis-server`, `python3` and the Chromium binary (CHROMIUM and PYTHON name the stubs) work once their package's marker exists.
// Nothing is installed on the machine.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCRIPT = path.join(ROOT, "scripts", "provision.ts");
const INSTALL = "install -y -qq --no-install-recommends";

interface FakeMachine {
  /** Which user `id -u` reports. */
  readonly user: "root" | "developer";
  /** The Debian packages installed at the start. */
  readonly installed: readonly string[];
  /** What apt-get does: nothing on PATH, install what it is asked, exit 100, or exit 0 but install nothing. */
  readonly aptGet: "absent" | "works" | "fails" | "installs nothing";
}

interface Outcome {
  /** The fake machine's directory: its stubs are in bin/, its Chromium is installed-chromium. */
  readonly dir: string;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** apt-get's invocations, one line of arguments each. */
  readonly aptGetCalls: readonly string[];
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function stub(file: string, body: string): void {
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
}

/** Runs the script on a machine made of stubs in a temporary directory. */
async function provision(machine: FakeMachine): Promise<Outcome> {
  const dir = mkdtempSync(path.join(tmpdir(), "repod-rx-provision-"));
  dirs.push(dir);
  const bin = path.join(dir, "bin");
  mkdirSync(bin);
  const marker = (debianPackage: string) => path.join(dir, `installed-${debianPackage}`);
  for (const debianPackage of machine.installed) writeFileSync(marker(debianPackage), "");

  stub(path.join(bin, "id"), `echo ${machine.user === "root" ? 0 : 1000}`);
  stub(path.join(bin, "redis-server"), `[ -e "${marker("redis-server")}" ]`);
  stub(path.join(bin, "python3"), `[ -e "${marker("python3-msgpack")}" ]`);
  const log = path.join(dir, "apt-get.log");
  if (machine.aptGet !== "absent") {
    const install =
      machine.aptGet === "works"
        ? `if [ "$1" = install ]; then for arg in "$@"; do case "$arg" in -*|install) ;; *) : > "${dir}/installed-$arg" ;; esac; done; fi`
        : "";
    stub(
      path.join(bin, "apt-get"),
      `echo "$*" >> "${log}"\n${install}\n${machine.aptGet === "fails" ? "exit 100" : ""}`,
    );
  }

  const env = {
    PATH: bin,
    CHROMIUM: marker("chromium"),
    PYTHON: path.join(bin, "python3"),
    HOME: dir,
    TMPDIR: tmpdir(),
  };
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", SCRIPT],
      { cwd: ROOT, env, timeout: 15_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          reject(error);
          return;
        }
        const aptGetCalls = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
        resolve({ dir, code: error ? (error.code as number) : 0, stdout, stderr, aptGetCalls });
      },
    );
  });
}

// Each test has a machine of its own, so they run side by side.
describe.concurrent("scripts/provision.ts (npm test's pretest)", () => {
  it("does nothing and says nothing when every tool is there", async () => {
    const outcome = await provision({
      user: "root",
      installed: ["chromium", "redis-server", "python3-msgpack"],
      aptGet: "works",
    });

    expect(outcome).toMatchObject({ code: 0, stdout: "", stderr: "", aptGetCalls: [] });
  });

  it("installs only the missing packages as root on Debian, saying what it installs", async () => {
    const outcome = await provision({ user: "root", installed: ["redis-server"], aptGet: "works" });

    expect(outcome.code).toBe(0);
    expect(outcome.aptGetCalls).toEqual(["update -qq", `${INSTALL} chromium python3-msgpack`]);
    expect(outcome.stdout).toBe(
      "provision: the tests need these programs, missing here:\n" +
        `  - Chromium at ${outcome.dir}/installed-chromium (the browser tests)\n` +
        `  - Python 3 at ${outcome.dir}/bin/python3 with msgpack (the Python interop tests)\n` +
        `provision: installing them: apt-get update -qq && apt-get ${INSTALL} chromium python3-msgpack\n` +
        "provision: installed chromium, python3-msgpack\n",
    );
    expect(outcome.stderr).toBe("");
  });

  it("fails without root, naming the exact command to run, and installs nothing", async () => {
    const outcome = await provision({ user: "developer", installed: ["chromium"], aptGet: "works" });

    expect(outcome.code).toBe(1);
    expect(outcome.aptGetCalls).toEqual([]);
    expect(outcome.stderr).toContain("redis-server (the Redis scale-out tests)");
    expect(outcome.stderr).toContain(
      `Install them as root, then run npm test again:\n  sudo apt-get update -qq && sudo apt-get ${INSTALL} redis-server python3-msgpack\n`,
    );
  });

  it("fails without apt-get, naming the packages and the other ways to get them", async () => {
    const outcome = await provision({ user: "root", installed: ["python3-msgpack"], aptGet: "absent" });

    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain(
      "This machine has no apt-get: install them (Debian packages: chromium redis-server; Python's msgpack " +
        "also comes with `pip install msgpack`; CHROMIUM may point at any Chromium or Chrome binary, PYTHON at any " +
        "Python 3 with msgpack), then run npm test again.",
    );
  });

  it("fails when apt-get fails", async () => {
    const outcome = await provision({ user: "root", installed: [], aptGet: "fails" });

    expect(outcome.code).toBe(1);
    expect(outcome.aptGetCalls).toEqual(["update -qq"]);
    expect(outcome.stderr).toBe(
      "provision: apt-get failed; the tests cannot run without chromium, redis-server, python3-msgpack\n",
    );
  });

  it("fails when a tool is still missing after apt-get", async () => {
    const outcome = await provision({ user: "root", installed: ["chromium"], aptGet: "installs nothing" });

    expect(outcome.code).toBe(1);
    expect(outcome.aptGetCalls).toEqual(["update -qq", `${INSTALL} redis-server python3-msgpack`]);
    expect(outcome.stderr).toBe(
      "provision: still missing after apt-get:\n" +
        "  - redis-server (the Redis scale-out tests)\n" +
        `  - Python 3 at ${outcome.dir}/bin/python3 with msgpack (the Python interop tests)\n`,
    );
  });
});
