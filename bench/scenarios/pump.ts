import type { RatioColumn, ScenarioResult } from "../harness/results.js";
import { RoundRecorder } from "../harness/round-recorder.js";
import type { ScenarioContext } from "../harness/scenario-context.js";
import type { PumpSample } from "../client/pump-probe.js";
import { startServers } from "./common.js";

const COLUMNS: RatioColumn[] = [
  {
    header: "× switch loop",
    metric: "nsPerMsg",
    against: { "in-process": "switch" },
    chart: true,
    target: { op: "<=", bound: 2 },
  },
];

/**
 * Scenario 4: the cost of `pump()` per message. The server sends a burst of mixed actions; the
 * client lets it arrive without pumping, then times one `pump()` of the whole queue and one plain
 * `switch` loop over the same message objects calling the same handlers, in alternating order.
 */
export async function runPump(ctx: ScenarioContext): Promise<ScenarioResult[]> {
  const { config } = ctx;
  const started = Date.now();
  const [server, client] = await Promise.all([ctx.spawn("server"), ctx.spawn("client")]);
  const { ports } = await startServers(server, ["repod-tcp"]);
  await client.request("pump.open", { port: ports["repod-tcp"] }, 20_000);
  const recorder = new RoundRecorder();
  const total = config.pumpWarmup + config.pumpRounds;
  for (let burst = 0; burst < total; burst++) {
    if (burst >= config.pumpWarmup && !ctx.startRound(burst - config.pumpWarmup, config.pumpRounds, "pump")) break;
    await client.request("pump.arm");
    await server.request("burst", { server: "repod-tcp", count: config.pumpMessages }, 20_000);
    const sample = await client.request<PumpSample>(
      "pump.measure",
      { count: config.pumpMessages, switchFirst: burst % 2 === 1 },
      20_000,
    );
    const round = burst - config.pumpWarmup;
    if (round < 0) continue;
    recorder.record("pump", round, { nsPerMsg: sample.pumpNs / sample.dispatched });
    recorder.record("switch", round, { nsPerMsg: sample.switchNs / sample.dispatched });
  }
  return [
    {
      id: "pump",
      title: `4. Pump cost: one pump() of ${config.pumpMessages} queued messages of 4 actions`,
      status: "ok",
      params: { pumpMessages: config.pumpMessages, pumpRounds: config.pumpRounds, pumpWarmup: config.pumpWarmup },
      metrics: { nsPerMsg: { label: "ns/msg", unit: "ns", better: "lower" } },
      ratioColumns: COLUMNS,
      rows: recorder.rows(
        [
          { id: "switch", label: "plain switch loop over the array", transport: "in-process", subject: false },
          { id: "pump", label: "repod-rx pump() → Network_* handlers", transport: "in-process", subject: true },
        ],
        COLUMNS,
      ),
      notes: ctx.notes,
      durationMs: Date.now() - started,
    },
  ];
}
