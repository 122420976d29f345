import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The package as a user gets it: `npm pack` (which builds, through prepack) into a temporary
// directory, the tarball checked by publint and arethetypeswrong, then unpacked into the
// node_modules of a temporary project whose other packages are links to ours (no network), and
// loaded there by real Node processes and type-checked by real tsc runs.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
const ATTW = path.join(ROOT, "node_modules", "@arethetypeswrong", "cli", "dist", "index.js");

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `file` with `args` in `cwd` to its end; rejects only if it cannot be started or times out. */
function run(file: string, args: readonly string[], cwd: string, timeout = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Runs Node with `args` in `cwd`; resolves with its stdout, parsed as JSON, once it exits with 0. */
async function node(args: readonly string[], cwd: string): Promise<unknown> {
  const result = await run(process.execPath, args, cwd);
  if (result.code !== 0 || result.stderr !== "") {
    throw new Error(`node ${args.join(" ")} exited with ${result.code}:\n${result.stderr}`);
  }
  return JSON.parse(result.stdout) as unknown;
}

interface PackageJson {
  readonly name: string;
  readonly exports: Record<string, unknown>;
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
}

let work = "";
let tarball = "";
/** The temporary project; the package is unpacked in its node_modules. */
let project = "";
let manifest: PackageJson;
/** The package's entry points as a user imports them: `repod-rx`, `repod-rx/client`... */
let entries: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "repod-rx-package-"));
  const pack = await run("npm", ["pack", "--pack-destination", work], ROOT, 120_000);
  expect(pack.code, `${pack.stdout}\n${pack.stderr}`).toBe(0);
  const tarballs = readdirSync(work).filter((file) => file.endsWith(".tgz"));
  expect(tarballs).toHaveLength(1);
  tarball = path.join(work, tarballs[0]!);

  project = path.join(work, "project");
  const installed = path.join(project, "node_modules", "repod-rx");
  mkdirSync(installed, { recursive: true });
  const untar = await run("tar", ["-xzf", tarball, "-C", installed, "--strip-components=1"], work);
  expect(untar.code, untar.stderr).toBe(0);
  manifest = JSON.parse(readFileSync(path.join(installed, "package.json"), "utf8")) as PackageJson;
  entries = Object.keys(manifest.exports)
    .filter((subpath) => subpath !== "./package.json")
    .map((subpath) => path.posix.join(manifest.name, subpath));

  // What npm would install beside it: its dependencies and peers, plus Node's types for the
  // project that type-checks as a Node program.
  const neighbours = [
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
    "@types/node",
  ];
  for (const name of neighbours) {
    const link = path.join(project, "node_modules", name);
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(path.join(ROOT, "node_modules", name), link, "dir");
  }
  writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "user-project", private: true }));
}, 180_000);

afterAll(() => {
  if (work !== "") rmSync(work, { recursive: true, force: true });
});

