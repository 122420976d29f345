/**
 * `npm run bench`: runs the scenarios of issue 6 against repod-rx and its baselines, prints one
 * table per scenario, and writes results.json and results.svg (in bench/, or `--out DIR`).
 * `npm run bench -- --help` lists every flag and environment variable.
 */
import { mkdir, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { killAllChildren, startedPids, useCompiledChild } from "./harness/bench-child.js";
import { buildChildBundle } from "./harness/child-bundle.js";
import { readConfig, usage, type BenchConfig } from "./harness/config.js";
import type { BenchResults, ScenarioId, ScenarioResult } from "./harness/results.js";
import { ScenarioContext } from "./harness/scenario-context.js";
import { renderSvg } from "./report/svg.js";
import { renderTable } from "./report/table.js";
import { evaluateTargets } from "./report/targets.js";
import { failedScenario } from "./scenarios/common.js";
import { runEcho } from "./scenarios/echo.js";
import { runFanout } from "./scenarios/fanout.js";
import { runLatency } from "./scenarios/latency.js";
import { runMemory } from "./scenarios/memory.js";
import { runPump } from "./scenarios/pump.js";

/** One run of child processes; echo and reactive share theirs (interleaved in the same rounds). */
interface Plan {
  readonly ids: readonly ScenarioId[];
  /** Its share of the time budget, relative to the other plans. */
  readonly weight: number;
  readonly titles: Record<string, string>;
  run(ctx: ScenarioContext): Promise<ScenarioResult[]>;
}

function plan(config: BenchConfig): Plan[] {
  const wanted = (id: ScenarioId): boolean => config.only.includes(id);
  const plans: Plan[] = [];
  const echoIds = (["echo", "reactive"] as const).filter(wanted);
  if (echoIds.length > 0) {
    const titles = { echo: "1. Pipelined echo", reactive: "6. Reactive path" };
    plans.push({ ids: echoIds, weight: 0.3, titles, run: (ctx) => runEcho(ctx, echoIds) });
  }
  if (wanted("latency"))
    plans.push({ ids: ["latency"], weight: 0.14, titles: { latency: "2. Ping-pong latency" }, run: runLatency });
  if (wanted("fanout"))
    plans.push({ ids: ["fanout"], weight: 0.24, titles: { fanout: "3. Broadcast fan-out" }, run: runFanout });
  if (wanted("pump")) plans.push({ ids: ["pump"], weight: 0.04, titles: { pump: "4. Pump cost" }, run: runPump });
  if (wanted("memory"))
    plans.push({ ids: ["memory"], weight: 0.28, titles: { memory: "5. Memory per idle connection" }, run: runMemory });
  return plans;
}

/**
 * Runs one plan within `budgetMs` (it skips rounds that would not fit) and under a hard timeout
 * of half as much again plus 30 s; its child processes are stopped whatever happens.
 */
async function runPlan(config: BenchConfig, item: Plan, budgetMs: number): Promise<ScenarioResult[]> {
  const timeoutMs = budgetMs * 1.5 + 30_000;
  const ctx = new ScenarioContext(config, budgetMs, timeoutMs);
  const started = Date.now();
  process.stderr.write(`${item.ids.join(" + ")}:\n`);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = item.run(ctx);
  // The body keeps running after a timeout until its children are stopped; its late rejection
  // must not crash the harness.
  body.catch(() => {});
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`abandoned after ${Math.round(timeoutMs / 1000)} s, well over its time budget (--budget)`)),
        timeoutMs,
      );
    });
    return await Promise.race([body, timeout]);
  } catch (error) {
    process.stderr.write(`  failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return item.ids.map((id) => failedScenario(id, item.titles[id] ?? id, error, Date.now() - started));
  } finally {
    clearTimeout(timer);
    await ctx.close();
  }
}

async function main(): Promise<number> {
  if (process.argv.includes("--help")) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  let config: BenchConfig;
  try {
    config = readConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAllChildren();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
  const date = new Date().toISOString();
  const loadAtStart = os.loadavg();
  const started = Date.now();
  const scenarios: ScenarioResult[] = [];
  const bundle = await buildChildBundle();
  useCompiledChild(bundle.file);
  try {
    const plans = plan(config);
    const deadline = started + config.budget * 1000;
    if (config.quick) {
      // A smoke run: its figures mean nothing, so the scenarios run side by side to finish sooner.
      for (const results of await Promise.all(plans.map((item) => runPlan(config, item, config.budget * 1000)))) {
        scenarios.push(...results);
      }
    }
    for (const [index, item] of config.quick ? [] : plans.entries()) {
      // Each plan gets its share of what is left, so time one plan saves goes to the next ones.
      const weightLeft = plans.slice(index).reduce((sum, p) => sum + p.weight, 0);
      const budgetMs = Math.max(5_000, ((deadline - Date.now()) * item.weight) / weightLeft);
      scenarios.push(...(await runPlan(config, item, budgetMs)));
    }
  } finally {
    await bundle.remove();
  }
  const order: ScenarioId[] = ["echo", "latency", "fanout", "pump", "memory", "reactive"];
  scenarios.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  const results: BenchResults = {
    meta: {
      date,
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpu: os.cpus()[0]?.model.trim() ?? "unknown",
      cores: os.availableParallelism(),
      quick: config.quick,
      config: { ...config, only: [...config.only] },
      durationMs: Date.now() - started,
      loadAverage: { start: loadAtStart, end: os.loadavg() },
      childPids: [...startedPids],
    },
    scenarios,
    targets: evaluateTargets(scenarios),
  };
  await mkdir(config.outDir, { recursive: true });
  await writeFile(path.join(config.outDir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  await writeFile(path.join(config.outDir, "results.svg"), renderSvg(results));
  process.stdout.write(renderTable(results));
  process.stderr.write(
    `wrote ${path.join(config.outDir, "results.json")} and results.svg in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  return scenarios.some((scenario) => scenario.status === "error") ? 1 : 0;
}

process.exitCode = await main();
