/**
 * `npm run soak`: minutes of everything at once against one repod-rx server, and a good client
 * that must lose nothing meanwhile.
 *
 *   npm run soak                      # 5 minutes
 *   npm run soak -- --minutes 30
 *   npm run soak -- --seconds 5       # the smoke run of spec/soak.spec.ts
 *   npm run soak -- --seed 42 --json /tmp/soak.json
 *
 * Every role runs in a process of its own on 127.0.0.1 (bench/soak/): the server (TCP and
 * WebSocket); the good client, exchanging numbered messages both ways, requests and the state
 * broadcast over one TCP and one WebSocket connection for the whole run; connection churn;
 * flooders; slow readers (trickling and stalled); and the fuzzer's hostile inputs. The run is
 * bounded: after the duration the attackers stop, the good client's last messages settle, and
 * everything exits (each child also exits by itself when this process goes or its lifetime ends).
 *
 * It prints the hostile inputs tried by kind, what the good client exchanged, the messages lost,
 * what the server saw, and its RSS at the start and the end; with `--json FILE`, the same as JSON.
 * Exit status 1 if a message was lost or arrived out of order, the server crashed, a good
 * connection ended, the library logged a failure of its own (`receive failed`), or a process of
 * the soak failed; 0 otherwise. `--fault drop-echo|crash-server` makes the server misbehave on
 * purpose, to check that the soak notices (spec/soak.spec.ts).
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { killAllRoleChildren, RoleChild, startedRolePids, type ChildExit } from "./harness/role-child.js";
import { SOAK_SERVER_OPTIONS } from "./soak/server.js";
import { sleep, type AttackerStats, type GoodClientStats, type ServerStats, type Transport } from "./soak/shared.js";
import { renderSoakSummary, soakVerdict, type SoakResult } from "./soak/summary.js";

const CHILD = fileURLToPath(new URL("./soak/child.ts", import.meta.url));
const ATTACKERS = ["churn", "flood", "slow", "fuzz"] as const;
const SAMPLE_MS = 5_000;
const PROGRESS_MS = 30_000;

interface Config {
  readonly durationMs: number;
  readonly seed: number;
  readonly jsonFile: string | null;
  readonly fault: string | null;
}

function readArgs(argv: readonly string[]): Config {
  let durationMs = 5 * 60_000;
  let seed = randomBytes(4).readUInt32BE() % 1_000_000;
  let jsonFile: string | null = null;
  let fault: string | null = null;
  const positive = (flag: string, value: string | undefined): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed <= 0) throw new TypeError(`soak: ${flag} takes a positive number`);
    return parsed;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--minutes") durationMs = positive(arg, argv[++i]) * 60_000;
    else if (arg === "--seconds") durationMs = positive(arg, argv[++i]) * 1000;
    else if (arg === "--seed") seed = Math.floor(positive(arg, argv[++i]));
    else if (arg === "--json") jsonFile = argv[++i] ?? null;
    else if (arg === "--fault") {
      fault = argv[++i] ?? "";
      if (fault !== "drop-echo" && fault !== "crash-server") {
        throw new TypeError("soak: --fault takes drop-echo or crash-server");
      }
    } else throw new TypeError(`soak: unexpected argument ${JSON.stringify(arg)}`);
  }
  return { durationMs, seed, jsonFile, fault };
}

async function run(config: Config): Promise<SoakResult> {
  const lifetime = config.durationMs + 120_000;
  const secret = randomBytes(16).toString("hex");
  const started = Date.now();
  const load = os.loadavg();
  const problems: string[] = [];
  const server = await RoleChild.start(CHILD, "server", lifetime, {
    args: [config.fault ?? "none"],
    execArgv: ["--expose-gc"],
  });
  let serverExit: ChildExit | null = null;
  void server.exited.then((exit) => (serverExit = exit));
  const children: RoleChild[] = [server];
  try {
    const ports = await server.request<{ tcp: number; ws: number }>("start", { secret });
    const atStart = await server.request<ServerStats>("stats", { gc: true });
    const others = await Promise.all(
      (["good", ...ATTACKERS] as const).map((role) =>
        RoleChild.start(CHILD, role, lifetime, role === "fuzz" ? { args: [String(config.seed)] } : {}),
      ),
    );
    children.push(...others);
    const [good, ...attackers] = others as [RoleChild, ...RoleChild[]];
    await good.request("start", { ports, secret });
    await Promise.all(attackers.map((attacker) => attacker.request("start", { ports })));
    const attackStarted = Date.now();
    process.stderr.write(`soak: running for ${formatDuration(config.durationMs)}, seed ${config.seed}\n`);
    if (config.fault === "crash-server") {
      setTimeout(() => void server.request("crash").catch(() => {}), Math.min(1_000, config.durationMs / 2)).unref();
    }

    const samples: { atMs: number; rssMiB: number; heapMiB: number; channels: number }[] = [];
    let lastProgress = attackStarted;
    const crashed = server.exited.then(() => undefined);
    while (Date.now() - attackStarted < config.durationMs && serverExit === null) {
      await Promise.race([sleep(Math.min(SAMPLE_MS, config.durationMs - (Date.now() - attackStarted))), crashed]);
      if (serverExit !== null) break;
      for (const child of others) {
        if (child.exit !== null) problems.push(`the ${child.role} process exited (${describeExit(child.exit)})`);
      }
      if (others.some((child) => child.exit !== null)) break;
      try {
        const stats = await server.request<ServerStats>("stats", {}, 10_000);
        samples.push({
          atMs: Date.now() - attackStarted,
          rssMiB: stats.rssMiB,
          heapMiB: stats.heapMiB,
          channels: stats.channels,
        });
        if (Date.now() - lastProgress >= PROGRESS_MS) {
          lastProgress = Date.now();
          process.stderr.write(
            `  ${formatDuration(Date.now() - attackStarted)}: ${stats.accepted} connections so far, ${stats.channels} open, ` +
              `server RSS ${stats.rssMiB.toFixed(1)} MiB\n`,
          );
        }
      } catch (error) {
        if (serverExit === null) problems.push(`the server did not answer in 10 s: ${(error as Error).message}`);
      }
    }
    const attackMs = Date.now() - attackStarted;
    const atAttackEnd = serverExit === null ? await server.request<ServerStats>("stats").catch(() => null) : null;

    const attackerStats: Record<string, AttackerStats | null> = {};
    await Promise.all(
      attackers.map(async (attacker) => {
        attackerStats[attacker.role] = await attacker
          .request<AttackerStats>("stop", {}, 15_000)
          .catch((error: Error) => {
            problems.push(`the ${attacker.role} process did not report: ${error.message.split("\n")[0]}`);
            return null;
          });
        await attacker.stop();
      }),
    );

    let goodStats: GoodClientStats[] = [];
    let atEnd: ServerStats | null = null;
    if (serverExit === null && good.exit === null) {
      await good.request("stop");
      const afterSeq = await server.request<ServerStats>("seq.stop").catch(() => null);
      const seqSent: Partial<Record<Transport, number>> = {};
      for (const channel of afterSeq?.good ?? []) seqSent[channel.transport] = channel.seqSent;
      goodStats = await good.request<GoodClientStats[]>(
        "settle",
        { seqSent, quietMs: 3_000, timeoutMs: 15_000 },
        25_000,
      );
      // The attackers have gone: what the server holds now is what it kept.
      await sleep(1_000);
      atEnd = await server.request<ServerStats>("stats", { gc: true }).catch(() => null);
    } else if (good.exit === null) {
      goodStats = await good.request<GoodClientStats[]>("stop").catch(() => []);
    }
    return {
      config: {
        durationMs: config.durationMs,
        seed: config.seed,
        fault: config.fault,
        serverOptions: SOAK_SERVER_OPTIONS,
      },
      meta: {
        date: new Date(started).toISOString(),
        node: process.version,
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        cores: os.availableParallelism(),
        loadAverage: { start: load[0]!, end: os.loadavg()[0]! },
        attackMs,
        durationMs: Date.now() - started,
        childPids: startedRolePids,
      },
      serverExit,
      problems,
      server: { atStart, atAttackEnd, atEnd, samples },
      good: goodStats,
      attackers: attackerStats,
    };
  } finally {
    await Promise.all(children.map((child) => child.stop()));
  }
}

function describeExit(exit: ChildExit): string {
  return exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`;
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 120
    ? `${seconds} s`
    : `${Math.floor(seconds / 60)} min ${seconds % 60 ? `${seconds % 60} s` : ""}`.trim();
}

let config: Config;
try {
  config = readArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(2);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAllRoleChildren();
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}
// However the run goes, it ends: the duration, then two minutes for everything else at most.
const deadline = setTimeout(() => {
  process.stderr.write("soak: over its time limit; stopping every process\n");
  killAllRoleChildren();
  process.exit(1);
}, config.durationMs + 150_000);
try {
  const result = await run(config);
  process.stdout.write(`${renderSoakSummary(result)}\n`);
  if (config.jsonFile !== null) {
    await mkdir(path.dirname(path.resolve(config.jsonFile)), { recursive: true });
    await writeFile(config.jsonFile, `${JSON.stringify({ ...result, verdict: soakVerdict(result) }, null, 2)}\n`);
  }
  process.exitCode = soakVerdict(result).passed ? 0 : 1;
} catch (error) {
  process.stderr.write(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  clearTimeout(deadline);
}
