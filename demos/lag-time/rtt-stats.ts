// Round-trip statistics of one client: count and percentiles, over every sample so far.

/** A summary of the round trips measured so far, in milliseconds. */
export interface RttSummary {
  readonly count: number;
  readonly min: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * Collects round-trip times and summarizes them. Keeps every sample (a demo measures thousands,
 * not millions) so the percentiles are exact, by the nearest-rank method.
 */
export class RttStats {
  private readonly samples: number[] = [];

  /** Adds one round-trip time, in milliseconds. */
  add(milliseconds: number): void {
    this.samples.push(milliseconds);
  }

  /** How many round trips were measured. */
  get count(): number {
    return this.samples.length;
  }

  /** The summary so far; every field is 0 before the first sample. */
  summary(): RttSummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    return {
      count: sorted.length,
      min: sorted[0] ?? 0,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? 0,
    };
  }
}

/** The nearest-rank `p`th percentile of ascending `sorted` values; 0 when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? 0;
}

/** One line such as `count=20 p50=0.31ms p99=1.20ms (min 0.22ms, max 1.20ms)`. */
export function formatSummary(summary: RttSummary): string {
  const ms = (value: number): string => `${value.toFixed(2)}ms`;
  return `count=${summary.count} p50=${ms(summary.p50)} p99=${ms(summary.p99)} (min ${ms(summary.min)}, max ${ms(summary.max)})`;
}
