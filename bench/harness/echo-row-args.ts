/**
 * The command line and environment of an echo row (the validation and session resume rows):
 * `[--quick] [--out DIR]`, plus the value flags the row declares, and four sizes read from
 * `BENCH_<PREFIX>_ROUNDS`, `_COUNT`, `_WARMUP` and `_WINDOW`.
 */
import { fileURLToPath } from "node:url";

/** What an echo row runs with, after flags and environment variables. */
export interface EchoRowConfig {
  /** `--quick`: small sizes, for smoke runs (no conclusions). */
  readonly quick: boolean;
  /** Rounds of every variant. Default 9 (quick: 2). */
  readonly rounds: number;
  /** Measured round trips per run. Default 100,000 (quick: 2,000). */
  readonly count: number;
  /** Unmeasured round trips before each run. Default 10,000 (quick: 300). */
  readonly warmup: number;
  /** Round trips in flight. Default 500 (quick: 100). */
  readonly window: number;
  /** No round starts that would likely end after this long (the others are skipped, noted). */
  readonly budgetMs: number;
  /** The whole run is abandoned, its processes killed, after this long. */
  readonly deadlineMs: number;
  /** Where the results file goes: `--out DIR`, else bench/ for full runs, `null` (none) for quick ones. */
  readonly outDir: string | null;
}

/** How a row reads its arguments. */
export interface EchoRowArgsOptions {
  /** The row's name, prefixed to usage errors. */
  readonly name: string;
  /** The sizes come from `BENCH_${envPrefix}_ROUNDS` and so on. */
  readonly envPrefix: string;
  /** Further flags taking one value (`--flag VALUE` or `--flag=VALUE`), e.g. `["--cpu-prof"]`. */
  readonly valueFlags?: readonly string[];
  /** Where the sizes are read. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** An echo row's configuration and the values of its own flags (absent when not given). */
export interface EchoRowArgs {
  readonly config: EchoRowConfig;
  readonly flags: Readonly<Record<string, string | undefined>>;
}

const BENCH_DIR = fileURLToPath(new URL("..", import.meta.url));

/**
 * Reads an echo row's arguments.
 * @throws TypeError for an unknown argument; RangeError for a size that is not a positive integer.
 */
export function readEchoRowArgs(argv: readonly string[], options: EchoRowArgsOptions): EchoRowArgs {
  const quick = argv.includes("--quick");
  const valueFlags = ["--out", ...(options.valueFlags ?? [])];
  const flags: Record<string, string | undefined> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") continue;
    const flag = valueFlags.find((name) => arg === name || arg.startsWith(`${name}=`));
    if (flag === undefined) throw new TypeError(`${options.name}: unexpected argument ${JSON.stringify(arg)}`);
    flags[flag] = arg === flag ? argv[++i] : arg.slice(flag.length + 1);
  }
  const env = options.env ?? process.env;
  const size = (name: string, full: number, small: number): number => {
    const variable = `BENCH_${options.envPrefix}_${name}`;
    const value = Number(env[variable] ?? (quick ? small : full));
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${variable} must be a positive integer`);
    return value;
  };
  const { "--out": out, ...own } = flags;
  const config: EchoRowConfig = {
    quick,
    rounds: size("ROUNDS", 9, 2),
    count: size("COUNT", 100_000, 2_000),
    warmup: size("WARMUP", 10_000, 300),
    window: size("WINDOW", 500, 100),
    budgetMs: quick ? 60_000 : 240_000,
    deadlineMs: quick ? 90_000 : 420_000,
    outDir: out ?? (quick ? null : BENCH_DIR),
  };
  return { config, flags: own };
}

/** The sizes of a run, as its results file records them in `meta.config`. */
export function echoRowSizes(config: EchoRowConfig): Record<"rounds" | "count" | "warmup" | "window", number> {
  return { rounds: config.rounds, count: config.count, warmup: config.warmup, window: config.window };
}
