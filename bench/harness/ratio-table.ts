/**
 * The printed table of a row measured as ratios to baseline rows: round trips per second and server
 * CPU per message of each row, then one column per ratio (`baseline` on the row divided by).
 */
import * as os from "node:os";
import { formatRatio, formatSummary, renderColumns } from "../report/format.js";
import type { RatioColumn, RowResult } from "./results.js";

/** What goes into the table. */
export interface RatioTableOptions {
  /** The first line, before the quick-mode warning and the reading hint. */
  readonly title: string;
  /** Whether the run used the small sizes of `--quick` (the title then says so). */
  readonly quick: boolean;
  readonly rows: readonly RowResult[];
  readonly columns: readonly RatioColumn[];
  /** Printed under the table, one `note:` line each. */
  readonly notes: readonly string[];
  /** `os.loadavg()` when the run started (the table prints it beside the load at its end). */
  readonly loadAtStart: readonly number[];
}

/** Renders the title, the load average, the table and its notes, one line each, without a final newline. */
export function renderRatioTable(options: RatioTableOptions): string {
  const { rows, columns } = options;
  const lines: string[][] = [["", "round trips/s", "server CPU µs/msg", ...columns.map((column) => column.header)]];
  for (const row of rows) {
    if (row.status !== "ok") {
      lines.push([row.label, `${row.status}: ${row.note ?? ""}`]);
      continue;
    }
    const cells = [
      row.label,
      formatSummary(row.metrics.roundTripsPerSec!),
      formatSummary(row.metrics.serverCpuUsPerMsg!),
    ];
    for (const column of columns) {
      const against = column.against[row.transport];
      if (against === row.id) cells.push("baseline");
      else {
        const ratio = row.ratios.find((r) => r.metric === column.metric && r.against === against);
        cells.push(ratio === undefined ? "–" : formatSummary(ratio, formatRatio));
      }
    }
    lines.push(cells);
  }
  const title = options.title + (options.quick ? " (quick mode: sizes too small for conclusions)" : "");
  return [
    `${title}  (ratios: higher is better for throughput, lower for CPU)`,
    `Load average (1 min) ${options.loadAtStart[0]!.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end.`,
    renderColumns(lines)
      .split("\n")
      .map((line) => `  ${line}`)
      .join("\n"),
    ...options.notes.map((note) => `  note: ${note}`),
  ].join("\n");
}
