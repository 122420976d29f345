import { fileURLToPath } from "node:url";
import type { ScenarioId } from "./results.js";

/**
 * Every size and count of the benchmark. Each can be set by a flag (`--echo-count=50000` or
 * `--echo-count 50000`) or an environment variable (`BENCH_ECHO_COUNT=50000`); the flag wins.
 * `--quick` starts from the small sizes used by the smoke test instead of the full ones, and runs
 * the scenarios side by side (its figures only show that the harness works).
 */
export const PARAMETERS = {
  rounds: { full: 5, quick: 2, help: "rounds of the echo, reactive and latency scenarios" },
  echoCount: { full: 100_000, quick: 2_000, help: "measured round trips per echo run" },
  echoWarmup: { full: 10_000, quick: 300, help: "unmeasured round trips before each echo run" },
  echoWindow: { full: 500, quick: 100, help: "messages in flight in the pipelined echo" },
  latencyCount: { full: 5_000, quick: 200, help: "measured sequential round trips per latency run" },
  latencyWarmup: { full: 1_000, quick: 50, help: "unmeasured round trips before each latency run" },
  fanoutClients: { full: 500, quick: 20, help: "clients receiving each broadcast" },
  fanoutProcs: { full: 2, quick: 1, help: "client processes the fan-out clients are spread over" },
  fanoutHz: { full: 60, quick: 60, help: "broadcast ticks per second" },
  fanoutTicks: { full: 120, quick: 12, help: "measured ticks per fan-out run" },
  fanoutWarmupTicks: { full: 30, quick: 3, help: "unmeasured ticks before each fan-out run" },
  fanoutRounds: { full: 3, quick: 1, help: "rounds of the fan-out scenario" },
  pumpMessages: { full: 10_000, quick: 1_000, help: "messages queued before each timed pump()" },
  pumpRounds: { full: 15, quick: 3, help: "timed pump() calls (rounds of the pump scenario)" },
  pumpWarmup: { full: 5, quick: 1, help: "untimed bursts before the pump rounds" },
  memoryClients: { full: 2_000, quick: 40, help: "idle clients held open for the memory scenario" },
  memoryProcs: { full: 2, quick: 1, help: "client processes the idle clients are spread over" },
  memoryRounds: { full: 3, quick: 1, help: "rounds of the memory scenario (a fresh server each)" },
  connectConcurrency: { full: 50, quick: 20, help: "connections opened at once per client process" },
  budget: {
    full: 330,
    quick: 60,
    help: "seconds the whole run should take; shared among the scenarios, which skip their remaining rounds when their share is spent",
  },
} as const;

export type ParameterName = keyof typeof PARAMETERS;

export const SCENARIOS: readonly ScenarioId[] = ["echo", "reactive", "latency", "fanout", "pump", "memory"];

export type BenchConfig = Record<ParameterName, number> & {
  readonly quick: boolean;
  /** Where results.json and results.svg are written. */
  readonly outDir: string;
  readonly only: readonly ScenarioId[];
};

const DEFAULT_OUT_DIR = fileURLToPath(new URL("..", import.meta.url));

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

function envName(name: string): string {
  return `BENCH_${kebab(name).replaceAll("-", "_").toUpperCase()}`;
}

export function usage(): string {
  const lines = [
    "npm run bench -- [--quick] [--only echo,latency,...] [--out DIR] [--<parameter> N ...]",
    `scenarios: ${SCENARIOS.join(", ")}`,
    "parameters (flag / environment variable: full default, quick default):",
  ];
  for (const [name, { full, quick, help }] of Object.entries(PARAMETERS)) {
    lines.push(`  --${kebab(name)} / ${envName(name)}: ${full}, ${quick}  ${help}`);
  }
  return lines.join("\n");
}

/**
 * Reads the configuration from `argv` (without node and the script) and `env`.
 * @throws {TypeError} for an unknown flag or scenario; {RangeError} for a count that is not a
 *   positive integer.
 */
export function readConfig(argv: readonly string[], env: NodeJS.ProcessEnv): BenchConfig {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) throw new TypeError(`Unexpected argument ${JSON.stringify(arg)}\n${usage()}`);
    const eq = arg.indexOf("=");
    if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    else if (arg === "--quick" || arg === "--help") flags.set(arg.slice(2), "true");
    else flags.set(arg.slice(2), argv[++i] ?? "");
  }
  const quick = flags.get("quick") === "true" || env.BENCH_QUICK === "1";
  flags.delete("quick");
  const values: Partial<Record<ParameterName, number>> = {};
  for (const [name, spec] of Object.entries(PARAMETERS) as [ParameterName, (typeof PARAMETERS)[ParameterName]][]) {
    const raw = flags.get(kebab(name)) ?? env[envName(name)];
    flags.delete(kebab(name));
    if (raw === undefined) {
      values[name] = quick ? spec.quick : spec.full;
      continue;
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `--${kebab(name)} (${envName(name)}) must be a positive integer, got ${JSON.stringify(raw)}`,
      );
    }
    values[name] = value;
  }
  const onlyRaw = flags.get("only") ?? env.BENCH_ONLY;
  flags.delete("only");
  const only = onlyRaw === undefined || onlyRaw === "" ? SCENARIOS : onlyRaw.split(",").map((s) => s.trim());
  for (const id of only) {
    if (!SCENARIOS.includes(id as ScenarioId))
      throw new TypeError(`Unknown scenario ${JSON.stringify(id)}; known: ${SCENARIOS.join(", ")}`);
  }
  const outDir = flags.get("out") ?? env.BENCH_OUT ?? DEFAULT_OUT_DIR;
  flags.delete("out");
  if (flags.has("help")) throw new TypeError(usage());
  if (flags.size > 0) throw new TypeError(`Unknown flag --${[...flags.keys()][0]}\n${usage()}`);
  return { ...(values as Record<ParameterName, number>), quick, outDir, only: only as ScenarioId[] };
}
