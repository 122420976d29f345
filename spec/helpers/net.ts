import * as net from "node:net";
import { firstValueFrom, filter, take, toArray, type Observable } from "rxjs";
import { Server, type ServerOptions, type Channel } from "../../lib/index.js";

/** Starts a server on 127.0.0.1 with a free port; stop it in afterEach. */
export async function startServer<C extends Channel<any>>(options: ServerOptions<C> = {}): Promise<Server<C>> {
  const server = new Server<C>({ host: "127.0.0.1", port: 0, ...options });
  await server.start();
  return server;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every few milliseconds until it holds; rejects with `what` after `timeout`. */
export async function waitFor(condition: () => boolean, what = "condition", timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(2);
  }
}

/** Calls `pump()` until `condition` holds (a client's game loop in a test). */
export async function pumpUntil(
  target: { pump(): number },
  condition: () => boolean,
  what = "condition",
  timeout = 5_000,
): Promise<void> {
  await waitFor(
    () => {
      target.pump();
      return condition();
    },
    what,
    timeout,
  );
}

/** The first `count` values of `source`. */
export function collect<T>(source: Observable<T>, count: number): Promise<T[]> {
  return firstValueFrom(source.pipe(take(count), toArray()));
}

/** The first value of `source` matching `predicate`. */
export function first<T>(source: Observable<T>, predicate: (value: T) => boolean = () => true): Promise<T> {
  return firstValueFrom(source.pipe(filter(predicate)));
}

/** A raw TCP socket to `port`, for feeding the server bytes no well-behaved client would send. */
export function rawSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** A free TCP port on 127.0.0.1 with nothing listening on it (for refused connections). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
