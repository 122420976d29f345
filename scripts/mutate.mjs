// `npm run mutate`: Stryker over the core of lib/, one group at a time (scripts/mutation-groups.mjs),
// then one report for all of them. See the mutation testing section of docs/README.md.
//
// Stryker's command line refuses Node 20 (its packages ask for Node 22), which is what this
// project supports and runs on; its API runs there all the same, so this calls the API.
//
//   --group <name>[,<name>...]   only these groups (default: every group)
//   --mutate <glob>[,<glob>...]  only these files, each in the groups that cover it
//   --force                      test every mutant again, ignoring the results kept from earlier runs
//   --concurrency <n>            test runners at once (default 1)
//   --list                       print the groups and their specs, run nothing
//
// Each group keeps its results in .mutation/<group>.json (and the hashes of the files and specs
// they measured in .mutation/<group>.sources.json), committed: a later run, also from a
// fresh clone, tests only the mutants whose code, or whose tests, changed since (Stryker's
// incremental mode), so a change costs minutes where a full run takes hours; a group whose files
// and specs have not changed at all is not run. Reports: reports/mutation/index.html and
// reports/mutation/mutation.json, merged from the kept results of every group.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { resolve, join } from "node:path";
import { pathToFileURL } from "node:url";
import { GROUPS } from "./mutation-groups.mjs";

const REPORTS = "reports/mutation";
const KEPT = ".mutation";
const args = parseArgs(process.argv.slice(2));

if (args.list) {
  for (const group of GROUPS)
    console.log(`${group.name}\n  mutates ${group.mutate.join(" ")}\n  with    ${group.specs.join(" ")}`);
  process.exit(0);
}

const selected = selectGroups(args);
if (selected.length === 0) {
  console.error(
    `No group mutates ${args.mutate?.join(", ")}; groups: ${GROUPS.map((g) => g.name).join(", ")} (--list shows them)`,
  );
  process.exit(2);
}

// The package's entry point loads the command line, whose version check throws on Node 20.
const entry = resolve("node_modules/@stryker-mutator/core/dist/src/stryker.js");
const { Stryker } = await import(pathToFileURL(entry).href);
mkdirSync(KEPT, { recursive: true });

for (const { group, mutate } of selected) {
  const specs = group.specs.map((name) => `spec/${name}.spec.ts`).filter((file) => existsSync(file));
  const kept = join(KEPT, `${group.name}.json`);
  if (!args.force && mutate === group.mutate && unchanged(kept, group, specs)) {
    console.log(`\n== ${group.name}: unchanged since ${kept} (its files and specs are the same); its results stand`);
    continue;
  }
  console.log(`\n== ${group.name}: ${mutate.join(" ")}\n   specs: ${specs.join(" ")}\n`);
  // Read by vitest.mutate.config.ts in Stryker's test runner processes, which inherit it.
  process.env.MUTATE_SPECS = specs.join(",");
  // Stays if the run is stopped: Stryker then keeps what it tested in `kept`, and the next run
  // goes on from there instead of taking a part for the whole.
  writeFileSync(
    partialMarker(group),
    `A run of the ${group.name} group started ${new Date().toISOString()} and did not finish.\n`,
  );
  await new Stryker({
    mutate,
    incremental: true,
    incrementalFile: kept,
    force: args.force,
    ...(args.concurrency === undefined ? {} : { concurrency: args.concurrency }),
    reporters: ["clear-text", "progress"],
    clearTextReporter: { reportTests: false, reportScoreTable: true },
  }).runMutationTest();
  if (mutate === group.mutate) {
    writeFileSync(sourcesFile(group), sourcesOf(group, specs));
    rmSync(partialMarker(group), { force: true });
  }
}

await writeMergedReport();

/**
 * Whether a group's kept results still describe the code: its files to mutate and its specs are
 * those its last whole run measured, byte for byte. Stryker's incremental mode would find the same
 * after a first run of the group's specs; this spares that run. Like it, it cannot see a change in
 * what the specs import besides lib/ (spec/helpers/).
 */
function unchanged(kept, group, specs) {
  if (!existsSync(kept) || existsSync(partialMarker(group)) || !existsSync(sourcesFile(group))) return false;
  return readFileSync(sourcesFile(group), "utf8") === sourcesOf(group, specs);
}

/**
 * Every file a group mutates and every spec it runs, by content hash, as kept in
 * .mutation/<group>.sources.json after a whole run. Files without anything to mutate count too:
 * Stryker's own report leaves them out, so it cannot tell whether they changed.
 */
function sourcesOf(group, specs) {
  const hashes = {};
  for (const file of [...group.mutate.flatMap(expand), ...specs].sort()) {
    hashes[file] = createHash("sha256").update(readFileSync(file)).digest("hex");
  }
  return `${JSON.stringify(hashes, null, 2)}\n`;
}

function sourcesFile(group) {
  return join(KEPT, `${group.name}.sources.json`);
}

/** The file that says a group's kept results are those of a run stopped midway (or of only some of its files). */
function partialMarker(group) {
  return join(KEPT, `${group.name}.partial`);
}

