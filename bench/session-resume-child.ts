/**
 * The child processes of the session resume row (bench/session-resume.ts):
 * `node --import tsx bench/session-resume-child.ts server|client`, with an IPC channel. Requests
 * `{ id, cmd, args }` get one reply `{ id, ok, result | error }`. A child exits when the runner
 * goes away (its IPC channel closes) or after its maximum lifetime, whatever happens.
 *
 * The server role runs two repod-rx servers, each on TCP and WebSocket: one plain, one with
 * `resume: true`; each echoes every `move` from a `Network_move` handler, as in the echo
 * scenario. The client role drives one repod-rx client at a time through the pipelined echo of
 * bench/client/echo-driver.ts, with or without `resume: true`. Neither side has a rate limit.
 */
import { filter, firstValueFrom, type Subscription } from "rxjs";
import { Channel, ConnectionListener, Server, type IncomingMessage } from "../lib/index.js";
import { pipelinedEcho } from "./client/echo-driver.js";
import { CHILD_MAX_LIFETIME_ENV, type CommandTable, type Reply, type Request } from "./harness/ipc.js";
import type { AppMessage } from "./impls/bench-messages.js";
import { settleWithin, within, type ClientLink } from "./impls/bench-server.js";
import { pumpOnArrival } from "./impls/repod.js";

export type ResumeTransport = "tcp" | "ws";

/** Where the server role's servers listen: `ports[resume ? "resume" : "plain"][transport]`. */
export type ResumePorts = Record<"plain" | "resume", Record<ResumeTransport, number>>;

class EchoChannel extends Channel {
  Network_move(message: IncomingMessage): void {
    this.send(message as never);
  }
}

const servers: Server<EchoChannel>[] = [];
let cpuStart: NodeJS.CpuUsage | null = null;

const serverCommands: CommandTable = {
  async start(): Promise<ResumePorts> {
    const start = async (resume: boolean): Promise<Record<ResumeTransport, number>> => {
      const server = new Server<EchoChannel>({
        host: "127.0.0.1",
        port: 0,
        ws: { port: 0 },
        channelClass: EchoChannel,
        dispatch: "live",
        resume,
        // The default rate limit (5,000 messages/s per peer) would cap both rows alike: this row
        // measures what sessions cost, so neither side is limited, as in a trusted deployment.
        rateLimit: false,
      });
      await server.start();
      servers.push(server);
      return { tcp: server.port, ws: server.wsPort! };
    };
    return { plain: await start(false), resume: await start(true) };
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

  async exit() {
    await Promise.all(servers.splice(0).map((server) => settleWithin(server.stop(), 3_000)));
  },
};

/** A client that receives through `Network_*` handlers run by `pump()`, as in the echo scenario. */
class EchoListener extends ConnectionListener {
  onApp: (message: AppMessage) => void = () => {};

  Network_move(message: AppMessage): void {
    this.onApp(message);
  }
}

/**
 * Whether the server granted the client a resumable session. The public API does not say (a
 * server without `resume` ignores the request); read from the client so that a row labelled
 * "resume" can never quietly measure a plain connection.
 */
function hasSession(listener: ConnectionListener): boolean {
  return (listener.connection as unknown as { session?: unknown } | null)?.session != null;
}

async function openLink(transport: ResumeTransport, port: number, resume: boolean): Promise<ClientLink> {
  const listener = new EchoListener();
  const subscriptions: Subscription[] = [pumpOnArrival(listener)];
  const link: ClientLink = {
    onMessage: () => {},
    send: (message) => {
      listener.send(message as never);
    },
    async close() {
      const gone = firstValueFrom(listener.messages$.pipe(filter((m) => m.action === "disconnected")));
      listener.close();
      await settleWithin(gone, 1_000);
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
  };
  listener.onApp = (message) => link.onMessage(message);
  try {
    const outcome = firstValueFrom(
      listener.messages$.pipe(filter((m) => m.action === "connected" || m.action === "error")),
    );
    const options = { resume, rateLimit: false } as const;
    if (transport === "ws") listener.connect(`ws://127.0.0.1:${port}`, options);
    else listener.connect("127.0.0.1", port, options);
    const first = await within(outcome, 10_000, `repod-rx ${transport} connect to 127.0.0.1:${port}`);
    if (first.action === "error") throw new Error(`could not connect: ${String(first.error)}`);
    if (resume) {
      // The server greets at once and grants the session once it has read the client's hello:
      // a round trip later, with no message of its own to the handlers.
      const deadline = Date.now() + 5_000;
      while (!hasSession(listener)) {
        if (Date.now() > deadline) throw new Error("the server granted no session within 5 s");
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    } else if (hasSession(listener)) {
      throw new Error("a plain client got a session");
    }
  } catch (error) {
    await link.close();
    throw error;
  }
  return link;
}

let echoLink: ClientLink | null = null;

async function closeLink(): Promise<void> {
  const link = echoLink;
  echoLink = null;
  await link?.close();
}

const clientCommands: CommandTable = {
  /** Connects and runs `warmup` pipelined echoes, so that the measured run starts warm. */
  async "echo.open"(args: {
    transport: ResumeTransport;
    port: number;
    resume: boolean;
    warmup: number;
    window: number;
  }) {
    await closeLink();
    echoLink = await openLink(args.transport, args.port, args.resume);
    if (args.warmup > 0) await pipelinedEcho(echoLink, args.warmup, args.window, 30_000);
  },

  async "echo.run"({ count, window, timeoutMs }: { count: number; window: number; timeoutMs: number }) {
    if (echoLink === null) throw new Error("echo.run before echo.open");
    return { elapsedNs: await pipelinedEcho(echoLink, count, window, timeoutMs) };
  },

  async "echo.close"() {
    await closeLink();
  },

  async exit() {
    await closeLink();
  },
};

const role = process.argv[2];
if (process.send === undefined) {
  console.error("bench/session-resume-child.ts is started by bench/session-resume.ts, not by hand");
  process.exit(2);
}
if (role !== "server" && role !== "client") {
  console.error(`bench/session-resume-child.ts: unknown role ${JSON.stringify(role)}; expected server or client`);
  process.exit(2);
}
const send = process.send.bind(process);
const commands = role === "server" ? serverCommands : clientCommands;
const maxLifetime = Number(process.env[CHILD_MAX_LIFETIME_ENV] ?? 600_000);
setTimeout(() => {
  console.error(`session resume ${role} child ${process.pid}: maximum lifetime of ${maxLifetime} ms reached`);
  process.exit(3);
}, maxLifetime).unref();
process.on("disconnect", () => process.exit(0));

process.on("message", (request: Request) => {
  void answer(request);
});

async function answer(request: Request): Promise<void> {
  let reply: Reply;
  try {
    const handler = commands[request.cmd];
    if (handler === undefined) throw new Error(`unknown command ${request.cmd} for the ${role} role`);
    reply = { id: request.id, ok: true, result: (await handler(request.args)) ?? null };
  } catch (error) {
    reply = {
      id: request.id,
      ok: false,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    };
  }
  if (process.connected) send(reply);
  if (request.cmd === "exit") setImmediate(() => process.exit(0));
}

send({ ready: true, pid: process.pid });
