/**
 * The soak's server role: one repod-rx `Server` on 127.0.0.1, TCP and WebSocket, in a process of
 * its own, facing every attacker of the soak and one good client at once.
 *
 * Its channels echo the good client's numbered messages and check their order, send the good
 * client a numbered stream of their own, broadcast a ~2 KB state at 30 Hz to whoever watches
 * (latest-wins, so that the server's queue for a slow watcher does not grow), count floods, echo
 * `echo` and answer `ask` requests. A logger counts what the library logs: `dropped` warnings by code, and library
 * failures (`receive failed`), which must never happen. Nothing here catches an exception that
 * reaches the process: a crash ends it, and the harness sees it exit.
 */
import { Channel, RepodError, Server, type IncomingMessage, type Logger } from "../../lib/index.js";
import { serveRole } from "../harness/role-child.js";
import {
  ACTIONS,
  bump,
  UNLOGGED_DROPS,
  type Counts,
  type GoodChannelStats,
  type ServerStats,
  type Transport,
} from "./shared.js";

/** Options of the soak's server, printed in the summary. */
export const SOAK_SERVER_OPTIONS = {
  // A public server's setting (see docs/security.md): a client more than 1 MiB behind is cut off.
  maxQueuedBytes: 1024 * 1024,
  heartbeat: true,
} as const;

const STATE_HZ = 30;
const SEQ_HZ = 50;
const MAX_FAILURES_KEPT = 20;

interface GoodState {
  readonly transport: Transport;
  expected: number;
  outOfOrder: number;
  seqSent: number;
  closeCode: string | null;
}

