import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { waitFor } from "./helpers/net.js";

// The docs' examples are Rust-style doctests: every ```ts block of README.md and docs/ is compiled
// against the package's sources, the ones that claim an output are run, and every relative link
// must lead somewhere. The conventions are stated for writers in docs/README.md.

const root = fileURLToPath(new URL("..", import.meta.url));

/** What each entry point of the package resolves to: its source in lib/. */
const ENTRY_POINTS: Readonly<Record<string, string>> = {
  "repod-rx": "lib/index.ts",
  "repod-rx/client": "lib/browser.ts",
  "repod-rx/redis": "lib/redis.ts",
  "repod-rx/operators": "lib/operators.ts",
};

/** One fenced code block of a Markdown file. */
interface CodeBlock {
  /** Path of the Markdown file, relative to the repository. */
  readonly file: string;
  /** 1-based line of the block's first code line. */
  readonly line: number;
  /** The fence's language, e.g. `ts`, `text`, `sh`. */
  readonly lang: string;
  readonly code: string;
  /** The nearest non-blank line before the opening fence. */
  readonly before: string;
}

/** A ```ts block as the tests see it. */
interface TsBlock extends CodeBlock {
  /** Preceded by `<!-- fragment ... -->`: a piece of a larger program, not compiled. */
  readonly fragment: boolean;
  /** The file name of a multi-file example, from a line such as "`server.ts`:" before it. */
  readonly name: string | null;
}

/** A ```text block after a line ending in "prints:", and the ```ts block whose output it is. */
interface OutputClaim {
  readonly output: CodeBlock;
  readonly block: TsBlock;
}

/** README.md and every Markdown file under docs/ (the generated reference in docs/api aside). */
function markdownFiles(): string[] {
  const files = ["README.md"];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const relative = `${dir}/${entry.name}`;
      if (entry.isDirectory() && relative !== "docs/api") walk(relative);
      else if (entry.isFile() && entry.name.endsWith(".md")) files.push(relative);
    }
  };
  walk("docs");
  return files.sort();
}

/** The fenced code blocks of one Markdown file, in order. Fences are at the start of a line. */
function codeBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(path.join(root, file), "utf8").split("\n");
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)/.exec(lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && lines[end] !== "```") end++;
    if (end === lines.length) throw new Error(`${file}:${i + 1}: a code block is never closed`);
    let previous = i - 1;
    while (previous >= 0 && lines[previous]!.trim() === "") previous--;
    blocks.push({
      file,
      line: i + 2,
      lang: open[1]!,
      code: lines.slice(i + 1, end).join("\n") + "\n",
      before: previous >= 0 ? lines[previous]!.trim() : "",
    });
    i = end;
  }
  return blocks;
}

const blocks = markdownFiles().flatMap(codeBlocks);
const tsBlocks: TsBlock[] = blocks
  .filter((block) => block.lang === "ts")
  .map((block) => ({
    ...block,
    fragment: block.before.startsWith("<!-- fragment"),
    name: /^`([\w.-]+\.ts)`:$/.exec(block.before)?.[1] ?? null,
  }));
const claims: OutputClaim[] = blocks
  .filter((block) => block.lang === "text" && block.before.endsWith("prints:"))
  .map((output) => {
    const block = tsBlocks.filter((ts) => ts.file === output.file && ts.line < output.line).at(-1);
    if (!block) throw new Error(`${output.file}:${output.line}: an output claimed by no ts block before it`);
    return { output, block };
  });

/** Where a block is in the docs, for messages. */
const where = (block: CodeBlock): string => `${block.file}:${block.line}`;

/** The block's source with the package's entry points replaced by absolute paths to lib/, to run with tsx. */
function runnable(code: string): string {
  return code.replace(/from "(repod-rx(?:\/\w+)?)"/g, (whole, entry: string) => {
    const target = ENTRY_POINTS[entry];
    return target === undefined ? whole : `from "${root}${target}"`;
  });
}

