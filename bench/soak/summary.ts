/**
 * What the soak (bench/soak.ts) concludes and prints: the good client's exchanges and what was
 * lost, the hostile inputs and other attacks tried, what the server saw, and its memory.
 */
import type { ChildExit } from "../harness/role-child.js";
import {
  UNLOGGED_DROPS,
  type AttackerStats,
  type Counts,
  type GoodClientStats,
  type ServerStats,
  type Transport,
} from "./shared.js";

export interface SoakResult {
  readonly config: {
    readonly durationMs: number;
    readonly seed: number;
    readonly fault: string | null;
    readonly serverOptions: object;
  };
  readonly meta: {
    readonly date: string;
    readonly node: string;
    readonly platform: string;
    readonly cores: number;
    readonly loadAverage: { readonly start: number; readonly end: number };
    /** How long the attacks actually ran. */
    readonly attackMs: number;
    readonly durationMs: number;
    /** Every process the soak started. */
    readonly childPids: readonly number[];
  };
  /** How the server process ended, if it did before the end of the run. */
  readonly serverExit: ChildExit | null;
  /** Anything else that went wrong with the soak's own processes. */
  readonly problems: readonly string[];
  readonly server: {
    /** Once started, after a full GC. */
    readonly atStart: ServerStats;
    readonly atAttackEnd: ServerStats | null;
    /** A second after the attackers left and the good client settled (after a full GC, like atStart). */
    readonly atEnd: ServerStats | null;
    readonly samples: readonly { atMs: number; rssMiB: number; heapMiB: number; channels: number }[];
  };
  readonly good: readonly GoodClientStats[];
  readonly attackers: Readonly<Record<string, AttackerStats | null>>;
}

/** The good client's exchange over one transport, both sides' counts put together. */
export interface Exchange {
  readonly transport: Transport;
  /** Numbered messages the client sent, the server received in order, and the echoes back. */
  readonly sent: number;
  readonly serverReceived: number;
  readonly echoed: number;
  /** The server's numbered stream: sent, received. */
  readonly seqSent: number;
  readonly seqReceived: number;
  readonly requests: number;
  readonly answered: number;
  readonly states: number;
  readonly outOfOrder: number;
  readonly lost: number;
  readonly disconnections: number;
}

export interface Verdict {
  readonly passed: boolean;
  readonly lost: number;
  readonly outOfOrder: number;
  readonly exchanges: readonly Exchange[];
  /** Why it failed; empty when it passed. */
  readonly reasons: readonly string[];
}

const TRANSPORTS: readonly Transport[] = ["tcp", "ws"];

export function soakVerdict(result: SoakResult): Verdict {
  const reasons: string[] = [];
  if (result.serverExit !== null) {
    const { code, signal } = result.serverExit;
    reasons.push(`the server crashed (${signal === null ? `exit code ${code}` : signal})`);
  }
  const server = result.server.atEnd ?? result.server.atAttackEnd;
  const exchanges: Exchange[] = TRANSPORTS.map((transport) => {
    const client = result.good.find((stats) => stats.transport === transport);
    const channel = server?.good.find((stats) => stats.transport === transport);
    const sent = client?.sent ?? 0;
    const serverReceived = channel?.received ?? 0;
    const echoed = client?.echoed ?? 0;
    const seqSent = channel?.seqSent ?? 0;
    const seqReceived = client?.seqReceived ?? 0;
    const requests = client?.requests ?? 0;
    const answered = client?.answered ?? 0;
    const lost =
      Math.max(0, sent - serverReceived) +
      Math.max(0, sent - echoed) +
      Math.max(0, seqSent - seqReceived) +
      Math.max(0, requests - answered);
    // After a crash there is nothing to compare with: the crash is the reason.
    if ((client === undefined || channel === undefined) && server !== null) {
      reasons.push(`no good ${transport} exchange to check`);
    }
    if (channel?.connected === false)
      reasons.push(`the good ${transport} connection ended (${channel.closeCode ?? "clean"})`);
    return {
      transport,
      sent,
      serverReceived,
      echoed,
      seqSent,
      seqReceived,
      requests,
      answered,
      states: client?.states ?? 0,
      outOfOrder: (client?.outOfOrder ?? 0) + (channel?.outOfOrder ?? 0),
      lost,
      disconnections: client?.disconnections ?? 0,
    };
  });
  const lost = exchanges.reduce((sum, exchange) => sum + exchange.lost, 0);
  const outOfOrder = exchanges.reduce((sum, exchange) => sum + exchange.outOfOrder, 0);
  if (lost > 0) reasons.push(`${lost} messages lost`);
  if (outOfOrder > 0) reasons.push(`${outOfOrder} messages out of order`);
  for (const exchange of exchanges) {
    if (exchange.disconnections > 0) reasons.push(`the good ${exchange.transport} client was disconnected`);
  }
  const failures = server?.log["receive failed"] ?? 0;
  if (failures > 0) reasons.push(`the library logged ${failures} failures of its own (receive failed)`);
  reasons.push(...result.problems);
  return { passed: reasons.length === 0, lost, outOfOrder, exchanges, reasons };
}

