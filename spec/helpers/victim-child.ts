// The victim's side of what `spawnVictim` (spec/helpers/hostile.ts) reads: imported by the
// fixtures it runs in a child process (spec/fixtures/hostile-*.ts). The fixture prints one JSON
// event per line on stdout, reports what reaches the process as `fatal`, answers `sync N` on
// stdin, and exits when its stdin closes, so that it never outlives the test.
import type { Logger } from "../../lib/index.js";
import { formatLogLine } from "../../lib/logging.js";

/**
 * Prints `event` as one JSON line on stdout; bigints as strings, and an event that cannot be
 * printed (a hostile value's toJSON throws) as `{ ev, unprintable: true }`.
 */
export function emit(event: Record<string, unknown>): void {
  let line: string;
  try {
    line = JSON.stringify(event, (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value));
  } catch {
    line = JSON.stringify({ ev: event.ev, unprintable: true });
  }
  process.stdout.write(`${line}\n`);
}

/** `String(value)` cut to `max` characters, or `[<typeof>]` when a hostile value's toString throws. */
export function text(value: unknown, max = 300): string {
  try {
    return String(value).slice(0, max);
  } catch {
    return `[${typeof value}]`;
  }
}

/** Reports an exception or rejection that reaches the process as `{ ev: "fatal", error }`, then exits 1. */
export function reportFatalErrors(): void {
  process.on("uncaughtException", (error) => {
    emit({ ev: "fatal", error: text((error as Error)?.stack ?? error, 3_000) });
    process.exit(1);
  });
  process.on("unhandledRejection", (error) => {
    emit({ ev: "fatal", error: text((error as Error)?.stack ?? error, 3_000) });
    process.exit(1);
  });
}

/**
 * A logger that prints every info, warn and error as `{ ev: "log", level, message, peer?, code,
 * line }`: `peer` (the log fields' peer) only when `withPeer`, `line` as the default logger would
 * write it.
 */
export function eventLogger({ withPeer }: { readonly withPeer: boolean }): Logger {
  const log =
    (level: keyof Logger) =>
    (message: string, fields: Record<string, unknown> = {}): void => {
      emit({
        ev: "log",
        level,
        message,
        ...(withPeer ? { peer: typeof fields.peer === "string" ? fields.peer : undefined } : {}),
        code: typeof fields.code === "string" ? fields.code : undefined,
        line: formatLogLine(level, message, fields).slice(0, 400),
      });
    };
  return { debug: () => {}, info: log("info"), warn: log("warn"), error: log("error") };
}

/**
 * Reads command lines `COMMAND [ARGUMENT]` on stdin: answers `sync N` with `{ ev: "sync", n: N }`,
 * passes any other to `handle`, and exits 0 when stdin closes.
 */
export function readCommands(handle: (command: string, argument: string | undefined) => void = () => {}): void {
  let input = "";
  process.stdin.on("data", (chunk: Buffer) => {
    input += chunk.toString();
    let newline: number;
    while ((newline = input.indexOf("\n")) >= 0) {
      const [command = "", argument] = input.slice(0, newline).split(" ");
      input = input.slice(newline + 1);
      if (command === "sync") emit({ ev: "sync", n: Number(argument) });
      else handle(command, argument);
    }
  });
  process.stdin.on("end", () => process.exit(0));
}
