// Scale-out benchmark: broadcast fan-out to N clients served by one process, against the same N
// clients spread over two server processes that relay through Redis (`repod-rx/redis`).
//
//   node --import tsx bench/scale-out.ts [--quick]
//
// Prints a table and writes bench/results-scale-out.json. Starts its own redis-server (Debian's
// package) on a free 127.0.0.1 port under a temporary directory, and stops everything it started,
// also on failure, Ctrl+C or its time limit. Environment: SCALE_OUT_CLIENTS (500), SCALE_OUT_HZ
// (30), SCALE_OUT_SECONDS (2), SCALE_OUT_BYTES (200), SCALE_OUT_ROUNDS (3).
import { execFileSync, fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { ConnectionListener } from "../lib/index.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(HERE, "results-scale-out.json");
const quick = process.argv.includes("--quick");
const config = {
  clients: Number(process.env.SCALE_OUT_CLIENTS ?? 500),
  hz: Number(process.env.SCALE_OUT_HZ ?? 30),
  seconds: Number(process.env.SCALE_OUT_SECONDS ?? (quick ? 1 : 2)),
  bytes: Number(process.env.SCALE_OUT_BYTES ?? 200),
  rounds: Number(process.env.SCALE_OUT_ROUNDS ?? (quick ? 1 : 3)),
  drainMs: 5_000,
  deadlineMs: 180_000,
};

const children: ChildProcess[] = [];
const listeners: ConnectionListener[] = [];
let tempDir = "";

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const now = (): number => performance.timeOrigin + performance.now();

async function until(condition: () => boolean | Promise<boolean>, what: string, timeout = 20_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function end(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
  await exited;
  clearTimeout(timer);
}

async function startRedis(port: number): Promise<ChildProcess> {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "pipe" });
  } catch {
    throw new Error("redis-server is not installed: run apt-get install redis-server");
  }
  tempDir = mkdtempSync(path.join(os.tmpdir(), "repod-rx-scale-out-"));
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tempDir];
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await until(() => output.includes("Ready to accept connections") || child.exitCode !== null, "redis-server", 10_000);
  if (child.exitCode !== null) throw new Error(`redis-server exited:\n${output}`);
  return child;
}

/** A `bench/scale-out-server.ts` child process. */
class ServerProcess {
  port = 0;
  #nextId = 1;
  readonly #pending = new Map<number, (message: any) => void>();

  private constructor(readonly child: ChildProcess) {
    child.on("message", (message: any) => {
      if (message.ready) this.port = message.port;
      this.#pending.get(message.id)?.(message);
      this.#pending.delete(message.id);
    });
  }

  static async start(env: Record<string, string>): Promise<ServerProcess> {
    const child = fork(path.join(HERE, "scale-out-server.ts"), [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, ...env },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.push(child);
    const server = new ServerProcess(child);
    await until(() => server.port !== 0 || child.exitCode !== null, "a server process to start", 60_000);
    if (server.port === 0) throw new Error("a server process exited before listening");
    return server;
  }

  request<T>(cmd: string, args: object = {}, timeout = 30_000): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${cmd}`)), timeout);
      this.#pending.set(id, (message) => {
        clearTimeout(timer);
        if (message.ok) resolve(message.value as T);
        else reject(new Error(message.error));
      });
      this.child.send({ id, cmd, ...args });
    });
  }

  async stop(): Promise<void> {
    await this.request("stop", {}, 5_000).catch(() => {});
    await end(this.child);
  }
}

/** The clients of one row: counts and latencies of the `state` broadcasts of the current round. */
class ClientGroup {
  received = 0;
  latencies = new Float64Array(0);

  constructor(readonly label: string) {}

  reset(expected: number): void {
    this.received = 0;
    this.latencies = new Float64Array(expected);
  }

  async connect(count: number, port: number): Promise<void> {
    for (let first = 0; first < count; first += 100) {
      const batch = Array.from({ length: Math.min(100, count - first) }, () => {
        const listener = new ConnectionListener();
        listeners.push(listener);
        listener.connect("127.0.0.1", port);
        listener.connection!.messages$.subscribe((message) => {
          if (message.action !== "state") return;
          const latency = now() - (message.t as number);
          if (this.received < this.latencies.length) this.latencies[this.received] = latency;
          this.received++;
        });
        return listener;
      });
      await until(
        () => batch.every((listener) => listener.connection!.state === "open"),
        `${this.label} clients to connect`,
      );
    }
  }
}

interface Round {
  readonly delivered: number;
  readonly expected: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyMaxMs: number;
  readonly originCpuMsPerTick: number;
  readonly totalCpuMsPerTick: number;
  readonly achievedHz: number;
}

function percentile(sorted: Float64Array, share: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function redisCpuMs(url: string): Promise<number> {
  const client = createClient({ url });
  client.on("error", () => {});
  await client.connect();
  try {
    const info = await client.info("cpu");
    const read = (key: string): number => Number(new RegExp(`${key}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return (read("used_cpu_user") + read("used_cpu_sys")) * 1000;
  } finally {
    client.destroy();
  }
}

