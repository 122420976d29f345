/**
 * The measurement of an echo row: a server child and a client child (roles of one child file, see
 * ./role-child.ts), then rounds that run every variant once, in an order rotated from round to
 * round, recording round trips per second and the server's CPU per message of each run.
 */
import type { EchoRowConfig } from "./echo-row-args.js";
import type { RatioColumn, RowResult } from "./results.js";
import { RoleChild } from "./role-child.js";
import { RoundRecorder, type RowSpec } from "./round-recorder.js";
import { rotate } from "./stats.js";

/** What an echo row measures, and how its client reaches each variant. */
export interface EchoRoundsOptions<R extends RowSpec, P> {
  /** The child file answering the `server` and `client` roles (./echo-server-role.ts, ./echo-client-role.ts). */
  readonly childFile: string;
  /** Shown in the progress lines: `  ${progress} round 1/9`. */
  readonly progress: string;
  readonly config: EchoRowConfig;
  /** The variants, in the order of the results. */
  readonly rows: readonly R[];
  readonly columns: readonly RatioColumn[];
  /** The `echo.open` arguments of a variant, given the server's ports; `warmup` and `window` are added. */
  readonly openArgs: (row: R, ports: P) => Record<string, unknown>;
  /** Node flags for both children (e.g. `--cpu-prof`). Default none. */
  readonly execArgv?: readonly string[];
}

/** The summarised rows, and remarks for the table (failed runs, skipped rounds). */
export interface EchoRoundsResult {
  readonly rows: RowResult[];
  readonly notes: string[];
}

/**
 * Runs every round of every variant; the children are stopped whatever happens. A failed run
 * marks its row and is noted; the other runs go on. Rounds that would likely end after
 * `config.budgetMs` are skipped, and noted.
 */
export async function measureEchoRounds<R extends RowSpec, P>(
  options: EchoRoundsOptions<R, P>,
): Promise<EchoRoundsResult> {
  const { config } = options;
  const children: RoleChild[] = [];
  const notes: string[] = [];
  try {
    const lifetime = config.deadlineMs + 10_000;
    const childOptions = { execArgv: options.execArgv ?? [] };
    const [server, client] = await Promise.all([
      RoleChild.start(options.childFile, "server", lifetime, childOptions),
      RoleChild.start(options.childFile, "client", lifetime, childOptions),
    ]);
    children.push(server, client);
    const ports = await server.request<P>("start");
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
      process.stderr.write(`  ${options.progress} round ${round + 1}/${config.rounds}\n`);
      for (const row of rotate(options.rows, round)) {
        try {
          const args = { ...options.openArgs(row, ports), warmup: config.warmup, window: config.window };
          await client.request("echo.open", args, 60_000);
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
    return { rows: recorder.rows(options.rows, options.columns), notes };
  } finally {
    await Promise.all(children.map((child) => child.stop()));
  }
}
