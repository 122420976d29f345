/**
 * The JSON file a standalone bench row writes: `{ meta, columns, rows, ...extra }`, where `meta`
 * records the machine, the sizes, the duration, the load and the pids of the children
 * (the `BenchMeta` of ./results.ts).
 */
import * as os from "node:os";
import { machine, writeResults } from "./machine.js";
import type { BenchMeta, RatioColumn, RowResult } from "./results.js";
import { startedRolePids } from "./role-child.js";

/** What a row's results file holds besides its `meta`. */
export interface RowResultsContent {
  /** Whether the run used the small sizes of `--quick`. */
  readonly quick: boolean;
  /** Every size used, after flags and environment variables. */
  readonly config: BenchMeta["config"];
  readonly columns: readonly RatioColumn[];
  readonly rows: readonly RowResult[];
  /** Further top-level keys, after `rows` (e.g. the row's `targets`). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/**
 * One run of a row, from its start: it notes the time and the load when it is created, and
 * writes the results file with them once the rows are measured.
 */
export class RowRun {
  /** ISO 8601 time the run started. */
  readonly date = new Date().toISOString();
  /** `os.loadavg()` when the run started. */
  readonly loadAtStart = os.loadavg();
  readonly #started = Date.now();

  /**
   * Writes `fileName` in `outDir` (created if missing) and says so on stderr.
   * @returns the path written.
   */
  async write(outDir: string, fileName: string, content: RowResultsContent): Promise<string> {
    const meta: BenchMeta = {
      date: this.date,
      ...machine(),
      quick: content.quick,
      config: content.config,
      durationMs: Date.now() - this.#started,
      loadAverage: { start: this.loadAtStart, end: os.loadavg() },
      childPids: startedRolePids,
    };
    const results = { meta, columns: content.columns, rows: content.rows, ...content.extra };
    const file = await writeResults(outDir, fileName, results);
    process.stderr.write(`wrote ${file}\n`);
    return file;
  }
}
