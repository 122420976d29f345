// Mutation testing: `npm run mutate` (scripts/mutate.mjs; see the development section of the
// README). Stryker changes one operator, condition or value of lib/ at a time and runs the specs
// that reach that line (vitest.mutate.config.ts); a mutant that no spec notices is behaviour the
// suite does not pin down. Narrow a run with `npm run mutate -- --mutate lib/protocol/codec.ts`.

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutate.config.ts", related: false },
  // A mutant that does not compile is not a test result: the type checker sets it aside first.
  checkers: ["typescript"],
  tsconfigFile: "tsconfig.build.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  // Each mutant runs only the tests that reached its line in the first run.
  coverageAnalysis: "perTest",
  // Mutants in code that runs when a module loads (constants, defaults) would each need the
  // whole suite; they are reported as ignored instead of tested.
  ignoreStatic: true,
  mutate: ["lib/protocol/**/*.ts", "lib/dispatch/**/*.ts", "lib/scheduling/**/*.ts", "lib/connections/**/*.ts"],
  ignorePatterns: ["dist", "coverage", "reports", ".tmp", "docs"],
  // Two cores: one test runner and one type checker.
  concurrency: 1,
  timeoutMS: 10_000,
  reporters: ["html", "json", "clear-text", "progress"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  incrementalFile: "reports/stryker-incremental.json",
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
