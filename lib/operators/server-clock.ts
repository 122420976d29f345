import { Observable, type OperatorFunction } from "rxjs";
import type { ClockSample } from "../connections/connection.js";

/** Options of {@link serverClock}. */
export interface ServerClockOptions {
  /** How many of the newest samples the estimate is made of. Default 8; at least 1. */
  readonly window?: number;
  /**
   * How many samples in a row must contradict the estimate before it is taken as a clock jump (a
   * clock set on either side, a laptop waking up): the older samples are then forgotten and the
   * estimate starts over from these. Default 2; at least 1.
   */
  readonly jumpAfter?: number;
}

/**
 * The estimated relation between this side's clock and the server's, as {@link serverClock}
 * emits it. Every time is a wall clock in milliseconds (`Date.now()` on each side).
 */
export interface ClockEstimate {
  /** Server time minus local time, in milliseconds: add it to a local time to get server time. */
  readonly offset: number;
  /** The median round trip of the samples kept, in milliseconds. */
  readonly rtt: number;
  /**
   * How far off the offset can be at most, in milliseconds: half the width of the range the
   * samples agree on (never more than half the fastest round trip, plus a millisecond).
   */
  readonly uncertainty: number;
  /** How many samples the estimate is made of. */
  readonly samples: number;
  /** The local time at which the server's clock read `serverTime` (a snapshot's stamp). */
  toLocal(serverTime: number): number;
  /** What the server's clock reads at local time `localTime` (by default now). */
  toServer(localTime?: number): number;
}

/** One sample, reduced to what the estimate needs. */
interface Reading {
  /** Server time minus local time, assuming the server answered halfway through the round trip. */
  readonly offset: number;
  readonly rtt: number;
}

const DEFAULT_WINDOW = 8;
const DEFAULT_JUMP_AFTER = 2;

/**
 * Estimates the offset between this side's clock and the server's from heartbeat round trips
 * (`listener.clockSamples$`, with the `heartbeat` option on), NTP-style: each sample says the
 * server's clock read `peerTime` somewhere within the round trip, which puts the true offset
 * within half a round trip of the one computed by assuming halfway. The estimate is the middle of
 * the range the last `window` samples agree on: a round trip slowed by a busy network or a
 * stalled tab gives a wide range and hardly counts, a fast one narrows it.
 *
 * A sample whose range misses the estimate's cannot be right with the clocks unchanged: it is
 * left out (nothing is emitted for it), unless `jumpAfter` of them in a row say the same, which
 * proves a clock jumped (set by hand, a laptop waking up): the estimate then starts over from
 * them. Emits a new {@link ClockEstimate} for every other sample; completes and errors with the
 * samples.
 *
 * ```ts
 * listener.clockSamples$.pipe(serverClock()).subscribe((clock) => (latest = clock));
 * const shownAt = latest.toLocal(snapshot.time); // the snapshot's moment on this clock
 * ```
 */
export function serverClock(options: ServerClockOptions = {}): OperatorFunction<ClockSample, ClockEstimate> {
  const window = options.window ?? DEFAULT_WINDOW;
  const jumpAfter = options.jumpAfter ?? DEFAULT_JUMP_AFTER;
  if (!Number.isInteger(window) || window < 1) {
    throw new RangeError(`options.window must be an integer of at least 1, got ${String(window)}`);
  }
  if (!Number.isInteger(jumpAfter) || jumpAfter < 1) {
    throw new RangeError(`options.jumpAfter must be an integer of at least 1, got ${String(jumpAfter)}`);
  }
  return (samples$) =>
    new Observable<ClockEstimate>((subscriber) => {
      // Per subscription: two subscribers to the same estimate stream keep their own windows.
      let kept: Reading[] = [];
      let contradicting: Reading[] = [];
      let current: ClockEstimate | null = null;
      return samples$.subscribe({
        next: (sample) => {
          if (!(sample.rtt >= 0) || !Number.isFinite(sample.peerTime) || !Number.isFinite(sample.receivedAt)) return;
          const reading = { offset: sample.peerTime - (sample.receivedAt - sample.rtt / 2), rtt: sample.rtt };
          if (current !== null && contradicts(reading, current)) {
            const sameWay =
              contradicting.length === 0 ||
              Math.sign(contradicting[0]!.offset - current.offset) === Math.sign(reading.offset - current.offset);
            contradicting = sameWay ? [...contradicting, reading] : [reading];
            if (contradicting.length < jumpAfter) return;
            kept = contradicting;
            contradicting = [];
          } else {
            contradicting = [];
            kept.push(reading);
            if (kept.length > window) kept.shift();
          }
          current = estimate(kept);
          subscriber.next(current);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
}

/**
 * Clocks read whole milliseconds: a time stamped `t` may be up to 1 ms past it, so each sample's
 * range is widened by that much on either side.
 */
const RESOLUTION = 1;

/** Whether `reading` and `estimate` cannot both be right with the clocks unchanged. */
function contradicts(reading: Reading, estimate: ClockEstimate): boolean {
  return Math.abs(reading.offset - estimate.offset) > reading.rtt / 2 + RESOLUTION + estimate.uncertainty;
}

/**
 * The estimate from the readings kept. Each reading puts the true offset within its half round
 * trip of its own offset; the estimate is the middle of the range that the most readings agree
 * on (Marzullo's algorithm, as NTP intersects its sources): with steady clocks, the range all of
 * them share, so a slow round trip (a wide range) hardly counts and a fast one narrows it.
 */
function estimate(readings: readonly Reading[]): ClockEstimate {
  const edges: { at: number; step: 1 | -1 }[] = [];
  for (const { offset, rtt } of readings) {
    const half = rtt / 2 + RESOLUTION;
    edges.push({ at: offset - half, step: 1 }, { at: offset + half, step: -1 });
  }
  // Ranges that only touch still agree: at equal positions, openings come first.
  edges.sort((a, b) => a.at - b.at || b.step - a.step);
  let depth = 0;
  let best = 0;
  let low = 0;
  let high = 0;
  for (let i = 0; i < edges.length; i++) {
    const edge = edges[i]!;
    depth += edge.step;
    if (edge.step === 1 && depth > best) {
      best = depth;
      low = edge.at;
      high = edges[i + 1]!.at;
    }
  }
  const offset = (low + high) / 2;
  return {
    offset,
    rtt: median(readings.map((reading) => reading.rtt)),
    uncertainty: (high - low) / 2,
    samples: readings.length,
    toLocal: (serverTime) => serverTime - offset,
    toServer: (localTime = Date.now()) => localTime + offset,
  };
}

function median(values: number[]): number {
  values.sort((a, b) => a - b);
  const middle = values.length >> 1;
  return values.length % 2 === 1 ? values[middle]! : (values[middle - 1]! + values[middle]!) / 2;
}
