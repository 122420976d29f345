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
import { fork, type ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CHILD_MAX_LIFETIME_ENV, type Ready, type Reply } from "./harness/ipc.js";
import type { RatioColumn, RowResult } from "./harness/results.js";
import { RoundRecorder, type RowSpec } from "./harness/round-recorder.js";
import { rotate } from "./harness/stats.js";
import { formatRatio, formatSummary, renderColumns } from "./report/format.js";
import type { ResumePorts, ResumeTransport } from "./session-resume-child.js";

const CHILD = fileURLToPath(new URL("./session-resume-child.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const TARGET = 0.95;

interface Config {
  readonly quick: boolean;
  readonly rounds: number;
  readonly count: number;
  readonly warmup: number;
  readonly window: number;
  /** No round starts that would likely end after this long (the others are skipped, noted). */
  readonly budgetMs: number;
  /** The whole run is abandoned, its processes killed, after this long. */
  readonly deadlineMs: number;
  readonly outDir: string | null;
  readonly cpuProfDir: string | null;
}

function readConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const quick = argv.includes("--quick");
  let outDir: string | null = null;
  let cpuProfDir: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--out") outDir = argv[++i] ?? null;
    else if (arg.startsWith("--out=")) outDir = arg.slice("--out=".length);
    else if (arg === "--cpu-prof") cpuProfDir = argv[++i] ?? null;
    else if (arg !== "--quick") throw new TypeError(`session-resume: unexpected argument ${JSON.stringify(arg)}`);
  }
  if (!quick) outDir ??= fileURLToPath(new URL(".", import.meta.url));
  const size = (name: string, full: number, small: number): number => {
    const value = Number(env[`BENCH_RESUME_${name}`] ?? (quick ? small : full));
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`BENCH_RESUME_${name} must be a positive integer`);
    return value;
  };
  return {
    quick,
    rounds: size("ROUNDS", 9, 2),
    count: size("COUNT", 100_000, 2_000),
    warmup: size("WARMUP", 10_000, 300),
    window: size("WINDOW", 500, 100),
    budgetMs: quick ? 60_000 : 240_000,
    deadlineMs: quick ? 90_000 : 420_000,
    outDir,
    cpuProfDir: cpuProfDir === null ? null : path.resolve(cpuProfDir),
  };
}

/** Every child started, killed if this process exits any other way than through `stop()`. */
const alive = new Set<ChildProcess>();
const startedPids: number[] = [];
process.on("exit", () => {
  for (const child of alive) child.kill("SIGKILL");
});

/** One bench/session-resume-child.ts process and the request/reply protocol to it. */
class ResumeChild {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private readonly exited: Promise<void>;

