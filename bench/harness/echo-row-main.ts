/**
 * What an echo row's `main` does once its arguments are read: measure its variants
 * (./echo-rounds.ts), print the ratio table (./ratio-table.ts) and any lines of the row's own
 * under it, and write the results file (./row-results-file.ts) when there is an output folder.
 */
import { echoRowSizes } from "./echo-row-args.js";
import { measureEchoRounds, type EchoRoundsOptions } from "./echo-rounds.js";
import { renderRatioTable } from "./ratio-table.js";
import type { RowResult } from "./results.js";
import type { RowSpec } from "./round-recorder.js";
import { RowRun } from "./row-results-file.js";

/** An echo row: what it measures, and how it reports. */
export interface EchoRowOptions<R extends RowSpec, P> extends EchoRoundsOptions<R, P> {
  /** The table's first line (the quick-mode warning is added). */
  readonly title: string;
  /** The results file's name, in `config.outDir`. */
  readonly fileName: string;
  /** Lines printed under the table (e.g. target verdicts). Default none. */
  readonly footer?: (rows: readonly RowResult[]) => string[];
  /** Top-level keys of the results file after `rows` (e.g. `targets`). Default none. */
  readonly extra?: (rows: readonly RowResult[]) => Record<string, unknown>;
}

/**
 * Runs the row and reports it.
 * @returns the exit code: 0 when every variant measured, 1 otherwise.
 */
export async function runEchoRow<R extends RowSpec, P>(options: EchoRowOptions<R, P>): Promise<number> {
  const { config, columns } = options;
  const run = new RowRun();
  const { rows, notes } = await measureEchoRounds(options);
  const table = renderRatioTable({
    title: options.title,
    quick: config.quick,
    rows,
    columns,
    notes,
    loadAtStart: run.loadAtStart,
  });
  process.stdout.write(`${[table, ...(options.footer?.(rows) ?? [])].join("\n")}\n`);
  if (config.outDir !== null) {
    await run.write(config.outDir, options.fileName, {
      quick: config.quick,
      config: echoRowSizes(config),
      columns,
      rows,
      ...(options.extra === undefined ? {} : { extra: options.extra(rows) }),
    });
  }
  return rows.every((row) => row.status === "ok") ? 0 : 1;
}
