/**
 * The flood isolation row: what one client that floods tiny valid messages does to a good
 * player's round trips, with the default `rateLimit` and with `rateLimit: false`, side by side.
 *
 *   node --import tsx bench/flood-isolation.ts [--quick] [--out DIR]
 *   npm run bench -- --only flood-isolation
 *
 * Three kinds of child processes on 127.0.0.1, so that neither the flood's cost nor the player's
 * lands in the server's process: a repod-rx `Server` (default options, or `rateLimit: false`)
 * whose channel answers `{ action: "ping", n }` with `pong` and counts `flood` messages; a flooder
 * that writes `{ action: "flood", n }` frames as fast as its socket takes them; a player that plays
 * sequential ping-pong round trips over a raw TCP socket and times each one.
 *
 * Per round and server: the player's run without a flood (p50, p99), then the flooder connects;
 * once the flood has used the default burst, the server's RSS is taken, the player runs again,
 * and the RSS is taken again before the flooder is stopped. Targets with the default limit: the
 * player's p99 with the flood within 2× of its p99 without, and the server's RSS at the end of
 * the flood within 10 % of the RSS at its start. A run with the flood stops after `runMs` however
 * many round trips it made (without the limit they are few). Prints a table and writes
 * results-flood-isolation.json in bench/ (or `--out DIR`; a quick run only with `--out`).
 */
