// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "docs/api/",
      "node_modules/",
      "coverage/",
      ".tmp/",
      // Stryker's sandboxes while `npm run mutate` runs (or after one was stopped), and its reports.
      ".stryker-tmp/",
      "reports/",
      "bench/results/",
      "demos/**/public/*.bundle.js",
      "spec/fixtures/*.bundle.js",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        console: "readonly",
        process: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        queueMicrotask: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        TextEncoder: "readonly",
        TextDecoder: "readonly",
        performance: "readonly",
        window: "readonly",
        document: "readonly",
        WebSocket: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "warn",
    },
  },
  {
    files: ["spec/**/*.ts", "bench/**/*.ts", "demos/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