/** A TypeScript file running under tsx, with its output so far and its exit code. */
interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  /** stdout and stderr, interleaved as they came. */
  readonly output: () => string;
  readonly exit: Promise<number | null>;
}

const children: ChildProcess[] = [];
const tmp = `${root}.tmp/docs-${process.pid}`;

/** Runs a TypeScript file with tsx and collects its output. */
function run(file: string, env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ["--import", "tsx", file], { cwd: root, env: { ...process.env, ...env } });
  children.push(child);
  let stdout = "";
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    output += chunk.toString();
  });
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, stdout: () => stdout, output: () => output, exit };
}

afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the TypeScript examples of README.md and docs/", () => {
  it("are all marked ts: every code block names a language, so no TypeScript hides from the checks", () => {
    const others = blocks.filter((block) => !["ts", "text", "sh", "python"].includes(block.lang));
    expect(others.map((block) => `${where(block)}: ${block.lang || "no language"}`)).toEqual([]);
  });

  it("are found, and fragments stay rare", () => {
    expect(tsBlocks.length).toBeGreaterThan(20);
    const fragments = tsBlocks.filter((block) => block.fragment);
    expect(fragments.map(where).length, `fragments: ${fragments.map(where).join(", ")}`).toBeLessThanOrEqual(5);
  });

  it("all type-check, as modules importing the package, in one program with the project's strict options", () => {
    const dir = `${tmp}/check`;
    mkdirSync(dir, { recursive: true });
    const files = new Map<string, TsBlock>();
    for (const block of tsBlocks.filter((block) => !block.fragment)) {
      const file = `${dir}/${block.file.replace(/\W+/g, "-")}-${block.line}.ts`;
      // `export {}` makes every block a module, so blocks never share a global scope.
      writeFileSync(file, `${block.code}export {};\n`);
      files.set(path.normalize(file), block);
    }

    const config = ts.readConfigFile(`${root}tsconfig.json`, (file) => ts.sys.readFile(file));
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
    const paths = Object.fromEntries(Object.entries(ENTRY_POINTS).map(([entry, file]) => [entry, [`${root}${file}`]]));
    const program = ts.createProgram({
      rootNames: [...files.keys()],
      options: { ...parsed.options, noEmit: true, declaration: false, sourceMap: false, paths },
    });

    // Only the blocks are checked: lib/ itself is tsc's business (npm run typecheck), and checking
    // just these files spares the checker every function body of lib/.
    const problems = [...files].flatMap(([file, block]) => {
      const source = program.getSourceFile(file)!;
      return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map(
        (diagnostic) => {
          const { line } = source.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
          return `${block.file}:${block.line + line}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")}`;
        },
      );
    });
    expect(problems).toEqual([]);
  }, 120_000);
});

describe("the examples that claim an output", () => {
  const single = claims.filter((claim) => claim.block.name === null);

  it("are each checked here: run alone, or as one file of a multi-file example below", () => {
    expect(single.length).toBeGreaterThanOrEqual(3);
    const named = claims.filter((claim) => claim.block.name !== null).map((claim) => claim.block.name);
    expect(named).toEqual(["sessions-client.ts"]);
  });

  for (const { block, output } of single) {
    it(`print what ${where(output)} says (${where(block)})`, async () => {
      mkdirSync(tmp, { recursive: true });
      const file = `${tmp}/${block.file.replace(/\W+/g, "-")}-${block.line}.ts`;
      writeFileSync(file, runnable(block.code));
      const example = run(file);
      expect(await example.exit, example.output()).toBe(0);
      expect(example.stdout().trim()).toBe(output.code.trim());
    }, 30_000);
  }
});

