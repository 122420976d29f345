/**
 * The validation row: what checking every message against a Standard Schema costs the pipelined
 * echo. The same repod-rx echo over TCP as scenario 1, without validation and with
 * `schemaValidation({ move: ... })` (the four number fields of the echo's `move`): valibot on the
 * server only, valibot on both sides (the server checks what it receives, the client the echoes),
 * and zod on both sides, side by side in the same rounds. Each ratio is taken within a round (same
 * minute, same noise), then summarised over rounds. No target: the figures are reported.
 *
 *   node --import tsx bench/validation.ts [--quick] [--out DIR]
 *   npm run bench -- --only validation
 *
 * One server process hosts three servers (no schema, valibot, zod), one client process drives one
 * connection at a time (bench/validation-child.ts), all on 127.0.0.1 with port 0. Server CPU is
 * `process.cpuUsage()` of the server process over the measured run. Neither side has a rate
 * limit. Rounds that would not fit the time budget are skipped, and the table says so.
 * Sizes: BENCH_VALIDATION_ROUNDS, BENCH_VALIDATION_COUNT, BENCH_VALIDATION_WARMUP,
 * BENCH_VALIDATION_WINDOW. Prints a table and writes results-validation.json in bench/ (or
 * `--out DIR`; quick runs write only with `--out`).
 */
import { mkdir, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { runBenchEntry } from "./harness/bench-entry.js";
import type { RatioColumn, RowResult } from "./harness/results.js";
import { killAllRoleChildren, RoleChild, startedRolePids } from "./harness/role-child.js";
import { RoundRecorder, type RowSpec } from "./harness/round-recorder.js";
import { rotate } from "./harness/stats.js";
import { formatRatio, formatSummary, renderColumns } from "./report/format.js";
import type { SchemaKind, ValidationPorts } from "./validation-child.js";

const CHILD = fileURLToPath(new URL("./validation-child.ts", import.meta.url));

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
}

function readArgs(argv: readonly string[]): Config {
  const quick = argv.includes("--quick");
  let outDir: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--out") outDir = argv[++i] ?? null;
    else if (arg.startsWith("--out=")) outDir = arg.slice("--out=".length);
    else if (arg !== "--quick") throw new TypeError(`validation: unexpected argument ${JSON.stringify(arg)}`);
  }
  if (!quick) outDir ??= fileURLToPath(new URL(".", import.meta.url));
  const size = (name: string, full: number, small: number): number => {
    const value = Number(process.env[`BENCH_VALIDATION_${name}`] ?? (quick ? small : full));
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`BENCH_VALIDATION_${name} must be a positive integer`);
    }
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
  };
}

interface Row extends RowSpec {
  /** The schema library of the server, and of the client. */
  readonly server: SchemaKind;
  readonly client: SchemaKind;
}

const ROWS: readonly Row[] = [
  { id: "none", label: "no validation", transport: "tcp", server: "none", client: "none", subject: false },
  {
    id: "valibot-server",
    label: "valibot, server only",
    transport: "tcp",
    server: "valibot",
    client: "none",
    subject: true,
  },
  {
    id: "valibot-both",
    label: "valibot, server and client",
    transport: "tcp",
    server: "valibot",
    client: "valibot",
    subject: true,
  },
  { id: "zod-both", label: "zod, server and client", transport: "tcp", server: "zod", client: "zod", subject: true },
];

const BASELINE = { tcp: "none" } as const;

const COLUMNS: RatioColumn[] = [
  { header: "throughput × none", metric: "roundTripsPerSec", against: BASELINE, chart: false },
  { header: "server CPU × none", metric: "serverCpuUsPerMsg", against: BASELINE, chart: false },
];

/** The whole measurement: every round, every row; the children are stopped whatever happens. */
async function measure(config: Config): Promise<{ rows: RowResult[]; notes: string[] }> {
  const children: RoleChild[] = [];
  const notes: string[] = [];
  try {
    const lifetime = config.deadlineMs + 10_000;
    const [server, client] = await Promise.all([
      RoleChild.start(CHILD, "server", lifetime),
      RoleChild.start(CHILD, "client", lifetime),
    ]);
    children.push(server, client);
    const ports = await server.request<ValidationPorts>("start");
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
      process.stderr.write(`  validation round ${round + 1}/${config.rounds}\n`);
      for (const row of rotate(ROWS, round)) {
        try {
          await client.request(
            "echo.open",
            { port: ports[row.server], client: row.client, warmup: config.warmup, window: config.window },
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
          const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
          recorder.fail(row.id, "error", message);
          notes.push(`${row.label}, round ${round + 1}: ${message}`);
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
      if (row.id === BASELINE.tcp) cells.push("baseline");
      else {
        const ratio = row.ratios.find((r) => r.metric === column.metric && r.against === BASELINE.tcp);
        cells.push(ratio === undefined ? "–" : formatSummary(ratio, formatRatio));
      }
    }
    lines.push(cells);
  }
  const title =
    `Validation: pipelined echo over TCP, ${config.count} round trips, ${config.window} in flight, ` +
    `${config.rounds} rounds, move checked by schemaValidation` +
    (config.quick ? " (quick mode: sizes too small for conclusions)" : "");
  return [
    `${title}  (ratios: higher is better for throughput, lower for CPU)`,
    `Load average (1 min) ${load[0]!.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end.`,
    renderColumns(lines)
      .split("\n")
      .map((line) => `  ${line}`)
      .join("\n"),
    ...notes.map((note) => `  note: ${note}`),
  ].join("\n");
}

async function main(config: Config): Promise<number> {
  const date = new Date().toISOString();
  const load = os.loadavg();
  const started = Date.now();
  const { rows, notes } = await measure(config);
  process.stdout.write(`${render(config, rows, notes, load)}\n`);
  if (config.outDir !== null) {
    await mkdir(config.outDir, { recursive: true });
    const file = path.join(config.outDir, "results-validation.json");
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
        childPids: startedRolePids,
      },
      columns: COLUMNS,
      rows,
    };
    await writeFile(file, JSON.stringify(results, null, 2) + "\n");
    process.stderr.write(`wrote ${file}\n`);
  }
  return rows.every((row) => row.status === "ok") ? 0 : 1;
}

await runBenchEntry({ name: "validation", readArgs, main, killChildren: killAllRoleChildren });
