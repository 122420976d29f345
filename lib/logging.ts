/** Anything with the four usual level methods: `console`, pino, winston and bunyan all fit. */
export interface Logger {
  /** Every message dispatched, and other detail for debugging. `fields` carries the context (channel, peer...). */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** One line per event: connections, disconnections with their reason. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something a peer did wrong, handled: an invalid message dropped, a limit reached. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** A failure of the game's code or of the library: a handler that threw, a bug to report. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Levels accepted by {@link configureLogging}, from the most to the least verbose. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

const noop = (): void => {};

/** A logger that drops everything; the default, so a library never prints unasked. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

let defaultLogger: Logger = silentLogger;

function formatValue(value: unknown): string {
  if (typeof value === "string") return /^[\w.:/@-]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(value.message);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // A cycle, a BigInt, or a peer's value nested too deep to print: logging must never throw.
    try {
      return String(value);
    } catch {
      return Array.isArray(value) ? "[deeply nested array]" : `[${typeof value}]`;
    }
  }
}

/** Formats one event as a single `key=value` line, e.g. `repod-rx INFO connected peer=127.0.0.1:5123`. */
export function formatLogLine(level: string, message: string, fields?: Record<string, unknown>): string {
  let line = `repod-rx ${level.toUpperCase()} ${message}`;
  if (fields) {
    for (const key of Object.keys(fields)) line += ` ${key}=${formatValue(fields[key])}`;
  }
  return line;
}

/**
 * Builds a logger that prints one readable line per event at `level` and above to the console
 * (stderr in Node).
 */
export function consoleLogger(level: LogLevel): Logger {
  const threshold = LEVELS.indexOf(level);
  const at = (name: Exclude<LogLevel, "silent">): Logger["info"] =>
    LEVELS.indexOf(name) >= threshold ? (message, fields) => console.error(formatLogLine(name, message, fields)) : noop;
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/**
 * Sets the logger used by every server and connection created without a `logger` option.
 * `configureLogging("info")` prints connections, disconnections and dropped messages;
 * `"debug"` also prints every dispatched message; `"silent"` (the default) prints nothing.
 * A `Logger` object may be passed instead of a level.
 *
 * @throws {RangeError} for an unknown level name.
 */
export function configureLogging(level: LogLevel | Logger): void {
  if (typeof level === "object" && level !== null) {
    defaultLogger = level;
    return;
  }
  if (!LEVELS.includes(level)) {
    throw new RangeError(`Unknown log level ${JSON.stringify(level)}; use one of ${LEVELS.join(", ")}`);
  }
  defaultLogger = level === "silent" ? silentLogger : consoleLogger(level);
}

/**
 * Forwards to whatever {@link configureLogging} set last, so that objects created before a call
 * to `configureLogging` follow it too.
 */
const globalLogger: Logger = {
  debug: (message, fields) => defaultLogger.debug(message, fields),
  info: (message, fields) => defaultLogger.info(message, fields),
  warn: (message, fields) => defaultLogger.warn(message, fields),
  error: (message, fields) => defaultLogger.error(message, fields),
};

/** The logger an object uses: its own `logger` option, or the global one. */
export function resolveLogger(logger: Logger | undefined): Logger {
  return logger ?? globalLogger;
}

/**
 * Whether debug events would be printed. Per-message events (one per dispatch) are only built
 * when this is true, so a silent library costs nothing on the hot path.
 */
export function isDebugEnabled(logger: Logger): boolean {
  if (logger === globalLogger) return defaultLogger.debug !== noop;
  return logger.debug !== noop;
}

/** Whether `logger` drops everything (the default), in which case errors nobody handled go to `console.error`. */
export function isSilent(logger: Logger): boolean {
  return logger === silentLogger || (logger === globalLogger && defaultLogger === silentLogger);
}
