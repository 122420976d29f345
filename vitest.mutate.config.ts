import { defineConfig } from "vitest/config";
import { GROUPS } from "./scripts/mutation-groups.mjs";

/**
 * The specs `npm run mutate` (Stryker, see scripts/mutate.mjs) runs against each mutant:
 * MUTATE_SPECS, set by scripts/mutate.mjs to the specs of the group being measured
 * (scripts/mutation-groups.mjs), or every group's specs when run by hand. Only in-process specs
 * (pure units, in-memory transports, real sockets on 127.0.0.1): a mutant is never active in a
 * child process, a browser or Redis.
 */
const specs =
  process.env.MUTATE_SPECS?.split(",") ??
  [...new Set(GROUPS.flatMap((group) => group.specs))].map((name) => `spec/${name}.spec.ts`);

export default defineConfig({
  test: {
    include: specs,
    // A few specs bound a duration (round trips beside a flooder...); the mutation run loads the
    // machine, so a miss is retried once before it counts as a failure, which would count the
    // mutant as killed by chance.
    retry: 1,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    typecheck: { enabled: false },
  },
});
