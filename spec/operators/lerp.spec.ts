import { describe, expect, it } from "vitest";
import { distance, lerp, lerpAngle } from "../../lib/operators.js";

describe("lerp", () => {
  it("blends numbers linearly", () => {
    expect(lerp(10, 20, 0)).toBe(10);
    expect(lerp(10, 20, 0.25)).toBe(12.5);
    expect(lerp(10, 20, 1)).toBe(20);
  });

  it("blends objects and arrays field by field, keeping fields found on one side only", () => {
    expect(lerp({ x: 0, y: 10, hp: 3 } as Record<string, number>, { x: 10, y: 0, shield: 1 }, 0.5)).toEqual({
      x: 5,
      y: 5,
      hp: 3,
      shield: 1,
    });
    expect(lerp([0, [10, 20]], [10, [20, 40]], 0.5)).toEqual([5, [15, 30]]);
    expect(lerp([1], [3, 7], 0.5)).toEqual([2, 7]);
  });

  it("keeps what is not a number (names, flags, null) from the start until t reaches 1", () => {
    const from = { name: "ann", alive: true, target: null as string | null };
    const to = { name: "bob", alive: false, target: "x" };
    expect(lerp(from, to, 0.99)).toEqual(from);
    expect(lerp(from, to, 1)).toEqual(to);
  });
});

describe("lerpAngle", () => {
  it("goes the short way round, across 0", () => {
    const degrees = (radians: number): number => Math.round((radians * 180) / Math.PI);
    const rad = (degrees: number): number => (degrees * Math.PI) / 180;
    expect(degrees(lerpAngle(rad(350), rad(10), 0.5))).toBe(360);
    expect(degrees(lerpAngle(rad(10), rad(350), 0.5))).toBe(0);
    expect(degrees(lerpAngle(rad(90), rad(180), 0.5))).toBe(135);
    expect(degrees(lerpAngle(rad(0), rad(720 + 30), 1))).toBe(30);
  });
});

describe("distance", () => {
  it("is the Euclidean distance over the numbers both sides have", () => {
    expect(distance({ x: 0, y: 0 }, { x: 3, y: 4 })).toBe(5);
    expect(distance(2, -1)).toBe(3);
    expect(distance({ x: 1, name: "a" } as Record<string, unknown>, { x: 1, name: "b", y: 9 })).toBe(0);
    expect(distance([0, 0], [6, 8])).toBe(10);
  });
});
