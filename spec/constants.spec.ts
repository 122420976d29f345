import { describe, expect, it } from "vitest";
import { DEFAULT_HOST, DEFAULT_MAX_PAYLOAD, DEFAULT_PORT, HEADER_SIZE } from "../lib/index.js";

describe("constants", () => {
  it("DEFAULT_HOST is repod's loopback address", () => {
    expect(DEFAULT_HOST).toBe("127.0.0.1");
  });

  it("DEFAULT_PORT is repod's port 5071", () => {
    expect(DEFAULT_PORT).toBe(5071);
  });

  it("HEADER_SIZE is the 4 bytes of the big-endian uint32 length prefix", () => {
    expect(HEADER_SIZE).toBe(4);
  });

  it("DEFAULT_MAX_PAYLOAD is 4 MiB", () => {
    expect(DEFAULT_MAX_PAYLOAD).toBe(4 * 1024 * 1024);
  });
});
