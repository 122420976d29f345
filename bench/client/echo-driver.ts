import { moveMessage } from "../impls/bench-messages.js";
import type { ClientLink } from "../impls/bench-server.js";

const ignore = (): void => {};

/**
 * Pipelined echo: keeps `window` move messages in flight, sending the next one as each echo
 * arrives, until `count` echoes are back. Resolves with the elapsed time in nanoseconds.
 * @throws if the echoes are not all back within `timeoutMs`.
 */
export function pipelinedEcho(link: ClientLink, count: number, window: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let received = 0;
    const timer = setTimeout(() => {
      link.onMessage = ignore;
      reject(new Error(`pipelined echo: ${received} of ${count} echoes back after ${timeoutMs} ms`));
    }, timeoutMs);
    const start = process.hrtime.bigint();
    link.onMessage = (message) => {
      if (message.action !== "move") return;
      received++;
      if (sent < count) link.send(moveMessage(sent++));
      if (received === count) {
        const elapsed = Number(process.hrtime.bigint() - start);
        clearTimeout(timer);
        link.onMessage = ignore;
        resolve(elapsed);
      }
    };
    const initial = Math.min(window, count);
    while (sent < initial) link.send(moveMessage(sent++));
  });
}

export interface LatencySummary {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * Ping-pong: one message in flight at a time, `warmup + count` round trips in sequence; the
 * first `warmup` are not recorded. Resolves with the round-trip percentiles in microseconds.
 */
export function pingPong(link: ClientLink, count: number, warmup: number, timeoutMs: number): Promise<LatencySummary> {
  return new Promise((resolve, reject) => {
    const total = warmup + count;
    const samples = new Float64Array(count);
    let done = 0;
    let sentAt = 0;
    const timer = setTimeout(() => {
      link.onMessage = ignore;
      reject(new Error(`ping-pong: ${done} of ${total} round trips after ${timeoutMs} ms`));
    }, timeoutMs);
    link.onMessage = (message) => {
      if (message.action !== "move") return;
      const rtt = performance.now() - sentAt;
      if (done >= warmup) samples[done - warmup] = rtt * 1000;
      done++;
      if (done < total) {
        sentAt = performance.now();
        link.send(moveMessage(done));
        return;
      }
      clearTimeout(timer);
      link.onMessage = ignore;
      let sum = 0;
      for (const sample of samples) sum += sample;
      samples.sort();
      resolve({ p50Us: percentile(samples, 0.5), p99Us: percentile(samples, 0.99), meanUs: sum / count });
    };
    sentAt = performance.now();
    link.send(moveMessage(0));
  });
}
