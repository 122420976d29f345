/**
 * `npm run bench`: the scenarios of issue 6 (bench/run.ts), then the scale-out row of issue 9
 * (bench/scale-out.ts, fan-out over two server processes through Redis). Arguments go to both;
 * `--only` picks scenarios, `scale-out` among them (e.g. `--only echo,scale-out`).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? "").split(",").filter(Boolean) : null;
const wantsScaleOut = only === null || only.includes("scale-out");
const mainOnly = only?.filter((id) => id !== "scale-out") ?? null;

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
if (status === 0 && wantsScaleOut && !args.includes("--help")) {
  status = run("./scale-out.ts", args.includes("--quick") ? ["--quick"] : []);
}
process.exit(status);
