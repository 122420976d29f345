import type * as net from "node:net";
import { config, defaultIfEmpty, firstValueFrom, ignoreElements, timeout, type Subscription } from "rxjs";
import type { ConnectionListenerApi, Server } from "../../lib/index.js";

type Task = () => unknown;

/**
 * Everything a test opened, closed in `afterEach` in reverse order of opening, so that no socket,
 * server, timer or subscription outlives its test. Register each resource as soon as it exists:
 * `const server = cleanup.server(await startServer())`.
 */
export class Cleanup {
  private tasks: Task[] = [];

  /** Registers any closing step. */
  add(task: Task): void {
    this.tasks.push(task);
  }

  /** Stops `server` after the test. */
  server<S extends Pick<Server, "stop">>(server: S): S {
    this.add(() => server.stop());
    return server;
  }

  /**
   * Closes `listener` after the test and waits until its connection is closed for good, so the
   * server it talks to sees the disconnection before it is stopped.
   */
  listener<L extends ConnectionListenerApi<any, any>>(listener: L): L {
    this.add(async () => {
      const client = listener.connection;
      listener.close();
      if (client === null) return;
      await firstValueFrom(client.state$.pipe(ignoreElements(), timeout({ first: 5_000 }), defaultIfEmpty(null)));
    });
    return listener;
  }

  /**
   * Closes `socket` after the test: reads what is left (closing with unread data would reset the
   * connection), ends it, and destroys it if the peer has not closed within a second.
   */
  socket<S extends net.Socket>(socket: S): S {
    this.add(async () => {
      if (socket.destroyed) return;
      socket.on("error", () => {});
      const closed = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        socket.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      socket.resume();
      socket.end();
      await closed;
      socket.destroy();
    });
    return socket;
  }

  /** Closes a raw `net.Server` and destroys every socket it accepted. */
  netServer(server: net.Server, accepted: net.Socket[] = []): net.Server {
    this.add(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of accepted) socket.destroy();
          server.close(() => resolve());
        }),
    );
    return server;
  }

  /** Unsubscribes `subscription` after the test. */
  subscription<S extends Subscription>(subscription: S): S {
    this.add(() => subscription.unsubscribe());
    return subscription;
  }

  /**
   * Routes RxJS's unhandled errors to `handler` for this test only (an unhandled RxJS error would
   * otherwise be thrown from a timer).
   */
  onUnhandledRxError(handler: (error: unknown) => void): void {
    const previous = config.onUnhandledError;
    config.onUnhandledError = handler;
    this.add(() => {
      config.onUnhandledError = previous;
    });
  }

  /** Runs every registered step, newest first; reports the first failure after running them all. */
  async run(): Promise<void> {
    const tasks = this.tasks.reverse();
    this.tasks = [];
    let failure: unknown;
    for (const task of tasks) {
      try {
        await task();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
