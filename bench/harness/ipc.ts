/**
 * The messages between the harness and its child processes, over Node's IPC channel. The harness
 * sends requests; a child answers each with exactly one reply carrying the same id.
 */

export interface Request {
  readonly id: number;
  readonly cmd: string;
  readonly args: unknown;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** Sent once by a child when it is ready for requests. */
export interface Ready {
  readonly ready: true;
  readonly pid: number;
}

/** The commands a child role answers: name → handler of the request's `args`. */
export type CommandTable = Record<string, (args: any) => unknown>;

/** Environment variable carrying a child's maximum lifetime in milliseconds. */
export const CHILD_MAX_LIFETIME_ENV = "REPOD_BENCH_CHILD_MAX_MS";