/** The .ts files a group's pattern names: a file, or every .ts file under `dir/**\/*.ts`. */
function expand(pattern) {
  if (!pattern.includes("*")) return [pattern];
  const dir = pattern.split("*")[0].replace(/\/$/, "");
  return readdirSync(dir, { recursive: true })
    .map((file) => join(dir, String(file)))
    .filter((file) => file.endsWith(".ts"));
}

/** Merges the kept results of every group into one report, writes it with its page, prints the scores. */
async function writeMergedReport() {
  const reports = GROUPS.filter((group) => existsSync(join(KEPT, `${group.name}.json`))).map((group) => ({
    group: group.name,
    report: JSON.parse(readFileSync(join(KEPT, `${group.name}.json`), "utf8")),
  }));
  if (reports.length === 0) return;
  const merged = { ...reports[0].report, files: {}, testFiles: {} };
  for (const { group, report } of reports) {
    // Only the files the group mutates now: kept results may predate a change of the groups.
    const own = new Set(GROUPS.find((candidate) => candidate.name === group).mutate.flatMap(expand));
    for (const [file, result] of Object.entries(report.files)) if (own.has(file)) merged.files[file] = result;
    Object.assign(merged.testFiles, report.testFiles ?? {});
  }
  mkdirSync(REPORTS, { recursive: true });
  writeFileSync(join(REPORTS, "mutation.json"), JSON.stringify(merged));
  const elements = readFileSync("node_modules/mutation-testing-elements/dist/mutation-test-elements.js", "utf8");
  writeFileSync(
    join(REPORTS, "index.html"),
    `<!doctype html><html><head><meta charset="utf-8"><title>repod-rx mutation report</title>` +
      `<script>${elements.replace(/<\/script/gi, "<\\/script")}</script></head><body>` +
      `<mutation-test-report-app title-postfix="repod-rx"></mutation-test-report-app><script>` +
      `document.querySelector("mutation-test-report-app").report = ${JSON.stringify(merged).replace(/</g, "\\u003c")};` +
      `</script></body></html>`,
  );

  const { calculateMetrics } = await import("mutation-testing-metrics");
  const root = calculateMetrics(merged.files);
  console.log(
    `\nMutation score (killed or timed out, of the mutants that compile and are not ignored), groups: ${reports.map((r) => r.group).join(", ")}`,
  );
  const partial = reports.filter(({ group }) => existsSync(join(KEPT, `${group}.partial`))).map((r) => r.group);
  if (partial.length > 0)
    console.log(`Partly measured (a run was stopped; the next one goes on): ${partial.join(", ")}`);
  printScores(root, "");
  console.log(`\nReport: ${join(REPORTS, "index.html")}`);
}

function printScores(node, indent) {
  const m = node.metrics;
  const score = Number.isNaN(m.mutationScore) ? "  n/a " : `${m.mutationScore.toFixed(2).padStart(6)}`;
  const detail = `${m.killed} killed, ${m.timeout} timed out, ${m.survived} survived, ${m.noCoverage} not reached, ${m.ignored} ignored`;
  console.log(`${score} %  ${indent}${node.name}  (${detail})`);
  for (const child of node.childResults) printScores(child, `${indent}  `);
}

function selectGroups({ group: names, mutate: globs }) {
  for (const name of names ?? []) {
    if (!GROUPS.some((group) => group.name === name)) {
      console.error(`Unknown group ${name}; groups: ${GROUPS.map((g) => g.name).join(", ")}`);
      process.exit(2);
    }
  }
  const groups = names === undefined ? GROUPS : GROUPS.filter((group) => names.includes(group.name));
  if (globs === undefined) return groups.map((group) => ({ group, mutate: group.mutate }));
  return groups
    .map((group) => ({
      group,
      mutate: group.mutate.flatMap((own) => globs.map((glob) => narrow(own, glob))).filter(Boolean),
    }))
    .filter(({ mutate }) => mutate.length > 0);
}

/**
 * What of a group's pattern (a file, or `dir/**\/*.ts`) a glob asks for: the narrower of the two
 * when one lies inside the other, `undefined` when they do not meet. Prefixes before the first
 * `*` decide, which is enough for globs over lib/'s folders and files.
 */
function narrow(own, glob) {
  const ownPrefix = own.split("*")[0];
  const globPrefix = glob.split("*")[0];
  const globIsWild = glob.includes("*");
  if (!own.includes("*")) return own === glob || (globIsWild && own.startsWith(globPrefix)) ? own : undefined;
  if (globPrefix.startsWith(ownPrefix)) return glob;
  return globIsWild && ownPrefix.startsWith(globPrefix) ? own : undefined;
}

function parseArgs(argv) {
  const out = { force: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) usage(`${arg} needs a value`);
      return next;
    };
    if (arg === "--group") out.group = value().split(",");
    else if (arg === "--mutate") out.mutate = value().split(",");
    else if (arg === "--concurrency") out.concurrency = Number(value());
    else if (arg === "--force") out.force = true;
    else if (arg === "--list") out.list = true;
    else usage(`Unknown option ${arg}`);
  }
  return out;
}

function usage(problem) {
  console.error(`${problem}; options: --group <name,...>, --mutate <glob,...>, --force, --concurrency <n>, --list`);
  process.exit(2);
}
