import type { StandardSchemaV1 } from "@standard-schema/spec";

/** Whether `value` implements Standard Schema v1: a `~standard` object with `version: 1` and `validate`. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const props = (value as { "~standard"?: { version?: unknown; validate?: unknown } })["~standard"];
  return typeof props === "object" && props !== null && props.version === 1 && typeof props.validate === "function";
}

/** What a value that should have been a schema (or a map of them) is, for an error message. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return 'an object without "~standard"';
  return typeof value === "function" ? 'a function without "~standard"' : `a ${typeof value}`;
}

/** A schema that throws fails the value it was checking: the peer's input made it throw. */
export function threw(error: unknown): StandardSchemaV1.FailureResult {
  const reason = error instanceof Error ? error.message : "a non-Error value";
  return { issues: [{ message: `the schema threw: ${reason}` }] };
}

export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === "function";
}
