/**
 * The child processes of the slow reader row (bench/slow-reader.ts):
 * `node --import tsx bench/slow-reader-child.ts server|viewers|slow`, driven over IPC
 * (bench/harness/role-child.ts).
 *
 * - `server`: a repod-rx `Server` on 127.0.0.1 (default options) that broadcasts a ~2 KB state
 *   snapshot to every channel at 60 Hz with `sendToAll`, with `{ latest: "state" }` or without;
 *   it samples its RSS and the slow channel's backlog (`bufferedAmount`: bytes accepted and not
 *   yet handed to the operating system).
 * - `viewers`: the players who read at full speed: repod-rx `ConnectionListener`s over TCP that
 *   pump as soon as messages arrive and time each state from the server's clock to the handler.
 * - `slow`: one raw TCP peer (a repod-rx client cannot be told to read slowly) that reads at full
 *   speed until told to read a given number of bytes per second, and samples how old the newest
 *   state it has decoded is.
 */
import * as net from "node:net";
import { filter, firstValueFrom, type Subscription } from "rxjs";
import {
  Channel,
  ConnectionListener,
  decode,
  encode,
  FrameDecoder,
  RepodError,
  Server,
  type IncomingMessage,
} from "../lib/index.js";
import { serveRole } from "./harness/role-child.js";
import { pumpOnArrival } from "./impls/repod.js";

/** The same clock in every process: milliseconds since the epoch, with sub-millisecond precision. */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

/** Action names of the row. */
const STATE = "state";
/** Sent by the slow peer first, so that the server knows which channel is the slow one. */
const SLOW = "slow";

/** One state snapshot: `entities` rows of [id, x, y, heading], all floats as float64. */
function stateMessage(tick: number, entities: number): { action: string; tick: number; t: number; e: number[][] } {
  const e: number[][] = [];
  for (let id = 0; id < entities; id++) {
    const phase = tick / 60 + id;
    // Never integers, so that every coordinate takes its 9 bytes and every state the same size.
    e.push([id, Math.sin(phase) * 1000 + 0.5, Math.cos(phase) * 1000 + 0.5, (phase % 6.283) + 0.25]);
  }
  return { action: STATE, tick, t: wallClock(), e };
}

