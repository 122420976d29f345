import { describe, expect, it } from "vitest";
import { ConnectionError, ProtocolError, RepodError } from "../lib/index.js";

describe("errors", () => {
  it("ProtocolError is a RepodError and an Error with its name, code and message", () => {
    const error = new ProtocolError("ERR_NOT_A_MAP", "Dropped a payload that is not a map: nil");
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toBeInstanceOf(RepodError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ProtocolError");
    expect(error.code).toBe("ERR_NOT_A_MAP");
    expect(error.message).toBe("Dropped a payload that is not a map: nil");
    expect(String(error)).toBe("ProtocolError: Dropped a payload that is not a map: nil");
  });

  it("ConnectionError is a RepodError that keeps its cause", () => {
    const cause = new Error("read ECONNRESET");
    const error = new ConnectionError("ERR_CONNECTION_LOST", "lost", { cause });
    expect(error).toBeInstanceOf(RepodError);
    expect(error.name).toBe("ConnectionError");
    expect(error.code).toBe("ERR_CONNECTION_LOST");
    expect(error.cause).toBe(cause);
  });

  it("RepodError is named RepodError", () => {
    const error = new RepodError("ERR_CONNECT_FAILED", "no route");
    expect(error.name).toBe("RepodError");
    expect(error.code).toBe("ERR_CONNECT_FAILED");
    expect(error).not.toBeInstanceOf(ProtocolError);
  });
});
