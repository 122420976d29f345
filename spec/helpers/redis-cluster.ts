import { execFileSync, fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT } from "./browser-bundle.js";
import { closedPort, delay } from "./net.js";

/** Polls an async or sync condition until it holds; rejects with `what` after `timeout` ms. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}

/** Ends `child` with `signal`, then with SIGKILL if it has not exited after `grace` ms. */
async function end(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", grace = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), grace);
  await exited;
  clearTimeout(timer);
}

/**
 * A `redis-server` (Debian's package) on a free port of 127.0.0.1, persisting nothing, its files
 * in a temporary directory removed by `stop()`. A machine without it fails the test that starts
 * one, naming the package: never a skip.
 */
export class LocalRedis {
  #child: ChildProcess | null = null;
  #dir = "";
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    try {
      execFileSync("redis-server", ["--version"], { stdio: "pipe" });
    } catch {
      throw new Error("redis-server is not installed: run apt-get install redis-server (the project's .ci/run does)");
    }
    this.#dir = mkdtempSync(path.join(tmpdir(), "repod-rx-redis-sessions-"));
    this.port = await closedPort();
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
    const child = spawn("redis-server", [...args, "--dir", this.#dir, "--daemonize", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 5 s:\n${output}`)), 5_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with code ${code}:\n${output}`));
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child !== null) await end(child);
    if (this.#dir !== "") rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** An event a fixture process posted: `{ event, ... }`. */
export type FixtureEvent = { readonly event: string; readonly [key: string]: any };

/**
 * A fixture run as a child process (`node --import tsx <fixture>` with an IPC channel), driven
 * with requests `{ id, cmd, ... }` answered by `{ id, ok, value | error }`; every other message
 * it posts is an event `{ event, ... }`, kept in order. It must post `{ event: "ready", port }`
 * once listening, and exit when its IPC channel closes.
 */
export class FixtureProcess {
  readonly events: FixtureEvent[] = [];
  port = 0;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();
  #stderr = "";

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stderr!.on("data", (chunk: Buffer) => (this.#stderr += chunk.toString()));
    child.on("message", (message: any) => {
      if (message.event !== undefined) {
        this.events.push(message);
        return;
      }
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      if (message.ok) pending.resolve(message.value);
      else pending.reject(Object.assign(new Error(message.error.message), { code: message.error.code }));
    });
    child.once("exit", () => {
      for (const pending of this.#pending.values()) pending.reject(new Error(`${name} exited`));
      this.#pending.clear();
    });
  }

  /** Forks `fixture` (relative to the repository root) with `env` added, and waits until it is ready. */
  static async start(name: string, fixture: string, env: Record<string, string>): Promise<FixtureProcess> {
    const child = fork(path.join(ROOT, fixture), [], {
      cwd: ROOT,
      execArgv: ["--import", "tsx"],
      env: { ...process.env, ...env, SERVER_NAME: name },
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    const started = new FixtureProcess(name, child);
    try {
      await until(
        () => started.events.some((event) => event.event === "ready") || !started.alive,
        `${name} to start`,
        30_000,
      );
    } catch (error) {
      await end(child, "SIGKILL");
      throw error;
    }
    const ready = started.events.find((event) => event.event === "ready");
    if (ready === undefined) throw new Error(`${name} did not start:\n${started.#stderr}`);
    started.port = ready.port as number;
    return started;
  }

  request<T = unknown>(cmd: string, args: object = {}, timeout = 5_000): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${cmd} within ${timeout} ms`));
      }, timeout);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ id, cmd, ...args });
    });
  }

  /** The events named `event`, in order. */
  of(event: string): FixtureEvent[] {
    return this.events.filter((candidate) => candidate.event === event);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the process wrote on stderr, for failure messages. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Asks the process to stop cleanly, then makes sure it is gone. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    await this.request("stop", {}, 3_000).catch(() => {});
    await Promise.race([new Promise((resolve) => this.child.once("exit", resolve)), delay(3_000)]);
    await end(this.child, "SIGKILL");
  }
}