  private constructor(
    readonly role: "server" | "client",
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        alive.delete(child);
        for (const pending of this.pending.values()) {
          pending.reject(new Error(`session resume ${role} child exited (${signal ?? `code ${code}`})`));
        }
        this.pending.clear();
        resolve();
      }),
    );
    child.on("message", (message: Reply | Ready) => {
      if ("ready" in message) return;
      const pending = this.pending.get(message.id);
      if (pending === undefined) return;
      this.pending.delete(message.id);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new Error(`session resume ${role} child: ${message.error}`));
    });
  }

  static async start(role: "server" | "client", config: Config, lifetimeMs: number): Promise<ResumeChild> {
    const profile = config.cpuProfDir === null ? [] : ["--cpu-prof", "--cpu-prof-dir", config.cpuProfDir];
    const child = fork(CHILD, [role], {
      cwd: REPO_ROOT,
      execArgv: ["--import", "tsx", ...profile],
      env: { ...process.env, [CHILD_MAX_LIFETIME_ENV]: String(Math.ceil(lifetimeMs)) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    alive.add(child);
    if (child.pid !== undefined) startedPids.push(child.pid);
    const handle = new ResumeChild(role, child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the ${role} child did not start within 30 s`)), 30_000);
      child.on("message", (message: Reply | Ready) => {
        if ("ready" in message) {
          clearTimeout(timer);
          resolve();
        }
      });
      void handle.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`the ${role} child exited before it was ready`));
      });
    });
    return handle;
  }

  request<T = unknown>(cmd: string, args: unknown = {}, timeoutMs = 60_000): Promise<T> {
    if (!alive.has(this.child)) return Promise.reject(new Error(`the ${this.role} child is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`session resume ${this.role} child: no answer to ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      // A child that died since the check: the callback gets the error, instead of an 'error' event.
      this.child.send({ id, cmd, args }, (error) => {
        if (error === null) return;
        this.pending.delete(id);
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Asks the child to close everything and exit; kills it if it has not within 5 s. */
  async stop(): Promise<void> {
    if (!alive.has(this.child)) return;
    await this.request("exit", {}, 5_000).catch(() => {});
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
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

/** The whole measurement: every round, every row; the children are stopped whatever happens. */
async function measure(config: Config): Promise<{ rows: RowResult[]; notes: string[] }> {
  const children: ResumeChild[] = [];
  const notes: string[] = [];
  try {
    const [server, client] = await Promise.all([
      ResumeChild.start("server", config, config.deadlineMs + 10_000),
      ResumeChild.start("client", config, config.deadlineMs + 10_000),
    ]);
    children.push(server, client);
    const ports = await server.request<ResumePorts>("start");
    const recorder = new RoundRecorder();
    const timeoutMs = Math.max(10_000, (config.count / 2_000) * 1_000);
    const started = Date.now();
    let longest = 0;
    for (let round = 0; round < config.rounds; round++) {
      const roundStarted = Date.now();
      if (round > 0 && roundStarted + longest > started + config.budgetMs) {
        notes.push(`${round} of ${config.rounds} rounds ran; the others did not fit the time budget`);
        break;
      }
      process.stderr.write(`  session resume round ${round + 1}/${config.rounds}\n`);
      for (const row of rotate(ROWS, round)) {
        const port = ports[row.resume ? "resume" : "plain"][row.transport];
        try {
          await client.request(
            "echo.open",
            { transport: row.transport, port, resume: row.resume, warmup: config.warmup, window: config.window },
            60_000,
          );
          await server.request("cpu.start");
          const { elapsedNs } = await client.request<{ elapsedNs: number }>(
            "echo.run",
            { count: config.count, window: config.window, timeoutMs },
            timeoutMs + 5_000,
          );
          const { cpuMicros } = await server.request<{ cpuMicros: number }>("cpu.stop");
          recorder.record(row.id, round, {
            roundTripsPerSec: config.count / (elapsedNs / 1e9),
            serverCpuUsPerMsg: cpuMicros / config.count,
          });
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          recorder.fail(row.id, "error", message.split("\n")[0]!);
          notes.push(`${row.label}, round ${round + 1}: ${message.split("\n")[0]}`);
          await server.request("cpu.stop").catch(() => {});
        } finally {
          await client.request("echo.close", {}, 10_000).catch(() => {});
        }
      }
      longest = Math.max(longest, Date.now() - roundStarted);
    }
    return { rows: recorder.rows(ROWS, COLUMNS), notes };
  } finally {
    await Promise.all(children.map((child) => child.stop()));
  }
}

function render(config: Config, rows: readonly RowResult[], notes: readonly string[], load: number[]): string {
  const lines: string[][] = [["", "round trips/s", "server CPU µs/msg", ...COLUMNS.map((column) => column.header)]];
  for (const row of rows) {
    if (row.status !== "ok") {
      lines.push([row.label, `${row.status}: ${row.note ?? ""}`]);
      continue;
    }
    const cells = [
      row.label,
      formatSummary(row.metrics.roundTripsPerSec!),
      formatSummary(row.metrics.serverCpuUsPerMsg!),
    ];
    for (const column of COLUMNS) {
      const against = column.against[row.transport];
      if (against === row.id) cells.push("baseline");
      else {
        const ratio = row.ratios.find((r) => r.metric === column.metric && r.against === against);
        cells.push(ratio === undefined ? "–" : formatSummary(ratio, formatRatio));
      }
    }
    lines.push(cells);
  }
  const title =
    `Session resume: pipelined echo, ${config.count} round trips, ${config.window} in flight, ` +
    `${config.rounds} rounds` +
    (config.quick ? " (quick mode: sizes too small for conclusions)" : "");
  const width = Math.max(...rows.map((row) => row.label.length));
  const verdicts = targets(rows).map(
    (t) =>
      `  ${t.row.padEnd(width)}  throughput × without resume  ${t.ratio === null ? "–" : t.ratio.toFixed(2)}  >= ${TARGET}  ${t.met === null ? "not run" : t.met ? "met" : "MISSED"}`,
  );
  return [
    `${title}  (ratios: higher is better for throughput, lower for CPU)`,
    `Load average (1 min) ${load[0]!.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end.`,
    renderColumns(lines)
      .split("\n")
      .map((line) => `  ${line}`)
      .join("\n"),
    ...notes.map((note) => `  note: ${note}`),
    "Target (median ratio of this run)",
    ...verdicts,
  ].join("\n");
}

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

async function main(): Promise<number> {
  let config: Config;
  try {
    config = readConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      for (const child of alive) child.kill("SIGKILL");
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
  if (config.cpuProfDir !== null) await mkdir(config.cpuProfDir, { recursive: true });
  const date = new Date().toISOString();
  const load = os.loadavg();
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`abandoned after ${config.deadlineMs / 1000} s`)), config.deadlineMs);
  });
  let rows: RowResult[];
  let notes: string[];
  try {
    ({ rows, notes } = await Promise.race([measure(config), deadline]));
  } catch (error) {
    process.stderr.write(
      `session resume: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    // Past the deadline the measurement may still be running: its children go now.
    for (const child of alive) child.kill("SIGKILL");
    return 1;
  } finally {
    clearTimeout(timer);
  }
  process.stdout.write(`${render(config, rows, notes, load)}\n`);
  if (config.outDir !== null) {
    await mkdir(config.outDir, { recursive: true });
    const file = path.join(config.outDir, "results-session-resume.json");
    const results = {
      meta: {
        date,
        node: process.version,
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        cpu: os.cpus()[0]?.model.trim() ?? "unknown",
        cores: os.availableParallelism(),
        quick: config.quick,
        config: { rounds: config.rounds, count: config.count, warmup: config.warmup, window: config.window },
        durationMs: Date.now() - started,
        loadAverage: { start: load, end: os.loadavg() },
        childPids: startedPids,
      },
      columns: COLUMNS,
      rows,
      targets: targets(rows),
    };
    await writeFile(file, JSON.stringify(results, null, 2) + "\n");
    process.stderr.write(`wrote ${file}\n`);
  }
  return rows.every((row) => row.status === "ok") ? 0 : 1;
}

process.exitCode = await main();
