import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { SoakResult, Verdict } from "../bench/soak/summary.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCRIPT = path.join(ROOT, "bench", "soak.ts");
const TIMEOUT = 60_000;

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

type Outcome = { code: number | null; stdout: string; stderr: string; result: SoakResult & { verdict: Verdict } };

/** Runs the soak for `seconds` with `args`; SIGTERM (which kills its children), then SIGKILL, if it overruns. */
async function soak(seconds: number, ...args: string[]): Promise<Outcome> {
  const dir = await mkdtemp(path.join(tmpdir(), "repod-soak-"));
  dirs.push(dir);
  const json = path.join(dir, "soak.json");
  const child = spawn(
    process.execPath,
    ["--import", "tsx", SCRIPT, "--seconds", String(seconds), "--json", json, ...args],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const term = setTimeout(() => child.kill("SIGTERM"), TIMEOUT);
    const kill = setTimeout(() => child.kill("SIGKILL"), TIMEOUT + 3_000);
    child.once("exit", (exitCode) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve(exitCode);
    });
  });
  const result = JSON.parse(await readFile(json, "utf8")) as Outcome["result"];
  return { code, stdout, stderr, result };
}

describe("npm run soak (bench/soak.ts), a few seconds", () => {
  it(
    "throws every kind of attack at one server while the good client loses nothing, prints it all, and leaves no process behind",
    async () => {
      const { code, stdout, stderr, result } = await soak(4, "--seed", "7");
      expect(code, `${stdout}\n${stderr}`).toBe(0);
      expect(stdout).toContain("PASSED: nothing lost");
      expect(stdout).toMatch(/Messages lost: 0\n/);
      expect(stdout).toMatch(/Server RSS: [\d.]+ MiB at the start \(after a full GC\), .* [\d.]+ MiB once they left/);

      expect(result.verdict).toMatchObject({ passed: true, lost: 0, outOfOrder: 0, reasons: [] });
      expect(result.config.seed).toBe(7);
      // Both good connections exchanged numbered messages both ways and requests, all of them back.
      expect(result.verdict.exchanges.map((exchange) => exchange.transport)).toEqual(["tcp", "ws"]);
      for (const exchange of result.verdict.exchanges) {
        expect(exchange.sent, exchange.transport).toBeGreaterThan(100);
        expect(exchange.serverReceived).toBe(exchange.sent);
        expect(exchange.echoed).toBe(exchange.sent);
        expect(exchange.seqSent).toBeGreaterThan(50);
        expect(exchange.seqReceived).toBe(exchange.seqSent);
        expect(exchange.requests).toBeGreaterThan(5);
        expect(exchange.answered).toBe(exchange.requests);
        expect(exchange.states).toBeGreaterThan(0);
      }
      // Every attack ran: hostile inputs of each main kind, each style of churn, floods, slow readers.
      const fuzz = result.attackers.fuzz!;
      for (const kind of [
        "named poisons (spec/helpers/poisons.ts)",
        "random bytes as a payload",
        "random msgpack values",
        "random messages (any action, any fields)",
        "reserved and lifecycle actions, random fields",
        "valid messages with bytes flipped",
      ]) {
        expect(fuzz.tried[kind], kind).toBeGreaterThan(0);
      }
      expect(Object.keys(result.attackers.churn!.tried)).toHaveLength(7);
      expect(result.attackers.flood!.extra["flood messages written"]).toBeGreaterThan(0);
      expect(result.server.atAttackEnd!.dispatched.flood).toBeGreaterThan(0);
      expect(result.attackers.slow!.connections).toBeGreaterThanOrEqual(6);
      // The server dropped what was invalid, and never failed on it.
      expect(result.server.atEnd!.log["dropped ERR_INVALID_PAYLOAD"]).toBeGreaterThan(0);
      expect(result.server.atEnd!.log["receive failed"]).toBeUndefined();
      expect(result.server.atStart.rssMiB).toBeGreaterThan(0);
      expect(result.server.atEnd!.rssMiB).toBeGreaterThan(0);
      // Six processes: the server, the good client, churn, flood, slow readers, fuzzer.
      expect(result.meta.childPids).toHaveLength(6);
      expect(result.meta.childPids.filter(isRunning)).toEqual([]);
    },
    TIMEOUT + 10_000,
  );

  it(
    "exits with status 1 and names the loss when the server drops one of the good client's echoes",
    async () => {
      const { code, stdout, result } = await soak(2, "--fault", "drop-echo");
      expect(code).toBe(1);
      expect(result.verdict.passed).toBe(false);
      // Echo 20 on each transport: 2 lost.
      expect(result.verdict.lost).toBe(2);
      expect(result.verdict.reasons).toContain("2 messages lost");
      expect(stdout).toContain("FAILED: 2 messages lost");
    },
    TIMEOUT + 10_000,
  );

  it(
    "exits with status 1 and says so when the server process crashes",
    async () => {
      const { code, stdout, result } = await soak(3, "--fault", "crash-server");
      expect(code).toBe(1);
      expect(result.serverExit).toEqual({ code: 1, signal: null });
      expect(result.verdict.reasons[0]).toBe("the server crashed (exit code 1)");
      expect(stdout).toContain("FAILED: the server crashed (exit code 1)");
      expect(result.meta.childPids.filter(isRunning)).toEqual([]);
    },
    TIMEOUT + 10_000,
  );
});
