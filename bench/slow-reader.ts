/**
 * The slow reader row: a 60 Hz state stream of about 2 KB per tick to 100 clients, one of which
 * falls to reading a tenth of the stream's bytes per second for 30 s, in three modes in the same
 * run: `sendToAll(state, { latest: "state" })` (a newer state replaces one still waiting unsent)
 * with resumable sessions, whose acknowledgements pace each player (the server hands the socket
 * at most `resume.maxInFlightBytes` that the player has not acknowledged, and keeps the rest where
 * latest-wins can replace it); the same without sessions (the kernels' socket buffers take what
 * the slow peer does not read, out of the library's reach); and without the option (every state
 * queued).
 *
 *   node --import tsx bench/slow-reader.ts [--quick] [--out DIR] [--seconds N] [--rounds N]
 *   npm run bench -- --only slow-reader
 *
 * Three child processes per measurement, all on 127.0.0.1 (bench/slow-reader-child.ts): the
 * server, 99 repod-rx clients that read at full speed, and the slow peer, a raw TCP socket that
 * reads at full speed during a warm-up, then at a tenth of the stream's byte rate (with sessions,
 * it says hello and acknowledges what it reads, as a repod-rx client does). Each mode gets
 * fresh processes, in each of 2 rounds (`--rounds N`), the order of the modes rotated by round. Reported: whether the slow peer was cut off; how old the newest state it held
 * was (sampled every 100 ms); the backlog the spell left (what the slow peer reads at full speed
 * after the window before it gets a state sent after the window: the server's queue and both
 * kernels' socket buffers); the ticks it never got (replaced while they waited); the most the
 * server itself held for it (`bufferedAmount`, sampled every 50 ms); the server's RSS, and its heap
 * plus array buffers, after a full GC at the start and the end of the spell; and for the other 99, the ticks delivered, on time
 * (within one tick period of being sent), and their latency. Checks: the slow peer is never cut
 * off, RSS at the end at most 10 % over the start, the others get every tick with a p99 latency under
 * one tick period. `--quick` runs a 3-second spell, `--seconds N` one of N seconds. Prints a table
 * and writes results-slow-reader.json in bench/ (or `--out DIR`; a quick run only with `--out`).
 */
import * as os from "node:os";
import { fileURLToPath } from "node:url";
import { killAllRoleChildren, RoleChild, startedRolePids } from "./harness/role-child.js";
import { rotate, summarize, type Summary } from "./harness/stats.js";
import { formatNumber, formatSummary, renderColumns } from "./report/format.js";
import type { CatchUpReport, ServerWindow, SlowReport, ViewersReport } from "./slow-reader-child.js";
import { runBenchEntry } from "./harness/bench-entry.js";
import { machine, writeResults } from "./harness/machine.js";

const CHILD = fileURLToPath(new URL("./slow-reader-child.ts", import.meta.url));
const CHECKS = { rssGrowth: 0.1 } as const;

interface Config {
  readonly quick: boolean;
  readonly rounds: number;
  /** Clients in all, the slow one included. */
  readonly clients: number;
  readonly hz: number;
  /** Bytes of one state on the wire, about (its frame header included). */
  readonly stateBytes: number;
  /** The slow peer reads the stream's bytes per second divided by this. */
  readonly slowFactor: number;
  /** Everyone reads at full speed for this long first. */
  readonly warmupMs: number;
  /** How long the slow peer reads slowly: the measured window. */
  readonly windowMs: number;
  readonly sampleMs: number;
  readonly deadlineMs: number;
  readonly outDir: string | null;
}

