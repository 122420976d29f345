import type { RatioColumn, ScenarioResult } from "../harness/results.js";
import { RoundRecorder } from "../harness/round-recorder.js";
import type { ScenarioContext } from "../harness/scenario-context.js";
import { rotate } from "../harness/stats.js";
import type { LatencySummary } from "../client/echo-driver.js";
import type { ImplId } from "../impls/catalog.js";
import { errorMessage, implRows, portOrUnavailable, startServers } from "./common.js";

const ROWS: readonly ImplId[] = ["raw-net", "raw-ws", "socket.io", "repod-tcp", "repod-ws"];
const RAW = { tcp: "raw-net", ws: "raw-ws" } as const;

const COLUMNS: RatioColumn[] = [
  { header: "p50 × raw", metric: "p50Us", against: RAW, chart: true, target: { op: "<=", bound: 1.15 } },
  { header: "p99 × raw", metric: "p99Us", against: RAW, chart: true, target: { op: "<=", bound: 1.15 } },
];

/**
 * Scenario 2: sequential ping-pong, one message in flight, each implementation in turn on a fresh
 * connection. Each round's p50 and p99 come from `latencyCount` round trips.
 */
export async function runLatency(ctx: ScenarioContext): Promise<ScenarioResult[]> {
  const { config } = ctx;
  const started = Date.now();
  const [server, client] = await Promise.all([ctx.spawn("server"), ctx.spawn("client")]);
  const servers = await startServers(server, ROWS);
  const recorder = new RoundRecorder();
  const timeoutMs = Math.max(10_000, (config.latencyCount + config.latencyWarmup) * 2);
  for (let round = 0; round < config.rounds; round++) {
    if (!ctx.startRound(round, config.rounds, "latency")) break;
    for (const id of rotate(ROWS, round)) {
      const port = portOrUnavailable(servers, id, recorder);
      if (port === undefined) continue;
      try {
        const summary = await client.request<LatencySummary>(
          "latency.run",
          { impl: id, port, count: config.latencyCount, warmup: config.latencyWarmup, timeoutMs },
          timeoutMs + 10_000,
        );
        recorder.record(id, round, { p50Us: summary.p50Us, p99Us: summary.p99Us, meanUs: summary.meanUs });
      } catch (error) {
        recorder.fail(id, "error", errorMessage(error));
      }
    }
  }
  return [
    {
      id: "latency",
      title: `2. Ping-pong latency: ${config.latencyCount} sequential round trips per run`,
      status: "ok",
      params: { latencyCount: config.latencyCount, latencyWarmup: config.latencyWarmup, rounds: config.rounds },
      metrics: {
        p50Us: { label: "p50 µs", unit: "µs", better: "lower" },
        p99Us: { label: "p99 µs", unit: "µs", better: "lower" },
        meanUs: { label: "mean µs", unit: "µs", better: "lower" },
      },
      ratioColumns: COLUMNS,
      rows: recorder.rows(implRows(ROWS, { withWriteMode: false }), COLUMNS),
      notes: ctx.notes,
      durationMs: Date.now() - started,
    },
  ];
}