import { fork, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import * as os from "node:os";
import { fileURLToPath } from "node:url";
import { Channel, decode, encode, FrameDecoder, Server, type IncomingMessage } from "../lib/index.js";
import { summarize, type Summary } from "./harness/stats.js";
import { formatNumber, formatSummary, renderColumns } from "./report/format.js";
import { runBenchEntry } from "./harness/bench-entry.js";
import { machine, writeResults } from "./harness/machine.js";

const TARGET = { p99Ratio: 2, rssGrowth: 0.1 } as const;
/** Unmeasured round trips at the start of the run with the flood. */
const FLOOD_WARMUP = 10;
const SELF = fileURLToPath(import.meta.url);

interface Config {
  readonly quick: boolean;
  readonly rounds: number;
  /** Round trips per run of the player, after `warmup` unmeasured ones. */
  readonly count: number;
  readonly warmup: number;
  /** A run stops after this long, however many round trips it made. */
  readonly runMs: number;
  /** Flood messages the server must have dispatched before the measured run (the default burst is 10,000). */
  readonly floodWarmup: number;
  readonly deadlineMs: number;
  readonly outDir: string | null;
}

function readArgs(argv: readonly string[]): Config {
  const quick = argv.includes("--quick");
  let outDir: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--out") outDir = argv[++i] ?? null;
    else if (arg.startsWith("--out=")) outDir = arg.slice("--out=".length);
    else if (arg !== "--quick") throw new TypeError(`flood-isolation: unexpected argument ${JSON.stringify(arg)}`);
  }
  if (!quick) outDir ??= fileURLToPath(new URL(".", import.meta.url));
  return {
    quick,
    rounds: quick ? 1 : 3,
    count: quick ? 300 : 3_000,
    warmup: quick ? 100 : 2_000,
    runMs: quick ? 2_000 : 8_000,
    floodWarmup: 15_000,
    deadlineMs: quick ? 90_000 : 420_000,
    outDir,
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: `flood-isolation.ts server limited|unlimited`, `flooder PORT`, `player`.

/** What the server reports when asked. */
interface ServerStats {
  readonly rss: number;
  readonly heapUsed: number;
  /** Flood messages dispatched to the flooder's channel so far. */
  readonly flooded: number;
}

async function serverChild(limited: boolean): Promise<void> {
  let flooded = 0;
  class FloodChannel extends Channel {
    Network_ping(message: IncomingMessage): void {
      this.send({ action: "pong", n: message.n });
    }
    Network_flood(): void {
      flooded++;
    }
  }
  const server = new Server({
    host: "127.0.0.1",
    port: 0,
    channelClass: FloodChannel,
    ...(limited ? {} : { rateLimit: false }),
  });
  await server.start();
  process.on("message", (request: { cmd: string }) => {
    if (request.cmd !== "stats") return;
    const { rss, heapUsed } = process.memoryUsage();
    process.send!({ stats: { rss, heapUsed, flooded } satisfies ServerStats });
  });
  process.send!({ ready: server.port });
}

function flooderChild(port: number): void {
  const chunk = Buffer.concat(Array.from({ length: 4_096 }, (_, n) => encode({ action: "flood", n })));
  const socket = net.connect({ host: "127.0.0.1", port }, () => {
    const flood = (): void => {
      while (socket.write(chunk));
    };
    socket.on("drain", flood);
    flood();
    process.send!({ ready: true });
  });
  socket.on("data", () => {});
  socket.on("error", () => process.exit(0));
  socket.on("close", () => process.exit(0));
}

/** One run of the player: each round-trip time in µs, and how long the run took. */
interface PlayerRun {
  readonly rttUs: number[];
  readonly ms: number;
}

function playerChild(): void {
  process.on("message", (request: { cmd: string; port: number; count: number; warmup: number; runMs: number }) => {
    if (request.cmd !== "run") return;
    void play(request.port, request.count, request.warmup, request.runMs).then(
      (run) => process.send!({ run }),
      (error: unknown) => process.send!({ error: String(error) }),
    );
  });
  process.send!({ ready: true });
}

async function play(port: number, count: number, warmup: number, runMs: number): Promise<PlayerRun> {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let answered: (() => void) | null = null;
  const decoder = new FrameDecoder();
  socket.on("data", (chunk: Buffer) =>
    decoder.push(chunk, (payload) => {
      if ((decode(payload) as IncomingMessage).action === "pong") answered?.();
    }),
  );
  const rttUs: number[] = [];
  const started = performance.now();
  try {
    for (let n = 0; n < warmup + count && performance.now() - started < runMs; n++) {
      const sent = performance.now();
      await new Promise<void>((resolve) => {
        answered = resolve;
        socket.write(encode({ action: "ping", n }));
      });
      if (n >= warmup) rttUs.push((performance.now() - sent) * 1000);
    }
  } finally {
    socket.destroy();
  }
  return { rttUs, ms: performance.now() - started };
}

// ---------------------------------------------------------------------------------------------
// The harness.

const children = new Set<ChildProcess>();

/** Forks a role of this file and resolves with its first message once it says it is ready. */
function spawnRole(args: readonly string[]): Promise<{ child: ChildProcess; ready: unknown }> {
  const child = fork(SELF, [...args], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} child not ready after 20 s`)), 20_000);
    child.once("message", (message: { ready?: unknown }) => {
      clearTimeout(timer);
      resolve({ child, ready: message.ready });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} child exited with ${code} before it was ready`));
    });
  });
}

