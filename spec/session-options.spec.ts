import { describe, expect, it } from "vitest";
import { Server, type ResumeOptions } from "../lib/index.js";

/** Builds a server (never started) with `resume`: options are checked in the constructor. */
function serverWith(resume: unknown): Server {
  return new Server({ port: 0, resume: resume as ResumeOptions });
}

describe("the resume option", () => {
  it("takes true, false, or an object of bounds", () => {
    expect(() => serverWith(true)).not.toThrow();
    expect(() => serverWith(false)).not.toThrow();
    expect(() =>
      serverWith({ window: 1, maxMessages: 1, maxBytes: 1, maxInFlightBytes: 1, helloWindow: 0 }),
    ).not.toThrow();
  });

  it("refuses anything else with a TypeError that names the fields", () => {
    expect(() => serverWith("yes")).toThrow(
      new TypeError(
        'options.resume must be true, false or { window, maxMessages, maxBytes, maxInFlightBytes, helloWindow, samePlayer }, got "yes"',
      ),
    );
    // null is an object to typeof: it gets the same TypeError, not a failure to read its fields.
    expect(() => serverWith(null)).toThrow(
      new TypeError(
        "options.resume must be true, false or { window, maxMessages, maxBytes, maxInFlightBytes, helloWindow, samePlayer }, got null",
      ),
    );
  });

  it.each([
    ["window", 0, "between 1 and 2147483647"],
    ["maxMessages", 0, "between 1 and 9007199254740991"],
    ["maxBytes", -1, "between 1 and 9007199254740991"],
    ["maxInFlightBytes", 0, "between 1 and 9007199254740991"],
    ["helloWindow", -1, "between 0 and 2147483647"],
  ])("refuses resume.%s = %s with a RangeError saying what is allowed", (field, value, allowed) => {
    expect(() => serverWith({ [field]: value })).toThrow(
      new RangeError(`options.resume.${field} must be ${allowed}, got ${value}`),
    );
  });

  it.each(["window", "maxMessages", "maxBytes", "maxInFlightBytes", "helloWindow"])(
    "refuses a resume.%s that is not an integer with a TypeError",
    (field) => {
      expect(() => serverWith({ [field]: 1.5 })).toThrow(
        new TypeError(`options.resume.${field} must be an integer, got 1.5`),
      );
    },
  );

  it("refuses a samePlayer that is not a function", () => {
    expect(() => serverWith({ samePlayer: 1 })).toThrow(new TypeError("options.resume.samePlayer must be a function"));
  });
});
