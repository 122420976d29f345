import { interval } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { LagTimeClient } from "../demos/lag-time/lag-time-client.js";
import { LagTimeServer } from "../demos/lag-time/lag-time-server.js";
import { percentile, RttStats } from "../demos/lag-time/rtt-stats.js";
import { Cleanup } from "./helpers/cleanup.js";
import { DemoProcess } from "./helpers/demo-process.js";
import { waitFor } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("the lag-time statistics", () => {
  it("take nearest-rank percentiles", () => {
    const sorted = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBe(0);
    const stats = new RttStats();
    for (const sample of [5, 1, 3, 2, 4]) stats.add(sample);
    expect(stats.summary()).toEqual({ count: 5, min: 1, p50: 3, p99: 5, max: 5 });
  });
});

describe("the lag-time demo", () => {
  it("pings two clients, one answering inside pump() and one live, and reports each one's count, p50 and p99", async () => {
    const log: string[] = [];
    const server = new LagTimeServer({ port: 0, interval: 2, reportEvery: 10, log: (line) => log.push(line) });
    await server.start();
    cleanup.add(() => server.stop());

    const clients = (["pump", "live"] as const).map((answer) => {
      const client = new LagTimeClient({ answer, maxPings: 30 });
      client.connect("127.0.0.1", server.port);
      const loop = client.autoPump(interval(16));
      cleanup.add(() => {
        client.close();
        loop.unsubscribe();
      });
      return client;
    });
    await waitFor(() => clients.every((client) => client.ended), "both clients to answer 30 pings and leave", 10_000);
    await waitFor(() => server.reports.filter((report) => report.final).length === 2, "the final reports", 10_000);

    for (const client of clients) expect(client.answered).toBe(30);
    const finals = server.reports.filter((report) => report.final);
    for (const { summary } of finals) {
      expect(summary.count).toBe(30);
      expect(summary.p50).toBeGreaterThan(0);
      expect(summary.min).toBeLessThanOrEqual(summary.p50);
      expect(summary.p50).toBeLessThanOrEqual(summary.p99);
      expect(summary.p99).toBeLessThanOrEqual(summary.max);
    }
    // Connected, then statistics every 10 round trips, and once more when the client leaves.
    for (const { channel } of finals) {
      const lines = log.filter((line) => line.startsWith(`client ${channel.id} `));
      expect(
        lines.map(
          (line) =>
            /^client \d+ (so far|disconnected): count=(\d+)/.exec(line)?.slice(1).join(" ") ??
            line.replace(/\(.*\) /, ""),
        ),
      ).toEqual([`client ${channel.id} connected`, "so far 10", "so far 20", "so far 30", "disconnected 30"]);
      expect(lines.at(-1)).toMatch(
        /^client \d+ disconnected: count=30 p50=\d+\.\d\dms p99=\d+\.\d\dms \(min \d+\.\d\dms, max \d+\.\d\dms\)$/,
      );
    }
    console.log(
      `lag-time statistics over TCP on 127.0.0.1:\n  ${log.filter((line) => line.includes("disconnected:")).join("\n  ")}`,
    );
  });

  it("runs as commands: the server prints the statistics of a client that answers 20 pings", async () => {
    const server = new DemoProcess("demos/lag-time/server.ts", ["--port", "0", "--interval", "5", "--every", "10"]);
    cleanup.add(() => server.kill());
    const port = (await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]!;

    const client = new DemoProcess("demos/lag-time/client.ts", ["--port", port, "--count", "20"]);
    cleanup.add(() => client.kill());
    expect(await client.exited).toBe(0);
    expect(client.lines).toEqual(["connected; answering pings inside pump()", "disconnected after 20 pings"]);

    const report = await server.waitFor(/client \d+ disconnected: count=20 p50=[\d.]+ms p99=[\d.]+ms.*/);
    console.log(`lag-time server output: ${report[0]}`);
    server.child.kill("SIGINT");
    expect(await server.exited).toBe(0);
  }, 60_000);
});
