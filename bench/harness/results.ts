import type { Summary } from "./stats.js";

/** The shape of `bench/results.json`. */
export interface BenchResults {
  readonly meta: BenchMeta;
  readonly scenarios: ScenarioResult[];
  /** The targets, each checked against the median ratio of this run. */
  readonly targets: TargetResult[];
}

export interface BenchMeta {
  /** ISO 8601 start time of the run. */
  readonly date: string;
  readonly node: string;
  readonly platform: string;
  readonly cpu: string;
  readonly cores: number;
  readonly quick: boolean;
  /** Every size and count used, after flags and environment variables. */
  readonly config: Record<string, number | string | boolean | string[]>;
  readonly durationMs: number;
  /** `os.loadavg()` (1, 5, 15 minutes) when the run started and ended: other work skews results. */
  readonly loadAverage: { readonly start: number[]; readonly end: number[] };
  /** Pids of every child process started; all of them had exited when the file was written. */
  readonly childPids: number[];
}

/** How to read one metric. */
export interface MetricInfo {
  readonly label: string;
  readonly unit: string;
  readonly better: "higher" | "lower";
}

export interface ScenarioResult {
  readonly id: ScenarioId;
  readonly title: string;
  readonly status: "ok" | "error";
  readonly error?: string;
  readonly params: Record<string, number | string>;
  readonly metrics: Record<string, MetricInfo>;
  /** The ratios shown in the table and the chart, and the target on each, if any. */
  readonly ratioColumns: RatioColumn[];
  readonly rows: RowResult[];
  /** Remarks, e.g. rounds skipped because the time budget was spent. */
  readonly notes?: string[];
  readonly durationMs: number;
}

export type ScenarioId = "echo" | "latency" | "fanout" | "pump" | "memory" | "reactive";

export interface RowResult {
  readonly id: string;
  readonly label: string;
  readonly transport: "tcp" | "ws" | "in-process";
  /** Whether this row is the library under test (targets apply to it). */
  readonly subject: boolean;
  /** `n/a`: the implementation is not available in this build (e.g. the WebSocket transport). */
  readonly status: "ok" | "n/a" | "error";
  readonly note?: string;
  /** Median, min and max over rounds of each metric. */
  readonly metrics: Record<string, Summary>;
  /** Ratios to other rows of the same scenario, computed round by round. */
  readonly ratios: RatioResult[];
}

/** One kind of ratio: a metric divided by the same metric of a baseline row chosen by transport. */
export interface RatioColumn {
  readonly header: string;
  readonly metric: string;
  /** The baseline row for rows of each transport. */
  readonly against: Partial<Record<RowResult["transport"], string>>;
  /** Whether the chart shows this ratio. */
  readonly chart: boolean;
  /** The target for the library's rows. */
  readonly target?: { readonly op: "<=" | ">="; readonly bound: number };
}

export interface RatioResult extends Summary {
  readonly metric: string;
  /** Id of the row this one is divided by. */
  readonly against: string;
}

export interface TargetResult {
  readonly scenario: ScenarioId;
  readonly row: string;
  readonly metric: string;
  readonly against: string;
  /** `"<="` or `">="` followed by the bound, as in the issue. */
  readonly target: string;
  readonly ratio: number | null;
  /** `null` when the row or its baseline did not run. */
  readonly met: boolean | null;
}
