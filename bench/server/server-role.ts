import type { CommandTable } from "../harness/ipc.js";
import { mixedMessage } from "../impls/bench-messages.js";
import type { BenchServer } from "../impls/bench-server.js";
import { startServer, type ServerKey } from "../impls/catalog.js";
import { runFanout, type FanoutOptions } from "./fanout-ticker.js";

/**
 * The server process: hosts the servers of the implementations a scenario compares (idle ones
 * cost nothing), and measures its own CPU and memory. Ports are bound on 127.0.0.1, port 0.
 */
const servers = new Map<ServerKey, BenchServer>();
let cpuStart: NodeJS.CpuUsage | null = null;

function serverFor(key: ServerKey): BenchServer {
  const server = servers.get(key);
  if (server === undefined) throw new Error(`server ${key} is not running in this process`);
  return server;
}

async function collectGarbage(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("the server process needs --expose-gc");
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The decode budget row's server (bench/server/decode-target.ts), loaded on first use. */
let decodeTarget: typeof import("./decode-target.js") | null = null;

function decodeCommand(name: string): (args: unknown) => Promise<unknown> {
  return async (args) => {
    decodeTarget ??= await import("./decode-target.js");
    return decodeTarget.decodeTargetCommands[name]!(args);
  };
}

export const serverCommands: CommandTable = {
  "decode.start": decodeCommand("decode.start"),
  "decode.arm": decodeCommand("decode.arm"),
  "decode.outcome": decodeCommand("decode.outcome"),

  /** Starts servers; answers each one's port, or why it is not available. */
  async start({ servers: keys }: { servers: ServerKey[] }) {
    const ports: Partial<Record<ServerKey, number>> = {};
    const unavailable: Partial<Record<ServerKey, string>> = {};
    for (const key of keys) {
      const started = await startServer(key);
      if ("server" in started) {
        servers.set(key, started.server);
        ports[key] = started.server.port;
      } else {
        unavailable[key] = started.unavailable;
      }
    }
    return { ports, unavailable };
  },

  "cpu.start"() {
    cpuStart = process.cpuUsage();
  },

  /** Process CPU (user + system, microseconds) since `cpu.start`. */
  "cpu.stop"() {
    if (cpuStart === null) throw new Error("cpu.stop without cpu.start");
    const used = process.cpuUsage(cpuStart);
    cpuStart = null;
    return { cpuMicros: used.user + used.system };
  },

  connections({ server }: { server: ServerKey }) {
    return serverFor(server).connections();
  },

  "fanout.run"({ server, ...options }: FanoutOptions & { server: ServerKey }) {
    return runFanout(serverFor(server), options);
  },

  /** Sends `count` messages of mixed actions to every client of `server`, in one turn. */
  burst({ server, count }: { server: ServerKey; count: number }) {
    const target = serverFor(server);
    for (let i = 0; i < count; i++) target.broadcast(mixedMessage(i));
  },

  /** Memory after a full garbage collection, in bytes. */
  async memory() {
    await collectGarbage();
    const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
    return { rss, heapUsed, external, arrayBuffers };
  },

  async exit() {
    const all = [...servers.values()];
    servers.clear();
    await Promise.all([...all.map((server) => server.close()), decodeTarget?.closeDecodeTarget()]);
  },
};
