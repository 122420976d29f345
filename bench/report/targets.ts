import type { RowResult, ScenarioResult, TargetResult } from "../harness/results.js";

/**
 * Checks the targets: every ratio column with a target, for every row of the library
 * under test, against the median of that ratio over the rounds of this run.
 */
export function evaluateTargets(scenarios: readonly ScenarioResult[]): TargetResult[] {
  const targets: TargetResult[] = [];
  for (const scenario of scenarios) {
    for (const column of scenario.ratioColumns) {
      if (column.target === undefined) continue;
      for (const row of scenario.rows) {
        if (!row.subject) continue;
        const against = column.against[row.transport];
        if (against === undefined) continue;
        const ratio = findRatio(row, column.metric, against);
        const { op, bound } = column.target;
        targets.push({
          scenario: scenario.id,
          row: row.id,
          metric: column.metric,
          against,
          target: `${op} ${bound}`,
          ratio,
          met: ratio === null ? null : op === "<=" ? ratio <= bound : ratio >= bound,
        });
      }
    }
  }
  // Fan-out must lose nothing: every round of every library row delivers 100 %.
  const fanout = scenarios.find((scenario) => scenario.id === "fanout" && scenario.status === "ok");
  const at = targets.findIndex((target) => target.scenario === "fanout");
  const delivery: TargetResult[] = [];
  for (const row of fanout?.rows.filter((r) => r.subject) ?? []) {
    const delivered = row.metrics.deliveredPercent;
    delivery.push({
      scenario: "fanout",
      row: row.id,
      metric: "deliveredPercent",
      against: "expected",
      target: ">= 100",
      ratio: delivered === undefined ? null : delivered.min / 100,
      met: delivered === undefined ? null : delivered.min >= 100,
    });
  }
  targets.splice(at < 0 ? targets.length : at, 0, ...delivery);
  return targets;
}

export function findRatio(row: RowResult, metric: string, against: string): number | null {
  const ratio = row.ratios.find((r) => r.metric === metric && r.against === against);
  return ratio === undefined || !Number.isFinite(ratio.median) ? null : ratio.median;
}
