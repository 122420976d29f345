import { spawn } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "./browser-bundle.js";

/** How a benchmark script run by {@link runQuickBench} ended, and what it printed. */
export interface QuickBenchOutcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a benchmark script (`script`, relative to the repository root) in quick mode, writing into
 * `out`: `node --import tsx <script> --quick --out <out>`. The script stops its own child
 * processes; if it overruns `timeout` ms, it gets SIGTERM (it kills its children on it), then
 * SIGKILL 3 s later (its children exit on their own when their IPC channel to it closes).
 */
export function runQuickBench(script: string, out: string, timeout: number): Promise<QuickBenchOutcome> {
  const child = spawn(process.execPath, ["--import", "tsx", path.resolve(ROOT, script), "--quick", "--out", out], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    const term = setTimeout(() => child.kill("SIGTERM"), timeout);
    const kill = setTimeout(() => child.kill("SIGKILL"), timeout + 3_000);
    child.once("exit", (code) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether a process `pid` still runs: a benchmark must leave none of its child processes behind. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
