/**
 * The decode budget row: what one hostile payload costs a repod-rx server, for the shapes that
 * cost the msgpack decoder the most, with the default limits (`maxPayloadDepth`,
 * `maxPayloadItems`, `maxPayloadKeys`) and with the budget lifted as far as the options go, side
 * by side.
 *
 *   node --import tsx bench/decode-budget.ts [--quick] [--out DIR] [--shapes ID,ID...]
 *   npm run bench -- --only decode-budget
 *
 * Two server processes (one per budget, started with `--expose-gc`) each run a `Server` on
 * 127.0.0.1; this process sends them raw TCP frames. Per payload, the server collects garbage,
 * then measures its own CPU time (user + system) and heap growth until the message reaches its
 * channel or is dropped. Unmeasured payloads of each row's shape go first (see `Config`), so that
 * the figures are those of a server that has been up for a while, not of V8 warming up. The target of the hardening issue: with the default options no payload
 * of at most the default maxPayload costs more than 50 ms of CPU or 64 MiB of heap. Prints a table
 * and writes results-decode-budget.json in bench/ (or `--out DIR`; quick runs and runs of some
 * `--shapes` only with `--out`).
 */
import * as net from "node:net";
import * as os from "node:os";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_PAYLOAD_DEPTH,
  DEFAULT_MAX_PAYLOAD_ITEMS,
  DEFAULT_MAX_PAYLOAD_KEYS,
} from "../lib/constants.js";
import { EXT_VALUE_WEIGHT } from "../lib/protocol/decode-budget.js";
import { ENVELOPE_KEYS, SHAPES, tcpFrame, type Payload, type Shape } from "./client/decode-payloads.js";
import { BenchChild, killAllChildren, startedPids, useCompiledChild } from "./harness/bench-child.js";
import { buildChildBundle } from "./harness/child-bundle.js";
import { summarize, type Summary } from "./harness/stats.js";
import { formatNumber, formatSummary, renderColumns } from "./report/format.js";
import type { DecodeOutcome } from "./server/decode-target.js";
import { runBenchEntry } from "./harness/bench-entry.js";
import { machine, writeResults } from "./harness/machine.js";

const TARGET = { cpuMs: 50, heapMiB: 64 } as const;
const REFUSED = "ERR_PAYLOAD_TOO_COMPLEX";

interface Config {
  readonly quick: boolean;
  /** Payloads sent per row. */
  readonly payloads: number;
  /**
   * Small payloads of the same shape sent unmeasured before each row, so that the decoder runs
   * optimised code as in a server that has been up for a while, not its first few calls.
   */
  readonly warmup: number;
  /**
   * Payloads of the row itself (other variants, same size) sent unmeasured after the small ones,
   * in the default-budget rows: V8 runs the first one or two payloads of a new size with code and
   * a young generation sized for the small ones, up to 40 ms more even for a plain snapshot. Not in
   * the lifted rows, whose payloads take seconds.
   */
  readonly fullWarmup: number;
  /** Size of the full-size payloads: the default maxPayload, or less in a quick run. */
  readonly bytes: number;
  /** The whole run is abandoned, its processes killed, after this long. */
  readonly deadlineMs: number;
  readonly outDir: string | null;
  /** The ids of the shapes to run (`--shapes a,b`); all of them when null. */
  readonly shapes: readonly string[] | null;
}

function readArgs(argv: readonly string[]): Config {
  const quick = argv.includes("--quick");
  let outDir: string | null = null;
  let shapes: string[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--out") outDir = argv[++i] ?? null;
    else if (arg.startsWith("--out=")) outDir = arg.slice("--out=".length);
    else if (arg === "--shapes") shapes = (argv[++i] ?? "").split(",").filter(Boolean);
    else if (arg !== "--quick") throw new TypeError(`decode-budget: unexpected argument ${JSON.stringify(arg)}`);
  }
  const unknown = shapes?.find((id) => !SHAPES.some((shape) => shape.id === id));
  if (unknown !== undefined) {
    throw new TypeError(
      `decode-budget: no shape ${JSON.stringify(unknown)} (${SHAPES.map((shape) => shape.id).join(", ")})`,
    );
  }
  if (!quick && shapes === null) outDir ??= fileURLToPath(new URL(".", import.meta.url));
  return {
    quick,
    payloads: quick ? 1 : 3,
    warmup: quick ? 3 : 30,
    fullWarmup: quick ? 0 : 2,
    bytes: quick ? 256 * 1024 : DEFAULT_MAX_PAYLOAD,
    deadlineMs: quick ? 120_000 : 600_000,
    outDir,
    shapes,
  };
}

type Budget = "default" | "lifted";

