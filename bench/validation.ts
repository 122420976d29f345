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
import { fileURLToPath } from "node:url";
import { runBenchEntry } from "./harness/bench-entry.js";
import { readEchoRowArgs, type EchoRowConfig } from "./harness/echo-row-args.js";
import { runEchoRow } from "./harness/echo-row-main.js";
import type { RatioColumn } from "./harness/results.js";
import { killAllRoleChildren } from "./harness/role-child.js";
import type { RowSpec } from "./harness/round-recorder.js";
import type { SchemaKind, ValidationOpenArgs, ValidationPorts } from "./validation-child.js";

const CHILD = fileURLToPath(new URL("./validation-child.ts", import.meta.url));

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

function main(config: EchoRowConfig): Promise<number> {
  return runEchoRow({
    childFile: CHILD,
    progress: "validation",
    config,
    rows: ROWS,
    columns: COLUMNS,
    openArgs: (row, ports: ValidationPorts): Omit<ValidationOpenArgs, "warmup" | "window"> => ({
      port: ports[row.server],
      client: row.client,
    }),
    title:
      `Validation: pipelined echo over TCP, ${config.count} round trips, ${config.window} in flight, ` +
      `${config.rounds} rounds, move checked by schemaValidation`,
    fileName: "results-validation.json",
  });
}

await runBenchEntry({
  name: "validation",
  readArgs: (argv) => readEchoRowArgs(argv, { name: "validation", envPrefix: "VALIDATION" }).config,
  main,
  killChildren: killAllRoleChildren,
});
