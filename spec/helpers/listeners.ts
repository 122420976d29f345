import { ConnectionListener, type Channel, type IncomingMessage, type Server } from "../../lib/index.js";
import type { Cleanup } from "./cleanup.js";
import { first, waitFor } from "./net.js";

/**
 * `Base` (a `ConnectionListener` or a `Channel` class) with handlers of the built-in actions and a
 * `networkReceived` that record each call as `[handler name, message]` in `calls`, in call order.
 */
export function recordingHandlers<
  B extends new (...args: any[]) => { networkReceived(message: IncomingMessage): void },
>(Base: B) {
  return class extends Base {
    readonly calls: [string, IncomingMessage][] = [];

    Network_connected(message: IncomingMessage): void {
      this.calls.push(["Network_connected", message]);
    }

    Network_socketConnect(message: IncomingMessage): void {
      this.calls.push(["Network_socketConnect", message]);
    }

    Network_disconnected(message: IncomingMessage): void {
      this.calls.push(["Network_disconnected", message]);
    }

    Network_error(message: IncomingMessage): void {
      this.calls.push(["Network_error", message]);
    }

    override networkReceived(message: IncomingMessage): void {
      this.calls.push(["networkReceived", message]);
    }
  };
}

/** A listener that records every handler call as `[handler name, message]`, in call order. */
export class RecordingListener extends recordingHandlers(ConnectionListener) {
  /** The names of the handlers called so far. */
  get names(): string[] {
    return this.calls.map(([name]) => name);
  }

  /** How many times handler `name` was called. */
  count(name: string): number {
    return this.calls.filter(([called]) => called === name).length;
  }
}

/**
 * Connects `listener` to `server` (a live-dispatch server) and resolves with the server's channel
 * once both ends are open. Nothing is pumped: the built-in actions stay queued on the listener.
 */
export async function connectTo<L extends ConnectionListener<any, any>, C extends Channel<any>>(
  cleanup: Cleanup,
  server: Server<C>,
  listener: L,
): Promise<{ listener: L; channel: C }> {
  const accepted = first(server.connections$);
  cleanup.listener(listener);
  listener.connect("127.0.0.1", server.port);
  const channel = await accepted;
  await waitFor(() => listener.connection?.isConnected === true, "the client to open");
  return { listener, channel };
}

/**
 * A plain `ConnectionListener`, closed after the test, and every message of its `messages$` as
 * it comes (built-in actions included, nothing pumped), in `log`.
 */
export function loggedListener(cleanup: Cleanup): { listener: ConnectionListener; log: IncomingMessage[] } {
  const listener = cleanup.listener(new ConnectionListener());
  const log: IncomingMessage[] = [];
  cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
  return { listener, log };
}
