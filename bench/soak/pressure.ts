/**
 * The soak's pressure on the server's buffers, two roles:
 *
 * - `flood`: two TCP peers and one WebSocket peer writing valid `flood` messages as fast as their
 *   sockets take them (the rate limit holds them back by not reading).
 * - `slow`: peers that watch the state stream and read slowly or not at all. Trickles read 2 KB/s
 *   (the latest-wins broadcast keeps their backlog from growing); stalled ones never read and ask
 *   for 1 KB echoes 100 times a second, until the server cuts them off at `maxQueuedBytes`.
 *
 * Every peer the server cuts off, or that fails, comes back after 200 ms.
 */
import type * as net from "node:net";
import type WebSocket from "ws";
import { encode } from "../../lib/index.js";
import { serveRole } from "../harness/role-child.js";
import { openTcp, openWs } from "./raw-peers.js";
import { ACTIONS, bump, sleep, type AttackerStats, type Counts, type SoakPorts } from "./shared.js";

/** One attacking peer: opens its connection, resolves once it ended. */
type Peer = (ports: SoakPorts, stats: PeerStats) => Promise<void>;

interface PeerStats {
  readonly extra: Counts;
  readonly endings: Counts;
  running: () => boolean;
}

/** Resolves when the connection closes, counting how it ended. */
function ended(socket: net.Socket | WebSocket, stats: PeerStats): Promise<void> {
  return new Promise((resolve) => {
    let reason = "closed by the server";
    socket.on("error", (error: NodeJS.ErrnoException) => {
      reason = error.code ?? error.message;
    });
    socket.once("close", () => {
      bump(stats.endings, stats.running() ? reason : "closed at the end");
      resolve();
    });
  });
}

const FLOOD_CHUNK_MESSAGES = 1_024;

const tcpFlooder: Peer = async (ports, stats) => {
  const socket = await openTcp(ports.tcp);
  const chunk = Buffer.concat(
    Array.from({ length: FLOOD_CHUNK_MESSAGES }, (_, n) => encode({ action: ACTIONS.flood, n })),
  );
  const done = ended(socket, stats);
  socket.resume();
  const flood = (): void => {
    while (stats.running() && !socket.destroyed) {
      bump(stats.extra, "flood messages written", FLOOD_CHUNK_MESSAGES);
      if (!socket.write(chunk)) return;
    }
    if (!stats.running()) socket.destroy();
  };
  socket.on("drain", flood);
  flood();
  await done;
};

const wsFlooder: Peer = async (ports, stats) => {
  const socket = await openWs(ports.ws);
  const payloads = Array.from({ length: FLOOD_CHUNK_MESSAGES }, (_, n) =>
    encode({ action: ACTIONS.flood, n }).subarray(4),
  );
  const done = ended(socket, stats);
  const flood = (): void => {
    if (!stats.running()) {
      socket.terminate();
      return;
    }
    if (socket.readyState !== socket.OPEN) return;
    // Keeps about 1 MiB waiting in the client: as fast as the server lets it through.
    if (socket.bufferedAmount < 1024 * 1024) {
      for (const payload of payloads) socket.send(payload);
      bump(stats.extra, "flood messages written", FLOOD_CHUNK_MESSAGES);
      setImmediate(flood);
    } else {
      setTimeout(flood, 5);
    }
  };
  flood();
  await done;
};

/** Watches the state stream and reads `bytesPerSecond`. */
const trickle: Peer = async (ports, stats) => {
  const socket = await openTcp(ports.tcp);
  const done = ended(socket, stats);
  socket.on("readable", () => {});
  socket.write(encode({ action: ACTIONS.watch }));
  const reader = setInterval(() => {
    if (!stats.running()) socket.destroy();
    // 2 KB a second, in steps of 100 ms: about one state in 15.
    const chunk = socket.read(Math.min(200, socket.readableLength)) as Buffer | null;
    if (chunk !== null) bump(stats.extra, "bytes the trickles read", chunk.byteLength);
    if (socket.readableLength === 0) socket.read(0);
  }, 100);
  await done;
  clearInterval(reader);
};

const ECHO_PAYLOAD = "x".repeat(1024);

/** Watches, never reads, and asks for 1 KB echoes 100 times a second. */
function stalled(transport: "tcp" | "ws"): Peer {
  return async (ports, stats) => {
    const socket = transport === "tcp" ? await openTcp(ports.tcp) : await openWs(ports.ws);
    const done = ended(socket, stats);
    const send = (message: object): void => {
      const frame = encode(message);
      if (transport === "tcp") (socket as net.Socket).write(frame);
      else (socket as WebSocket).send(frame.subarray(4));
    };
    if (transport === "tcp") (socket as net.Socket).pause();
    else (socket as WebSocket).pause();
    send({ action: ACTIONS.watch });
    let n = 0;
    const asker = setInterval(() => {
      if (!stats.running()) {
        if (transport === "tcp") (socket as net.Socket).destroy();
        else (socket as WebSocket).terminate();
        return;
      }
      send({ action: ACTIONS.echo, n: n++, pad: ECHO_PAYLOAD });
      bump(stats.extra, "echoes the stalled peers asked for");
    }, 10);
    await done;
    clearInterval(asker);
  };
}

function pressureRole(label: string, peers: readonly (readonly [string, Peer])[]): void {
  const tried: Counts = {};
  const stats: PeerStats = { extra: {}, endings: {}, running: () => running };
  let running = false;
  let connections = 0;
  const loops: Promise<void>[] = [];

  async function loop(name: string, peer: Peer): Promise<void> {
    while (running) {
      bump(tried, name);
      connections++;
      try {
        await peer(ports!, stats);
      } catch (error) {
        bump(stats.endings, `failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      if (running) await sleep(200);
    }
  }

  let ports: SoakPorts | null = null;
  serveRole(label, {
    start(args: { ports: SoakPorts }) {
      ports = args.ports;
      running = true;
      for (const [name, peer] of peers) loops.push(loop(name, peer));
    },

    async stop(): Promise<AttackerStats> {
      running = false;
      await Promise.race([Promise.all(loops), sleep(5_000)]);
      return { tried, connections, endings: stats.endings, extra: stats.extra };
    },
  });
}

export function floodRole(): void {
  pressureRole("soak flood", [
    ["TCP flooder", tcpFlooder],
    ["TCP flooder", tcpFlooder],
    ["WebSocket flooder", wsFlooder],
  ]);
}

export function slowRole(): void {
  pressureRole("soak slow readers", [
    ["TCP trickle (2 KB/s)", trickle],
    ["TCP trickle (2 KB/s)", trickle],
    ["TCP trickle (2 KB/s)", trickle],
    ["TCP stalled, asking for echoes", stalled("tcp")],
    ["TCP stalled, asking for echoes", stalled("tcp")],
    ["WebSocket stalled, asking for echoes", stalled("ws")],
  ]);
}
