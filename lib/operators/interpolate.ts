import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike } from "rxjs";
import { distance as defaultDistance, lerp as defaultLerp } from "./lerp.js";
import type { ClockEstimate } from "./server-clock.js";

/** A snapshot of entities as the server sent it, stamped with the server's clock. */
export interface TimedSnapshot<E> {
  /** When the server took it, in milliseconds of the server's clock (its `Date.now()`). */
  readonly time: number;
  /** The entities by id: `{ ball: { x, y }, left: { y } }`. */
  readonly entities: Readonly<Record<string, E>>;
}

/** What {@link interpolate} emits on each tick. */
export interface InterpolatedFrame<E> {
  /** The server time shown, in milliseconds of the server's clock. */
  readonly time: number;
  /** Every entity as it was at `time`. */
  readonly entities: Readonly<Record<string, E>>;
}

/** Options of {@link interpolate}. */
export interface InterpolateOptions<E> {
  /** When to emit: one frame per emission, e.g. `animationFrames()` in a browser. */
  readonly ticks: Observable<unknown>;
  /**
   * How far behind the server the entities are shown, in milliseconds. Enough for two or three
   * snapshots to be on their way at any time, so a late one leaves no gap. Default 100.
   */
  readonly delay?: number;
  /**
   * Estimates of the server's clock (`serverClock()`): with them, entities are shown exactly
   * `delay` behind the server. Without them, or until the first estimate, the server's clock is
   * inferred from the snapshots themselves (from the fastest-arriving of the last few), which
   * adds the one-way trip of the fastest snapshot to the delay.
   */
  readonly clock?: Observable<ClockEstimate>;
  /**
   * Blends two states of an entity, `t` from 0 to 1. Default {@link lerp}: linear on every
   * number; pass your own for angles ({@link lerpAngle}) or types of your own.
   */
  readonly lerp?: (from: E, to: E, t: number) => E;
  /**
   * An entity that moves farther than this between two snapshots teleported (a ball put back in
   * the middle, a player respawned): it is not slid across the screen but jumps when its time
   * comes. Measured by `distance`. Default `Infinity` (never).
   */
  readonly snapDistance?: number;
  /** How far apart two states are, for `snapDistance`. Default {@link distance}: Euclidean over the numbers. */
  readonly distance?: (from: E, to: E) => number;
  /**
   * A snapshot this much older or newer than the newest one (in milliseconds) means the server's
   * clock jumped or the server paused: what is buffered is dropped and showing starts over from
   * it. Default 1,000.
   */
  readonly resetAfter?: number;
  /** The most snapshots kept; the oldest go first. Default 64. */
  readonly maxSnapshots?: number;
  /** The local clock (its `now()`, in milliseconds). Default `asyncScheduler`, i.e. `Date.now()`. */
  readonly scheduler?: SchedulerLike;
}

/** Snapshot arrivals kept for inferring the server's clock without `clock`. */
const ARRIVALS = 16;

/**
 * Snapshot interpolation: buffers the server's timestamped snapshots and, on each tick, emits the
 * entities as they were `delay` milliseconds ago on the server's clock, blended between the two
 * snapshots around that moment. So remote entities move smoothly whatever the snapshot rate and
 * however unevenly snapshots arrive.
 *
 * - Gaps: past the newest snapshot, the last known states are held (no guessing ahead).
 * - Snapshots out of order are put in their place; one older than what is already shown, or a
 *   duplicate of a time already buffered, is ignored.
 * - An entity missing from the next snapshot stays as it was until that snapshot's time; a new
 *   one appears at its first snapshot's time.
 * - Nothing is emitted before the first snapshot. Completes when the snapshots or the ticks
 *   complete; errors when either (or `clock`) errors.
 *
 * ```ts
 * listener.on("state").pipe(
 *   map((state) => ({ time: state.time, entities: { ball: state.ball } })),
 *   interpolate({ ticks: animationFrames() }),
 * );
 * ```
 */
