import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { isRunning, runQuickBench } from "./helpers/quick-bench.js";

const TIMEOUT = 150_000;

interface RoundJson {
  server: { from: number; to: number; rssStartMiB: number; rssEndMiB: number; channels: number; stateBytes: number };
  viewers: { clients: number; expected: number; delivered: number; outOfOrder: number; latencyP99Ms: number };
  slow: { statesRead: number; samples: number; stalenessMaxMs: number; cutOff: boolean };
  catchUp: { bytes: number; states: number; caughtUp: boolean; skippedTicks: number };
}

describe("the slow reader row, --quick (smoke run of bench/slow-reader.ts)", () => {
  it(
    "streams to 100 clients with latest (paced by sessions, and not) and without, one of them reading a tenth of the bytes, and leaves no process behind",
    async () => {
      const out = await mkdtemp(path.join(tmpdir(), "repod-bench-slow-"));
      try {
        const { code, stdout, stderr } = await runQuickBench("bench/slow-reader.ts", out, TIMEOUT);
        expect(code, stderr).toBe(0);
        expect(stdout).toContain("Slow reader: a 60 Hz state of");
        expect(stdout).toContain('sendToAll(state, { latest: "state" })');

        const results = JSON.parse(await readFile(path.join(out, "results-slow-reader.json"), "utf8")) as {
          meta: { quick: boolean; childPids: number[]; config: { windowMs: number; clients: number } };
          rows: { label: string; latest: boolean; sessions: boolean; rounds: RoundJson[]; error?: string }[];
        };
        expect(results.meta.quick).toBe(true);
        expect(results.rows.map((row) => [row.latest, row.sessions, row.error, row.rounds.length])).toEqual([
          [true, true, undefined, 1],
          [true, false, undefined, 1],
          [false, false, undefined, 1],
        ]);
        for (const row of results.rows) {
          const [round] = row.rounds as [RoundJson];
          const ticks = round.server.to - round.server.from + 1;
          // Every client connected; a state of about 2 KB on the wire.
          expect(round.server.channels, row.label).toBe(100);
          expect(round.server.stateBytes).toBeGreaterThan(1_900);
          expect(round.server.stateBytes).toBeLessThan(2_100);
          // The 99 others got the ticks of the window in order: all of them without sessions (the
          // kernels buffer what a busy viewer process has not read yet); with sessions, a viewer
          // starved of CPU by the rest of the test suite is a slow reader too and may see a state
          // replaced by a newer one, so only most of them are required there.
          expect(round.viewers.clients).toBe(99);
          expect(round.viewers.expected).toBe(ticks * 99);
          if (row.sessions) expect(round.viewers.delivered).toBeGreaterThan(round.viewers.expected / 4);
          else expect(round.viewers.delivered).toBe(round.viewers.expected);
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
          if (row.sessions) {
            // Paced by its acknowledgements: what it had not read was at most 64 KiB (32 states)
            // beyond the server's own queue, which held the newest state alone.
            expect(round.catchUp.states).toBeLessThan(40);
          } else {
            // The kernels' buffers took every state it did not read.
            expect(round.catchUp.states).toBeGreaterThan(ticks / 2);
          }
          expect(round.catchUp.bytes).toBeGreaterThan(round.catchUp.states * round.server.stateBytes * 0.9);
          expect(round.server.rssStartMiB).toBeGreaterThan(0);
          expect(round.server.rssEndMiB).toBeGreaterThan(0);
        }
        // Three processes per mode: the server, the 99 viewers, the slow peer.
        expect(results.meta.childPids).toHaveLength(9);
        expect(results.meta.childPids.filter(isRunning)).toEqual([]);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
    TIMEOUT + 10_000,
  );
});
