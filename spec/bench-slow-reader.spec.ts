import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { isRunning, runQuickBench } from "./helpers/quick-bench.js";

const TIMEOUT = 90_000;

interface RoundJson {
  server: { from: number; to: number; rssStartMiB: number; rssEndMiB: number; channels: number; stateBytes: number };
  viewers: { clients: number; expected: number; delivered: number; outOfOrder: number; latencyP99Ms: number };
  slow: { statesRead: number; samples: number; stalenessMaxMs: number; cutOff: boolean };
  catchUp: { bytes: number; states: number; caughtUp: boolean; skippedTicks: number };
}

describe("the slow reader row, --quick (smoke run of bench/slow-reader.ts)", () => {
  it(
    "streams to 100 clients with and without latest, one of them reading a tenth of the bytes, and leaves no process behind",
    async () => {
      const out = await mkdtemp(path.join(tmpdir(), "repod-bench-slow-"));
      try {
        const { code, stdout, stderr } = await runQuickBench("bench/slow-reader.ts", out, TIMEOUT);
        expect(code, stderr).toBe(0);
        expect(stdout).toContain("Slow reader: a 60 Hz state of");
        expect(stdout).toContain('sendToAll(state, { latest: "state" })');

        const results = JSON.parse(await readFile(path.join(out, "results-slow-reader.json"), "utf8")) as {
          meta: { quick: boolean; childPids: number[]; config: { windowMs: number; clients: number } };
          rows: { label: string; latest: boolean; rounds: RoundJson[]; error?: string }[];
        };
        expect(results.meta.quick).toBe(true);
        expect(results.rows.map((row) => [row.latest, row.error, row.rounds.length])).toEqual([
          [true, undefined, 1],
          [false, undefined, 1],
        ]);
        for (const row of results.rows) {
          const [round] = row.rounds as [RoundJson];
          const ticks = round.server.to - round.server.from + 1;
          // Every client connected; a state of about 2 KB on the wire.
          expect(round.server.channels, row.label).toBe(100);
          expect(round.server.stateBytes).toBeGreaterThan(1_900);
          expect(round.server.stateBytes).toBeLessThan(2_100);
          // The 99 others got every tick of the window, in order.
          expect(round.viewers.clients).toBe(99);
          expect(round.viewers.expected).toBe(ticks * 99);
          expect(round.viewers.delivered).toBe(round.viewers.expected);
          expect(round.viewers.outOfOrder).toBe(0);
          expect(Number.isFinite(round.viewers.latencyP99Ms)).toBe(true);
          // The slow peer read about a tenth of the states, so what it held grew old, and it
          // stayed connected; reading at full speed afterwards, it found the backlog and caught up.
          expect(round.slow.cutOff).toBe(false);
          expect(round.slow.statesRead).toBeGreaterThan(ticks * 0.05);
          expect(round.slow.statesRead).toBeLessThan(ticks * 0.2);
          expect(round.slow.samples).toBeGreaterThan(10);
          expect(round.slow.stalenessMaxMs).toBeGreaterThan(results.meta.config.windowMs / 2);
          expect(round.catchUp.caughtUp).toBe(true);
          expect(round.catchUp.states).toBeGreaterThan(ticks / 2);
          expect(round.catchUp.bytes).toBeGreaterThan(round.catchUp.states * round.server.stateBytes * 0.9);
          expect(round.server.rssStartMiB).toBeGreaterThan(0);
          expect(round.server.rssEndMiB).toBeGreaterThan(0);
        }
        // Three processes per mode: the server, the 99 viewers, the slow peer.
        expect(results.meta.childPids).toHaveLength(6);
        expect(results.meta.childPids.filter(isRunning)).toEqual([]);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
    TIMEOUT + 10_000,
  );
});