export function interpolate<E>(
  options: InterpolateOptions<E>,
): OperatorFunction<TimedSnapshot<E>, InterpolatedFrame<E>> {
  const settings = resolve(options);
  return (snapshots$) =>
    new Observable<InterpolatedFrame<E>>((subscriber) => {
      const buffer: TimedSnapshot<E>[] = [];
      /** `time - arrival` of the last snapshots: its maximum is the server's clock minus the fastest trip. */
      let arrivals: number[] = [];
      let estimate: ClockEstimate | null = null;

      const receive = (snapshot: TimedSnapshot<E>): void => {
        const time = snapshot.time;
        if (typeof time !== "number" || !Number.isFinite(time)) return;
        const newest = buffer[buffer.length - 1];
        if (newest !== undefined && Math.abs(time - newest.time) > settings.resetAfter) {
          buffer.length = 0;
          arrivals = [];
        }
        const oldest = buffer[0];
        // Already shown past it (or a duplicate): nothing to blend it with any more.
        if (oldest !== undefined && time <= oldest.time) return;
        let at = buffer.length;
        while (at > 0 && buffer[at - 1]!.time >= time) at--;
        if (at < buffer.length && buffer[at]!.time === time) return;
        buffer.splice(at, 0, snapshot);
        if (buffer.length > settings.maxSnapshots) buffer.shift();
        arrivals.push(time - settings.scheduler.now());
        if (arrivals.length > ARRIVALS) arrivals.shift();
      };

      const tick = (): void => {
        if (buffer.length === 0) return;
        const now = settings.scheduler.now();
        const serverNow = estimate !== null ? estimate.toServer(now) : now + Math.max(...arrivals);
        const render = serverNow - settings.delay;
        // The snapshots wholly behind the moment shown are done with; the one just before it stays.
        while (buffer.length > 1 && buffer[1]!.time <= render) buffer.shift();
        const from = buffer[0]!;
        const to = buffer[1];
        if (to === undefined || render <= from.time) {
          // Before the first snapshot or past the newest: its states, held.
          subscriber.next({ time: from.time, entities: from.entities });
          return;
        }
        const t = (render - from.time) / (to.time - from.time);
        subscriber.next({ time: render, entities: blendEntities(from.entities, to.entities, t, settings) });
      };

      const fail = (error: unknown): void => subscriber.error(error);
      const done = (): void => subscriber.complete();
      if (options.clock !== undefined) {
        subscriber.add(options.clock.subscribe({ next: (clock) => (estimate = clock), error: fail }));
      }
      subscriber.add(snapshots$.subscribe({ next: receive, error: fail, complete: done }));
      subscriber.add(options.ticks.subscribe({ next: tick, error: fail, complete: done }));
    });
}

interface Settings<E> {
  readonly delay: number;
  readonly lerp: (from: E, to: E, t: number) => E;
  readonly snapDistance: number;
  readonly distance: (from: E, to: E) => number;
  readonly resetAfter: number;
  readonly maxSnapshots: number;
  readonly scheduler: SchedulerLike;
}

/** Options checked and defaulted, once per operator. */
function resolve<E>(options: InterpolateOptions<E>): Settings<E> {
  if (typeof options !== "object" || options === null || typeof options.ticks?.subscribe !== "function") {
    throw new TypeError("interpolate() needs options.ticks, an Observable of frame ticks (e.g. animationFrames())");
  }
  const delay = options.delay ?? 100;
  const snapDistance = options.snapDistance ?? Infinity;
  const resetAfter = options.resetAfter ?? 1_000;
  const maxSnapshots = options.maxSnapshots ?? 64;
  if (!(delay >= 0 && delay < Infinity))
    throw new RangeError(`options.delay must be a number of milliseconds of at least 0, got ${String(delay)}`);
  if (!(snapDistance > 0))
    throw new RangeError(
      `options.snapDistance must be a positive number (Infinity to never snap), got ${String(snapDistance)}`,
    );
  if (!(resetAfter > 0))
    throw new RangeError(`options.resetAfter must be a positive number of milliseconds, got ${String(resetAfter)}`);
  if (!Number.isInteger(maxSnapshots) || maxSnapshots < 2)
    throw new RangeError(`options.maxSnapshots must be an integer of at least 2, got ${String(maxSnapshots)}`);
  return {
    delay,
    lerp: options.lerp ?? defaultLerp,
    snapDistance,
    distance: options.distance ?? defaultDistance,
    resetAfter,
    maxSnapshots,
    scheduler: options.scheduler ?? asyncScheduler,
  };
}

/** Every entity of `from` at `t` of the way to `to`. */
function blendEntities<E>(
  from: Readonly<Record<string, E>>,
  to: Readonly<Record<string, E>>,
  t: number,
  settings: Settings<E>,
): Record<string, E> {
  const result: Record<string, E> = {};
  for (const id in from) {
    const a = from[id]!;
    const b = to[id];
    const teleports =
      b !== undefined && settings.snapDistance < Infinity && settings.distance(a, b) > settings.snapDistance;
    result[id] = b === undefined || teleports ? a : settings.lerp(a, b, t);
  }
  return result;
}
