import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Cleanup } from "./cleanup.js";

/** A peer running in a child process, ready to be frozen or killed by the test. */
export interface ChildPeer {
  readonly child: ChildProcessWithoutNullStreams;
  /** The number the child printed on its `ready N` line (its local port, or the port it listens on). */
  readonly port: number;
  /** Resolves once the child has exited. */
  readonly exited: Promise<void>;
}

const PING_PEER = fileURLToPath(new URL("../fixtures/ping-peer.mjs", import.meta.url));

/**
 * Runs `node args...` and resolves once it prints `ready N`. After the test the child is killed
 * with SIGKILL (which also ends a stopped process) and awaited, so no process outlives the test.
 * @throws {Error} if the child exits or stays silent for 5 s before it is ready.
 */
export function spawnNode(cleanup: Cleanup, args: readonly string[]): Promise<ChildPeer> {
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  cleanup.add(async () => {
    child.kill("SIGKILL");
    await exited;
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${args.join(" ")} not ready after 5 s: ${stderr}`)), 5_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const ready = /ready (\d+)\n/.exec(stdout);
      if (ready) {
        clearTimeout(timer);
        resolve({ child, port: Number(ready[1]), exited });
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`child ${args.join(" ")} exited before it was ready: ${stderr}`));
    });
  });
}

/** A ping-answering repod-rx peer (spec/fixtures/ping-peer.mjs) that connects to `port`. */
export function spawnPingClient(cleanup: Cleanup, port: number): Promise<ChildPeer> {
  return spawnNode(cleanup, [PING_PEER, "client", String(port)]);
}

/** A ping-answering repod-rx server (spec/fixtures/ping-peer.mjs) on a free port. */
export function spawnPingServer(cleanup: Cleanup): Promise<ChildPeer> {
  return spawnNode(cleanup, [PING_PEER, "server"]);
}

/**
 * Ends `child` with `signal`, then with SIGKILL if it has not exited after `grace` ms; resolves
 * once it has exited (at once if it already had).
 */
export async function endChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", grace = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), grace);
  await exited;
  clearTimeout(timer);
}
