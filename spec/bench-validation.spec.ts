import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { RowResult } from "../bench/harness/results.js";
import { isRunning, runQuickBench } from "./helpers/quick-bench.js";

const SCRIPT = "bench/validation.ts";
const TIMEOUT = 90_000;

describe("the validation row, --quick (smoke run of bench/validation.ts)", () => {
  it(
    "measures the echo without validation and with valibot and zod schemas, each as a ratio to none, and leaves no process behind",
    async () => {
      const out = await mkdtemp(path.join(tmpdir(), "repod-bench-validation-"));
      try {
        const { code, stdout, stderr } = await runQuickBench(SCRIPT, out, TIMEOUT);
        expect(code, stderr).toBe(0);
        expect(stdout).toContain("Validation: pipelined echo over TCP");
        expect(stdout).toContain("throughput × none");

        const results = JSON.parse(await readFile(path.join(out, "results-validation.json"), "utf8")) as {
          meta: { quick: boolean; childPids: number[] };
          rows: RowResult[];
        };
        expect(results.meta.quick).toBe(true);
        expect(results.rows.map((row) => [row.id, row.status])).toEqual([
          ["none", "ok"],
          ["valibot-server", "ok"],
          ["valibot-both", "ok"],
          ["zod-both", "ok"],
        ]);
        expect(results.rows[0]!.ratios).toEqual([]);
        // Each validating row is divided by the row without validation, round by round.
        for (const row of results.rows.slice(1)) {
          expect(row.ratios.map((ratio) => [ratio.metric, ratio.against])).toEqual([
            ["roundTripsPerSec", "none"],
            ["serverCpuUsPerMsg", "none"],
          ]);
          for (const ratio of row.ratios) {
            expect(Number.isFinite(ratio.median), `${row.id} ${ratio.metric}`).toBe(true);
            expect(ratio.n).toBe(2);
          }
        }
        expect(results.meta.childPids).toHaveLength(2);
        expect(results.meta.childPids.filter(isRunning)).toEqual([]);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
    TIMEOUT + 10_000,
  );
});
