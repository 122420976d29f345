import type { BenchChild } from "../harness/bench-child.js";
import type { RatioColumn, ScenarioResult } from "../harness/results.js";
import { RoundRecorder } from "../harness/round-recorder.js";
import type { ScenarioContext } from "../harness/scenario-context.js";
import { rotate } from "../harness/stats.js";
import { IMPLS, type ImplId } from "../impls/catalog.js";
import type { FanoutOutcome } from "../server/fanout-ticker.js";
import { closeLinks, errorMessage, implRows, openLinks, pollUntil, portOrUnavailable, startServers } from "./common.js";

const ROWS: readonly ImplId[] = ["raw-net", "raw-ws", "socket.io", "repod-tcp", "repod-ws"];

const COLUMNS: RatioColumn[] = [
  {
    header: "CPU/tick × raw",
    metric: "cpuMsPerTick",
    against: { tcp: "raw-net", ws: "raw-ws" },
    chart: true,
    target: { op: "<=", bound: 1.15 },
  },
  {
    header: "CPU/tick × socket.io",
    metric: "cpuMsPerTick",
    against: { tcp: "socket.io", ws: "socket.io" },
    chart: false,
    target: { op: "<=", bound: 0.6 },
  },
];

/**
 * Scenario 3: the server broadcasts a ~200-byte state to every client at `fanoutHz`. Clients are
 * spread over `fanoutProcs` client processes and count what they receive; the server process
 * measures its CPU per tick.
 */
export async function runFanout(ctx: ScenarioContext): Promise<ScenarioResult[]> {
  const { config } = ctx;
  const started = Date.now();
  const [server, ...clients] = await Promise.all([
    ctx.spawn("server"),
    ...Array.from({ length: config.fanoutProcs }, () => ctx.spawn("client")),
  ]);
  const servers = await startServers(server!, ROWS);
  const recorder = new RoundRecorder();
  let stateBytes = 0;
  for (let round = 0; round < config.fanoutRounds; round++) {
    if (!ctx.startRound(round, config.fanoutRounds, "fan-out")) break;
    for (const id of rotate(ROWS, round)) {
      const port = portOrUnavailable(servers, id, recorder);
      if (port === undefined) continue;
      try {
        const outcome = await fanoutOnce(ctx, server!, clients, id, port);
        stateBytes = outcome.stateBytes;
        recorder.record(id, round, {
          cpuMsPerTick: outcome.cpuMicros / outcome.ticks / 1000,
          deliveredPercent: outcome.deliveredPercent,
          achievedHz: outcome.achievedHz,
        });
      } catch (error) {
        recorder.fail(id, "error", errorMessage(error));
      } finally {
        await closeLinks(clients, 20_000);
      }
    }
  }
  return [
    {
      id: "fanout",
      title: `3. Broadcast fan-out: ${config.fanoutClients} clients at ${config.fanoutHz} Hz, ${stateBytes}-byte state`,
      status: "ok",
      params: {
        fanoutClients: config.fanoutClients,
        fanoutProcs: config.fanoutProcs,
        fanoutHz: config.fanoutHz,
        fanoutTicks: config.fanoutTicks,
        fanoutWarmupTicks: config.fanoutWarmupTicks,
        rounds: config.fanoutRounds,
        stateBytes,
      },
      metrics: {
        cpuMsPerTick: { label: "server CPU ms/tick", unit: "ms", better: "lower" },
        deliveredPercent: { label: "delivered %", unit: "%", better: "higher" },
        achievedHz: { label: "ticks/s", unit: "Hz", better: "higher" },
      },
      ratioColumns: COLUMNS,
      rows: recorder.rows(implRows(ROWS, { withWriteMode: false }), COLUMNS),
      notes: ctx.notes,
      durationMs: Date.now() - started,
    },
  ];
}

async function fanoutOnce(
  ctx: ScenarioContext,
  server: BenchChild,
  clients: readonly BenchChild[],
  id: ImplId,
  port: number,
): Promise<FanoutOutcome & { deliveredPercent: number }> {
  const { config } = ctx;
  const key = IMPLS[id].server;
  await openLinks(server, clients, id, port, config.fanoutClients, config.connectConcurrency);
  const totalTicks = config.fanoutTicks + config.fanoutWarmupTicks;
  const outcome = await server.request<FanoutOutcome>(
    "fanout.run",
    { server: key, ticks: config.fanoutTicks, warmupTicks: config.fanoutWarmupTicks, hz: config.fanoutHz },
    (totalTicks / config.fanoutHz) * 1000 * 10 + 10_000,
  );
  const expected = config.fanoutClients * totalTicks;
  const received = async (): Promise<number> => {
    const answers = await Promise.all(clients.map((client) => client.request<{ received: number }>("links.count")));
    return answers.reduce((sum, answer) => sum + answer.received, 0);
  };
  const delivered = await pollUntil(received, expected, 5_000);
  return { ...outcome, deliveredPercent: (delivered / expected) * 100 };
}