export function serverRole(fault: string | null): void {
  const closes: Counts = {};
  const log: Counts = {};
  const dispatched: Counts = {};
  const failures: string[] = [];
  const good = new Map<SoakChannel, GoodState>();
  let accepted = 0;
  let secret = "";
  let statesBroadcast = 0;
  let seqStopped = false;
  const timers: ReturnType<typeof setInterval>[] = [];

  const fail = (line: string): void => {
    if (failures.length < MAX_FAILURES_KEPT) failures.push(line);
  };
  const counting = (level: string): Logger[keyof Logger] => {
    return (message, fields) => {
      bump(log, message === "dropped" && typeof fields?.code === "string" ? `dropped ${fields.code}` : message);
      // A connection logs its first few drops one by one, then their number when it ends.
      if (message === "dropped in all" && typeof fields?.unlogged === "number") {
        bump(log, UNLOGGED_DROPS, fields.unlogged);
      }
      if (level === "error") fail(`${message} ${JSON.stringify(fields, (_, value) => describe(value))}`);
    };
  };
  const logger: Logger = {
    debug: () => {},
    info: counting("info"),
    warn: counting("warn"),
    error: counting("error"),
  };

  class SoakChannel extends Channel {
    /** What the peer has shown itself to be, for the count of connections still open. */
    role: "good" | "flooder" | "watcher" | "other" = "other";

    override onConnect(): void {
      accepted++;
    }

    Network_good(message: IncomingMessage): void {
      if (message.secret !== secret || good.has(this)) return;
      const transport: Transport = message.transport === "ws" ? "ws" : "tcp";
      good.set(this, { transport, expected: 0, outOfOrder: 0, seqSent: 0, closeCode: null });
      this.role = "good";
    }

    Network_num(message: IncomingMessage): void {
      const state = good.get(this);
      if (state === undefined) {
        bump(dispatched, "num from a stranger");
        return;
      }
      if (message.n !== state.expected) state.outOfOrder++;
      state.expected = typeof message.n === "number" ? message.n + 1 : state.expected + 1;
      // The fault the soak's own test injects: one echo never sent.
      if (fault === "drop-echo" && message.n === 20) return;
      this.send({ action: ACTIONS.num, n: message.n });
    }

    Network_watch(): void {
      if (this.role === "other") this.role = "watcher";
      this.join("watch");
    }

    Network_flood(): void {
      if (this.role === "other") this.role = "flooder";
      bump(dispatched, ACTIONS.flood);
    }

    Network_echo(message: IncomingMessage): void {
      bump(dispatched, ACTIONS.echo);
      this.send(message as never);
    }

    Network_ask(): { ok: true } {
      bump(dispatched, ACTIONS.ask);
      return { ok: true };
    }

    override networkReceived(): void {
      bump(dispatched, "other actions");
    }

    override onError(error: unknown): void {
      // What ends a connection is a RepodError (ConnectionError, or ProtocolError for a frame
      // over maxPayload...); anything else was thrown by a handler.
      if (error instanceof RepodError) {
        const state = good.get(this);
        if (state !== undefined) state.closeCode = error.code;
        bump(closes, error.code);
        return;
      }
      // A handler failed (echoing a value msgpack cannot encode back...): the game's code, not the
      // library; counted, and the connection goes on.
      bump(log, `handler error ${(error as Error)?.name ?? typeof error}`);
    }

    override onClose(): void {
      // Connections that ended with an error were counted by onError.
      bump(closes, "ended");
    }
  }

  let server: Server<SoakChannel> | null = null;

  /** What the server saw so far; with `gc`, memory after a full collection (what it keeps). */
  const stats = (gc = false): ServerStats => {
    if (gc) (globalThis as { gc?: () => void }).gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    const goodStats: GoodChannelStats[] = [...good].map(([channel, state]) => ({
      transport: state.transport,
      received: state.expected,
      outOfOrder: state.outOfOrder,
      seqSent: state.seqSent,
      connected: channel.isConnected,
      closeCode: state.closeCode,
    }));
    return {
      rssMiB: rss / 2 ** 20,
      heapMiB: heapUsed / 2 ** 20,
      channels: server?.channels.length ?? 0,
      open: (server?.channels ?? []).reduce<Counts>((counts, channel) => {
        bump(counts, channel.role);
        return counts;
      }, {}),
      accepted,
      closes: { ...closes },
      log: { ...log },
      failures: [...failures],
      good: goodStats,
      dispatched: { ...dispatched },
      statesBroadcast,
    };
  };

  serveRole("soak server", {
    async start(args: { secret: string }) {
      secret = args.secret;
      server = new Server<SoakChannel>({
        host: "127.0.0.1",
        port: 0,
        ws: { port: 0 },
        channelClass: SoakChannel,
        dispatch: "live",
        logger,
        ...SOAK_SERVER_OPTIONS,
      });
      await server.start();
      const entities = Array.from({ length: 68 }, (_, id) => [id, 0.5, 0.5, 0.25]);
      let tick = 0;
      timers.push(
        setInterval(() => {
          tick++;
          for (const entity of entities) {
            entity[1] = Math.sin(tick / 30 + entity[0]!) * 1000 + 0.5;
            entity[2] = Math.cos(tick / 30 + entity[0]!) * 1000 + 0.5;
          }
          server!.room("watch").sendToAll({ action: ACTIONS.state, tick, e: entities }, { latest: ACTIONS.state });
          statesBroadcast++;
        }, 1000 / STATE_HZ),
        setInterval(() => {
          if (seqStopped) return;
          for (const [channel, state] of good) {
            if (channel.isConnected) channel.send({ action: ACTIONS.seq, n: state.seqSent++ });
          }
        }, 1000 / SEQ_HZ),
      );
      return { tcp: server.port, ws: server.wsPort! };
    },

    stats: (args: { gc?: boolean } | null) => stats(args?.gc === true),

    /** The fault the soak's own test injects with `--fault crash-server`: an exception nobody catches. */
    crash() {
      if (fault !== "crash-server") throw new Error("crash: only with --fault crash-server");
      setImmediate(() => {
        throw new Error("crash injected by --fault crash-server");
      });
    },

    /** Stops the numbered stream to the good client; returns what was sent. */
    "seq.stop"() {
      seqStopped = true;
      return stats();
    },

    async exit() {
      for (const timer of timers) clearInterval(timer);
      await Promise.race([server?.stop(), new Promise((resolve) => setTimeout(resolve, 3_000))]);
    },
  });
}

/** A log field as text, whatever a peer put in it. */
function describe(value: unknown): unknown {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "bigint") return String(value);
  return value;
}
