import { Channel, Server, type IncomingMessage } from "../../lib/index.js";
import type { Cleanup } from "./cleanup.js";

/**
 * A game server that goes down and comes back on the same port, as a restarted process would:
 * the first start picks a free port, every restart binds that port again. What every incarnation
 * received is recorded in `received`, in arrival order.
 */
export class RestartableServer {
  readonly received: IncomingMessage[] = [];
  current: Server | null = null;
  port = 0;

  async start(): Promise<Server> {
    const received = this.received;
    const server = new Server({
      host: "127.0.0.1",
      port: this.port,
      channelClass: class extends Channel {
        override networkReceived(message: IncomingMessage): void {
          received.push(message);
        }
      },
    });
    await server.start();
    this.port = server.port;
    this.current = server;
    return server;
  }

  async stop(): Promise<void> {
    await this.current?.stop();
    this.current = null;
  }
}

/** A started {@link RestartableServer}, stopped after the test. */
export async function restartableServer(cleanup: Cleanup): Promise<RestartableServer> {
  const game = new RestartableServer();
  cleanup.add(() => game.stop());
  await game.start();
  return game;
}