const n = (value: number): string => Math.round(value).toLocaleString("en-US");
const mib = (value: number | undefined): string => (value === undefined ? "–" : `${value.toFixed(1)} MiB`);

/** Lines of `counts`, largest first, indented, with the counts aligned. */
function countLines(counts: Counts, indent = "    "): string[] {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const width = Math.max(0, ...entries.map(([key]) => key.length));
  return entries.map(([key, value]) => `${indent}${key.padEnd(width)}  ${n(value)}`);
}

/** Counts without the entries whose key starts with `prefix`, and those entries' number. */
function split(counts: Counts, prefix: string): { rest: Counts; matching: Counts } {
  const rest: Counts = {};
  const matching: Counts = {};
  for (const [key, value] of Object.entries(counts)) (key.startsWith(prefix) ? matching : rest)[key] = value;
  return { rest, matching };
}

const sum = (counts: Counts): number => Object.values(counts).reduce((total, value) => total + value, 0);

export function renderSoakSummary(result: SoakResult): string {
  const verdict = soakVerdict(result);
  const { meta, config } = result;
  const lines: string[] = [];
  const minutes = meta.attackMs / 60_000;
  lines.push(
    `repod-rx soak: ${minutes >= 1 ? `${minutes.toFixed(1)} min` : `${(meta.attackMs / 1000).toFixed(0)} s`} against one server ` +
      `(TCP + WebSocket on 127.0.0.1, its own process), ${meta.date.slice(0, 10)}, Node ${meta.node}, ${meta.cores} cores, ` +
      `seed ${config.seed}${config.fault === null ? "" : `, fault injected: ${config.fault}`}`,
    `Server options: the defaults, and ${JSON.stringify(config.serverOptions)}. Load average (1 min) ` +
      `${meta.loadAverage.start.toFixed(1)} at the start, ${meta.loadAverage.end.toFixed(1)} at the end.`,
    "",
    "Good client: one repod-rx client per transport, connected for the whole run",
  );
  for (const exchange of verdict.exchanges) {
    lines.push(
      `  ${exchange.transport === "tcp" ? "TCP      " : "WebSocket"}  numbered ${n(exchange.sent)} sent, ${n(exchange.serverReceived)} received ` +
        `by the server, ${n(exchange.echoed)} echoes back; server's own ${n(exchange.seqReceived)} of ${n(exchange.seqSent)}; ` +
        `requests ${n(exchange.answered)} of ${n(exchange.requests)} answered; ${n(exchange.states)} states; ` +
        `out of order ${n(exchange.outOfOrder)}; lost ${n(exchange.lost)}`,
    );
  }
  lines.push(`  Messages lost: ${n(verdict.lost)}`, "");

  const fuzz = result.attackers.fuzz;
  if (fuzz) {
    const poisons = split(fuzz.extra, "poison: ").matching;
    lines.push(
      `Hostile inputs tried: ${n(sum(fuzz.tried))} over ${n(fuzz.connections)} connections (3 at a time, TCP and WebSocket)` +
        ` — ${Object.keys(poisons).length} distinct named poisons`,
      ...countLines(fuzz.tried),
    );
  }
  const churn = result.attackers.churn;
  if (churn) lines.push(`Connection churn: ${n(churn.connections)} connections, by style`, ...countLines(churn.tried));
  const flood = result.attackers.flood;
  const served = result.server.atAttackEnd?.dispatched.flood ?? 0;
  if (flood) {
    lines.push(
      `Floods: ${n(flood.connections)} connections; ${n(flood.extra["flood messages written"] ?? 0)} valid messages written, ` +
        `${n(served)} dispatched by the server (${n(served / (meta.attackMs / 1000))}/s); endings: ` +
        (Object.entries(flood.endings)
          .map(([key, value]) => `${key} ${n(value)}`)
          .join(", ") || "none"),
    );
  }
  const slow = result.attackers.slow;
  if (slow) {
    lines.push(
      `Slow readers: ${n(slow.connections)} connections (${Object.entries(slow.tried)
        .map(([key, value]) => `${key} ${n(value)}`)
        .join(", ")}); endings: ` +
        (Object.entries(slow.endings)
          .map(([key, value]) => `${key} ${n(value)}`)
          .join(", ") || "none"),
    );
  }
  const server = result.server.atEnd ?? result.server.atAttackEnd;
  if (server) {
    const floodAfter = (server.dispatched.flood ?? 0) - (result.server.atAttackEnd?.dispatched.flood ?? 0);
    const { matching: drops, rest: log } = split(server.log, "dropped ERR_");
    lines.push(
      "",
      `Server: ${n(server.accepted)} connections accepted, ${n(server.statesBroadcast)} states broadcast`,
      `  a second after the attackers left: ${n(server.channels)} connections still open ` +
        `(${Object.entries(server.open)
          .map(([role, count]) => `${role} ${n(count)}`)
          .join(", ")}); ${n(floodAfter)} flood messages dispatched after the attacks ended` +
        ((server.open.flooder ?? 0) > 0
          ? ": a flooder's connection stays until the server has worked, at the rate limit, through what " +
            "it had sent before it left"
          : ""),
      "  connections ended with an error, by code:",
      ...countLines(split(server.closes, "ended").rest),
      `  invalid messages dropped: ${n(sum(drops) + (log[UNLOGGED_DROPS] ?? 0))} in all; ` +
        "by code, the first ones of each connection (the ones logged one by one):",
      ...countLines(drops),
      "  other log events:",
      ...countLines(split(log, UNLOGGED_DROPS).rest),
    );
    if (server.failures.length > 0) lines.push("  library failures:", ...server.failures.map((line) => `    ${line}`));
  }
  const samples = result.server.samples;
  const peak = samples.reduce((max, sample) => Math.max(max, sample.rssMiB), 0);
  const warm = samples.find((sample) => sample.atMs >= 10_000) ?? samples[0];
  lines.push(
    `Server RSS: ${mib(result.server.atStart.rssMiB)} at the start (after a full GC), ${mib(warm?.rssMiB)} after warming up (${((warm?.atMs ?? 0) / 1000).toFixed(0)} s), ` +
      `${mib(result.server.atAttackEnd?.rssMiB)} at the end of the attacks (peak ${mib(peak || undefined)}), ` +
      `${mib(result.server.atEnd?.rssMiB)} once they left (after a full GC); heap ${mib(result.server.atStart.heapMiB)} → ${mib(result.server.atEnd?.heapMiB)}`,
  );
  if (result.serverExit !== null)
    lines.push(`Server process ended during the run: ${JSON.stringify(result.serverExit)}`);
  lines.push(
    "",
    verdict.passed
      ? `PASSED: nothing lost, nothing out of order, the server up for the whole run.`
      : `FAILED: ${verdict.reasons.join("; ")}`,
  );
  return lines.join("\n");
}
