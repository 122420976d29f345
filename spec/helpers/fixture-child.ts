// The fixture's side of the IPC protocol that spec/helpers/fixture-process.ts drives: imported by
// the fixtures that run as child processes with an IPC channel (spec/fixtures/redis-*-server.ts).

/** A request of the test: `{ id, cmd, ... }`. */
export interface FixtureCommand {
  readonly id: number;
  readonly cmd: string;
}

/** Posts `message` (an event `{ event, ... }` or an answer) to the test process, if it is still there. */
export function post(message: object): void {
  if (process.connected) process.send!(message);
}

/**
 * Makes this process report anything unhandled to the test as `{ event: "fatal", error }` (the
 * test fails on it) and exit 1; and exit 0 when the test process goes away, so that it never
 * outlives it.
 */
export function reportFatalErrors(): void {
  process.on("uncaughtException", (error) => {
    post({ event: "fatal", error: String(error?.stack ?? error) });
    process.exit(1);
  });
  process.on("unhandledRejection", (error) => {
    post({ event: "fatal", error: String((error as Error)?.stack ?? error) });
    process.exit(1);
  });
  process.on("disconnect", () => process.exit(0));
}

/**
 * Answers each request of the test with what `run` resolves with, `{ id, ok: true, value }`, or
 * with how it failed, `{ id, ok: false, error: { code, message } }`.
 */
export function answerRequests<C extends FixtureCommand>(run: (command: C) => Promise<unknown>): void {
  process.on("message", (command: C) => {
    run(command).then(
      (value) => post({ id: command.id, ok: true, value }),
      (error: { code?: string; message?: string }) =>
        post({ id: command.id, ok: false, error: { code: error?.code, message: String(error?.message ?? error) } }),
    );
  });
}

/** The `stop` request: stops `server`, answers `true`, then exits. */
export async function stopAndExit(server: { stop(): Promise<unknown> }): Promise<true> {
  await server.stop();
  setImmediate(() => process.exit(0));
  return true;
}
