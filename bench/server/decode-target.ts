import { Channel, Server, type IncomingMessage, type Logger } from "../../lib/index.js";
import type { CommandTable } from "../harness/ipc.js";

/**
 * The server side of the decode budget row: a repod-rx `Server` in this process, with the default
 * limits or with the decode budget lifted, that measures what each payload costs it. The harness
 * arms a measurement (after full garbage collections), sends one payload, and asks for the outcome:
 * the process CPU time from arming until the message reached its channel or was dropped, and the
 * heap grown by then, taken while the decoded message is still alive.
 */

/** What one payload cost, and what became of it. */
export interface DecodeOutcome {
  /** `"delivered"` to the channel, or the code of the drop (`"ERR_PAYLOAD_TOO_COMPLEX"`...). */
  readonly outcome: string;
  readonly cpuMs: number;
  readonly heapMiB: number;
}

interface Armed {
  readonly cpu: NodeJS.CpuUsage;
  readonly heapUsed: number;
  resolve(outcome: DecodeOutcome): void;
}

let server: Server<MeasuredChannel> | null = null;
/** The measurement under way, until its payload is delivered or dropped. */
let armed: Armed | null = null;
/** The outcome of the last armed measurement, settled or not. */
let outcome: Promise<DecodeOutcome> | null = null;

function settle(what: string): void {
  if (armed === null) return;
  const cpu = process.cpuUsage(armed.cpu);
  const heapMiB = (process.memoryUsage().heapUsed - armed.heapUsed) / 2 ** 20;
  armed.resolve({ outcome: what, cpuMs: (cpu.user + cpu.system) / 1000, heapMiB });
  armed = null;
}

class MeasuredChannel extends Channel {
  override networkReceived(message: IncomingMessage): void {
    // Measured here, while `message` is reachable: the heap it takes is part of the cost.
    if (message.action === "shape") settle("delivered");
  }
}

/** Drops are reported to the logger only: that is where a refused payload shows up. */
const logger: Logger = {
  debug() {},
  info() {},
  warn(message, fields) {
    if (message === "dropped") settle(String(fields?.code ?? "dropped"));
  },
  error() {},
};

/**
 * Full garbage collections, then a pause: V8 finishes sweeping on background threads after `gc()`
 * returns, and that CPU time belongs to the collection, not to the payload measured next.
 */
async function collectGarbage(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("the server process needs --expose-gc");
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Closes the server, if one was started. */
export async function closeDecodeTarget(): Promise<void> {
  const running = server;
  server = null;
  await running?.stop();
}

export const decodeTargetCommands: CommandTable = {
  /**
   * Starts the server on 127.0.0.1; `lifted` raises the budget to the most the options allow
   * (`maxPayloadKeys` only in a build that has the option: others ignore it and keep the default,
   * which the harness checks before it relies on it).
   */
  async "decode.start"({ lifted }: { lifted: boolean }) {
    if (server !== null) throw new Error("decode.start: a server is already running");
    const budget = lifted ? { maxPayloadItems: 0xffff_ffff, maxPayloadDepth: 100, maxPayloadKeys: 0xffff_ffff } : {};
    server = new Server({ host: "127.0.0.1", port: 0, channelClass: MeasuredChannel, logger, ...budget });
    await server.start();
    return { port: server.port };
  },

  /**
   * Starts measuring until the next payload is delivered or dropped; after collecting garbage,
   * unless `collect` is false (warm-up payloads, whose figures are not kept).
   */
  async "decode.arm"({ collect = true }: { collect?: boolean }) {
    if (collect) await collectGarbage();
    let resolve!: (settled: DecodeOutcome) => void;
    outcome = new Promise<DecodeOutcome>((settled) => (resolve = settled));
    armed = { cpu: process.cpuUsage(), heapUsed: process.memoryUsage().heapUsed, resolve };
  },

  /** The outcome of the payload sent after `decode.arm`. */
  async "decode.outcome"({ timeoutMs }: { timeoutMs: number }) {
    const current = outcome;
    if (current === null) throw new Error("decode.outcome: nothing was armed");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no payload delivered or dropped within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([current, timeout]);
    } finally {
      clearTimeout(timer);
    }
  },
};