// The checks after the build read the same unpacked package and write nothing but their own
// directories, so they run side by side.
describe.concurrent("the published package (npm pack)", () => {
  it("ships dist/, the README and the LICENSE, and no sources or source maps without their sources", ({ expect }) => {
    const dist = path.join(project, "node_modules", "repod-rx", "dist");
    const files = readdirSync(dist, { recursive: true, encoding: "utf8" });
    const maps = files.filter((file) => file.endsWith(".map"));

    expect(readdirSync(path.join(project, "node_modules", "repod-rx")).sort()).toEqual([
      "LICENSE",
      "README.md",
      "dist",
      "package.json",
    ]);
    expect(readFileSync(path.join(project, "node_modules", "repod-rx", "LICENSE"), "utf8")).toMatch(/^MIT License/);
    expect(maps.length).toBeGreaterThan(0);
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(path.join(dist, map), "utf8")) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      expect(sourcesContent?.length, map).toBe(sources.length);
      expect(
        sourcesContent?.every((content) => typeof content === "string" && content.length > 0),
        map,
      ).toBe(true);
    }
  });

  it("passes publint, suggestions included", async ({ expect }) => {
    const bytes = readFileSync(tarball);
    const { messages, pkg } = await publint({
      pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) },
      level: "suggestion",
      strict: true,
    });

    expect(messages.map((message) => formatMessage(message, pkg, { color: false }))).toEqual([]);
  });

  // The node16 profile checks Node's resolution from CommonJS and from ES modules, and bundlers';
  // node10 (`moduleResolution: "node"`, deprecated, without `exports`) cannot see subpaths such
  // as repod-rx/client, and Node 20 or later never resolves that way.
  it("passes arethetypeswrong (profile node16)", async ({ expect }) => {
    const result = await run(
      process.execPath,
      [ATTW, tarball, "--profile", "node16", "--no-definitely-typed", "--format", "ascii", "--no-color", "--no-emoji"],
      work,
    );

    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  }, 60_000);

  it("loads every entry point with require() from the CommonJS build, even where require(esm) is off", async ({
    expect,
  }) => {
    // Node before 20.19 cannot require() an ES module; the flag makes a newer Node behave alike.
    const flags = process.allowedNodeEnvironmentFlags.has("--no-experimental-require-module")
      ? ["--no-experimental-require-module"]
      : [];
    const script = `
      const loaded = {};
      for (const entry of ${JSON.stringify(entries)}) {
        loaded[entry] = { file: require.resolve(entry), exports: Object.keys(require(entry)).sort() };
      }
      const root = require("repod-rx");
      const client = require("repod-rx/client");
      loaded.shared = root.RepodError === client.RepodError && root.Client === client.Client;
      loaded.subclass = new root.ProtocolError("ERR_INVALID_PAYLOAD", "x") instanceof client.RepodError;
      console.log(JSON.stringify(loaded));`;
    const loaded = (await node([...flags, "-e", script], project)) as Record<string, unknown>;

    for (const entry of entries) {
      expect(loaded[entry]).toMatchObject({
        file: expect.stringContaining(`${path.sep}dist${path.sep}cjs${path.sep}`),
      });
      expect((loaded[entry] as { exports: string[] }).exports.length, entry).toBeGreaterThan(0);
    }
    expect(loaded.shared).toBe(true);
    expect(loaded.subclass).toBe(true);
  }, 30_000);

  it("loads every entry point with import from the ES module build, exporting the same names", async ({ expect }) => {
    const script = `
      const loaded = {};
      for (const entry of ${JSON.stringify(entries)}) {
        loaded[entry] = { file: import.meta.resolve(entry), exports: Object.keys(await import(entry)).sort() };
      }
      const root = await import("repod-rx");
      const client = await import("repod-rx/client");
      loaded.shared = root.RepodError === client.RepodError && root.Client === client.Client;
      loaded.subclass = new root.ProtocolError("ERR_INVALID_PAYLOAD", "x") instanceof client.RepodError;
      console.log(JSON.stringify(loaded));`;
    const imported = (await node(["--input-type=module", "-e", script], project)) as Record<string, unknown>;
    const required = (await node(
      [
        "-e",
        `console.log(JSON.stringify(Object.fromEntries(${JSON.stringify(entries)}.map((e) => [e, Object.keys(require(e)).sort()]))))`,
      ],
      project,
    )) as Record<string, string[]>;

    for (const entry of entries) {
      expect(imported[entry]).toMatchObject({ file: expect.stringContaining("/dist/esm/") });
      expect((imported[entry] as { exports: string[] }).exports, entry).toEqual(required[entry]);
    }
    expect(imported.shared).toBe(true);
    expect(imported.subclass).toBe(true);
  }, 30_000);

  it("type-checks in a browser project without Node's types (repod-rx/client)", async ({ expect }) => {
    const dir = path.join(project, "browser");
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "preserve",
          moduleResolution: "bundler",
          lib: ["ES2022", "DOM"],
          types: [],
          strict: true,
          noEmit: true,
          // Checks the package's declarations (and rxjs', msgpack's), not TypeScript's own lib files.
          skipLibCheck: false,
          skipDefaultLibCheck: true,
        },
        files: ["main.ts"],
      }),
    );
    writeFileSync(
      path.join(dir, "main.ts"),
      [
        'import { Client, RepodError, type ClientOptions } from "repod-rx/client";',
        "export const options: ClientOptions = { tls: { ca: new Uint8Array(0) } };",
        "export const isRepodError = (error: unknown): error is RepodError => error instanceof RepodError;",
        "export type Created = InstanceType<typeof Client>;",
        "",
      ].join("\n"),
    );
    const result = await run(process.execPath, [TSC, "-p", dir], dir);

    expect(result.stdout).toBe("");
    expect(result.code).toBe(0);
  }, 60_000);

  it("type-checks every entry point in a Node project, from CommonJS (.cts) and from ES modules (.mts)", async ({
    expect,
  }) => {
    const dir = path.join(project, "node");
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          types: ["node"],
          strict: true,
          noEmit: true,
          // What this checks is resolution and the module format seen from each side; checking
          // every declaration of @types/node too would triple the time for nothing.
          skipLibCheck: true,
        },
        files: ["required.cts", "imported.mts"],
      }),
    );
    const names = entries.map((_, i) => `entry${i}`);
    writeFileSync(
      path.join(dir, "required.cts"),
      [
        ...entries.map((entry, i) => `import ${names[i]} = require(${JSON.stringify(entry)});`),
        `export const loaded = [${names.join(", ")}];`,
        "",
      ].join("\n"),
    );
    writeFileSync(
      path.join(dir, "imported.mts"),
      [
        ...entries.map((entry, i) => `import * as ${names[i]} from ${JSON.stringify(entry)};`),
        `export const loaded = [${names.join(", ")}];`,
        "",
      ].join("\n"),
    );
    const result = await run(process.execPath, [TSC, "-p", dir], dir);

    expect(result.stdout).toBe("");
    expect(result.code).toBe(0);
  }, 60_000);
});
