import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["spec/**/*.spec.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    typecheck: { enabled: false },
  },
});
