// Command-line and environment settings shared by the demos' entry points. Every port can be
// given as a flag or an environment variable, so tests can ask for port 0 (a free port) and two
// demos can run side by side.

import { parseArgs } from "node:util";

/** One setting: its flag, the environment variable that can also set it, and its default. */
export interface SettingSpec {
  /** Environment variable read when the flag is absent, e.g. `"CHAT_PORT"`. */
  readonly env?: string;
  /** Value used when neither the flag nor the variable is set. */
  readonly default: string;
  /** One line for `--help`. */
  readonly help: string;
}

/** The parsed settings, each a string, plus the positional arguments. */
export interface Settings<K extends string> {
  readonly values: Record<K, string>;
  readonly positionals: readonly string[];
}

/**
 * Reads `--name value` flags (the flag wins over its environment variable, which wins over the
 * default). Prints a usage text and exits on `--help`; exits with status 2 on an unknown flag.
 */
export function readSettings<K extends string>(
  usage: string,
  specs: Record<K, SettingSpec>,
  argv = process.argv.slice(2),
): Settings<K> {
  const options: Record<string, { type: "string" } | { type: "boolean" }> = { help: { type: "boolean" } };
  for (const name of Object.keys(specs)) options[name] = { type: "string" };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${helpText(usage, specs)}`);
    process.exit(2);
  }
  if (parsed.values.help === true) {
    console.log(helpText(usage, specs));
    process.exit(0);
  }
  const values = {} as Record<K, string>;
  for (const name of Object.keys(specs) as K[]) {
    const spec = specs[name];
    const flag = parsed.values[name];
    const fromEnv = spec.env === undefined ? undefined : process.env[spec.env];
    values[name] = typeof flag === "string" ? flag : fromEnv !== undefined && fromEnv !== "" ? fromEnv : spec.default;
  }
  return { values, positionals: parsed.positionals };
}

/**
 * A port number from a setting; exits with status 2 and a readable message when it is not an
 * integer from 0 to 65535.
 */
export function toPort(value: string, name: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    console.error(`--${name} must be a port number from 0 to 65535 (0 picks a free one), got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return port;
}

/** A non-negative number from a setting; exits with status 2 when it is not one. */
export function toNumber(value: string, name: string): number {
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < 0) {
    console.error(`--${name} must be a number of at least 0, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return number;
}

function helpText(usage: string, specs: Record<string, SettingSpec>): string {
  const lines = [`usage: ${usage}`, "", "options:"];
  for (const [name, spec] of Object.entries(specs)) {
    const env = spec.env === undefined ? "" : `, env ${spec.env}`;
    lines.push(`  --${name.padEnd(12)} ${spec.help} (default ${spec.default}${env})`);
  }
  return lines.join("\n");
}
