import type { CommandTable } from "../harness/ipc.js";
import { type ClientLink, sleep } from "../impls/bench-server.js";
import { openLink, type ImplId } from "../impls/catalog.js";
import { pingPong, pipelinedEcho } from "./echo-driver.js";
import type { PumpProbe } from "./pump-probe.js";

/**
 * The client process: opens connections of one implementation at a time and drives them. Every
 * wait is bounded: each command carries or implies a timeout, and the harness kills the process
 * if a scenario overruns.
 */
let echoLink: ClientLink | null = null;
let links: ClientLink[] = [];
let received = 0;
let probe: PumpProbe | null = null;

async function closeAll(): Promise<void> {
  const open = [...links, ...(echoLink === null ? [] : [echoLink])];
  links = [];
  echoLink = null;
  await Promise.all(open.map((link) => link.close()));
  await probe?.close();
  probe = null;
}

/** Opens `count` links, `concurrency` at a time so the server's accept backlog never overflows. */
async function openMany(impl: ImplId, port: number, count: number, concurrency: number): Promise<ClientLink[]> {
  const opened: ClientLink[] = [];
  for (let start = 0; start < count; start += concurrency) {
    const batch = Math.min(concurrency, count - start);
    opened.push(...(await Promise.all(Array.from({ length: batch }, () => openLink(impl, port)))));
  }
  return opened;
}

export const clientCommands: CommandTable = {
  /** Connects and runs `warmup` pipelined echoes, so the measured run starts warm. */
  async "echo.open"({ impl, port, warmup, window }: { impl: ImplId; port: number; warmup: number; window: number }) {
    await closeAll();
    echoLink = await openLink(impl, port);
    if (warmup > 0) await pipelinedEcho(echoLink, warmup, window, 30_000);
  },

  async "echo.run"({ count, window, timeoutMs }: { count: number; window: number; timeoutMs: number }) {
    if (echoLink === null) throw new Error("echo.run before echo.open");
    return { elapsedNs: await pipelinedEcho(echoLink, count, window, timeoutMs) };
  },

  async "echo.close"() {
    await closeAll();
  },

  async "latency.run"({
    impl,
    port,
    count,
    warmup,
    timeoutMs,
  }: {
    impl: ImplId;
    port: number;
    count: number;
    warmup: number;
    timeoutMs: number;
  }) {
    await closeAll();
    const link = await openLink(impl, port);
    try {
      return await pingPong(link, count, warmup, timeoutMs);
    } finally {
      await link.close();
    }
  },

  /** Opens idle connections that count the `state` messages they receive. */
  async "links.open"({
    impl,
    port,
    count,
    concurrency,
  }: {
    impl: ImplId;
    port: number;
    count: number;
    concurrency: number;
  }) {
    await closeAll();
    received = 0;
    links = await openMany(impl, port, count, concurrency);
    for (const link of links) {
      link.onMessage = (message) => {
        if (message.action === "state") received++;
      };
    }
  },

  "links.count"() {
    return { received };
  },

  async "links.close"() {
    await closeAll();
    await sleep(10);
  },

  async "pump.open"({ port }: { port: number }) {
    await closeAll();
    const { PumpProbe } = await import("./pump-probe.js");
    probe = new PumpProbe();
    await probe.open(port);
  },

  "pump.arm"() {
    if (probe === null) throw new Error("pump.arm before pump.open");
    probe.arm();
  },

  "pump.measure"({ count, switchFirst }: { count: number; switchFirst: boolean }) {
    if (probe === null) throw new Error("pump.measure before pump.open");
    return probe.measure(count, switchFirst);
  },

  async exit() {
    await closeAll();
  },
};
