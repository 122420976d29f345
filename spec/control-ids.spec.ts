import { describe, expect, it } from "vitest";
import { isControlId, MAX_CONTROL_ID_LENGTH } from "../lib/protocol/control-ids.js";

describe("isControlId (what a ping or request id may be, since the library echoes it back)", () => {
  it("takes finite numbers, integers or not, of any sign", () => {
    for (const id of [0, 1, -1, 2 ** 53, 0.5, -1e300]) expect(isControlId(id), String(id)).toBe(true);
  });

  it("refuses NaN and the infinities, which msgpack carries but no peer should get back", () => {
    for (const id of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(isControlId(id), String(id)).toBe(false);
    }
  });

  it(`takes strings up to ${MAX_CONTROL_ID_LENGTH} characters and refuses longer ones`, () => {
    expect(MAX_CONTROL_ID_LENGTH).toBe(128);
    expect(isControlId("")).toBe(true);
    expect(isControlId("a".repeat(128))).toBe(true);
    expect(isControlId("a".repeat(129))).toBe(false);
  });

  it("refuses everything else: what would be echoed could be deep, big or not encodable", () => {
    for (const id of [null, undefined, true, {}, [], [1], { id: 1 }, 1n, new Uint8Array(4), "1".repeat(1 << 20)]) {
      expect(isControlId(id), typeof id).toBe(false);
    }
  });
});
