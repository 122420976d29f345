import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { ROOT } from "./browser-bundle.js";
import { endChild } from "./child.js";
import { delay } from "./net.js";
import { until } from "./until.js";

/** An event a fixture process posted: `{ event, ... }`. */
export type FixtureEvent = { readonly event: string; readonly [key: string]: any };

/**
 * A fixture run as a child process (`node --import tsx <fixture>` with an IPC channel), driven
 * with requests `{ id, cmd, ... }` answered by `{ id, ok, value | error }`; every other message
 * it posts is an event `{ event, ... }`, kept in order. It must post `{ event: "ready", port }`
 * once listening, and exit when its IPC channel closes (spec/helpers/fixture-child.ts does all
 * of that on the fixture's side).
 */
export class FixtureProcess {
  readonly events: FixtureEvent[] = [];
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
  /** The port of its `ready` event. */
  port = 0;
  /** Its `ready` event, with whatever else the fixture put in it. */
  ready: FixtureEvent = { event: "ready" };
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();
  #stderr = "";

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
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

  /**
   * Forks `fixture` (relative to the repository root) with `env` and `SERVER_NAME=<name>` added,
   * and waits until it is ready.
   * @throws {Error} with its stderr if it exits first, or if it is not ready after `timeout` ms
   * (it is then killed).
   */
  static async start(
    name: string,
    fixture: string,
    env: Record<string, string>,
    timeout = 30_000,
  ): Promise<FixtureProcess> {
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
        timeout,
      );
    } catch (error) {
      await endChild(child, "SIGKILL");
      throw error;
    }
    const ready = started.events.find((event) => event.event === "ready");
    if (ready === undefined) throw new Error(`${name} did not start:\n${started.#stderr}`);
    started.ready = ready;
    started.port = ready.port as number;
    return started;
  }

  /**
   * Starts one process of `fixture` per name, all at once, and resolves with them in the order of
   * `names`. If any fails to start, the others are stopped before the failure is thrown, so that
   * none outlives the test.
   */
  static async startAll<const Names extends readonly string[]>(
    names: Names,
    fixture: string,
    env: Record<string, string>,
    timeout?: number,
  ): Promise<{ -readonly [K in keyof Names]: FixtureProcess }> {
    const outcomes = await Promise.allSettled(names.map((name) => FixtureProcess.start(name, fixture, env, timeout)));
    const failure = outcomes.find((outcome) => outcome.status === "rejected");
    if (failure === undefined) {
      const started = outcomes.map((outcome) => (outcome as PromiseFulfilledResult<FixtureProcess>).value);
      return started as { -readonly [K in keyof Names]: FixtureProcess };
    }
    await Promise.all(outcomes.map((outcome) => (outcome.status === "fulfilled" ? outcome.value.stop() : undefined)));
    throw failure.reason;
  }

  /**
   * Sends the request `{ id, cmd, ...args }` and resolves with the value of its answer.
   * @throws {Error} with the answer's message and `code` if it failed, or if none came within `timeout` ms.
   */
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

  /** Whether the process is still running. */
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
    await Promise.race([this.exited, delay(3_000)]);
    await endChild(this.child, "SIGKILL");
  }
}
