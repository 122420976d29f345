import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A demo entry point running under tsx in a child process, with its output collected. */
export class DemoProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | string>;
  private out = "";
  private err = "";

  /** Runs `npx tsx <file> ...args` from the repository's root, e.g. `("demos/chat/server.ts", ["--port", "0"])`. */
  constructor(file: string, args: readonly string[] = []) {
    this.child = spawn(process.execPath, ["--import", "tsx", file, ...args], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout.on("data", (chunk: Buffer) => (this.out += chunk.toString()));
    this.child.stderr.on("data", (chunk: Buffer) => (this.err += chunk.toString()));
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
    );
  }

  /** Everything printed to stdout so far. */
  get stdout(): string {
    return this.out;
  }

  /** The lines printed to stdout so far. */
  get lines(): string[] {
    return this.out.split("\n").filter((line) => line !== "");
  }

  /** Waits until stdout matches `pattern` and returns the match; fails with both outputs after `timeout` ms. */
  async waitFor(pattern: RegExp, timeout = 30_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const match = pattern.exec(this.out);
      if (match !== null) return match;
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(
          `No ${pattern} in the output of ${this.child.spawnargs.slice(3).join(" ")}\nstdout:\n${this.out}\nstderr:\n${this.err}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Types one line on the process's stdin. */
  type(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Kills the process if it still runs and waits for it; for afterEach. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}
