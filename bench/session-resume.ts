/**
 * The session resume row: what a resumable session costs the pipelined echo. The same repod-rx
 * echo as scenario 1, once without sessions and once with the server's `resume: true` and the
 * client's `resume: true` (every message numbered and kept until acknowledged, an `@ack` every 32
 * messages each way), on TCP and on WebSocket, side by side in the same rounds. Target: with
 * resume, at least 0.95× the throughput without it, on each transport.
 *
 *   node --import tsx bench/session-resume.ts [--quick] [--out DIR] [--cpu-prof DIR]
 *   npm run bench -- --only session-resume
 *
 * One server process hosts both servers (plain and resume, each on TCP and WebSocket), one
 * client process drives one connection at a time (bench/session-resume-child.ts), all on
 * 127.0.0.1 with port 0. Each round runs the four rows once, in an order rotated from round to
 * round; each ratio is taken within a round (same minute, same noise), then summarised over
 * rounds. Server CPU is `process.cpuUsage()` of the server process over the measured run.
 * Neither side has a rate limit (the default one would cap both rows alike). Rounds that would
 * not fit a budget of 240 s are skipped, and the table says so. `--cpu-prof DIR` writes a V8
 * CPU profile of each child there (to see where the cost is).
 * Sizes: BENCH_RESUME_ROUNDS, BENCH_RESUME_COUNT, BENCH_RESUME_WARMUP, BENCH_RESUME_WINDOW. Prints
 * a table and writes results-session-resume.json in bench/ (or `--out DIR`; quick runs write only
 * with `--out`).
 */
import { mkdir } from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { runBenchEntry } from "./harness/bench-entry.js";
import { readEchoRowArgs, type EchoRowConfig } from "./harness/echo-row-args.js";
import { runEchoRow } from "./harness/echo-row-main.js";
import type { RatioColumn, RowResult } from "./harness/results.js";
import { killAllRoleChildren } from "./harness/role-child.js";
import type { RowSpec } from "./harness/round-recorder.js";
import type { ResumeOpenArgs, ResumePorts, ResumeTransport } from "./session-resume-child.js";

const CHILD = fileURLToPath(new URL("./session-resume-child.ts", import.meta.url));
const TARGET = 0.95;

interface Config extends EchoRowConfig {
  /** `--cpu-prof DIR`: where each child writes a V8 CPU profile, or `null` for none. */
  readonly cpuProfDir: string | null;
}

function readArgs(argv: readonly string[]): Config {
  const { config, flags } = readEchoRowArgs(argv, {
    name: "session-resume",
    envPrefix: "RESUME",
    valueFlags: ["--cpu-prof"],
  });
  const cpuProfDir = flags["--cpu-prof"];
  return { ...config, cpuProfDir: cpuProfDir === undefined ? null : path.resolve(cpuProfDir) };
}

interface Row extends RowSpec {
  readonly transport: ResumeTransport;
  readonly resume: boolean;
}

const ROWS: readonly Row[] = [
  { id: "tcp", label: "repod-rx TCP", transport: "tcp", resume: false, subject: false },
  { id: "tcp-resume", label: "repod-rx TCP, resume: true", transport: "tcp", resume: true, subject: true },
  { id: "ws", label: "repod-rx WebSocket", transport: "ws", resume: false, subject: false },
  { id: "ws-resume", label: "repod-rx WebSocket, resume: true", transport: "ws", resume: true, subject: true },
];

const WITHOUT_RESUME = { tcp: "tcp", ws: "ws" } as const;

const COLUMNS: RatioColumn[] = [
  {
    header: "throughput × without resume",
    metric: "roundTripsPerSec",
    against: WITHOUT_RESUME,
    chart: false,
    target: { op: ">=", bound: TARGET },
  },
  { header: "server CPU × without resume", metric: "serverCpuUsPerMsg", against: WITHOUT_RESUME, chart: false },
];

function targets(rows: readonly RowResult[]): { row: string; ratio: number | null; met: boolean | null }[] {
  return rows
    .filter((row) => row.subject)
    .map((row) => {
      const ratio = row.ratios.find(
        (r) => r.metric === "roundTripsPerSec" && r.against === WITHOUT_RESUME[row.transport as ResumeTransport],
      );
      const value = ratio === undefined || !Number.isFinite(ratio.median) ? null : ratio.median;
      return { row: row.label, ratio: value, met: value === null ? null : value >= TARGET };
    });
}

/** The verdict on the target of each resume row, under the table. */
function renderTargets(rows: readonly RowResult[]): string[] {
  const width = Math.max(...rows.map((row) => row.label.length));
  const verdicts = targets(rows).map(
    (t) =>
      `  ${t.row.padEnd(width)}  throughput × without resume  ${t.ratio === null ? "–" : t.ratio.toFixed(2)}  >= ${TARGET}  ${t.met === null ? "not run" : t.met ? "met" : "MISSED"}`,
  );
  return ["Target (median ratio of this run)", ...verdicts];
}

async function main(config: Config): Promise<number> {
  if (config.cpuProfDir !== null) await mkdir(config.cpuProfDir, { recursive: true });
  return runEchoRow({
    childFile: CHILD,
    progress: "session resume",
    config,
    rows: ROWS,
    columns: COLUMNS,
    openArgs: (row, ports: ResumePorts): Omit<ResumeOpenArgs, "warmup" | "window"> => ({
      transport: row.transport,
      port: ports[row.resume ? "resume" : "plain"][row.transport],
      resume: row.resume,
    }),
    execArgv: config.cpuProfDir === null ? [] : ["--cpu-prof", "--cpu-prof-dir", config.cpuProfDir],
    title:
      `Session resume: pipelined echo, ${config.count} round trips, ${config.window} in flight, ` +
      `${config.rounds} rounds`,
    fileName: "results-session-resume.json",
    footer: renderTargets,
    extra: (rows) => ({ targets: targets(rows) }),
  });
}

await runBenchEntry({ name: "session resume", readArgs, main, killChildren: killAllRoleChildren });
