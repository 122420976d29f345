import type { BenchResults, RowResult, ScenarioResult } from "../harness/results.js";
import { formatRatio, formatSummary, renderColumns } from "./format.js";

/** The whole report as plain text: one table per scenario, then the targets. */
export function renderTable(results: BenchResults): string {
  const { meta } = results;
  const parts = [
    `repod-rx benchmark, ${meta.date.slice(0, 10)}, Node ${meta.node}, ${meta.cpu} × ${meta.cores} cores, ${meta.platform}` +
      (meta.quick ? " (quick mode: sizes too small for conclusions)" : ""),
    `Load average (1 min) ${meta.loadAverage.start[0]!.toFixed(1)} at the start, ${meta.loadAverage.end[0]!.toFixed(1)} at the end` +
      (Math.max(meta.loadAverage.start[0]!, meta.loadAverage.end[0]!) > meta.cores * 0.5
        ? ": other work was running, expect noise."
        : "."),
    "Each figure: median over rounds (min–max). Ratios are computed round by round, then summarised.",
  ];
  for (const scenario of results.scenarios) parts.push(renderScenario(scenario));
  parts.push(renderTargets(results));
  return parts.join("\n\n") + "\n";
}

function renderScenario(scenario: ScenarioResult): string {
  if (scenario.status === "error") return `${scenario.title}\n  failed: ${scenario.error ?? "unknown error"}`;
  const metricNames = Object.keys(scenario.metrics);
  const header = [
    "",
    ...metricNames.map((name) => scenario.metrics[name]!.label),
    ...scenario.ratioColumns.map((column) => column.header),
  ];
  const lines: string[][] = [header];
  for (const row of scenario.rows) lines.push(renderRow(scenario, row, metricNames));
  const better = scenario.ratioColumns.length > 0 ? `  (ratios: ${betterNote(scenario)})` : "";
  const notes = [
    ...(scenario.notes ?? []).map((note) => `  note: ${note}`),
    ...scenario.rows
      .filter((row) => row.status === "ok" && row.note !== undefined)
      .map((row) => `  note, ${row.label}: ${row.note}`),
  ];
  return [`${scenario.title}${better}`, indent(renderColumns(lines)), ...notes].join("\n");
}

function renderRow(scenario: ScenarioResult, row: RowResult, metricNames: readonly string[]): string[] {
  if (row.status !== "ok") {
    const text =
      row.status === "n/a"
        ? `n/a (${row.note?.startsWith("not available") ? "not available" : row.note})`
        : `error: ${row.note}`;
    return [row.label, text];
  }
  const cells = [row.label];
  for (const name of metricNames) {
    const summary = row.metrics[name];
    cells.push(summary === undefined ? "–" : formatSummary(summary));
  }
  for (const column of scenario.ratioColumns) {
    const against = column.against[row.transport];
    if (against === undefined) cells.push("");
    else if (against === row.id) cells.push("baseline");
    else {
      const ratio = row.ratios.find((r) => r.metric === column.metric && r.against === against);
      cells.push(ratio === undefined ? "–" : formatSummary(ratio, formatRatio));
    }
  }
  return cells;
}

function betterNote(scenario: ScenarioResult): string {
  const better = new Set(scenario.ratioColumns.map((column) => scenario.metrics[column.metric]?.better));
  if (better.size !== 1) return "see each metric";
  return better.has("higher") ? "higher is better" : "lower is better";
}

function renderTargets(results: BenchResults): string {
  const rows = results.targets.map((target) => {
    const scenario = results.scenarios.find((s) => s.id === target.scenario);
    const row = scenario?.rows.find((r) => r.id === target.row);
    const column = scenario?.ratioColumns.find(
      (c) => c.metric === target.metric && Object.values(c.against).includes(target.against),
    );
    if (target.metric === "deliveredPercent") {
      const value = target.ratio === null ? "–" : `${(target.ratio * 100).toFixed(2)} %`;
      const status = target.met === null ? "not measured" : target.met ? "met" : "MISSED";
      return [target.scenario, row?.label ?? target.row, "delivered, worst round", value, "= 100 %", status];
    }
    const status = target.met === null ? "not measured" : target.met ? "met" : "MISSED";
    return [
      target.scenario,
      row?.label ?? target.row,
      column?.header ?? target.metric,
      target.ratio === null ? "–" : formatRatio(target.ratio),
      target.target,
      status,
    ];
  });
  return [
    "Targets of issue 6 (median ratio of this run)",
    indent(renderColumns([["scenario", "row", "ratio", "value", "target", ""], ...rows])),
  ].join("\n");
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}