function readArgs(argv: readonly string[]): Config {
  const quick = argv.includes("--quick");
  let outDir: string | null = null;
  let seconds: number | null = null;
  let rounds: number | null = null;
  const number = (flag: string, value: string | undefined): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed <= 0) throw new TypeError(`slow-reader: ${flag} takes a positive number`);
    return parsed;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--out") outDir = argv[++i] ?? null;
    else if (arg.startsWith("--out=")) outDir = arg.slice("--out=".length);
    else if (arg === "--seconds") seconds = number(arg, argv[++i]);
    else if (arg === "--rounds") rounds = Math.ceil(number(arg, argv[++i]));
    else if (arg !== "--quick") throw new TypeError(`slow-reader: unexpected argument ${JSON.stringify(arg)}`);
  }
  if (!quick) outDir ??= fileURLToPath(new URL(".", import.meta.url));
  const windowMs = (seconds ?? (quick ? 3 : 30)) * 1000;
  const warmupMs = quick ? 1_000 : 3_000;
  return {
    quick,
    // Two rounds by default, the order of the modes swapped in the second: neither always runs first.
    rounds: rounds ?? (quick ? 1 : 2),
    clients: 100,
    hz: 60,
    stateBytes: 2048,
    slowFactor: 10,
    warmupMs,
    windowMs,
    sampleMs: 100,
    // Per measurement: three process starts, 99 connections, the warm-up, the window, the reports.
    deadlineMs: (rounds ?? 2) * 3 * (warmupMs + windowMs + 40_000) + 30_000,
    outDir,
  };
}

