// `npm run size`: what a browser downloads for a page built from `repod-rx/client`, and what each
// feature adds to it. Bundles the page the way spec/browser-build.spec.ts does (esbuild, browser
// platform, ES2022, minified, rxjs and @msgpack/msgpack inside), then, for each feature, takes the
// bytes its source files produced (found through the source map) out of the bundle and gzips the
// rest: the difference is what the feature costs the page, compression included.
//
//   node --import tsx scripts/browser-size.ts [entry]   (default: spec/fixtures/typical-browser-page.ts)
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

/** Each feature, by the source files that implement it. */
const FEATURES: Record<string, readonly string[]> = {
  "rxjs, @msgpack/msgpack (and tslib)": ["node_modules/"],
  "decode budget": ["lib/protocol/decode-budget.ts"],
  "option checks": ["lib/connections/connection-options.ts"],
  "inbound rate limit": ["lib/connections/rate-limiter.ts"],
  sessions: ["lib/sessions/"],
  "requests and answers": ["lib/dispatch/requests.ts", "lib/dispatch/pending-answers.ts"],
  "outbox (volatile, latest)": ["lib/connections/outbox.ts"],
  "reconnection policy": ["lib/connections/reconnect-policy.ts"],
};

const entry = process.argv[2] ?? "spec/fixtures/typical-browser-page.ts";
const bundle = (conditions?: string[]): Promise<esbuild.BuildResult<{ write: false }>> =>
  esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: "external",
    outfile: "bundle.js",
    write: false,
    logLevel: "silent",
    ...(conditions === undefined ? {} : { conditions }),
  });
const result = await bundle();
const code = result.outputFiles.find((file) => file.path.endsWith(".js"))!.text;
const map = JSON.parse(result.outputFiles.find((file) => file.path.endsWith(".map"))!.text) as {
  sources: string[];
  mappings: string;
};

const gzipped = (text: string): number => gzipSync(Buffer.from(text), { level: 9 }).byteLength;
const kib = (bytes: number, digits: number): string => `${(bytes / 1024).toFixed(digits)} KiB`;
const whole = gzipped(code);
const owners = ownerOfEachByte(code, map.mappings);

console.log(`${entry}: ${kib(code.length, 1)} minified, ${kib(whole, 2)} minified and gzipped\n`);
console.log(`${"feature".padEnd(36)} ${"minified".padStart(10)} ${"gzipped".padStart(10)}`);
for (const [feature, prefixes] of Object.entries(FEATURES)) {
  const mine = new Set(
    map.sources.flatMap((source, index) => (prefixes.some((prefix) => source.includes(prefix)) ? [index] : [])),
  );
  let rest = "";
  let removed = 0;
  for (let i = 0; i < code.length; i++) {
    if (mine.has(owners[i]!)) removed++;
    else rest += code[i];
  }
  console.log(`${feature.padEnd(36)} ${kib(removed, 1).padStart(10)} ${kib(whole - gzipped(rest), 2).padStart(10)}`);
}

// rxjs also ships an ES2015 build, which bundlers pick under the "es2015" export condition: no
// tslib, no ES5 class helpers.
const es2015 = (await bundle(["es2015"])).outputFiles.find((file) => file.path.endsWith(".js"))!.text;
console.log(
  `\nwith rxjs's ES2015 build (export condition "es2015"): ${kib(es2015.length, 1)} minified, ${kib(gzipped(es2015), 2)} gzipped`,
);

/**
 * For each character of `code`, the index of the source it came from (-1 when unmapped): a
 * character belongs to the last mapping segment at or before it on its line.
 */
function ownerOfEachByte(text: string, mappings: string): Int32Array {
  const owners = new Int32Array(text.length).fill(-1);
  let offset = 0;
  let source = 0;
  const lines = text.split("\n");
  mappings.split(";").forEach((segments, line) => {
    const length = lines[line]?.length ?? 0;
    let column = 0;
    let owner = -1;
    let from = 0;
    for (const segment of segments === "" ? [] : segments.split(",")) {
      const fields = decodeVlq(segment);
      column += fields[0]!;
      owners.fill(owner, offset + from, offset + column);
      if (fields.length > 1) source += fields[1]!;
      owner = fields.length > 1 ? source : -1;
      from = column;
    }
    owners.fill(owner, offset + from, offset + length);
    offset += length + 1;
  });
  return owners;
}

/** The numbers of one source-map segment (base64 VLQ). */
function decodeVlq(segment: string): number[] {
  const numbers: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".indexOf(char);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      numbers.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return numbers;
}
