/**
 * `npm run build` (also run by `npm pack` and `npm publish`): emits the package's two builds from
 * lib/ into a fresh dist/.
 *
 * - dist/esm: ES modules and the declarations, by `tsc -p tsconfig.build.json`; what `import`
 *   and bundlers load.
 * - dist/cjs: CommonJS, for `require()` on Node versions without require(esm) (before 20.19),
 *   transpiled file by file by esbuild, with a copy of the declarations; its own package.json
 *   (`"type": "commonjs"`) makes Node and TypeScript read both as CommonJS. One output file per
 *   source file, never a bundle per entry point: entry points share their modules, so `repod-rx`
 *   and `repod-rx/client` hand out the same classes and `instanceof` holds across them.
 *
 * The two builds are two copies of the library (the dual-package hazard, accepted): a program that
 * loads repod-rx both ways gets two `RepodError` classes, two `configureLogging` settings and two
 * sets of module state (the outbox's turn, the TCP write batch), so a program should load it one
 * way only. The alternative, an ES module wrapper over the CommonJS build, would cost browsers and
 * bundlers their ES modules and tree-shaking.
 *
 * Both builds' source maps carry the sources (`sourcesContent`), since lib/ is not published.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const lib = path.join(root, "lib");
const dist = path.join(root, "dist");
const esm = path.join(dist, "esm");
const cjs = path.join(dist, "cjs");

/** The files under `dir` (relative paths, `/`-separated) whose names end with `suffix`. */
function filesEndingWith(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((file) => file.split(path.sep).join("/"))
    .filter((file) => file.endsWith(suffix))
    .sort();
}

// A fresh dist/: files of deleted or renamed modules must not be published.
rmSync(dist, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const typescript = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], {
  stdio: "inherit",
});
if (typescript.status !== 0) {
  console.error("build: tsc -p tsconfig.build.json failed");
  process.exit(typescript.status ?? 1);
}

const sources = filesEndingWith(lib, ".ts").filter((file) => !file.endsWith(".d.ts"));
await build({
  entryPoints: sources.map((file) => path.join(lib, file)),
  outdir: cjs,
  outbase: lib,
  format: "cjs",
  platform: "node",
  target: "es2022",
  sourcemap: true,
  sourcesContent: true,
  logLevel: "warning",
});

for (const declaration of filesEndingWith(esm, ".d.ts")) {
  const target = path.join(cjs, declaration);
  mkdirSync(path.dirname(target), { recursive: true });
  copyFileSync(path.join(esm, declaration), target);
}
writeFileSync(path.join(cjs, "package.json"), `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`);

console.info(`build: ${sources.length} modules into dist/esm (ES modules) and dist/cjs (CommonJS)`);
