// The default blending of `interpolate`: numbers linearly, objects and arrays field by field, and
// the distance its teleport check measures.

/**
 * Linear interpolation from `from` (`t` = 0) to `to` (`t` = 1): numbers blend, plain objects and
 * arrays blend field by field (a field missing on one side keeps the other side's value), and
 * anything else (strings, booleans, `null`) keeps `from`'s value until `t` reaches 1.
 */
export function lerp<T>(from: T, to: T, t: number): T {
  return blend(from, to, t) as T;
}

/**
 * Interpolates angles in radians along the shorter way round: from 350° to 10° passes through 0°,
 * not 180°. Use it for a rotation field: `lerp: (a, b, t) => ({ ...lerp(a, b, t), angle: lerpAngle(a.angle, b.angle, t) })`.
 */
export function lerpAngle(from: number, to: number, t: number): number {
  const turn = 2 * Math.PI;
  const delta = ((((to - from) % turn) + turn + Math.PI) % turn) - Math.PI;
  return from + delta * t;
}

/**
 * How far apart two values are, for the teleport check: the Euclidean distance over every number
 * they share (`{ x, y }` gives the usual distance, a number its absolute difference).
 */
export function distance<T>(from: T, to: T): number {
  return Math.sqrt(squares(from, to));
}

function blend(from: unknown, to: unknown, t: number): unknown {
  if (typeof from === "number" && typeof to === "number") return from + (to - from) * t;
  if (Array.isArray(from) && Array.isArray(to)) {
    const length = Math.max(from.length, to.length);
    const result: unknown[] = new Array(length);
    for (let i = 0; i < length; i++)
      result[i] = i < from.length && i < to.length ? blend(from[i], to[i], t) : (from[i] ?? to[i]);
    return result;
  }
  if (isRecord(from) && isRecord(to)) {
    const result: Record<string, unknown> = { ...to, ...from };
    for (const key in from) if (key in to) result[key] = blend(from[key], to[key], t);
    return result;
  }
  return t >= 1 ? to : from;
}

function squares(from: unknown, to: unknown): number {
  if (typeof from === "number" && typeof to === "number") return (to - from) ** 2;
  if ((Array.isArray(from) && Array.isArray(to)) || (isRecord(from) && isRecord(to))) {
    let sum = 0;
    const a = from as Record<string, unknown>;
    const b = to as Record<string, unknown>;
    for (const key in a) if (key in b) sum += squares(a[key], b[key]);
    return sum;
  }
  return 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
