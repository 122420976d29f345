/**
 * What every standalone bench row's script does around its measurement: read its arguments (a
 * usage error exits 2), stop its child processes and exit on SIGINT/SIGTERM or past its own
 * deadline, and turn what `main` returns (or throws) into the exit code.
 */
export async function runBenchEntry<C extends { readonly deadlineMs: number }>(entry: {
  /** The row's name, prefixed to its messages. */
  readonly name: string;
  readonly readArgs: (args: readonly string[]) => C;
  readonly main: (config: C) => Promise<number>;
  /** Ends every child process the row started. */
  readonly killChildren: () => void;
}): Promise<void> {
  let config: C;
  try {
    config = entry.readArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      entry.killChildren();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
  const deadline = setTimeout(() => {
    process.stderr.write(`${entry.name}: over the ${config.deadlineMs / 1000} s limit; stopping\n`);
    entry.killChildren();
    process.exit(1);
  }, config.deadlineMs);
  try {
    process.exitCode = await entry.main(config);
  } catch (error) {
    process.stderr.write(`${entry.name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
  }
}
