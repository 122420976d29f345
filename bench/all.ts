/**
 * `npm run bench`: the scenarios of issue 6 (bench/run.ts), then the decode budget row
 * (bench/decode-budget.ts, what one hostile payload costs a server), then the scale-out row of
 * issue 9 (bench/scale-out.ts, fan-out over two server processes through Redis), then the session
 * resume row (bench/session-resume.ts, the echo with and without `resume`), then the flood isolation
 * row and the slow reader row (bench/slow-reader.ts, a 60 Hz stream to 100 clients, one reading a
 * tenth of it, with and without `latest`). Arguments go to all of them; `--only` picks scenarios,
 * `decode-budget`, `scale-out`, `session-resume`, `flood-isolation` and `slow-reader` among them
 * (e.g. `--only echo,decode-budget`).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? "").split(",").filter(Boolean) : null;
const wantsScaleOut = only === null || only.includes("scale-out");
const wantsDecodeBudget = only === null || only.includes("decode-budget");
const wantsSessionResume = only === null || only.includes("session-resume");
const wantsFloodIsolation = only === null || only.includes("flood-isolation");
const wantsSlowReader = only === null || only.includes("slow-reader");
const wantsValidation = only === null || only.includes("validation");
const mainOnly =
  only?.filter(
    (id) =>
      id !== "scale-out" &&
      id !== "decode-budget" &&
      id !== "session-resume" &&
      id !== "flood-isolation" &&
      id !== "slow-reader" &&
      id !== "validation",
  ) ?? null;
/** What the decode budget row understands of the arguments: `--quick` and `--out DIR`. */
const decodeBudgetArgs = args.flatMap((arg, i) =>
  arg === "--quick" || arg.startsWith("--out=") ? [arg] : arg === "--out" ? [arg, args[i + 1] ?? ""] : [],
);

function run(script: string, scriptArgs: string[]): number {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const result = spawnSync(process.execPath, ["--import", "tsx", file, ...scriptArgs], { stdio: "inherit" });
  return result.status ?? 1;
}

let status = 0;
if (mainOnly === null || mainOnly.length > 0) {
  const mainArgs = [...args];
  if (onlyAt >= 0) mainArgs.splice(onlyAt, 2, "--only", mainOnly!.join(","));
  status = run("./run.ts", mainArgs);
}
if (status === 0 && wantsDecodeBudget && !args.includes("--help")) {
  status = run("./decode-budget.ts", decodeBudgetArgs);
}
if (status === 0 && wantsScaleOut && !args.includes("--help")) {
  status = run("./scale-out.ts", args.includes("--quick") ? ["--quick"] : []);
}
if (status === 0 && wantsSessionResume && !args.includes("--help")) {
  // It understands the same `--quick` and `--out DIR` as the decode budget row.
  status = run("./session-resume.ts", decodeBudgetArgs);
}
if (status === 0 && wantsFloodIsolation && !args.includes("--help")) {
  // The flood isolation row (bench/flood-isolation.ts): a good player's latency beside a flooder,
  // with and without the rate limit. Same `--quick` and `--out DIR`.
  status = run("./flood-isolation.ts", decodeBudgetArgs);
}
if (status === 0 && wantsSlowReader && !args.includes("--help")) {
  // The slow reader row (bench/slow-reader.ts): one client of 100 reading a tenth of a 60 Hz
  // stream, with `latest` (paced by sessions, and not) and without. Same `--quick` and `--out DIR`.
  status = run("./slow-reader.ts", decodeBudgetArgs);
}
if (status === 0 && wantsValidation && !args.includes("--help")) {
  // The validation row (bench/validation.ts): the echo with valibot and zod schemas against none.
  status = run("./validation.ts", decodeBudgetArgs);
}
process.exit(status);
