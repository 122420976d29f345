import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { CHILD_MAX_LIFETIME_ENV, type Ready, type Reply } from "./ipc.js";

const CHILD_SOURCE = fileURLToPath(new URL("../child.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The compiled child (see `buildChildBundle`); without one, children run the source under tsx. */
let compiledEntry: string | null = null;

export function useCompiledChild(file: string | null): void {
  compiledEntry = file;
}

/** Every child still alive, killed if the harness exits any other way than through `stop()`. */
const alive = new Set<ChildProcess>();
/** Every child pid this harness started, for the results' record. */
export const startedPids: number[] = [];

process.on("exit", () => {
  for (const child of alive) child.kill("SIGKILL");
});

export type ChildRole = "server" | "client";

/** `BENCH_TRACE=1` logs every child's start and exit and every request's duration to stderr. */
const TRACE = process.env.BENCH_TRACE === "1";

function trace(line: string): void {
  if (TRACE) process.stderr.write(`    ${line}\n`);
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One child process of the benchmark (`bench/child.ts`, compiled or under tsx, with `--expose-gc`)
 * and the request/reply protocol to it. A request that gets no reply in time, or whose child
 * dies, rejects; `stop()` asks the child to exit and kills it if it does not.
 */
export class BenchChild {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited = false;
  private readonly exitPromise: Promise<void>;

  private constructor(
    readonly role: ChildRole,
    private readonly child: ChildProcess,
  ) {
    this.exitPromise = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exited = true;
        alive.delete(child);
        const error = new Error(`bench ${role} child ${child.pid} exited (${signal ?? `code ${code}`})`);
        for (const pending of this.pending.values()) {
          clearTimeout(pending.timer);
          pending.reject(error);
        }
        this.pending.clear();
        resolve();
      });
    });
    child.on("message", (message: Reply | Ready) => {
      if ("ready" in message) return;
      const pending = this.pending.get(message.id);
      if (pending === undefined) return;
      this.pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new Error(`bench ${role} child: ${message.error}`));
    });
  }

  /** The child's pid. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * Starts a child and resolves once it is ready for requests.
   * @param maxLifetimeMs the child exits by itself after this long, whatever happens here.
   */
  static async start(role: ChildRole, maxLifetimeMs: number): Promise<BenchChild> {
    const child = fork(compiledEntry ?? CHILD_SOURCE, [role], {
      cwd: REPO_ROOT,
      execArgv: compiledEntry === null ? ["--import", "tsx", "--expose-gc"] : ["--expose-gc", "--enable-source-maps"],
      env: { ...process.env, [CHILD_MAX_LIFETIME_ENV]: String(Math.ceil(maxLifetimeMs)) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    alive.add(child);
    if (child.pid !== undefined) startedPids.push(child.pid);
    const handle = new BenchChild(role, child);
    const startedAt = performance.now();
    void handle.exitPromise.then(() => trace(`${role} ${child.pid} exited`));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        handle.kill();
        reject(new Error(`bench ${role} child did not start within 20 s`));
      }, 20_000);
      child.on("message", (message: Reply | Ready) => {
        if ("ready" in message) {
          trace(`${role} ${child.pid} ready in ${(performance.now() - startedAt).toFixed(0)} ms`);
          clearTimeout(timer);
          resolve();
        }
      });
      void handle.exitPromise.then(() => {
        clearTimeout(timer);
        reject(new Error(`bench ${role} child exited before it was ready`));
      });
    });
    return handle;
  }

  /** Sends a command and resolves with the child's answer. */
  request<T = unknown>(cmd: string, args: unknown = {}, timeoutMs = 60_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`bench ${this.role} child ${this.pid} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`bench ${this.role} child: no answer to ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      const sentAt = performance.now();
      const answered = (value: unknown): void => {
        trace(`${this.role} ${cmd}: ${(performance.now() - sentAt).toFixed(0)} ms`);
        resolve(value as T);
      };
      this.pending.set(id, { resolve: answered, reject, timer });
      this.child.send({ id, cmd, args });
    });
  }

  /** Asks the child to close everything and exit; kills it if it has not exited within `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.exited) return;
    await this.request("exit", {}, graceMs).catch(() => {});
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  /** Kills the child at once. */
  kill(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }

  /** Resolves once the child has exited. */
  whenExited(): Promise<void> {
    return this.exitPromise;
  }
}

/** Kills every child still running (for signal handlers). */
export function killAllChildren(): void {
  for (const child of alive) child.kill("SIGKILL");
}
