/**
 * The server role of an echo row's child: repod-rx servers on 127.0.0.1, port 0, that echo every
 * `move` from a `Network_move` handler (as in the echo scenario), and the commands the harness
 * sends that role (./echo-rounds.ts): `start`, `cpu.start`, `cpu.stop`, `exit`.
 */
import { Channel, Server, type IncomingMessage, type ServerOptions } from "../../lib/index.js";
import { settleWithin } from "../impls/bench-server.js";
import type { CommandTable } from "./ipc.js";

/** Sends every `move` back to its sender. */
export class EchoChannel extends Channel {
  Network_move(message: IncomingMessage): void {
    this.send(message as never);
  }
}

/** What a variant's server sets; the role sets the rest (host, port 0, channel, live dispatch, no rate limit). */
export type EchoServerOptions = Omit<ServerOptions<EchoChannel>, "host" | "port" | "channelClass" | "dispatch">;

/**
 * The server role's commands.
 * @param startServers starts the row's servers with the `start` function it is given (each is
 *   stopped by `exit`) and resolves with their ports, the answer to `start`.
 */
export function echoServerCommands<P>(
  startServers: (start: (options: EchoServerOptions) => Promise<Server<EchoChannel>>) => Promise<P>,
): CommandTable {
  const servers: Server<EchoChannel>[] = [];
  let cpuStart: NodeJS.CpuUsage | null = null;
  const start = async (options: EchoServerOptions): Promise<Server<EchoChannel>> => {
    const server = new Server<EchoChannel>({
      host: "127.0.0.1",
      port: 0,
      channelClass: EchoChannel,
      dispatch: "live",
      // The default rate limit (5,000 messages/s per peer) would cap every variant alike: the rows
      // measure what a feature costs, so neither side is limited, as in a trusted deployment.
      rateLimit: false,
      ...options,
    });
    await server.start();
    servers.push(server);
    return server;
  };
  return {
    start: () => startServers(start),

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
}