/** What one measurement of one mode gave. */
interface ModeResult {
  readonly server: ServerWindow;
  readonly viewers: ViewersReport;
  readonly slow: SlowReport;
  readonly catchUp: CatchUpReport;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What the server does, one row each. */
interface Mode {
  readonly label: string;
  /** `sendToAll(state, { latest: "state" })` rather than `sendToAll(state)`. */
  readonly latest: boolean;
  /** Resumable sessions for every player: each acknowledges what it reads, the server paces by it. */
  readonly sessions: boolean;
}

async function measureMode({ latest, sessions }: Mode, config: Config): Promise<ModeResult> {
  const lifetime = config.warmupMs + config.windowMs + 60_000;
  const children = await Promise.all(
    (["server", "viewers", "slow"] as const).map((role) =>
      RoleChild.start(CHILD, role, lifetime, role === "server" ? { execArgv: ["--expose-gc"] } : {}),
    ),
  );
  const [server, viewers, slow] = children as [RoleChild, RoleChild, RoleChild];
  try {
    const { port, stateBytes } = await server.request<{ port: number; stateBytes: number }>("start", {
      latest,
      sessions,
      hz: config.hz,
      stateBytes: config.stateBytes,
    });
    await viewers.request("connect", { port, count: config.clients - 1, sessions }, 60_000);
    await slow.request("connect", { port, sessions });
    await sleep(config.warmupMs);
    // The viewers record first: the ticks before the window's first one are filtered out later.
    await viewers.request("window.start");
    const started = await server.request<{ from: number; channels: number; slowKnown: boolean }>("window.start");
    if (started.channels !== config.clients || !started.slowKnown) {
      throw new Error(
        `${started.channels} of ${config.clients} clients connected (slow peer known: ${started.slowKnown})`,
      );
    }
    // A tenth of what the socket carries (`stateBytes` counts the frame's header).
    const bytesPerSecond = (stateBytes * config.hz) / config.slowFactor;
    await slow.request("throttle", { bytesPerSecond, sampleMs: config.sampleMs });
    await sleep(config.windowMs);
    const window = await server.request<ServerWindow>("window.stop");
    const slowReport = await slow.request<SlowReport>("report");
    const catchUp = await slow.request<CatchUpReport>("catchUp", { timeoutMs: 20_000 }, 30_000);
    const viewersReport = await viewers.request<ViewersReport>("report", {
      from: window.from,
      to: window.to,
      periodMs: 1000 / config.hz,
    });
    return { server: window, viewers: viewersReport, slow: slowReport, catchUp };
  } finally {
    await Promise.all(children.map((child) => child.stop()));
  }
}

interface Row {
  readonly label: string;
  readonly latest: boolean;
  readonly sessions: boolean;
  readonly rounds: ModeResult[];
  readonly cutOff: number;
  readonly closeCodes: string[];
  readonly stalenessP50Ms: Summary;
  readonly stalenessP99Ms: Summary;
  readonly stalenessMaxMs: Summary;
  readonly slowStatesRead: Summary;
  /** What the slow peer read at full speed after the window before a fresh state: the backlog. */
  readonly backlogMiB: Summary;
  readonly backlogStates: Summary;
  /** Ticks the slow peer never got (replaced while they waited). */
  readonly skippedTicks: Summary;
  readonly backlogMaxKiB: Summary;
  readonly rssStartMiB: Summary;
  readonly rssEndMiB: Summary;
  readonly rssGrowth: Summary;
  /** V8's heap plus array buffers (where waiting frames live), after GC. */
  readonly heapStartMiB: Summary;
  readonly heapEndMiB: Summary;
  readonly viewersDeliveredPercent: Summary;
  readonly viewersOnTimePercent: Summary;
  readonly viewersP50Ms: Summary;
  readonly viewersP99Ms: Summary;
  readonly viewersMaxMs: Summary;
  readonly achievedHz: Summary;
  readonly cpuMsPerTick: Summary;
  readonly stateBytes: number;
  /** Whether every check held in every round. */
  readonly met: boolean;
  readonly error?: string;
}

function row({ label, latest, sessions }: Mode, rounds: ModeResult[], config: Config, error?: string): Row {
  const of = (pick: (round: ModeResult) => number): Summary => summarize(rounds.map(pick));
  const cutOff = (round: ModeResult): boolean => round.slow.cutOff || !round.server.slowConnected;
  const periodMs = 1000 / config.hz;
  const met =
    error === undefined &&
    rounds.length > 0 &&
    rounds.every(
      (round) =>
        !cutOff(round) &&
        round.catchUp.caughtUp &&
        round.server.rssEndMiB / round.server.rssStartMiB - 1 <= CHECKS.rssGrowth &&
        round.viewers.delivered === round.viewers.expected &&
        round.viewers.outOfOrder === 0 &&
        round.viewers.latencyP99Ms <= periodMs,
    );
  return {
    label,
    latest,
    sessions,
    rounds,
    cutOff: rounds.filter(cutOff).length,
    closeCodes: rounds.flatMap((round) => (round.server.slowCloseCode === null ? [] : [round.server.slowCloseCode])),
    stalenessP50Ms: of((round) => round.slow.stalenessP50Ms),
    stalenessP99Ms: of((round) => round.slow.stalenessP99Ms),
    stalenessMaxMs: of((round) => round.slow.stalenessMaxMs),
    slowStatesRead: of((round) => round.slow.statesRead),
    backlogMiB: of((round) => round.catchUp.bytes / 2 ** 20),
    backlogStates: of((round) => round.catchUp.states),
    skippedTicks: of((round) => round.catchUp.skippedTicks),
    backlogMaxKiB: of((round) => round.server.backlogMaxBytes / 1024),
    rssStartMiB: of((round) => round.server.rssStartMiB),
    rssEndMiB: of((round) => round.server.rssEndMiB),
    rssGrowth: of((round) => round.server.rssEndMiB / round.server.rssStartMiB - 1),
    heapStartMiB: of((round) => round.server.heapStartMiB + round.server.buffersStartMiB),
    heapEndMiB: of((round) => round.server.heapEndMiB + round.server.buffersEndMiB),
    viewersDeliveredPercent: of((round) => (100 * round.viewers.delivered) / round.viewers.expected),
    viewersOnTimePercent: of((round) => (100 * round.viewers.onTime) / round.viewers.expected),
    viewersP50Ms: of((round) => round.viewers.latencyP50Ms),
    viewersP99Ms: of((round) => round.viewers.latencyP99Ms),
    viewersMaxMs: of((round) => round.viewers.latencyMaxMs),
    achievedHz: of((round) => round.server.achievedHz),
    cpuMsPerTick: of((round) => round.server.cpuMsPerTick),
    stateBytes: rounds[0]?.server.stateBytes ?? 0,
    met,
    ...(error === undefined ? {} : { error }),
  };
}

function renderTable(rows: readonly Row[], config: Config, load: readonly number[]): string {
  const seconds = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) : "–");
  const percent = (value: number): string => (Number.isFinite(value) ? value.toFixed(value === 100 ? 0 : 2) : "–");
  const header = [
    "",
    "slow peer cut off",
    "staleness s p50 / p99 / max",
    "states it read",
    "backlog at the end MiB (states)",
    "server held KiB, max",
    "ticks it never got",
    "server MiB start → end, after GC",
    "server CPU ms/tick",
    "others: delivered %",
    "on time %",
    "latency ms p50 / p99 / max",
    "checks",
  ];
  const lines = rows.map((r) => {
    if (r.error !== undefined) return [r.label, `error: ${r.error}`];
    const growth = `${r.rssGrowth.median >= 0 ? "+" : ""}${(r.rssGrowth.median * 100).toFixed(1)} %`;
    return [
      r.label,
      r.cutOff === 0 ? "no" : `${r.cutOff} of ${r.rounds.length} (${r.closeCodes.join(", ") || "socket closed"})`,
      `${seconds(r.stalenessP50Ms.median)} / ${seconds(r.stalenessP99Ms.median)} / ${seconds(r.stalenessMaxMs.median)}`,
      formatSummary(r.slowStatesRead),
      `${formatNumber(r.backlogMiB.median)} (${formatNumber(r.backlogStates.median)})`,
      formatSummary(r.backlogMaxKiB),
      formatSummary(r.skippedTicks),
      `RSS ${formatNumber(r.rssStartMiB.median)} → ${formatNumber(r.rssEndMiB.median)} (${growth}), ` +
        `heap + buffers ${formatNumber(r.heapStartMiB.median)} → ${formatNumber(r.heapEndMiB.median)}`,
      formatSummary(r.cpuMsPerTick),
      formatSummary(r.viewersDeliveredPercent, percent),
      formatSummary(r.viewersOnTimePercent, percent),
      `${formatNumber(r.viewersP50Ms.median)} / ${formatNumber(r.viewersP99Ms.median)} / ${formatNumber(r.viewersMaxMs.median)}`,
      r.met ? "met" : "MISSED",
    ];
  });
  const stateBytes = rows.find((r) => r.stateBytes > 0)?.stateBytes ?? config.stateBytes;
  const period = (1000 / config.hz).toFixed(1);
  return [
    `Slow reader: a ${config.hz} Hz state of ${stateBytes} bytes to ${config.clients} TCP clients; one reads a ` +
      `tenth of the stream's bytes per second for ${config.windowMs / 1000} s, ${config.rounds} round(s)` +
      (config.quick ? " (quick mode: too short for conclusions)" : ""),
    `Load average (1 min) ${load[0]!.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end. ` +
      `Figures with several rounds: median (min–max); staleness and latency columns: medians.`,
    `Checks: the slow peer is never cut off; server RSS at the end at most ${CHECKS.rssGrowth * 100} % over the start; ` +
      `the other ${config.clients - 1} get every tick, in order, with a p99 latency under one tick period (${period} ms). ` +
      `On time: within ${period} ms of being sent.`,
    renderColumns([header, ...lines])
      .split("\n")
      .map((line) => `  ${line}`)
      .join("\n"),
  ].join("\n");
}

