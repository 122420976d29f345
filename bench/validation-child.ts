/**
 * The child processes of the validation row (bench/validation.ts):
 * `node --import tsx bench/validation-child.ts server|client`, driven over IPC (see
 * bench/harness/role-child.ts).
 *
 * The server role runs three repod-rx TCP servers that echo every `move` from a `Network_move`
 * handler, as in the echo scenario: one without validation, one with a valibot schema of `move`,
 * one with the same schema in zod. The client role drives one repod-rx client at a time through
 * the pipelined echo of bench/client/echo-driver.ts, with or without the same schema checking the
 * echoes it receives. Neither side has a rate limit.
 */
import { filter, firstValueFrom, type Subscription } from "rxjs";
import * as v from "valibot";
import { z } from "zod";
import { Channel, ConnectionListener, Server, schemaValidation, type IncomingMessage } from "../lib/index.js";
import { pipelinedEcho } from "./client/echo-driver.js";
import { serveRole } from "./harness/role-child.js";
import type { AppMessage } from "./impls/bench-messages.js";
import { settleWithin, within, type ClientLink } from "./impls/bench-server.js";
import { pumpOnArrival } from "./impls/repod.js";

/** Which schema library checks `move`, or none. */
export type SchemaKind = "none" | "valibot" | "zod";

/** Where the server role's servers listen, by schema library. */
export type ValidationPorts = Record<SchemaKind, number>;

/** The echo's `move` (bench/impls/bench-messages.ts), as a game would declare it. */
const MOVE = {
  valibot: { move: v.object({ id: v.number(), x: v.number(), y: v.number(), seq: v.number() }) },
  zod: { move: z.object({ id: z.number(), x: z.number(), y: z.number(), seq: z.number() }) },
};

function validationFor(kind: SchemaKind): ReturnType<typeof schemaValidation> | undefined {
  return kind === "none" ? undefined : schemaValidation(MOVE[kind]);
}

class EchoChannel extends Channel {
  Network_move(message: IncomingMessage): void {
    this.send(message as never);
  }
}

const servers: Server<EchoChannel>[] = [];
let cpuStart: NodeJS.CpuUsage | null = null;

const serverCommands = {
  async start(): Promise<ValidationPorts> {
    const start = async (kind: SchemaKind): Promise<number> => {
      const validation = validationFor(kind);
      const server = new Server<EchoChannel>({
        host: "127.0.0.1",
        port: 0,
        channelClass: EchoChannel,
        dispatch: "live",
        // The default rate limit would cap every row alike: this row measures validation.
        rateLimit: false,
        ...(validation === undefined ? {} : { validation }),
      });
      await server.start();
      servers.push(server);
      return server.port;
    };
    return { none: await start("none"), valibot: await start("valibot"), zod: await start("zod") };
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

async function openLink(port: number, kind: SchemaKind): Promise<ClientLink> {
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
    const validation = validationFor(kind);
    listener.connect("127.0.0.1", port, { rateLimit: false, ...(validation === undefined ? {} : { validation }) });
    const first = await within(outcome, 10_000, `repod-rx connect to 127.0.0.1:${port}`);
    if (first.action === "error") throw new Error(`could not connect: ${String(first.error)}`);
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

const clientCommands = {
  /** Connects (validating the echoes with `client`) and runs `warmup` echoes unmeasured. */
  async "echo.open"(args: { port: number; client: SchemaKind; warmup: number; window: number }) {
    await closeLink();
    echoLink = await openLink(args.port, args.client);
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
if (role !== "server" && role !== "client") {
  console.error(`bench/validation-child.ts: unknown role ${JSON.stringify(role)}; expected server or client`);
  process.exit(2);
}
serveRole(`validation ${role} child`, role === "server" ? serverCommands : clientCommands);
