import type { BenchChild } from "../harness/bench-child.js";
import type { RatioColumn, ScenarioResult } from "../harness/results.js";
import { RoundRecorder } from "../harness/round-recorder.js";
import type { ScenarioContext } from "../harness/scenario-context.js";
import { rotate } from "../harness/stats.js";
import type { ImplId } from "../impls/catalog.js";
import { closeLinks, errorMessage, implRows, openLinks, portOrUnavailable, startServers } from "./common.js";

const ROWS: readonly ImplId[] = ["raw-net", "raw-ws", "socket.io", "repod-tcp", "repod-ws"];
const RAW = { tcp: "raw-net", ws: "raw-ws" } as const;

const COLUMNS: RatioColumn[] = [
  { header: "RSS × raw", metric: "rssKiBPerConn", against: RAW, chart: true, target: { op: "<=", bound: 1.3 } },
  { header: "heap × raw", metric: "heapKiBPerConn", against: RAW, chart: false },
];

interface Memory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
}

/**
 * Scenario 5: memory per idle connection. For each implementation and round a fresh server
 * process measures itself (after full garbage collections) before and after `memoryClients`
 * idle clients have connected; the difference is divided by the number of clients.
 */
export async function runMemory(ctx: ScenarioContext): Promise<ScenarioResult[]> {
  const { config } = ctx;
  const started = Date.now();
  const clients = await Promise.all(Array.from({ length: config.memoryProcs }, () => ctx.spawn("client")));
  const recorder = new RoundRecorder();
  // The next server process starts while the current one is measured: starting a process takes
  // longer than measuring, and the measurement is of memory, which another process does not touch.
  const spawnServer = (): Promise<BenchChild> => {
    const spawned = ctx.spawn("server");
    spawned.catch(() => {});
    return spawned;
  };
  let nextServer = spawnServer();
  for (let round = 0; round < config.memoryRounds; round++) {
    if (!ctx.startRound(round, config.memoryRounds, "memory")) break;
    for (const [index, id] of rotate(ROWS, round).entries()) {
      if (recorder.unavailable(id)) continue;
      const server = await nextServer;
      const last = round === config.memoryRounds - 1 && index === ROWS.length - 1;
      if (!last) nextServer = spawnServer();
      try {
        const port = portOrUnavailable(await startServers(server, [id]), id, recorder);
        if (port !== undefined) recorder.record(id, round, await measureOnce(ctx, server, clients, id, port));
      } catch (error) {
        recorder.fail(id, "error", errorMessage(error));
      } finally {
        await closeLinks(clients, 30_000);
        await ctx.retire(server);
      }
    }
  }
  return [
    {
      id: "memory",
      title: `5. Memory per idle connection: ${config.memoryClients} clients, fresh server process each run`,
      status: "ok",
      params: { memoryClients: config.memoryClients, memoryProcs: config.memoryProcs, rounds: config.memoryRounds },
      metrics: {
        rssKiBPerConn: { label: "RSS KiB/conn", unit: "KiB", better: "lower" },
        heapKiBPerConn: { label: "heap KiB/conn", unit: "KiB", better: "lower" },
        externalKiBPerConn: { label: "external KiB/conn", unit: "KiB", better: "lower" },
      },
      ratioColumns: COLUMNS,
      rows: recorder.rows(implRows(ROWS, { withWriteMode: false }), COLUMNS),
      notes: ctx.notes,
      durationMs: Date.now() - started,
    },
  ];
}

async function measureOnce(
  ctx: ScenarioContext,
  server: BenchChild,
  clients: readonly BenchChild[],
  id: ImplId,
  port: number,
): Promise<Record<string, number>> {
  const { config } = ctx;
  const before = await server.request<Memory>("memory", {}, 20_000);
  await openLinks(server, clients, id, port, config.memoryClients, config.connectConcurrency);
  // Let handshakes and greetings settle before measuring.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const after = await server.request<Memory>("memory", {}, 20_000);
  const perConnection = (bytes: number): number => bytes / 1024 / config.memoryClients;
  return {
    rssKiBPerConn: perConnection(after.rss - before.rss),
    heapKiBPerConn: perConnection(after.heapUsed - before.heapUsed),
    externalKiBPerConn: perConnection(after.external - before.external),
  };
}
