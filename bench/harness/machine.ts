/**
 * What every results file of the benchmarks records about where it ran, and how it is written:
 * one place for the machine description and the JSON file, shared by the standalone rows.
 */
import { mkdir, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

/** The machine a run measured: Node's version, the OS, the CPU model and how many cores. */
export interface Machine {
  readonly node: string;
  readonly platform: string;
  readonly cpu: string;
  readonly cores: number;
}

/** This machine, as results files record it. */
export function machine(): Machine {
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: os.cpus()[0]?.model.trim() ?? "unknown",
    cores: os.availableParallelism(),
  };
}

/**
 * Writes `results` as indented JSON to `fileName` in `outDir` (created if missing).
 * @returns the path written.
 */
export async function writeResults(outDir: string, fileName: string, results: unknown): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, fileName);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
