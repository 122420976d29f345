import { builtinModules } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

/** The repository root, for entry points given relative to it. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Modules a browser does not have: every Node builtin (with and without `node:`) and `ws`. */
const NODE_ONLY = new Set<string>(["ws", ...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);

/**
 * Fails the build on any import of a Node module, naming the file that imports it. esbuild's
 * `platform: "browser"` alone is not enough: it would quietly bundle `ws`'s browser stub, and an
 * npm package named like a builtin (`events`, `buffer`) would be bundled in place of the builtin.
 */
const noNodeImports: esbuild.Plugin = {
  name: "no-node-imports",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (!NODE_ONLY.has(args.path) && !args.path.startsWith("node:")) return undefined;
      const importer = args.importer === "" ? "the entry point" : path.relative(ROOT, args.importer);
      return { errors: [{ text: `${importer} imports the Node module "${args.path}", which browsers do not have` }] };
    });
  },
};

/** A bundle built for the browser. */
export interface BrowserBundle {
  /** The bundled JavaScript (an ES module). */
  readonly code: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** Its size gzipped at the highest level, in bytes: what a browser downloads. */
  readonly gzipBytes: number;
  /** Every source file that contributed bytes, relative to the repository root. */
  readonly inputs: readonly string[];
}

/** What to bundle: a file (relative to the repository root) or source text. */
export type BundleEntry = { readonly file: string } | { readonly source: string };

/**
 * Bundles `entry` and everything it imports (rxjs and @msgpack/msgpack included) into one
 * minified ES module for browsers, the way an application's bundler would (default export
 * conditions). Rejects if anything imports a Node module.
 */
export async function bundleForBrowser(entry: BundleEntry, options: { minify?: boolean } = {}): Promise<BrowserBundle> {
  const result = await esbuild.build({
    ...("file" in entry
      ? { entryPoints: [path.resolve(ROOT, entry.file)] }
      : { stdin: { contents: entry.source, resolveDir: ROOT, loader: "ts", sourcefile: "entry.ts" } }),
    absWorkingDir: ROOT,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: options.minify ?? true,
    write: false,
    metafile: true,
    logLevel: "silent",
    plugins: [noNodeImports],
  });
  const output = result.outputFiles[0]!;
  const meta = Object.values(result.metafile.outputs)[0]!;
  const inputs = Object.entries(meta.inputs)
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([file]) => file);
  return {
    code: output.text,
    bytes: output.contents.byteLength,
    gzipBytes: gzipSync(output.contents, { level: 9 }).byteLength,
    inputs,
  };
}

/** `19.6 KiB`, for reports. */
export function formatKiB(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
