import { filter, firstValueFrom, type Subscription } from "rxjs";
import { Channel, ConnectionListener, Server, type IncomingMessage, type ServerOptions } from "../../lib/index.js";
import type { AppMessage } from "./bench-messages.js";
import { type ClientLink, type StartedServer, settleWithin, within } from "./bench-server.js";

/** The library under test: transport `"tcp"` or `"ws"`. */
export type RepodTransport = "tcp" | "ws";

/** Echoes every `move` through a `Network_*` handler, as a game server would answer. */
class EchoChannel extends Channel {
  Network_move(message: IncomingMessage): void {
    this.send(message as never);
  }
}

/**
 * The WebSocket option and the `wsPort` getter are being added to the library; until they exist,
 * the WebSocket rows report "not available" instead of failing.
 */
type ServerOptionsWithWs = ServerOptions<EchoChannel> & { readonly ws?: { readonly port: number } };

/**
 * The rate limit of the benchmark's servers and clients: checked on every message as by default,
 * with a budget out of reach. The pipelined echo sends over 100,000 messages a second on one
 * connection, twenty times the default of 5,000 a game never comes near; throttling it would
 * measure the limit, not the library (bench/flood-isolation.ts measures the limit).
 */
export const BENCH_RATE_LIMIT = { messages: 1e9, burst: 1e9, bytes: 1e12, byteBurst: 1e12 } as const;

export async function startRepodServer(transport: RepodTransport): Promise<StartedServer> {
  const options: ServerOptionsWithWs = {
    host: "127.0.0.1",
    port: 0,
    channelClass: EchoChannel,
    dispatch: "live",
    rateLimit: BENCH_RATE_LIMIT,
    ...(transport === "ws" ? { ws: { port: 0 } } : {}),
  };
  let server: Server<EchoChannel>;
  try {
    server = new Server<EchoChannel>(options);
  } catch (error) {
    if (transport === "ws") return { unavailable: `the server refuses the ws option (${(error as Error).message})` };
    throw error;
  }
  await server.start();
  let port = server.port;
  if (transport === "ws") {
    const wsPort = (server as unknown as { wsPort?: unknown }).wsPort;
    if (typeof wsPort !== "number" || wsPort <= 0) {
      await settleWithin(server.stop(), 2_000);
      return { unavailable: "server.wsPort is not there: the WebSocket transport has not landed" };
    }
    port = wsPort;
  }
  return {
    server: {
      port,
      connections: () => server.channels.length,
      broadcast: (message) => {
        server.sendToAll(message);
      },
      close: () => settleWithin(server.stop(), 3_000),
    },
  };
}

/** A client that receives through `Network_*` handlers run by `pump()`. */
class HandlerListener extends ConnectionListener {
  onApp: (message: AppMessage) => void = () => {};

  Network_move(message: AppMessage): void {
    this.onApp(message);
  }

  Network_state(message: AppMessage): void {
    this.onApp(message);
  }
}

/**
 * Calls `pump()` in a microtask as soon as messages have arrived: once per socket read, right
 * after the read's callback, as soon as any game loop could run the handlers and without spinning
 * while idle. The benchmark measures the library, not a frame rate.
 */
export function pumpOnArrival(listener: ConnectionListener): Subscription {
  let scheduled = false;
  const pump = (): void => {
    scheduled = false;
    listener.pump();
  };
  return listener.messages$.subscribe(() => {
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(pump);
    }
  });
}

/** Connects `listener` and resolves once the server's greeting has arrived. */
export async function connectListener(
  listener: ConnectionListener,
  transport: RepodTransport,
  port: number,
): Promise<void> {
  const outcome = firstValueFrom(
    listener.messages$.pipe(filter((m) => m.action === "connected" || m.action === "error")),
  );
  if (transport === "ws") listener.connect(`ws://127.0.0.1:${port}`, { rateLimit: BENCH_RATE_LIMIT });
  else listener.connect("127.0.0.1", port, { rateLimit: BENCH_RATE_LIMIT });
  const first = await within(outcome, 10_000, `repod-rx ${transport} connect to 127.0.0.1:${port}`);
  if (first.action === "error")
    throw new Error(`repod-rx could not connect: ${String((first as { error?: unknown }).error)}`);
}

/**
 * A repod-rx client. `reactive: false` receives through `Network_*` handlers (the classic repod
 * way); `reactive: true` through `listener.on(action).pipe(filter(...))` subscriptions. Both keep
 * pumping once per turn, as a game does every frame.
 */
export async function openRepodLink(transport: RepodTransport, port: number, reactive: boolean): Promise<ClientLink> {
  const listener = reactive ? new ConnectionListener() : new HandlerListener();
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
  if (listener instanceof HandlerListener) {
    listener.onApp = (message) => link.onMessage(message);
  } else {
    for (const action of ["move", "state"]) {
      subscriptions.push(
        listener
          .on(action)
          .pipe(filter((message) => (message as AppMessage).action === action))
          .subscribe((message) => link.onMessage(message as AppMessage)),
      );
    }
  }
  try {
    await connectListener(listener, transport, port);
  } catch (error) {
    for (const subscription of subscriptions) subscription.unsubscribe();
    listener.close();
    throw error;
  }
  return link;
}
