import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { SHAPES } from "../bench/client/decode-payloads.js";
import type { BenchResults } from "../bench/harness/results.js";
import { DEFAULT_MAX_PAYLOAD_DEPTH, DEFAULT_MAX_PAYLOAD_ITEMS, DEFAULT_MAX_PAYLOAD_KEYS } from "../lib/constants.js";
import { isRunning, runQuickBench } from "./helpers/quick-bench.js";

const RUN = "bench/run.ts";
const DECODE_BUDGET = "bench/decode-budget.ts";
const HARNESS_TIMEOUT = 120_000;

describe("npm run bench -- --quick (smoke run of the benchmark harness)", () => {
  it(
    "runs every scenario, prints the table, writes results.json and results.svg with finite ratios, and leaves no process behind",
    async () => {
      const out = await mkdtemp(path.join(tmpdir(), "repod-bench-"));
      try {
        const { code, stdout, stderr } = await runQuickBench(RUN, out, HARNESS_TIMEOUT);
        expect(code, stderr).toBe(0);
        expect(stdout).toContain("1. Pipelined echo");
        expect(stdout).toContain("Targets of issue 6");

        const results = JSON.parse(await readFile(path.join(out, "results.json"), "utf8")) as BenchResults;
        expect(results.meta).toMatchObject({ node: process.version, quick: true });
        expect(results.meta.cores).toBeGreaterThan(0);
        expect(typeof results.meta.cpu).toBe("string");
        expect(Number.isNaN(Date.parse(results.meta.date))).toBe(false);
        expect(results.scenarios.map((s) => s.id)).toEqual(["echo", "latency", "fanout", "pump", "memory", "reactive"]);

        for (const scenario of results.scenarios) {
          expect(scenario.status, `${scenario.id}: ${scenario.error}`).toBe("ok");
          expect(scenario.rows.length).toBeGreaterThan(0);
          for (const row of scenario.rows) {
            // The WebSocket rows may be "n/a" in a build without the WebSocket transport.
            const allowed = row.transport === "ws" && row.id.startsWith("repod-") ? ["ok", "n/a"] : ["ok"];
            expect(allowed, `${scenario.id}/${row.id}: ${row.note}`).toContain(row.status);
            if (row.status !== "ok") continue;
            for (const [name, summary] of Object.entries(row.metrics)) {
              for (const value of [summary.median, summary.min, summary.max]) {
                expect(Number.isFinite(value), `${scenario.id}/${row.id}/${name}`).toBe(true);
              }
            }
            for (const ratio of row.ratios) {
              expect(Number.isFinite(ratio.median), `${scenario.id}/${row.id} ÷ ${ratio.against}`).toBe(true);
              expect(ratio.min).toBeLessThanOrEqual(ratio.median);
              expect(ratio.max).toBeGreaterThanOrEqual(ratio.median);
            }
          }
        }
        const tcpEcho = results.scenarios.find((s) => s.id === "echo")!.rows.find((r) => r.id === "repod-tcp")!;
        expect(tcpEcho.ratios.map((r) => r.against)).toEqual(["raw-net-coalesced", "socket.io", "raw-net-coalesced"]);
        const fanout = results.scenarios.find((s) => s.id === "fanout")!;
        for (const row of fanout.rows.filter((r) => r.status === "ok"))
          expect(row.metrics.deliveredPercent!.median).toBe(100);
        expect(results.targets.length).toBeGreaterThan(0);

        const svg = await readFile(path.join(out, "results.svg"), "utf8");
        expect(svg.startsWith("<svg")).toBe(true);
        expect(svg.trimEnd().endsWith("</svg>")).toBe(true);

        expect(results.meta.childPids.length).toBeGreaterThan(0);
        expect(results.meta.childPids.filter(isRunning)).toEqual([]);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
    HARNESS_TIMEOUT + 10_000,
  );
});

describe("the decode budget row, --quick (smoke run of bench/decode-budget.ts)", () => {
  it(
    "sends every shape to both servers, refuses exactly the full-size payloads over the default budget, and leaves no process behind",
    async () => {
      const out = await mkdtemp(path.join(tmpdir(), "repod-bench-decode-"));
      try {
        const { code, stdout, stderr } = await runQuickBench(DECODE_BUDGET, out, HARNESS_TIMEOUT);
        expect(code, stderr).toBe(0);
        expect(stdout).toContain("Decode budget: what one payload costs the server");

        const results = JSON.parse(await readFile(path.join(out, "results-decode-budget.json"), "utf8")) as {
          meta: { quick: boolean; config: Record<string, unknown>; childPids: number[] };
          rows: {
            shape: string;
            budget: "default" | "lifted";
            values: number;
            keys: number;
            outcomes: string[];
            cpuMs: { median: number };
            heapMiB: { median: number };
            error?: string;
            skipped?: string;
          }[];
        };
        expect(results.meta.quick).toBe(true);
        expect(results.meta.config).toMatchObject({
          maxPayloadDepth: DEFAULT_MAX_PAYLOAD_DEPTH,
          maxPayloadItems: DEFAULT_MAX_PAYLOAD_ITEMS,
          maxPayloadKeys: DEFAULT_MAX_PAYLOAD_KEYS,
        });
        expect(new Set(results.rows.map((row) => row.shape))).toEqual(new Set(SHAPES.map((shape) => shape.id)));
        for (const row of results.rows) {
          expect(row.error, `${row.shape}/${row.budget}`).toBeUndefined();
          if (row.skipped !== undefined) continue;
          const over = row.values > DEFAULT_MAX_PAYLOAD_ITEMS || row.keys > DEFAULT_MAX_PAYLOAD_KEYS;
          const expected = row.budget === "default" && over ? "ERR_PAYLOAD_TOO_COMPLEX" : "delivered";
          expect(row.outcomes, `${row.shape}/${row.budget}`).toEqual([expected]);
          expect(Number.isFinite(row.cpuMs.median) && Number.isFinite(row.heapMiB.median)).toBe(true);
        }
        // The key shapes have a row cut at the default bounds, delivered.
        const cut = results.rows.filter((row) => row.shape === "distinct-key-maps" && row.budget === "default");
        expect(cut.map((row) => row.outcomes[0])).toEqual(["ERR_PAYLOAD_TOO_COMPLEX", "delivered"]);
        expect(cut[1]!.keys).toBeLessThanOrEqual(DEFAULT_MAX_PAYLOAD_KEYS);

        expect(results.meta.childPids.length).toBe(2);
        expect(results.meta.childPids.filter(isRunning)).toEqual([]);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
    HARNESS_TIMEOUT + 10_000,
  );
});