async function main(config: Config): Promise<number> {
  const started = Date.now();
  const load = os.loadavg();
  const modes: readonly Mode[] = [
    { label: "latest, with sessions (paced by acknowledgements)", latest: true, sessions: true },
    { label: 'sendToAll(state, { latest: "state" })', latest: true, sessions: false },
    { label: "sendToAll(state), every state queued", latest: false, sessions: false },
  ];
  const results = new Map<Mode, ModeResult[]>(modes.map((mode) => [mode, []]));
  const errors = new Map<Mode, string>();
  for (let round = 0; round < config.rounds; round++) {
    for (const mode of rotate(modes, round)) {
      if (errors.has(mode)) continue;
      process.stderr.write(`  slow reader, ${mode.label}: round ${round + 1}/${config.rounds}\n`);
      try {
        results.get(mode)!.push(await measureMode(mode, config));
      } catch (caught) {
        errors.set(mode, caught instanceof Error ? caught.message.split("\n")[0]! : String(caught));
      }
    }
  }
  const rows = modes.map((mode) => row(mode, results.get(mode)!, config, errors.get(mode)));
  process.stdout.write(`${renderTable(rows, config, load)}\n`);
  if (config.outDir !== null) {
    const output = {
      meta: {
        date: new Date(started).toISOString(),
        ...machine(),
        quick: config.quick,
        config,
        checks: CHECKS,
        durationMs: Date.now() - started,
        loadAverage: { start: load, end: os.loadavg() },
        childPids: startedRolePids,
      },
      rows,
    };
    const file = await writeResults(config.outDir, "results-slow-reader.json", output);
    process.stderr.write(`wrote ${file} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return rows.some((r) => r.error !== undefined) ? 1 : 0;
}

await runBenchEntry({ name: "slow-reader", readArgs, main, killChildren: killAllRoleChildren });