describe("the multi-file examples", () => {
  /** The ts block named `name` (a line "`name`:" before it). */
  function named(name: string): TsBlock {
    const found = tsBlocks.filter((block) => block.name === name);
    if (found.length !== 1) throw new Error(`expected one block named ${name}, found ${found.length}`);
    return found[0]!;
  }

  /**
   * Writes the blocks named `serverFile` and `clientFile` into the test's directory, starts the
   * server on a free port, and once it listens, the client on that port.
   */
  async function runExample(serverFile: string, clientFile: string): Promise<{ server: Run; client: Run }> {
    const dir = `${tmp}/${path.basename(serverFile, ".ts")}`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/${serverFile}`, runnable(named(serverFile).code));
    writeFileSync(`${dir}/${clientFile}`, runnable(named(clientFile).code));

    const server = run(`${dir}/${serverFile}`, { PORT: "0" });
    await waitFor(
      () => /listening on port \d+/.test(server.output()),
      `the server to listen; output: ${server.output()}`,
      15_000,
    );
    const port = /listening on port (\d+)/.exec(server.output())![1]!;
    const client = run(`${dir}/${clientFile}`, { PORT: port });
    return { server, client };
  }

  it("the quick start runs as two files: the client and the server exchange messages, then both exit", async () => {
    expect(named("server.ts").file).toBe("README.md");
    const { server, client } = await runExample("server.ts", "client.ts");
    expect(await client.exit, client.output()).toBe(0);
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

  it("logging in, as the Sessions guide shows: a wrong token is refused, the right one welcomed", async () => {
    const { server, client } = await runExample("sessions-server.ts", "sessions-client.ts");
    expect(await client.exit, client.output()).toBe(0);
    const claim = claims.find((claim) => claim.block.name === "sessions-client.ts")!;
    expect(client.output().trim()).toBe(claim.output.code.trim());
    expect(server.output()).toMatch(/ann joined/);
  }, 30_000);
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The anchors of a Markdown file's headings, numbered as GitHub numbers repeated ones. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** The targets of a Markdown file's inline links and images, outside code blocks and code spans. */
function links(file: string): { target: string; line: number }[] {
  const result: { target: string; line: number }[] = [];
  let fenced = false;
  readFileSync(path.join(root, file), "utf8")
    .split("\n")
    .forEach((line, index) => {
      if (line.startsWith("```")) fenced = !fenced;
      if (fenced) return;
      for (const match of line.replace(/`[^`]*`/g, "").matchAll(/\]\(([^)\s]+)\)/g)) {
        result.push({ target: match[1]!, line: index + 1 });
      }
    });
  return result;
}

describe("the error codes", () => {
  it("every code of RepodErrorCode (lib/errors.ts) has a row in the Errors table of docs/getting-started.md", () => {
    const codes = [...readFileSync(`${root}lib/errors.ts`, "utf8").matchAll(/\| "(ERR_\w+)"/g)].map(
      (match) => match[1]!,
    );
    const guide = readFileSync(`${root}docs/getting-started.md`, "utf8");
    const table = /^## Errors\n([\s\S]*?)^## /m.exec(guide)![1]!;
    const rows = table.split("\n").filter((line) => line.startsWith("| `ERR_"));
    expect(codes.length).toBeGreaterThan(20);
    expect(codes.filter((code) => !rows.some((row) => row.split("|")[1]!.includes(`\`${code}\``)))).toEqual([]);
  });
});

describe("the links of README.md and docs/", () => {
  it("every relative link leads to a file that exists, and every #anchor to a heading in it", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of markdownFiles()) {
      for (const { target, line } of links(file)) {
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        checked++;
        const [pathPart, anchor] = target.split("#") as [string, string | undefined];
        const resolved = pathPart === "" ? path.join(root, file) : path.join(root, path.dirname(file), pathPart);
        if (!existsSync(resolved)) broken.push(`${file}:${line}: ${target}: no such file`);
        else if (anchor !== undefined) {
          if (!statSync(resolved).isFile() || !resolved.endsWith(".md"))
            broken.push(`${file}:${line}: ${target}: not a Markdown file`);
          else if (!anchors(resolved).has(anchor)) broken.push(`${file}:${line}: ${target}: no such heading`);
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(broken).toEqual([]);
  });
});
