import type { Summary } from "../harness/stats.js";

/** A number in three significant digits, with k/M for large ones: 98765 → "98.8k". */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toPrecision(3)}k`;
  if (abs >= 1000) return value.toFixed(0);
  if (abs === 0) return "0";
  return value.toPrecision(3);
}

/** "median (min–max)", or just the median for a single round. */
export function formatSummary(summary: Summary, format: (value: number) => string = formatNumber): string {
  if (summary.n <= 1 || summary.min === summary.max) return format(summary.median);
  return `${format(summary.median)} (${format(summary.min)}–${format(summary.max)})`;
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : "–";
}

/** Left-aligned columns separated by two spaces. */
export function renderColumns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat(widths[i]! - [...cell].length)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
