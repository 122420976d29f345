import type { StandardSchemaV1 } from "@standard-schema/spec";

/** Issues named in one log line or error reply; the others are counted. */
const MAX_ISSUES = 3;
/** Characters kept of one issue's message or path: both may quote what the peer sent. */
const MAX_TEXT = 120;

/**
 * One readable line for a failed message: `"move" failed its schema: x: Expected number...`, or,
 * with `prefix` `"the reply to "`, for a failed reply: `the reply to "join" failed its schema:
 * seat: ...`. Bounded, whatever the peer sent: a few issues, each cut short, then a count of the rest.
 */
export function describeIssues(action: string, issues: ReadonlyArray<StandardSchemaV1.Issue>, prefix = ""): string {
  const parts: string[] = [];
  for (const issue of issues.slice(0, MAX_ISSUES)) {
    const path = describePath(issue.path);
    parts.push(path === "" ? clip(String(issue.message)) : `${path}: ${clip(String(issue.message))}`);
  }
  const more = issues.length - MAX_ISSUES;
  const rest = more > 0 ? ` (and ${more} more)` : "";
  const detail = parts.length === 0 ? "no reason given" : parts.join("; ");
  return `${prefix}"${action}" failed its schema: ${detail}${rest}`;
}

function describePath(path: StandardSchemaV1.Issue["path"]): string {
  // An empty path joins to "" as well.
  if (path === undefined) return "";
  // String() names a symbol as its toString() does, where a template literal would throw.
  const keys = path.map((segment) => String(typeof segment === "object" && segment !== null ? segment.key : segment));
  return clip(keys.join("."));
}

function clip(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT)}...`;
}
