// One game server of the scale-out benchmark (bench/scale-out.ts), a child process with an IPC
// channel. With REDIS_URL it relays broadcasts through `redisAdapter`; without, it is alone.
// Requests `{ id, cmd, ... }` are answered with `{ id, ok, value | error }`.
import { performance } from "node:perf_hooks";
import { Server, silentLogger } from "../lib/index.js";
import { redisAdapter } from "../lib/redis.js";

process.on("disconnect", () => process.exit(0)); // never outlive the benchmark

const url = process.env.REDIS_URL;
const adapter = url ? redisAdapter({ url, prefix: process.env.REDIS_PREFIX, logger: silentLogger }) : undefined;
const server = new Server({ host: "127.0.0.1", port: 0, adapter, logger: silentLogger, maxConnections: 100_000 });

type Command =
  | { id: number; cmd: "status" }
  | { id: number; cmd: "cpu" }
  | { id: number; cmd: "tick"; hz: number; durationMs: number; bytes: number }
  | { id: number; cmd: "stop" };

/** CPU time of this process so far, in milliseconds. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * Broadcasts a state of `bytes` bytes `hz` times a second for `durationMs`. Each tick carries its
 * number and the wall-clock time it was sent (`performance.timeOrigin + now()`, comparable across
 * processes of one machine) so that clients measure delivery latency.
 */
function tick(
  hz: number,
  durationMs: number,
  bytes: number,
): Promise<{ ticks: number; cpuMs: number; elapsedMs: number }> {
  const ticks = Math.max(1, Math.round((hz * durationMs) / 1000));
  const pad = "x".repeat(Math.max(0, bytes - 40));
  const period = 1000 / hz;
  const cpuBefore = cpuMs();
  const started = performance.now();
  return new Promise((resolve) => {
    let seq = 0;
    const next = (): void => {
      server.sendToAll({ action: "state", seq, t: performance.timeOrigin + performance.now(), pad });
      seq++;
      if (seq === ticks) {
        resolve({ ticks, cpuMs: cpuMs() - cpuBefore, elapsedMs: performance.now() - started });
        return;
      }
      // Scheduled against the start time, so that a late tick does not delay all that follow.
      setTimeout(next, Math.max(0, started + seq * period - performance.now()));
    };
    next();
  });
}

async function run(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case "status":
      return {
        port: server.port,
        channels: server.channels.length,
        state: adapter?.state ?? "alone",
        dropped: adapter?.dropped ?? 0,
      };
    case "cpu":
      return cpuMs();
    case "tick":
      return tick(command.hz, command.durationMs, command.bytes);
    case "stop":
      await server.stop();
      setImmediate(() => process.exit(0));
      return true;
  }
}

process.on("message", (command: Command) => {
  run(command).then(
    (value) => process.send!({ id: command.id, ok: true, value }),
    (error: unknown) => process.send!({ id: command.id, ok: false, error: String(error) }),
  );
});

await server.start();
process.send!({ ready: true, port: server.port });
