/**
 * The soak's churn: connections opened and ended all the time, each in one of the ways a player's
 * connection ends (a repod-rx client that closes, a raw peer that closes after a message, resets in
 * the middle of a frame, leaves before the greeting, a WebSocket terminated or abandoned during
 * its upgrade), by a few workers at once.
 */
import { filter, firstValueFrom, timeout } from "rxjs";
import { ConnectionListener, encode } from "../../lib/index.js";
import { serveRole } from "../harness/role-child.js";
import { header, openTcp, openWs, randomInt, whenClosed } from "./raw-peers.js";
import { ACTIONS, bump, sleep, type AttackerStats, type Counts, type SoakPorts } from "./shared.js";
import WebSocket from "ws";

const WORKERS = 6;

type Style = (ports: SoakPorts, endings: Counts) => Promise<void>;

/** A repod-rx client that connects, sends a message, lingers, and closes. */
function libraryClient(transport: "tcp" | "ws"): Style {
  return async (ports, endings) => {
    const listener = new ConnectionListener();
    const outcome = firstValueFrom(
      listener.messages$.pipe(
        filter((message) => message.action === "connected" || message.action === "error"),
        timeout(5_000),
      ),
    );
    if (transport === "ws") listener.connect(`ws://127.0.0.1:${ports.ws}`);
    else listener.connect("127.0.0.1", ports.tcp);
    try {
      const first = await outcome;
      bump(endings, first.action === "connected" ? "closed by the client" : `connect error`);
      if (first.action === "connected") {
        listener.send({ action: ACTIONS.echo, n: 1 });
        await sleep(randomInt(0, 200));
      }
    } catch {
      bump(endings, "connect timed out");
    } finally {
      listener.pump();
      listener.close();
    }
  };
}

const STYLES: readonly (readonly [string, Style])[] = [
  ["repod-rx client over TCP, closes", libraryClient("tcp")],
  ["repod-rx client over WebSocket, closes", libraryClient("ws")],
  [
    "raw TCP, one message, then FIN",
    async (ports, endings) => {
      const socket = await openTcp(ports.tcp);
      socket.on("error", () => {});
      socket.resume();
      socket.write(encode({ action: ACTIONS.echo, n: 1 }));
      await sleep(randomInt(0, 100));
      socket.end();
      await whenClosed(socket, 2_000);
      bump(endings, "closed by the client");
    },
  ],
  [
    "raw TCP, reset in the middle of a frame",
    async (ports, endings) => {
      const socket = await openTcp(ports.tcp);
      socket.on("error", () => {});
      socket.write(Buffer.concat([header(100), Buffer.alloc(randomInt(0, 99), 0x90)]));
      await sleep(randomInt(0, 50));
      socket.resetAndDestroy();
      bump(endings, "reset by the client");
    },
  ],
  [
    "raw TCP, gone before the greeting",
    async (ports, endings) => {
      const socket = await openTcp(ports.tcp);
      socket.on("error", () => {});
      socket.destroy();
      bump(endings, "closed by the client");
    },
  ],
  [
    "raw WebSocket, one message, then terminated",
    async (ports, endings) => {
      const socket = await openWs(ports.ws);
      socket.on("error", () => {});
      socket.send(encode({ action: ACTIONS.echo, n: 1 }).subarray(4));
      await sleep(randomInt(0, 100));
      socket.terminate();
      bump(endings, "reset by the client");
    },
  ],
  [
    "raw WebSocket, abandoned during the upgrade",
    async (ports, endings) => {
      const socket = new WebSocket(`ws://127.0.0.1:${ports.ws}/`);
      socket.on("error", () => {});
      await sleep(randomInt(0, 5));
      socket.terminate();
      bump(endings, "reset by the client");
    },
  ],
];

export function churnRole(): void {
  const tried: Counts = {};
  const endings: Counts = {};
  let connections = 0;
  let running = false;
  const workers: Promise<void>[] = [];

  async function work(ports: SoakPorts, offset: number): Promise<void> {
    for (let i = offset; running; i++) {
      const [name, style] = STYLES[i % STYLES.length]!;
      bump(tried, name);
      connections++;
      try {
        await style(ports, endings);
      } catch (error) {
        bump(endings, `failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        await sleep(50);
      }
    }
  }

  serveRole("soak churn", {
    start({ ports }: { ports: SoakPorts }) {
      running = true;
      for (let i = 0; i < WORKERS; i++) workers.push(work(ports, i));
    },

    async stop(): Promise<AttackerStats> {
      running = false;
      await Promise.race([Promise.all(workers), sleep(5_000)]);
      return { tried, connections, endings, extra: {} };
    },
  });
}
