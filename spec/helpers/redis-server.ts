import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { endChild } from "./child.js";
import { closedPort } from "./net.js";
import { PROVISION_ADVICE } from "./system-tools.js";

/**
 * A `redis-server` (Debian's package) for a test: on a free port of 127.0.0.1, persisting nothing,
 * its files in a temporary directory. It can be stopped and started again on the same port and
 * directory (a Redis outage); `dispose()` ends it and removes the directory. A machine without
 * `redis-server` fails the test that starts one, naming the package: never a skip.
 */
export class RedisServer {
  #child: ChildProcess | null = null;
  #dir = "";
  /** The port it listens on, chosen by the first `start()`. */
  port = 0;

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * Starts the server and resolves once it accepts connections; the first call chooses the port
   * and the directory, later calls (after `stop()`) reuse them.
   * @throws {Error} if `redis-server` is not installed, exits, or is not ready within 5 s.
   */
  async start(): Promise<void> {
    if (this.#dir === "") {
      try {
        execFileSync("redis-server", ["--version"], { stdio: "pipe" });
      } catch {
        throw new Error(`redis-server is not installed: ${PROVISION_ADVICE} (Debian's redis-server)`);
      }
      this.port = await closedPort();
      this.#dir = mkdtempSync(path.join(tmpdir(), "repod-rx-redis-"));
    }
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

  /** Stops the server (SIGTERM, then SIGKILL after 3 s), keeping its port and directory for `start()`. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child !== null) await endChild(child);
  }

  /** Stops the server and removes its directory; for afterAll. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.#dir !== "") rmSync(this.#dir, { recursive: true, force: true });
  }
}