/** One row: a shape at one size, sent to the server of one budget. */
interface RowPlan {
  readonly shape: Shape;
  readonly budget: Budget;
  /** The first measured payload; the others are variants of it (other key names, same size). */
  readonly payload: Payload;
  /** The row's payload with the key names of `variant`. */
  readonly variant: (variant: number) => Payload;
  /** Cut at the default maxPayloadItems and maxPayloadKeys rather than filling the bytes. */
  readonly cut: boolean;
}

interface RowResult {
  readonly shape: string;
  readonly label: string;
  readonly budget: Budget;
  readonly bytes: number;
  readonly values: number;
  /** Distinct map keys, as `exceedsDecodeBudget` counts them. */
  readonly keys: number;
  /** What became of each payload: "delivered" or the code it was dropped with. */
  readonly outcomes: string[];
  readonly cpuMs: Summary;
  readonly heapMiB: Summary;
  /** Median CPU of this row over that of the same shape at full size with the budget lifted. */
  readonly cpuVsLifted: number | null;
  /** Whether every payload met the target; `null` for the lifted rows, which have none. */
  readonly met: boolean | null;
  readonly error?: string;
  /** Why the row was not run. */
  readonly skipped?: string;
}

function sizeLabel(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(0)} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

/** Whether the default budget refuses `payload`. */
function overDefault(payload: Payload): boolean {
  return payload.values > DEFAULT_MAX_PAYLOAD_ITEMS || payload.keys > DEFAULT_MAX_PAYLOAD_KEYS;
}

/** The rows of one shape: full size with each budget and, if refused by default, the costliest accepted. */
function plansFor(shape: Shape, config: Config): RowPlan[] {
  const full = (variant: number): Payload => shape.build(config.bytes, Infinity, Infinity, variant);
  const cut = (variant: number): Payload =>
    shape.build(config.bytes, DEFAULT_MAX_PAYLOAD_ITEMS, DEFAULT_MAX_PAYLOAD_KEYS, variant);
  const payload = full(FIRST_VARIANT);
  const plans: RowPlan[] = [{ shape, budget: "default", payload, variant: full, cut: false }];
  if (overDefault(payload)) {
    plans.push({ shape, budget: "default", payload: cut(FIRST_VARIANT), variant: cut, cut: true });
  }
  plans.push({ shape, budget: "lifted", payload, variant: full, cut: false });
  return plans;
}

/**
 * Variant of the warm-up payloads; the measured ones take the next ones, so that none finds the
 * hidden classes of an earlier one (V8 keeps them while their transitions are alive).
 */
const WARMUP_VARIANT = 0;
const FIRST_VARIANT = 1;

function rowLabel(plan: RowPlan, config: Config): string {
  const { values, keys } = plan.payload;
  let size = sizeLabel(config.bytes);
  if (plan.cut) {
    size = `${values.toLocaleString("en")} values`;
    if (keys > ENVELOPE_KEYS) size += `, ${keys.toLocaleString("en")} distinct keys`;
  }
  return `${plan.shape.label}, ${size}, ${plan.budget === "default" ? "default budget" : "budget lifted"}`;
}

async function openSocket(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.on("error", () => {}); // a refused connection shows up as a missing outcome
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.resume(); // the greeting, unread
  return socket;
}

/**
 * Values in each warm-up payload: enough to run every path of the shape's decoding many times,
 * and, in the shapes with keys, more map keys than the default maxPayloadKeys (distinct ones cut
 * at it), so that the scan tells them apart as it does for the measured payloads.
 */
const WARMUP_VALUES = 4_096;

/**
 * Sends the row's warm-up payloads, then its measured ones, one at a time; each is measured by the
 * server from arming to outcome.
 */
async function runRow(server: BenchChild, port: number, plan: RowPlan, config: Config): Promise<DecodeOutcome[]> {
  const warmup = tcpFrame(
    plan.shape.build(config.bytes, WARMUP_VALUES, DEFAULT_MAX_PAYLOAD_KEYS, WARMUP_VARIANT).bytes,
  );
  const frames = Array.from({ length: config.payloads }, (_, i) =>
    tcpFrame(i === 0 ? plan.payload.bytes : plan.variant(FIRST_VARIANT + i).bytes),
  );
  const fullWarmups = plan.budget === "default" ? config.fullWarmup : 0;
  const fullFrames = Array.from({ length: fullWarmups }, (_, i) =>
    tcpFrame(plan.variant(FIRST_VARIANT + config.payloads + i).bytes),
  );
  const socket = await openSocket(port);
  const send = async (bytes: Buffer, collect = true): Promise<DecodeOutcome> => {
    await server.request("decode.arm", { collect }, 30_000);
    socket.write(bytes);
    return server.request<DecodeOutcome>("decode.outcome", { timeoutMs: 60_000 }, 65_000);
  };
  try {
    for (let i = 0; i < config.warmup; i++) await send(warmup, false);
    for (const frame of fullFrames) await send(frame, false);
    const outcomes: DecodeOutcome[] = [];
    for (const frame of frames) outcomes.push(await send(frame));
    return outcomes;
  } finally {
    socket.destroy();
  }
}

