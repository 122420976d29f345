// `npm run mutate`: Stryker over lib/ with the options of stryker.config.mjs.
//
// Stryker's command line refuses Node 20 (its packages ask for Node 22), which is what this
// project supports and runs on; its API runs there all the same, so this calls the API. Only the
// options worth changing from the command line are read:
//   --mutate <glob>[,<glob>...]  what to mutate instead of the core folders
//   --concurrency <n>            test runners at once (default 1)
//   --incremental                reuse reports/stryker-incremental.json, test only what changed
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

const options = {};
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === "--mutate") options.mutate = args[++i].split(",");
  else if (arg === "--concurrency") options.concurrency = Number(args[++i]);
  else if (arg === "--incremental") options.incremental = true;
  else {
    console.error(`Unknown option ${arg}; use --mutate <glob,...>, --concurrency <n>, --incremental`);
    process.exit(2);
  }
}

// The package's entry point loads the command line, whose version check throws on Node 20.
const entry = resolve("node_modules/@stryker-mutator/core/dist/src/stryker.js");
const { Stryker } = await import(pathToFileURL(entry).href);
await new Stryker(options).runMutationTest();
