/**
 * Child processes that play one role of a multi-process run (the slow reader row, the soak): the
 * harness forks `node --import tsx FILE ROLE ARGS...` with an IPC channel and sends it requests;
 * the child answers each with one reply (the protocol of ./ipc.ts). A child exits by itself when
 * the harness goes away (its IPC channel closes) or after its maximum lifetime, so none outlives a
 * harness that crashed or was killed.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { CHILD_MAX_LIFETIME_ENV, type CommandTable, type Ready, type Reply, type Request } from "./ipc.js";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Every child still running, killed when the harness exits any other way than through `stop()`. */
const alive = new Set<ChildProcess>();
/** The pid of every child this harness started, for the results' record. */
export const startedRolePids: number[] = [];

process.on("exit", () => {
  for (const child of alive) child.kill("SIGKILL");
});

/** How a child ended: its exit code, or the signal that killed it. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** One child process and the request/reply protocol to it. */
export class RoleChild {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #exit: ChildExit | null = null;
  /** Resolves once the child has exited, however. */
  readonly exited: Promise<ChildExit>;

  private constructor(
    readonly role: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        alive.delete(child);
        const error = new Error(`${role} child ${child.pid} exited (${signal ?? `code ${code}`})`);
        for (const pending of this.#pending.values()) {
          clearTimeout(pending.timer);
          pending.reject(error);
        }
        this.#pending.clear();
        resolve(this.#exit);
      });
    });
    child.on("message", (message: Reply | Ready) => {
      if ("ready" in message) return;
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new Error(`${role} child: ${message.error}`));
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** How the child ended, or `null` while it runs. */
  get exit(): ChildExit | null {
    return this.#exit;
  }

  /**
   * Forks `file` as `role` and resolves once it says it is ready.
   * @param maxLifetimeMs the child exits by itself after this long, whatever happens here.
   */
  static async start(
    file: string,
    role: string,
    maxLifetimeMs: number,
    options: { readonly args?: readonly string[]; readonly execArgv?: readonly string[] } = {},
  ): Promise<RoleChild> {
    const child = fork(file, [role, ...(options.args ?? [])], {
      cwd: REPO_ROOT,
      execArgv: ["--import", "tsx", ...(options.execArgv ?? [])],
      env: { ...process.env, [CHILD_MAX_LIFETIME_ENV]: String(Math.ceil(maxLifetimeMs)) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    alive.add(child);
    if (child.pid !== undefined) startedRolePids.push(child.pid);
    const handle = new RoleChild(role, child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        handle.kill();
        reject(new Error(`${role} child did not start within 20 s`));
      }, 20_000);
      child.on("message", (message: Reply | Ready) => {
        if ("ready" in message) {
          clearTimeout(timer);
          resolve();
        }
      });
      void handle.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${role} child exited before it was ready`));
      });
    });
    return handle;
  }

  /** Sends a command and resolves with the child's answer. */
  request<T = unknown>(cmd: string, args: unknown = {}, timeoutMs = 30_000): Promise<T> {
    if (this.#exit !== null) return Promise.reject(new Error(`${this.role} child ${this.pid} is not running`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.role} child: no answer to ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.child.send({ id, cmd, args });
    });
  }

  /** Asks the child to close everything and exit; kills it if it has not exited within `graceMs`. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.#exit !== null) return;
    await this.request("exit", {}, graceMs).catch(() => {});
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills the child at once. */
  kill(): void {
    if (this.#exit === null) this.child.kill("SIGKILL");
  }
}

/** Kills every child still running (for signal handlers and deadlines). */
export function killAllRoleChildren(): void {
  for (const child of alive) child.kill("SIGKILL");
}

/**
 * The child side: answers the harness's requests with `commands` (an `exit` command, if the table
 * has one, runs before the process exits), and exits when the harness goes away or after the
 * maximum lifetime the harness gave it.
 */
export function serveRole(label: string, commands: CommandTable): void {
  const send = process.send?.bind(process);
  if (send === undefined) {
    console.error(`${label} is started by its harness with an IPC channel, not by hand`);
    process.exit(2);
  }
  const maxLifetime = Number(process.env[CHILD_MAX_LIFETIME_ENV] ?? 600_000);
  setTimeout(() => {
    console.error(`${label} ${process.pid}: maximum lifetime of ${maxLifetime} ms reached, exiting`);
    process.exit(3);
  }, maxLifetime).unref();
  process.on("disconnect", () => process.exit(0));
  process.on("message", (request: Request) => {
    void answer(request);
  });

  async function answer(request: Request): Promise<void> {
    let reply: Reply;
    try {
      const handler = commands[request.cmd];
      if (handler === undefined && request.cmd !== "exit") throw new Error(`unknown command ${request.cmd}`);
      reply = { id: request.id, ok: true, result: (await handler?.(request.args)) ?? null };
    } catch (error) {
      reply = {
        id: request.id,
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      };
    }
    if (process.connected) send!(reply);
    if (request.cmd === "exit") setImmediate(() => process.exit(0));
  }

  send({ ready: true, pid: process.pid } satisfies Ready);
}
