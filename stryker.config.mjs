// Mutation testing: `npm run mutate` (scripts/mutate.mjs; see the mutation testing section of
// docs/README.md). Stryker changes one operator, condition or value of lib/ at a time and runs the
// tests that reach that line; a mutant that no test notices is behaviour the suite does not pin
// down. scripts/mutate.mjs runs it once per group of scripts/mutation-groups.mjs, setting what to
// mutate, which specs run (vitest.mutate.config.ts), the reports and the kept results per group.

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
  ignorePatterns: ["dist", "coverage", "reports", ".tmp", "docs", ".mutation"],
  // Two cores: one test runner and one type checker. scripts/mutate.mjs sets `mutate`, the reports
  // and the incremental file per group (scripts/mutation-groups.mjs).
  concurrency: 1,
  // A mutant that makes a test wait forever (a timer never armed) costs this much past the time
  // its tests took in the first run, and a restart of the test runner.
  timeoutMS: 5_000,
  // The first run of a group's specs, with coverage measured per test.
  dryRunTimeoutMinutes: 15,
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
