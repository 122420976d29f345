import type { BenchChild } from "../harness/bench-child.js";
import type { RatioColumn, ScenarioId, ScenarioResult } from "../harness/results.js";
import { RoundRecorder } from "../harness/round-recorder.js";
import type { ScenarioContext } from "../harness/scenario-context.js";
import { rotate } from "../harness/stats.js";
import type { ImplId } from "../impls/catalog.js";
import { errorMessage, implRows, portOrUnavailable, startServers, type ServerPorts } from "./common.js";

const ECHO_ROWS: readonly ImplId[] = [
  "raw-net",
  "raw-net-coalesced",
  "raw-ws",
  "raw-ws-coalesced",
  "socket.io",
  "repod-tcp",
  "repod-ws",
];
const REACTIVE_ROWS: readonly ImplId[] = ["repod-tcp-rx", "repod-ws-rx"];
/** What the reactive rows need to be compared with. */
const REACTIVE_BASELINES: readonly ImplId[] = ["raw-net-coalesced", "raw-ws-coalesced", "repod-tcp", "repod-ws"];

const RAW_COALESCED = { tcp: "raw-net-coalesced", ws: "raw-ws-coalesced" } as const;

const ECHO_COLUMNS: RatioColumn[] = [
  {
    header: "throughput × raw coalesced",
    metric: "roundTripsPerSec",
    against: RAW_COALESCED,
    chart: true,
    target: { op: ">=", bound: 0.9 },
  },
  {
    header: "throughput × socket.io",
    metric: "roundTripsPerSec",
    against: { tcp: "socket.io", ws: "socket.io" },
    chart: false,
    target: { op: ">=", bound: 3 },
  },
  { header: "server CPU × raw coalesced", metric: "serverCpuUsPerMsg", against: RAW_COALESCED, chart: false },
];

const REACTIVE_COLUMNS: RatioColumn[] = [
  { header: "throughput × raw coalesced", metric: "roundTripsPerSec", against: RAW_COALESCED, chart: true },
  {
    header: "throughput × Network_* handlers",
    metric: "roundTripsPerSec",
    against: { tcp: "repod-tcp", ws: "repod-ws" },
    chart: false,
  },
];

const ECHO_METRICS = {
  roundTripsPerSec: { label: "round trips/s", unit: "1/s", better: "higher" },
  serverCpuUsPerMsg: { label: "server CPU µs/msg", unit: "µs", better: "lower" },
} as const;

/**
 * Scenarios 1 and 6, measured in the same rounds: pipelined echo throughput of every
 * implementation, and of the repod-rx client consuming through `on(action).pipe(...)`. One server
 * process hosts every server; one client process drives one implementation at a time, in an order
 * rotated each round.
 */
export async function runEcho(ctx: ScenarioContext, ids: readonly ScenarioId[]): Promise<ScenarioResult[]> {
  const { config } = ctx;
  const started = Date.now();
  const withEcho = ids.includes("echo");
  const withReactive = ids.includes("reactive");
  const impls = [
    ...new Set([...(withEcho ? ECHO_ROWS : []), ...(withReactive ? [...REACTIVE_BASELINES, ...REACTIVE_ROWS] : [])]),
  ];
  const [server, client] = await Promise.all([ctx.spawn("server"), ctx.spawn("client")]);
  const ports = await startServers(server, impls);
  const recorder = new RoundRecorder();
  const timeoutMs = Math.max(10_000, (config.echoCount / 2_000) * 1_000);
  for (let round = 0; round < config.rounds; round++) {
    if (!ctx.startRound(round, config.rounds, "echo")) break;
    for (const id of rotate(impls, round)) {
      await echoOnce(id, round, { server, client, ports, recorder, timeoutMs, config: ctx.config });
    }
  }
  const params = {
    echoCount: config.echoCount,
    echoWarmup: config.echoWarmup,
    echoWindow: config.echoWindow,
    rounds: config.rounds,
    message: '{ action: "move", id: 42, x: 123.5, y: -7.25, seq }',
  };
  const durationMs = Date.now() - started;
  const results: ScenarioResult[] = [];
  if (withEcho) {
    results.push({
      id: "echo",
      title: `1. Pipelined echo: ${config.echoCount} round trips, ${config.echoWindow} in flight`,
      status: "ok",
      params,
      metrics: ECHO_METRICS,
      ratioColumns: ECHO_COLUMNS,
      rows: recorder.rows(implRows(ECHO_ROWS, { withWriteMode: true }), ECHO_COLUMNS),
      notes: ctx.notes,
      durationMs,
    });
  }
  if (withReactive) {
    results.push({
      id: "reactive",
      title: "6. Reactive path: the echo client consuming through on(action).pipe(filter(...))",
      status: "ok",
      params,
      metrics: { roundTripsPerSec: ECHO_METRICS.roundTripsPerSec },
      ratioColumns: REACTIVE_COLUMNS,
      rows: recorder.rows(implRows(REACTIVE_ROWS, { withWriteMode: true }), REACTIVE_COLUMNS),
      notes: ctx.notes,
      durationMs,
    });
  }
  return results;
}

interface EchoRig {
  readonly server: BenchChild;
  readonly client: BenchChild;
  readonly ports: ServerPorts;
  readonly recorder: RoundRecorder;
  readonly timeoutMs: number;
  readonly config: ScenarioContext["config"];
}

async function echoOnce(id: ImplId, round: number, rig: EchoRig): Promise<void> {
  const { server, client, ports, recorder, timeoutMs, config } = rig;
  const port = portOrUnavailable(ports, id, recorder);
  if (port === undefined) return;
  try {
    await client.request("echo.open", { impl: id, port, warmup: config.echoWarmup, window: config.echoWindow }, 60_000);
    await server.request("cpu.start");
    const { elapsedNs } = await client.request<{ elapsedNs: number }>(
      "echo.run",
      { count: config.echoCount, window: config.echoWindow, timeoutMs },
      timeoutMs + 5_000,
    );
    const { cpuMicros } = await server.request<{ cpuMicros: number }>("cpu.stop");
    recorder.record(id, round, {
      roundTripsPerSec: config.echoCount / (elapsedNs / 1e9),
      serverCpuUsPerMsg: cpuMicros / config.echoCount,
    });
  } catch (error) {
    recorder.fail(id, "error", errorMessage(error));
    await server.request("cpu.stop").catch(() => {});
  } finally {
    await client.request("echo.close", {}, 10_000).catch(() => {});
  }
}
