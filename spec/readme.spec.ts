import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "./helpers/net.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const readme = readFileSync(`${root}README.md`, "utf8");

/** The TypeScript block that follows the line naming `file` in the README. */
function block(file: string): string {
  const match = new RegExp("`" + file.replace(".", "\\.") + "`:\\n\\n```ts\\n([\\s\\S]*?)```").exec(readme);
  if (!match) throw new Error(`README has no \`${file}\` code block`);
  return match[1]!.replaceAll('from "repod-rx"', `from "${root}lib/index.ts"`);
}

/** A TypeScript file running under tsx, with its output (stdout and stderr) so far and its exit code. */
interface Run {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exit: Promise<number | null>;
}

/** Runs a TypeScript file with tsx and collects its output. */
function run(file: string, env: Record<string, string>): Run {
  const child = spawn(process.execPath, ["--import", "tsx", file], { cwd: root, env: { ...process.env, ...env } });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exit };
}

describe("the README quick start", () => {
  const dir = `${root}.tmp/readme-${process.pid}`;
  const children: ChildProcess[] = [];

  afterEach(() => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Writes the README's `serverFile` and `clientFile` blocks into the test's directory, starts the
   * server on a free port, and once it listens, the client on that port.
   */
  async function runExample(serverFile: string, clientFile: string): Promise<{ server: Run; client: Run }> {
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/${serverFile}`, block(serverFile));
    writeFileSync(`${dir}/${clientFile}`, block(clientFile));

    const server = run(`${dir}/${serverFile}`, { PORT: "0" });
    children.push(server.child);
    await waitFor(
      () => /listening on port \d+/.test(server.output()),
      `the server to listen; output: ${server.output()}`,
      15_000,
    );
    const port = /listening on port (\d+)/.exec(server.output())![1]!;

    const client = run(`${dir}/${clientFile}`, { PORT: port });
    children.push(client.child);
    return { server, client };
  }

  it("runs as two files: the client and the server exchange messages, then both exit", async () => {
    const { server, client } = await runExample("server.ts", "client.ts");
    expect(await client.exit).toBe(0);
    expect(client.output().trim().split("\n")).toEqual([
      "connected",
      "player 1: hello from TypeScript",
      "disconnected",
    ]);
    expect(server.output()).toMatch(/player 1 joined from 127\.0\.0\.1/);
    expect(server.output()).toMatch(/player 1 says hello from TypeScript/);

    server.child.kill("SIGINT");
    expect(await server.exit).toBe(0);
  }, 30_000);

  it("logs in as the Sessions section shows: a wrong token is refused, the right one welcomed", async () => {
    const { server, client } = await runExample("sessions-server.ts", "sessions-client.ts");
    expect(await client.exit).toBe(0);
    const printed = /The client prints:\n\n```\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(client.output().trim()).toBe(printed.trim());
    expect(server.output()).toMatch(/ann joined/);
    server.child.kill("SIGKILL");
  }, 30_000);
});
