import type { BenchChild } from "../harness/bench-child.js";
import type { ScenarioResult, ScenarioId } from "../harness/results.js";
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
  return { id, title, status: "error", error: errorMessage(error), params: {}, metrics: {}, ratioColumns: [], rows: [], durationMs };
}