/**
 * Whether the lifted server takes a payload of more distinct keys than the default: not if the
 * build has no `maxPayloadKeys` option for it to lift (it then keeps the default).
 */
async function canLiftKeys(server: BenchChild, port: number, config: Config): Promise<boolean> {
  const shape = SHAPES.find((candidate) => candidate.id === "one-big-map")!;
  const build = (variant: number): Payload =>
    shape.build(config.bytes, Infinity, DEFAULT_MAX_PAYLOAD_KEYS + 1, variant);
  const plan: RowPlan = { shape, budget: "lifted", payload: build(0), variant: build, cut: false };
  const [outcome] = await runRow(server, port, plan, { ...config, payloads: 1, warmup: 0, fullWarmup: 0 });
  return outcome?.outcome === "delivered";
}

/** Why `plan` cannot be run; `undefined` if it can. */
function skipped(plan: RowPlan, liftsKeys: boolean): string | undefined {
  if (plan.budget === "lifted" && !liftsKeys && plan.payload.keys > DEFAULT_MAX_PAYLOAD_KEYS) {
    return "maxPayloadKeys cannot be lifted in this build";
  }
  return undefined;
}

/** A count as a whole number, shortened from 10,000 on ("65.5k"). */
function formatCount(count: number): string {
  return count < 10_000 ? String(count) : formatNumber(count);
}

function renderTable(rows: readonly RowResult[], config: Config): string {
  const header = ["", "values", "keys", "outcome", "CPU ms/payload", "heap MiB/payload", "CPU × lifted", "target"];
  const lines = rows.map((row) => {
    if (row.skipped !== undefined)
      return [row.label, formatCount(row.values), formatCount(row.keys), `n/a: ${row.skipped}`];
    if (row.error !== undefined) return [row.label, "", "", `error: ${row.error}`];
    const outcome = [...new Set(row.outcomes.map((o) => (o === REFUSED ? "refused" : o)))].join(", ");
    const target = row.met === null ? "" : row.met ? "met" : "MISSED";
    const vsLifted = row.budget === "lifted" ? "baseline" : row.cpuVsLifted === null ? "–" : row.cpuVsLifted.toFixed(3);
    return [
      row.label,
      formatCount(row.values),
      formatCount(row.keys),
      outcome,
      formatSummary(row.cpuMs),
      formatSummary(row.heapMiB),
      vsLifted,
      target,
    ];
  });
  const load = os.loadavg()[0]!;
  return [
    `Decode budget: what one payload costs the server, ${config.payloads} per row after ${config.warmup} small ones` +
      (config.fullWarmup > 0 ? ` and ${config.fullWarmup} of the row's own (default budget)` : "") +
      `, full size ${config.bytes} bytes` +
      (config.quick ? " (quick mode: sizes too small for conclusions)" : ""),
    `Default budget: maxPayloadDepth ${DEFAULT_MAX_PAYLOAD_DEPTH}, maxPayloadItems ${DEFAULT_MAX_PAYLOAD_ITEMS} (an extension value counting ${EXT_VALUE_WEIGHT}), maxPayloadKeys ${DEFAULT_MAX_PAYLOAD_KEYS}; lifted: 100, 4294967295 and 4294967295.`,
    `Target of the default rows, every payload: <= ${TARGET.cpuMs} ms CPU and <= ${TARGET.heapMiB} MiB heap.` +
      (load > os.availableParallelism() * 0.5 ? ` Load average ${load.toFixed(1)}: expect noise.` : ""),
    renderColumns([header, ...lines])
      .split("\n")
      .map((line) => `  ${line}`)
      .join("\n"),
  ].join("\n");
}

