import type { BenchChild } from "../harness/bench-child.js";
import type { ScenarioResult, ScenarioId } from "../harness/results.js";
import type { RoundRecorder, RowSpec } from "../harness/round-recorder.js";
import { IMPLS, type ImplId, type ServerKey } from "../impls/catalog.js";

/** The ports of the servers a server process started, and why the others are not available. */
export interface ServerPorts {
  readonly ports: Partial<Record<ServerKey, number>>;
  readonly unavailable: Partial<Record<ServerKey, string>>;
}

/** Starts, in `server`, the servers the implementations `impls` connect to. */
export function startServers(server: BenchChild, impls: readonly ImplId[]): Promise<ServerPorts> {
  const keys = [...new Set(impls.map((id) => IMPLS[id].server))];
  return server.request<ServerPorts>("start", { servers: keys }, 30_000);
}

/**
 * The port of the server `id` connects to; where `servers` has none, marks the row not available
 * in `recorder` (with the reason the server process gave) and returns `undefined`.
 */
export function portOrUnavailable(servers: ServerPorts, id: ImplId, recorder: RoundRecorder): number | undefined {
  const key = IMPLS[id].server;
  const port = servers.ports[key];
  if (port === undefined) recorder.fail(id, "n/a", `not available: ${servers.unavailable[key] ?? "no server"}`);
  return port;
}

/**
 * Opens `total` links of implementation `id` to `port`, spread evenly over the client processes
 * `clients`, and waits until `server` counts them all; throws if some never connect.
 */
export async function openLinks(
  server: BenchChild,
  clients: readonly BenchChild[],
  id: ImplId,
  port: number,
  total: number,
  concurrency: number,
): Promise<void> {
  const counts = shares(total, clients.length);
  await Promise.all(
    clients.map((client, i) =>
      client.request("links.open", { impl: id, port, count: counts[i], concurrency }, 120_000),
    ),
  );
  const connected = await pollUntil(
    () => server.request<number>("connections", { server: IMPLS[id].server }),
    total,
    10_000,
  );
  if (connected !== total) throw new Error(`${connected} of ${total} clients connected`);
}

/** Closes every link `openLinks` opened in `clients`, ignoring failures (best effort). */
export async function closeLinks(clients: readonly BenchChild[], timeoutMs: number): Promise<void> {
  await Promise.all(clients.map((client) => client.request("links.close", {}, timeoutMs).catch(() => {})));
}

/**
 * The table rows of implementations `ids`. `withWriteMode: false` drops ", per-message writes"
 * from the raw rows' labels, for scenarios that have no coalesced raw rows to tell them from.
 */
export function implRows(ids: readonly ImplId[], { withWriteMode }: { withWriteMode: boolean }): RowSpec[] {
  return ids.map((id) => {
    const impl = IMPLS[id];
    const label = withWriteMode ? impl.label : impl.label.replace(", per-message writes", "");
    return { id, label, transport: impl.transport, subject: id.startsWith("repod-") };
  });
}

/** The first line of an error's message: enough for a table cell, the rest goes to stderr. */
export function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const first = text.split("\n").find((line) => line.trim() !== "") ?? text;
  return first.replace(/^bench (server|client) child: (Error: )?/, "").slice(0, 200);
}

/** Polls `read` until it returns at least `target`, for at most `timeoutMs`; returns the last value. */
export async function pollUntil(read: () => Promise<number>, target: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (value < target && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    value = await read();
  }
  return value;
}

/** Splits `total` into `parts` near-equal whole shares. */
export function shares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/** The result of a scenario that could not run. */
export function failedScenario(id: ScenarioId, title: string, error: unknown, durationMs: number): ScenarioResult {
  return {
    id,
    title,
    status: "error",
    error: errorMessage(error),
    params: {},
    metrics: {},
    ratioColumns: [],
    rows: [],
    durationMs,
  };
}
