import { rmSync } from "node:fs";
import { mkdir, readdir, rm, rmdir } from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOURCE = fileURLToPath(new URL("../child.ts", import.meta.url));
const BUNDLES = path.join(REPO_ROOT, ".tmp", "bench");

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes the bundles of runs that were killed before they could delete their own. */
async function removeStaleBundles(): Promise<void> {
  const entries = await readdir(BUNDLES).catch(() => [] as string[]);
  for (const entry of entries) {
    const pid = Number(/^child-(\d+)$/.exec(entry)?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !isRunning(pid)) {
      await rm(path.join(BUNDLES, entry), { recursive: true, force: true });
    }
  }
}

/**
 * Compiles `bench/child.ts` with the library sources it imports into ES modules, so each child
 * process starts in a fraction of the time the tsx loader needs to compile the library on every
 * start (the memory scenario starts a fresh server process per run). Dependencies stay external
 * and resolve from node_modules; the files live under the git-ignored `.tmp/`, in a folder named
 * after this process, so concurrent runs do not share them. The folder is deleted by `remove()`,
 * or when the process exits, even on a signal.
 *
 * @returns the entry file and a function that deletes the bundle.
 */
export async function buildChildBundle(): Promise<{ file: string; remove: () => Promise<void> }> {
  await removeStaleBundles();
  const dir = path.join(BUNDLES, `child-${process.pid}`);
  await mkdir(dir, { recursive: true });
  const removeNow = (): void => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeNow);
  await build({
    entryPoints: { child: SOURCE },
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    // Each implementation is a lazily imported chunk, so a process loads only what it runs.
    splitting: true,
    packages: "external",
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "inline",
    logLevel: "warning",
  });
  const remove = async (): Promise<void> => {
    process.off("exit", removeNow);
    await rm(dir, { recursive: true, force: true });
    await rmdir(BUNDLES).catch(() => {}); // only when no other run is using it
  };
  return { file: path.join(dir, "child.mjs"), remove };
}