/** The number of entities whose state takes about `bytes` on the wire (frame header included). */
function entitiesFor(bytes: number): number {
  let entities = 1;
  while (encode(stateMessage(100_000, entities + 1)).byteLength <= bytes) entities++;
  return entities;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

// ---------------------------------------------------------------------------------------------
// The server.

/**
 * The process's memory after a full garbage collection (the server runs with `--expose-gc`): what
 * it keeps, not the garbage of the last few seconds, so that the start and the end compare.
 */
function memoryAfterGc(): NodeJS.MemoryUsage {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage();
}

export interface ServerWindow {
  /** The first and last ticks sent in the window. */
  readonly from: number;
  readonly to: number;
  readonly rssStartMiB: number;
  readonly rssEndMiB: number;
  /** V8's heap and the array buffers outside it (frames waiting for a peer are Buffers), after GC. */
  readonly heapStartMiB: number;
  readonly heapEndMiB: number;
  readonly buffersStartMiB: number;
  readonly buffersEndMiB: number;
  /** The slow channel's `bufferedAmount`, sampled every 50 ms: the most, and at the end. */
  readonly backlogMaxBytes: number;
  readonly backlogEndBytes: number;
  /** Whether the slow channel is still connected, and the code it was closed with if not. */
  readonly slowConnected: boolean;
  readonly slowCloseCode: string | null;
  /** Channels connected at the end of the window. */
  readonly channels: number;
  /** Ticks per second actually sent over the window. */
  readonly achievedHz: number;
  /** The server process's CPU time (user + system) per tick over the window, in milliseconds. */
  readonly cpuMsPerTick: number;
  /** Bytes of one state on the wire, its frame header included. */
  readonly stateBytes: number;
}

function serverRole(): void {
  let server: Server<StateChannel> | null = null;
  let slow: StateChannel | null = null;
  let slowCloseCode: string | null = null;
  let tick = 0;
  let ticker: ReturnType<typeof setTimeout> | undefined;
  let sampler: ReturnType<typeof setInterval> | undefined;
  let backlogMax = 0;
  let window: {
    from: number;
    startedAt: number;
    cpu: NodeJS.CpuUsage;
    rss: number;
    heap: number;
    buffers: number;
  } | null = null;
  let stateBytes = 0;

  class StateChannel extends Channel {
    isSlow = false;
    Network_slow(): void {
      this.isSlow = true;
      slow = server!.channels.find((channel) => channel.isSlow) ?? null;
    }
    override onError(error: unknown): void {
      if (this.isSlow) slowCloseCode = error instanceof RepodError ? error.code : String(error);
    }
  }

  const sample = (): void => {
    if (slow !== null) backlogMax = Math.max(backlogMax, slow.bufferedAmount);
  };

  serveRole("slow reader server", {
    async start({
      latest,
      sessions,
      hz,
      stateBytes: target,
    }: {
      latest: boolean;
      sessions: boolean;
      hz: number;
      stateBytes: number;
    }) {
      const entities = entitiesFor(target);
      server = new Server<StateChannel>({
        host: "127.0.0.1",
        port: 0,
        channelClass: StateChannel,
        dispatch: "live",
        // Sessions: every player acknowledges what it reads, and the server paces each one by it.
        ...(sessions ? { resume: true } : {}),
      });
      await server.start();
      const period = 1000 / hz;
      const started = performance.now();
      stateBytes = encode(stateMessage(tick, entities)).byteLength;
      // Scheduled against the start time, not the previous tick, so the stream does not drift.
      const step = (): void => {
        tick++;
        const state = stateMessage(tick, entities);
        // The option under test: a newer state replaces one still waiting unsent for a peer.
        if (latest) server!.sendToAll(state, { latest: STATE });
        else server!.sendToAll(state);
        ticker = setTimeout(step, Math.max(0, started + tick * period - performance.now()));
      };
      step();
      sampler = setInterval(sample, 50);
      return { port: server.port, stateBytes };
    },

    async "window.start"() {
      // Twice, a moment apart: the first collection after the connections came leaves pages that
      // V8 gives back only later, which would read as a drop over the window.
      memoryAfterGc();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { rss, heapUsed, arrayBuffers } = memoryAfterGc();
      backlogMax = 0;
      window = {
        from: tick + 1,
        startedAt: performance.now(),
        cpu: process.cpuUsage(),
        rss,
        heap: heapUsed,
        buffers: arrayBuffers,
      };
      return { from: window.from, channels: server?.channels.length ?? 0, slowKnown: slow !== null };
    },

    "window.stop"(): ServerWindow {
      if (window === null) throw new Error("window.stop before window.start");
      sample();
      const cpu = process.cpuUsage(window.cpu);
      const { rss, heapUsed, arrayBuffers } = memoryAfterGc();
      const to = tick;
      const seconds = (performance.now() - window.startedAt) / 1000;
      const mib = (bytes: number): number => bytes / 2 ** 20;
      return {
        from: window.from,
        to,
        rssStartMiB: mib(window.rss),
        rssEndMiB: mib(rss),
        heapStartMiB: mib(window.heap),
        heapEndMiB: mib(heapUsed),
        buffersStartMiB: mib(window.buffers),
        buffersEndMiB: mib(arrayBuffers),
        backlogMaxBytes: backlogMax,
        backlogEndBytes: slow?.bufferedAmount ?? 0,
        slowConnected: slow?.isConnected ?? false,
        slowCloseCode,
        channels: server?.channels.length ?? 0,
        achievedHz: (to - window.from + 1) / seconds,
        cpuMsPerTick: (cpu.user + cpu.system) / 1000 / (to - window.from + 1),
        stateBytes,
      };
    },

    async exit() {
      clearTimeout(ticker);
      clearInterval(sampler);
      await Promise.race([server?.stop(), new Promise((resolve) => setTimeout(resolve, 2_000))]);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// The viewers: the players who keep up.

export interface ViewersReport {
  readonly clients: number;
  /** Ticks of the window each client should have received, summed over the clients. */
  readonly expected: number;
  readonly delivered: number;
  /** Ticks received twice or after a later one (must be 0). */
  readonly outOfOrder: number;
  /** Delivered within one tick period of being sent. */
  readonly onTime: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyMaxMs: number;
  /** Ticks delivered to the client that received the fewest. */
  readonly worstClientDelivered: number;
  /** Viewers whose connection ended. */
  readonly disconnected: number;
}

class Viewer extends ConnectionListener {
  recording = false;
  lastTick = 0;
  outOfOrder = 0;
  disconnected = false;
  /** Tick and latency (ms) of every state received while recording. */
  readonly ticks: number[] = [];
  readonly latencies: number[] = [];

  Network_state(message: IncomingMessage): void {
    const tick = message.tick as number;
    if (tick <= this.lastTick) this.outOfOrder++;
    this.lastTick = tick;
    if (!this.recording) return;
    this.ticks.push(tick);
    this.latencies.push(wallClock() - (message.t as number));
  }

  Network_disconnected(): void {
    this.disconnected = true;
  }
}

function viewersRole(): void {
  const viewers: Viewer[] = [];
  const subscriptions: Subscription[] = [];

  async function connectOne(port: number, sessions: boolean): Promise<void> {
    const viewer = new Viewer();
    subscriptions.push(pumpOnArrival(viewer));
    const outcome = firstValueFrom(
      viewer.messages$.pipe(filter((m) => m.action === "connected" || m.action === "error")),
    );
    viewer.connect("127.0.0.1", port, sessions ? { resume: true } : {});
    const first = await outcome;
    if (first.action === "error") throw new Error(`a viewer could not connect: ${String(first.error)}`);
    viewers.push(viewer);
  }

  serveRole("slow reader viewers", {
    async connect({ port, count, sessions }: { port: number; count: number; sessions: boolean }) {
      for (let i = 0; i < count; i += 20) {
        await Promise.all(Array.from({ length: Math.min(20, count - i) }, () => connectOne(port, sessions)));
      }
      return { connected: viewers.length };
    },

    "window.start"() {
      for (const viewer of viewers) {
        viewer.recording = true;
        viewer.ticks.length = 0;
        viewer.latencies.length = 0;
        viewer.outOfOrder = 0;
      }
    },

    report({ from, to, periodMs }: { from: number; to: number; periodMs: number }): ViewersReport {
      const all: number[] = [];
      let delivered = 0;
      let onTime = 0;
      let worst = Number.POSITIVE_INFINITY;
      for (const viewer of viewers) {
        viewer.recording = false;
        let mine = 0;
        for (let i = 0; i < viewer.ticks.length; i++) {
          const tick = viewer.ticks[i]!;
          if (tick < from || tick > to) continue;
          const latency = viewer.latencies[i]!;
          mine++;
          all.push(latency);
          if (latency <= periodMs) onTime++;
        }
        delivered += mine;
        worst = Math.min(worst, mine);
      }
      all.sort((a, b) => a - b);
      return {
        clients: viewers.length,
        expected: (to - from + 1) * viewers.length,
        delivered,
        outOfOrder: viewers.reduce((sum, viewer) => sum + viewer.outOfOrder, 0),
        onTime,
        latencyP50Ms: percentile(all, 50),
        latencyP99Ms: percentile(all, 99),
        latencyMaxMs: all.length === 0 ? Number.NaN : all[all.length - 1]!,
        worstClientDelivered: viewers.length === 0 ? 0 : worst,
        disconnected: viewers.filter((viewer) => viewer.disconnected).length,
      };
    },

    exit() {
      for (const subscription of subscriptions) subscription.unsubscribe();
      for (const viewer of viewers) viewer.close();
    },
  });
}

// ---------------------------------------------------------------------------------------------
// The slow reader.

export interface SlowReport {
  /** How old the newest state it had decoded was, sampled every `sampleMs` over the window. */
  readonly stalenessP50Ms: number;
  readonly stalenessP99Ms: number;
  readonly stalenessMaxMs: number;
  readonly samples: number;
  /** Bytes and states it read during the window. */
  readonly bytesRead: number;
  readonly statesRead: number;
  /** Whether its connection ended, and how the socket saw it. */
  readonly cutOff: boolean;
  readonly closeReason: string | null;
}

/** What reading at full speed after the window took to reach a fresh state. */
export interface CatchUpReport {
  /** Bytes and states read before the first state sent after the catch-up began. */
  readonly bytes: number;
  readonly states: number;
  readonly ms: number;
  /** Whether it got there before the timeout. */
  readonly caughtUp: boolean;
  /** Ticks it never received since it connected (replaced by newer states while waiting). */
  readonly skippedTicks: number;
}

function slowRole(): void {
  let socket: net.Socket | null = null;
  let newestT = Number.NaN;
  let lastTick = 0;
  let skippedTicks = 0;
  let bytesRead = 0;
  let statesRead = 0;
  let closed = false;
  let closeReason: string | null = null;
  let reader: ReturnType<typeof setInterval> | undefined;
  let sampler: ReturnType<typeof setInterval> | undefined;
  /** Called with each state's send time while catching up. */
  let onState: ((t: number) => void) | null = null;
  const staleness: number[] = [];
  const decoder = new FrameDecoder();

  /** With a session: messages received (the ones the server numbers), and what was acknowledged. */
  let received = 0;
  let acknowledged = 0;
  const onPayload = (payload: Uint8Array): void => {
    const message = decode(payload) as IncomingMessage;
    const action = message.action;
    if (typeof action === "string" && !action.startsWith("@") && action !== "connected") received++;
    if (action !== STATE) return;
    const tick = message.tick as number;
    if (lastTick > 0 && tick > lastTick + 1) skippedTicks += tick - lastTick - 1;
    lastTick = tick;
    statesRead++;
    newestT = message.t as number;
    onState?.(newestT);
  };

  serveRole("slow reader", {
    async connect({ port, sessions }: { port: number; sessions: boolean }) {
      socket = net.connect({ host: "127.0.0.1", port });
      await new Promise<void>((resolve, reject) => {
        socket!.once("connect", resolve);
        socket!.once("error", reject);
      });
      socket.on("error", (error: NodeJS.ErrnoException) => {
        closeReason ??= error.code ?? error.message;
      });
      socket.on("close", () => {
        closed = true;
        closeReason ??= "closed by the server";
      });
      // Every chunk goes through here, in flowing mode and once throttled (read() emits "data").
      socket.on("data", (chunk: Buffer) => {
        bytesRead += chunk.byteLength;
        decoder.push(chunk, onPayload);
        // As a repod-rx client does (in batches): what it read is acknowledged, so the server
        // knows how much of what it sent is still unread.
        if (sessions && received > acknowledged) {
          acknowledged = received;
          socket!.write(encode({ action: "@ack", n: received }));
        }
      });
      // `encode` makes the whole TCP frame, length header included.
      if (sessions) socket.write(encode({ action: "@hello", session: true }));
      socket.write(encode({ action: SLOW }));
    },

    /** From now on, reads at most `bytesPerSecond` and samples the staleness of what it holds. */
    throttle({ bytesPerSecond, sampleMs }: { bytesPerSecond: number; sampleMs: number }) {
      const s = socket!;
      // A "readable" listener takes the socket out of flowing mode: from now on it reads what
      // read() asks for, and Node reads from the kernel only to refill its small buffer.
      s.on("readable", noop);
      bytesRead = 0;
      statesRead = 0;
      let budget = 0;
      const stepMs = 20;
      reader = setInterval(() => {
        budget = Math.min(budget + (bytesPerSecond * stepMs) / 1000, bytesPerSecond);
        while (budget >= 1 && s.readableLength > 0) {
          const chunk = s.read(Math.min(Math.floor(budget), s.readableLength)) as Buffer | null;
          if (chunk === null) break;
          budget -= chunk.byteLength;
        }
        if (s.readableLength === 0) s.read(0);
      }, stepMs);
      sampler = setInterval(() => {
        if (!Number.isNaN(newestT)) staleness.push(wallClock() - newestT);
      }, sampleMs);
    },

    /** Ends the window: stops the slow reading and sampling. */
    report(): SlowReport {
      clearInterval(reader);
      clearInterval(sampler);
      const sorted = [...staleness].sort((a, b) => a - b);
      return {
        stalenessP50Ms: percentile(sorted, 50),
        stalenessP99Ms: percentile(sorted, 99),
        stalenessMaxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
        samples: sorted.length,
        bytesRead,
        statesRead,
        cutOff: closed,
        closeReason,
      };
    },

    /**
     * Reads at full speed until a state sent after this call arrives: the bytes and states on the
     * way are the backlog the slow spell left, wherever it was (the server's queue, the socket
     * buffers of both kernels, this process's own buffer).
     */
    async catchUp({ timeoutMs }: { timeoutMs: number }): Promise<CatchUpReport> {
      const s = socket!;
      const began = wallClock();
      const bytesBefore = bytesRead;
      const statesBefore = statesRead;
      const caughtUp = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        onState = (t) => {
          if (t < began) return;
          clearTimeout(timer);
          resolve(true);
        };
        s.off("readable", noop);
        s.resume();
      });
      onState = null;
      return {
        // The fresh state itself is not backlog.
        bytes: bytesRead - bytesBefore,
        states: Math.max(0, statesRead - statesBefore - 1),
        ms: wallClock() - began,
        caughtUp,
        skippedTicks,
      };
    },

    exit() {
      socket?.destroy();
    },
  });
}

function noop(): void {}

const role = process.argv[2];
if (role === "server") serverRole();
else if (role === "viewers") viewersRole();
else if (role === "slow") slowRole();
else if (process.send !== undefined) {
  console.error(`bench/slow-reader-child.ts: unknown role ${JSON.stringify(role)}`);
  process.exit(2);
}
