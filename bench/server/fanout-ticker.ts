import type { BenchServer } from "../impls/bench-server.js";
import { stateMessage } from "../impls/bench-messages.js";
import { encodePayload } from "../impls/length-prefix.js";

export interface FanoutOptions {
  /** Ticks measured. */
  readonly ticks: number;
  /** Ticks sent before measuring, so every code path is warm. */
  readonly warmupTicks: number;
  /** Ticks per second. */
  readonly hz: number;
}

export interface FanoutOutcome {
  /** Server process CPU (user + system) over the measured ticks, in microseconds. */
  readonly cpuMicros: number;
  readonly ticks: number;
  /** Ticks per second actually achieved over the measured ticks. */
  readonly achievedHz: number;
  /** Size of one state message's msgpack payload, in bytes. */
  readonly stateBytes: number;
}

/**
 * Broadcasts a state snapshot `warmupTicks + ticks` times at `hz`, on a clock that does not drift
 * (each tick is scheduled against the start time, not the previous tick). CPU is measured from the
 * first measured tick until one period after the last, so writes the implementation defers to a
 * later microtask or turn are counted.
 */
export function runFanout(server: BenchServer, options: FanoutOptions): Promise<FanoutOutcome> {
  const { ticks, warmupTicks, hz } = options;
  const period = 1000 / hz;
  const total = warmupTicks + ticks;
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let tick = 0;
    let cpuStart = process.cpuUsage();
    let firstMeasured = start;
    let lastMeasured = start;
    const step = (): void => {
      try {
        if (tick === warmupTicks) {
          cpuStart = process.cpuUsage();
          firstMeasured = performance.now();
        }
        tick++;
        lastMeasured = performance.now();
        server.broadcast(stateMessage(tick));
        if (tick < total) {
          setTimeout(step, Math.max(0, start + tick * period - performance.now()));
        } else {
          setTimeout(finish, period);
        }
      } catch (error) {
        reject(error as Error);
      }
    };
    const finish = (): void => {
      const cpu = process.cpuUsage(cpuStart);
      const span = lastMeasured - firstMeasured;
      resolve({
        cpuMicros: cpu.user + cpu.system,
        ticks,
        achievedHz: ticks > 1 && span > 0 ? ((ticks - 1) * 1000) / span : hz,
        stateBytes: encodePayload(stateMessage(1)).byteLength,
      });
    };
    step();
  });
}
