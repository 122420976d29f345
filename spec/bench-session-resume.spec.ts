import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { RowResult } from "../bench/harness/results.js";
import { isRunning, runQuickBench } from "./helpers/quick-bench.js";

const SCRIPT = "bench/session-resume.ts";
const TIMEOUT = 90_000;

describe("the session resume row, --quick (smoke run of bench/session-resume.ts)", () => {
  it(
    "measures the echo with and without resume on TCP and WebSocket, with a session on every resume row, and leaves no process behind",
    async () => {
      const out = await mkdtemp(path.join(tmpdir(), "repod-bench-resume-"));
      try {
        const { code, stdout, stderr } = await runQuickBench(SCRIPT, out, TIMEOUT);
        expect(code, stderr).toBe(0);
        expect(stdout).toContain("Session resume: pipelined echo");
        expect(stdout).toContain("throughput × without resume");

        const results = JSON.parse(await readFile(path.join(out, "results-session-resume.json"), "utf8")) as {
          meta: { quick: boolean; childPids: number[] };
          rows: RowResult[];
          targets: { row: string; ratio: number | null; met: boolean | null }[];
        };
        expect(results.meta.quick).toBe(true);
        expect(results.rows.map((row) => [row.id, row.status])).toEqual([
          ["tcp", "ok"],
          ["tcp-resume", "ok"],
          ["ws", "ok"],
          ["ws-resume", "ok"],
        ]);
        // Each resume row is divided by the row without resume of its own transport, round by round.
        for (const [row, against] of [
          ["tcp-resume", "tcp"],
          ["ws-resume", "ws"],
        ] as const) {
          const ratios = results.rows.find((candidate) => candidate.id === row)!.ratios;
          expect(ratios.map((ratio) => [ratio.metric, ratio.against])).toEqual([
            ["roundTripsPerSec", against],
            ["serverCpuUsPerMsg", against],
          ]);
          for (const ratio of ratios) {
            expect(Number.isFinite(ratio.median), `${row} ${ratio.metric}`).toBe(true);
            expect(ratio.n).toBe(2);
          }
        }
        expect(results.targets.map((target) => target.row)).toEqual([
          "repod-rx TCP, resume: true",
          "repod-rx WebSocket, resume: true",
        ]);
        expect(results.meta.childPids).toHaveLength(2);
        expect(results.meta.childPids.filter(isRunning)).toEqual([]);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
    TIMEOUT + 10_000,
  );
});