interface Row {
  readonly id: string;
  readonly label: string;
  readonly origin: ServerProcess;
  readonly servers: ServerProcess[];
  readonly groups: ClientGroup[];
  readonly redisUrl?: string;
}

async function runRound(row: Row): Promise<Round> {
  const expected = config.clients * Math.max(1, Math.round(config.hz * config.seconds));
  const ticks = expected / config.clients;
  for (const group of row.groups) group.reset(expected);
  const cpuBefore = await Promise.all(row.servers.map((server) => server.request<number>("cpu")));
  const redisBefore = row.redisUrl ? await redisCpuMs(row.redisUrl) : 0;
  const outcome = await row.origin.request<{ ticks: number; cpuMs: number; elapsedMs: number }>("tick", {
    hz: config.hz,
    durationMs: config.seconds * 1000,
    bytes: config.bytes,
  });
  const delivered = (): number => row.groups.reduce((sum, group) => sum + group.received, 0);
  await until(() => delivered() >= expected, "delivery", config.drainMs).catch(() => {});
  await delay(50); // anything beyond the expected count would show up here
  const cpuAfter = await Promise.all(row.servers.map((server) => server.request<number>("cpu")));
  const redisAfter = row.redisUrl ? await redisCpuMs(row.redisUrl) : 0;
  const totalCpu =
    cpuAfter.reduce((sum, value, index) => sum + value - cpuBefore[index]!, 0) + (redisAfter - redisBefore);
  const latencies = Float64Array.from(
    row.groups.flatMap((group) =>
      Array.from(group.latencies.subarray(0, Math.min(group.received, group.latencies.length))),
    ),
  ).sort();
  return {
    delivered: delivered(),
    expected,
    latencyP50Ms: percentile(latencies, 0.5),
    latencyP99Ms: percentile(latencies, 0.99),
    latencyMaxMs: latencies.length > 0 ? latencies[latencies.length - 1]! : NaN,
    originCpuMsPerTick: outcome.cpuMs / ticks,
    totalCpuMsPerTick: totalCpu / ticks,
    achievedHz: (ticks - 1) / (outcome.elapsedMs / 1000),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const redisPort = await freePort();
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  await startRedis(redisPort);
  console.error(
    `scale-out: redis-server on ${redisUrl}; starting 3 server processes and ${config.clients * 2} clients`,
  );
  const prefix = `bench-${process.pid}`;
  const [alone, first, second] = await Promise.all([
    ServerProcess.start({}),
    ServerProcess.start({ REDIS_URL: redisUrl, REDIS_PREFIX: prefix }),
    ServerProcess.start({ REDIS_URL: redisUrl, REDIS_PREFIX: prefix }),
  ]);
  const single = new ClientGroup("1 process");
  const near = new ClientGroup("origin's clients");
  const far = new ClientGroup("relay's clients");
  const half = Math.floor(config.clients / 2);
  await single.connect(config.clients, alone!.port);
  await near.connect(half, first!.port);
  await far.connect(config.clients - half, second!.port);
  await until(
    async () => (await alone!.request<{ channels: number }>("status")).channels === config.clients,
    "1-process clients",
  );
  await until(async () => (await first!.request<{ channels: number }>("status")).channels === half, "origin clients");
  await until(
    async () => (await second!.request<{ channels: number }>("status")).channels === config.clients - half,
    "relay clients",
  );

  const rows: Row[] = [
    { id: "single", label: "1 process", origin: alone!, servers: [alone!], groups: [single] },
    {
      id: "redis-2",
      label: "2 processes + Redis",
      origin: first!,
      servers: [first!, second!],
      groups: [near, far],
      redisUrl,
    },
  ];
  const rounds = new Map<string, Round[]>(rows.map((row) => [row.id, []]));
  for (let round = 0; round < config.rounds; round++) {
    for (const row of round % 2 === 0 ? rows : [...rows].reverse()) {
      console.error(`scale-out: round ${round + 1}/${config.rounds}, ${row.label}`);
      rounds.get(row.id)!.push(await runRound(row));
    }
  }

  const results = rows.map((row) => {
    const list = rounds.get(row.id)!;
    const delivered = list.reduce((sum, round) => sum + round.delivered, 0);
    const expected = list.reduce((sum, round) => sum + round.expected, 0);
    const pick = (key: keyof Round): { median: number; min: number; max: number } => {
      const values = list.map((round) => round[key]);
      return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
    };
    return {
      id: row.id,
      label: row.label,
      serverProcesses: row.servers.length,
      clientsPerServer: row.groups.map((group) =>
        group === single ? config.clients : group === near ? half : config.clients - half,
      ),
      delivered,
      expected,
      deliveredPercent: (100 * delivered) / expected,
      metrics: {
        latencyP50Ms: pick("latencyP50Ms"),
        latencyP99Ms: pick("latencyP99Ms"),
        latencyMaxMs: pick("latencyMaxMs"),
        originCpuMsPerTick: pick("originCpuMsPerTick"),
        totalCpuMsPerTick: pick("totalCpuMsPerTick"),
        achievedHz: pick("achievedHz"),
      },
      rounds: list,
    };
  });

  const f = (value: number, digits = 2): string => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");
  const header = [
    "row",
    "servers",
    "clients",
    "delivered/expected",
    "p50 ms",
    "p99 ms",
    "max ms",
    "CPU ms/tick origin",
    "CPU ms/tick all (+redis)",
  ];
  const lines = results.map((row) => [
    row.label,
    String(row.serverProcesses),
    row.clientsPerServer.join("+"),
    `${row.delivered}/${row.expected} (${f(row.deliveredPercent, 1)}%)`,
    f(row.metrics.latencyP50Ms.median),
    f(row.metrics.latencyP99Ms.median),
    f(row.metrics.latencyMaxMs.median),
    f(row.metrics.originCpuMsPerTick.median, 3),
    f(row.metrics.totalCpuMsPerTick.median, 3),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const print = (cells: string[]): void =>
    console.log(cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  "));
  console.log(
    `\nScale-out fan-out: ${config.clients} clients, ${config.hz} Hz for ${config.seconds} s, ${config.bytes}-byte state, ${config.rounds} round(s), medians; TCP on 127.0.0.1`,
  );
  print(header);
  print(widths.map((width) => "-".repeat(width)));
  for (const line of lines) print(line);

  const meta = {
    date: new Date(started).toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    quick,
    config,
    durationMs: Date.now() - started,
    childPids: children.map((child) => child.pid),
    notes:
      "Clients run in the benchmark's own process. Latency is wall-clock from the origin's sendToAll to the client's decode.",
  };
  writeFileSync(RESULTS, `${JSON.stringify({ meta, rows: results }, null, 2)}\n`);
  console.log(`\nwritten ${path.relative(process.cwd(), RESULTS)}`);
  const incomplete = results.filter((row) => row.delivered !== row.expected);
  if (incomplete.length > 0) {
    throw new Error(`delivered/expected below 100% for ${incomplete.map((row) => row.label).join(", ")}`);
  }
}

/** Stops every client and child process, and removes the temporary directory. */
async function cleanup(): Promise<void> {
  for (const listener of listeners) listener.close();
  await Promise.all(children.map((child) => end(child)));
  if (tempDir !== "") rmSync(tempDir, { recursive: true, force: true });
}

const deadline = setTimeout(() => {
  console.error(`scale-out: over the ${config.deadlineMs / 1000} s limit; stopping`);
  void cleanup().finally(() => process.exit(1));
}, config.deadlineMs);
process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

try {
  await main();
  await cleanup();
  clearTimeout(deadline);
  process.exit(0);
} catch (error) {
  console.error(`scale-out: ${error instanceof Error ? error.message : String(error)}`);
  await cleanup();
  clearTimeout(deadline);
  process.exit(1);
}
