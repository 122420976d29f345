import type { RatioColumn, RatioResult, RowResult } from "./results.js";
import { summarize } from "./stats.js";

/** A row as a scenario declares it. */
export interface RowSpec {
  readonly id: string;
  readonly label: string;
  readonly transport: RowResult["transport"];
  readonly subject: boolean;
}

/** A ratio to compute for a row: `row.metric / against.metric`, round by round. */
export interface RatioSpec {
  readonly metric: string;
  readonly against: string;
}

/**
 * Collects each row's metrics round by round, then summarises them. Ratios are taken within a
 * round (the same minute, the same machine noise) before the median is taken across rounds.
 */
export class RoundRecorder {
  private readonly values = new Map<string, Map<number, Record<string, number>>>();
  private readonly failures = new Map<string, { status: "n/a" | "error"; note: string }>();

  record(row: string, round: number, metrics: Record<string, number>): void {
    let rounds = this.values.get(row);
    if (rounds === undefined) {
      rounds = new Map();
      this.values.set(row, rounds);
    }
    rounds.set(round, metrics);
  }

  /** Marks a row as not available or failed; the first reason given is kept. */
  fail(row: string, status: "n/a" | "error", note: string): void {
    if (!this.failures.has(row)) this.failures.set(row, { status, note });
  }

  /** Whether `row` is known to be unavailable (no need to try it again). */
  unavailable(row: string): boolean {
    return this.failures.get(row)?.status === "n/a";
  }

  /** Summarises `specs`, with the ratios of every column whose baseline exists for the row. */
  rows(specs: readonly RowSpec[], columns: readonly RatioColumn[]): RowResult[] {
    const ratios = (row: RowSpec): RatioSpec[] =>
      columns.flatMap((column) => {
        const against = column.against[row.transport];
        return against === undefined ? [] : [{ metric: column.metric, against }];
      });
    return specs.map((spec) => {
      const rounds = this.values.get(spec.id) ?? new Map<number, Record<string, number>>();
      const failure = this.failures.get(spec.id);
      if (rounds.size === 0) {
        return {
          ...spec,
          status: failure?.status ?? "error",
          note: failure?.note ?? "no round completed",
          metrics: {},
          ratios: [],
        };
      }
      const names = new Set<string>();
      for (const metrics of rounds.values()) for (const name of Object.keys(metrics)) names.add(name);
      const metrics = Object.fromEntries(
        [...names].map((name) => [name, summarize([...rounds.values()].map((m) => m[name] ?? Number.NaN))]),
      );
      const ratioResults: RatioResult[] = [];
      for (const { metric, against } of ratios(spec)) {
        const base = this.values.get(against);
        if (base === undefined || against === spec.id) continue;
        const perRound: number[] = [];
        for (const [round, mine] of rounds) {
          const theirs = base.get(round)?.[metric];
          const value = mine[metric];
          if (value !== undefined && theirs !== undefined && theirs !== 0) perRound.push(value / theirs);
        }
        if (perRound.length > 0) ratioResults.push({ metric, against, ...summarize(perRound) });
      }
      const row: RowResult = { ...spec, status: "ok", metrics, ratios: ratioResults };
      return failure === undefined ? row : { ...row, note: `some rounds failed: ${failure.note}` };
    });
  }
}