async function main(config: Config): Promise<number> {
  const started = Date.now();
  const loadAtStart = os.loadavg();
  const bundle = await buildChildBundle();
  useCompiledChild(bundle.file);
  const children: BenchChild[] = [];
  const rows: RowResult[] = [];
  let liftsKeys: boolean;
  try {
    const [defaultServer, liftedServer] = await Promise.all(
      Array.from({ length: 2 }, () => BenchChild.start("server", config.deadlineMs + 10_000)),
    );
    children.push(defaultServer!, liftedServer!);
    const servers = {
      default: {
        child: defaultServer!,
        ...(await defaultServer!.request<{ port: number }>("decode.start", { lifted: false })),
      },
      lifted: {
        child: liftedServer!,
        ...(await liftedServer!.request<{ port: number }>("decode.start", { lifted: true })),
      },
    };
    // Full-size frames that are cheap to decode, so the first row does not pay for the first
    // large frames the servers receive.
    const longString = SHAPES.find((shape) => shape.id === "long-string")!;
    for (const budget of ["default", "lifted"] as const) {
      const { child, port } = servers[budget];
      const build = (variant: number): Payload => longString.build(config.bytes, Infinity, Infinity, variant);
      const plan: RowPlan = { shape: longString, budget, payload: build(FIRST_VARIANT), variant: build, cut: false };
      await runRow(child, port, plan, { ...config, payloads: config.quick ? 1 : 5 });
    }
    liftsKeys = await canLiftKeys(servers.lifted.child, servers.lifted.port, config);
    if (!liftsKeys) {
      process.stderr.write(
        `  the lifted server refuses more than ${DEFAULT_MAX_PAYLOAD_KEYS} distinct keys: maxPayloadKeys is not an option of this build; its rows over that are skipped\n`,
      );
    }
    for (const shape of SHAPES) {
      if (config.shapes !== null && !config.shapes.includes(shape.id)) continue;
      const plans = plansFor(shape, config);
      const measured = new Map<RowPlan, DecodeOutcome[]>();
      const errors = new Map<RowPlan, string>();
      for (const plan of plans) {
        if (skipped(plan, liftsKeys) !== undefined) continue;
        process.stderr.write(`  ${rowLabel(plan, config)}\n`);
        const { child, port } = servers[plan.budget];
        try {
          measured.set(plan, await runRow(child, port, plan, config));
        } catch (error) {
          errors.set(plan, error instanceof Error ? error.message.split("\n")[0]! : String(error));
        }
      }
      const lifted = plans.find((plan) => plan.budget === "lifted")!;
      const liftedCpu = measured.get(lifted)?.map((o) => o.cpuMs);
      for (const plan of plans) {
        const outcomes = measured.get(plan) ?? [];
        const base = {
          shape: shape.id,
          label: rowLabel(plan, config),
          budget: plan.budget,
          bytes: plan.payload.bytes.byteLength,
          values: plan.payload.values,
          keys: plan.payload.keys,
          outcomes: outcomes.map((o) => o.outcome),
          cpuMs: summarize(outcomes.map((o) => o.cpuMs)),
          heapMiB: summarize(outcomes.map((o) => o.heapMiB)),
        };
        const skip = skipped(plan, liftsKeys);
        if (skip !== undefined) {
          rows.push({ ...base, cpuVsLifted: null, met: null, skipped: skip });
          continue;
        }
        // Full-size payloads over the default budget must be refused, all others delivered.
        const expected = plan.budget === "default" && !plan.cut && overDefault(plan.payload) ? REFUSED : "delivered";
        const wrong = outcomes.find((o) => o.outcome !== expected);
        const error = errors.get(plan) ?? (wrong ? `expected ${expected}, got ${wrong.outcome}` : undefined);
        rows.push({
          ...base,
          cpuVsLifted:
            plan.budget === "default" && liftedCpu !== undefined
              ? base.cpuMs.median / summarize(liftedCpu).median
              : null,
          met:
            plan.budget === "lifted" || outcomes.length === 0
              ? null
              : outcomes.every((o) => o.cpuMs <= TARGET.cpuMs && o.heapMiB <= TARGET.heapMiB),
          ...(error === undefined ? {} : { error }),
        });
      }
    }
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    await bundle.remove();
  }
  process.stdout.write(`${renderTable(rows, config)}\n`);
  const missed = rows.filter((row) => row.met === false).map((row) => row.label);
  process.stdout.write(
    missed.length === 0
      ? "  Every default-budget row met the target.\n"
      : `  Target MISSED by ${missed.length} default-budget row(s): ${missed.join("; ")}\n`,
  );
  if (config.outDir !== null) {
    const results = {
      meta: {
        date: new Date(started).toISOString(),
        ...machine(),
        quick: config.quick,
        config: {
          payloads: config.payloads,
          warmup: config.warmup,
          warmupValues: WARMUP_VALUES,
          fullWarmup: config.fullWarmup,
          bytes: config.bytes,
          maxPayloadDepth: DEFAULT_MAX_PAYLOAD_DEPTH,
          maxPayloadItems: DEFAULT_MAX_PAYLOAD_ITEMS,
          maxPayloadKeys: DEFAULT_MAX_PAYLOAD_KEYS,
          extValueWeight: EXT_VALUE_WEIGHT,
          liftsKeys,
        },
        target: TARGET,
        durationMs: Date.now() - started,
        loadAverage: { start: loadAtStart, end: os.loadavg() },
        childPids: [...startedPids],
      },
      rows,
    };
    const file = await writeResults(config.outDir, "results-decode-budget.json", results);
    process.stderr.write(`wrote ${file} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return rows.some((row) => row.error !== undefined) ? 1 : 0;
}

await runBenchEntry({ name: "decode-budget", readArgs, main, killChildren: killAllChildren });