/** Sends `request` and resolves with the child's next message field `key`. */
function ask<T>(child: ChildProcess, request: object, key: string, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off("message", onMessage);
      reject(new Error(`no ${key} from the child within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: Record<string, unknown>): void => {
      if (message.error !== undefined) {
        clearTimeout(timer);
        child.off("message", onMessage);
        reject(new Error(String(message.error)));
      } else if (key in message) {
        clearTimeout(timer);
        child.off("message", onMessage);
        resolve(message[key] as T);
      }
    };
    child.on("message", onMessage);
    child.send(request);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await exited;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** What one round measured for one server. */
interface RoundResult {
  readonly quietP50Us: number;
  readonly quietP99Us: number;
  readonly floodP50Us: number;
  readonly floodP99Us: number;
  /** Round trips per second during the flood. */
  readonly floodRoundTrips: number;
  readonly roundTripsDone: number;
  readonly rssStartMiB: number;
  readonly rssEndMiB: number;
  /** Flood messages the server dispatched per second while the player ran. */
  readonly floodDispatchedPerSecond: number;
}

async function measureRound(limited: boolean, config: Config, player: ChildProcess): Promise<RoundResult> {
  const { child: server, ready } = await spawnRole(["server", limited ? "limited" : "unlimited"]);
  const port = ready as number;
  try {
    const runArgs = { cmd: "run", port, count: config.count, warmup: config.warmup, runMs: config.runMs };
    const quiet = await ask<PlayerRun>(player, runArgs, "run", config.runMs + 30_000);
    // The server and the player are warm by now: a few round trips suffice on the new connection
    // (without the limit, the flood leaves time for few of them).
    const floodArgs = { ...runArgs, warmup: FLOOD_WARMUP };
    const { child: flooder } = await spawnRole(["flooder", String(port)]);
    try {
      const waitUntil = Date.now() + 10_000;
      while ((await ask<ServerStats>(server, { cmd: "stats" }, "stats")).flooded < config.floodWarmup) {
        if (Date.now() > waitUntil) throw new Error("the flood did not reach the server");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const start = await ask<ServerStats>(server, { cmd: "stats" }, "stats");
      const flood = await ask<PlayerRun>(player, floodArgs, "run", config.runMs + 30_000);
      const end = await ask<ServerStats>(server, { cmd: "stats" }, "stats");
      const quietSorted = [...quiet.rttUs].sort((a, b) => a - b);
      const floodSorted = [...flood.rttUs].sort((a, b) => a - b);
      return {
        quietP50Us: percentile(quietSorted, 50),
        quietP99Us: percentile(quietSorted, 99),
        floodP50Us: percentile(floodSorted, 50),
        floodP99Us: percentile(floodSorted, 99),
        floodRoundTrips: (flood.rttUs.length / flood.ms) * 1000,
        roundTripsDone: flood.rttUs.length,
        rssStartMiB: start.rss / 2 ** 20,
        rssEndMiB: end.rss / 2 ** 20,
        floodDispatchedPerSecond: ((end.flooded - start.flooded) / flood.ms) * 1000,
      };
    } finally {
      await stopChild(flooder);
    }
  } finally {
    await stopChild(server);
  }
}

interface Row {
  readonly label: string;
  readonly limited: boolean;
  readonly rounds: RoundResult[];
  readonly quietP50Us: Summary;
  readonly quietP99Us: Summary;
  readonly floodP50Us: Summary;
  readonly floodP99Us: Summary;
  readonly p99Ratio: Summary;
  readonly roundTripsPerSecond: Summary;
  readonly floodDispatchedPerSecond: Summary;
  readonly rssStartMiB: Summary;
  readonly rssEndMiB: Summary;
  readonly rssGrowth: Summary;
  /** Whether the medians met the targets; `null` for the row without the limit, which has none. */
  readonly met: boolean | null;
  readonly error?: string;
}

function row(label: string, limited: boolean, rounds: RoundResult[], error?: string): Row {
  const of = (pick: (round: RoundResult) => number): Summary => summarize(rounds.map(pick));
  const p99Ratio = of((round) => round.floodP99Us / round.quietP99Us);
  const rssGrowth = of((round) => round.rssEndMiB / round.rssStartMiB - 1);
  return {
    label,
    limited,
    rounds,
    quietP50Us: of((round) => round.quietP50Us),
    quietP99Us: of((round) => round.quietP99Us),
    floodP50Us: of((round) => round.floodP50Us),
    floodP99Us: of((round) => round.floodP99Us),
    p99Ratio,
    roundTripsPerSecond: of((round) => round.floodRoundTrips),
    floodDispatchedPerSecond: of((round) => round.floodDispatchedPerSecond),
    rssStartMiB: of((round) => round.rssStartMiB),
    rssEndMiB: of((round) => round.rssEndMiB),
    rssGrowth,
    met:
      !limited || rounds.length === 0
        ? null
        : p99Ratio.median <= TARGET.p99Ratio && Math.abs(rssGrowth.median) <= TARGET.rssGrowth,
    ...(error === undefined ? {} : { error }),
  };
}

function renderTable(rows: readonly Row[], config: Config): string {
  const header = [
    "",
    "p50 µs quiet",
    "p99 µs quiet",
    "p50 µs flood",
    "p99 µs flood",
    "p99 × quiet",
    "round trips/s flood",
    "flood msgs/s served",
    "RSS MiB start → end",
    "target",
  ];
  const us = (summary: Summary): string => formatSummary(summary);
  const lines = rows.map((r) => {
    if (r.error !== undefined) return [r.label, `error: ${r.error}`];
    const growth = `${r.rssGrowth.median >= 0 ? "+" : ""}${(r.rssGrowth.median * 100).toFixed(1)} %`;
    return [
      r.label,
      us(r.quietP50Us),
      us(r.quietP99Us),
      us(r.floodP50Us),
      us(r.floodP99Us),
      formatSummary(r.p99Ratio, (value) => (Number.isFinite(value) ? value.toFixed(2) : "–")),
      formatSummary(r.roundTripsPerSecond),
      formatSummary(r.floodDispatchedPerSecond),
      `${formatNumber(r.rssStartMiB.median)} → ${formatNumber(r.rssEndMiB.median)} (${growth})`,
      r.met === null ? "" : r.met ? "met" : "MISSED",
    ];
  });
  return [
    `Flood isolation: a good player's ${config.count} sequential round trips (at most ${config.runMs / 1000} s) ` +
      `beside a client flooding tiny messages from its own process, ${config.rounds} round(s)` +
      (config.quick ? " (quick mode: too short for conclusions)" : ""),
    `Targets with the default rateLimit (5,000 messages/s, burst 10,000): p99 with the flood <= ${TARGET.p99Ratio}× ` +
      `p99 without, server RSS at the end of the flood within ${TARGET.rssGrowth * 100} % of its start.`,
    renderColumns([header, ...lines])
      .split("\n")
      .map((line) => `  ${line}`)
      .join("\n"),
  ].join("\n");
}

async function main(config: Config): Promise<number> {
  const started = Date.now();
  const loadAtStart = os.loadavg();
  const rows: Row[] = [];
  const { child: player } = await spawnRole(["player"]);
  try {
    for (const [label, limited] of [
      ["repod-rx TCP, default rateLimit", true],
      ["repod-rx TCP, rateLimit: false", false],
    ] as const) {
      const rounds: RoundResult[] = [];
      let error: string | undefined;
      for (let round = 0; round < config.rounds; round++) {
        process.stderr.write(`  ${label}: round ${round + 1}/${config.rounds}\n`);
        try {
          rounds.push(await measureRound(limited, config, player));
        } catch (caught) {
          error = caught instanceof Error ? caught.message.split("\n")[0]! : String(caught);
          break;
        }
      }
      rows.push(row(label, limited, rounds, error));
    }
  } finally {
    await Promise.all([...children].map((child) => stopChild(child)));
  }
  process.stdout.write(`${renderTable(rows, config)}\n`);
  if (config.outDir !== null) {
    const results = {
      meta: {
        date: new Date(started).toISOString(),
        ...machine(),
        quick: config.quick,
        config,
        target: TARGET,
        durationMs: Date.now() - started,
        loadAverage: { start: loadAtStart, end: os.loadavg() },
      },
      rows,
    };
    const file = await writeResults(config.outDir, "results-flood-isolation.json", results);
    process.stderr.write(`wrote ${file} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return rows.some((r) => r.error !== undefined) ? 1 : 0;
}

const [role, arg] = process.argv.slice(2);
if (role === "server" || role === "flooder" || role === "player") {
  // A child: it goes when the harness goes.
  process.on("disconnect", () => process.exit(0));
  if (role === "server") await serverChild(arg === "limited");
  else if (role === "flooder") flooderChild(Number(arg));
  else playerChild();
} else {
  const killChildren = (): void => {
    for (const child of children) child.kill("SIGKILL");
  };
  await runBenchEntry({ name: "flood-isolation", readArgs, main, killChildren });
}
