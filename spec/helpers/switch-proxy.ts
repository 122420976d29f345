import * as net from "node:net";
import type { Cleanup } from "./cleanup.js";

/**
 * A TCP proxy on 127.0.0.1:0 whose target can be changed, as a load balancer in front of several
 * servers of one game: a client that comes back after `cut()` lands wherever `retarget()` points,
 * which need not be the server it left.
 */
export interface SwitchProxy {
  readonly port: number;
  /** The port new connections are piped to. */
  readonly target: number;
  /** Connections currently piped through. */
  readonly open: number;
  /** Connections accepted so far, and the port each was piped to, in order. */
  readonly routed: readonly number[];
  /** Pipes the connections accepted from now on to `port`; the open ones stay where they are. */
  retarget(port: number): void;
  /** Resets both sockets of every open connection: no FIN reaches either side, only resets. */
  cut(): void;
}

/** Starts a {@link SwitchProxy} in front of `targetPort`; closed after the test. */
export async function switchProxy(cleanup: Cleanup, targetPort: number): Promise<SwitchProxy> {
  let target = targetPort;
  const routed: number[] = [];
  const pairs = new Set<readonly [net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    routed.push(target);
    const upstream = net.connect({ host: "127.0.0.1", port: target });
    const pair = [client, upstream] as const;
    pairs.add(pair);
    client.on("error", () => {});
    upstream.on("error", () => {});
    // One side gone, the other is closed too.
    client.on("close", () => {
      pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on("close", () => {
      pairs.delete(pair);
      client.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const cut = (): void => {
    for (const [client, upstream] of [...pairs]) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    pairs.clear();
  };
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  );
  return {
    port: (server.address() as net.AddressInfo).port,
    get target() {
      return target;
    },
    get open() {
      return pairs.size;
    },
    routed,
    retarget(port: number) {
      target = port;
    },
    cut,
  };
}
