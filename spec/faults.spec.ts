import { createHook } from "node:async_hooks";
import * as net from "node:net";
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionError, ConnectionListener, type IncomingMessage } from "../lib/index.js";
import { spawnNode } from "./helpers/child.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, first, rawSocket, startServer, waitFor } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Echoes `echo` messages and records how it ended. */
class EchoChannel extends Channel {
  readonly errors: unknown[] = [];
  closes = 0;

  Network_echo(message: IncomingMessage): void {
    this.send({ action: "echo", n: message.n });
  }

  override onError(error: unknown): void {
    this.errors.push(error);
  }

  override onClose(): void {
    this.closes++;
  }
}

/** A well-behaved client that checks the server still answers, numbering its messages. */
async function goodClient(server: {
  readonly port: number;
}): Promise<{ roundTrip: () => Promise<void>; echoes: unknown[] }> {
  const listener = cleanup.listener(new ConnectionListener());
  const echoes: unknown[] = [];
  cleanup.subscription(listener.on("echo").subscribe((message) => echoes.push(message.n)));
  listener.connect("127.0.0.1", server.port);
  await waitFor(() => listener.connection?.isConnected === true, "the good client to open");
  let n = 0;
  return {
    echoes,
    roundTrip: async () => {
      const sent = n++;
      listener.send({ action: "echo", n: sent });
      await waitFor(() => echoes.length === sent + 1, `echo ${sent}`);
    },
  };
}

/**
 * A child process that connects, writes a frame header announcing 100 payload bytes and only 50
 * of them, then prints `ready`. With `reads` it keeps reading, so its death closes the socket with
 * a FIN; without, it blocks its event loop, so what the server sends next stays unread in the
 * kernel and its death resets the connection (RST).
 */
function halfFrameWriter(port: number, reads: boolean): string {
  return `
    const net = require("node:net");
    const socket = net.connect({ host: "127.0.0.1", port: ${port} }, () => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(100);
      socket.write(Buffer.concat([header, Buffer.alloc(50, 0x61)]), () => {
        process.stdout.write("ready " + socket.localPort + "\\n");
        ${reads ? "" : "for (;;) {} // until SIGKILL"}
      });
    });
    socket.on("error", () => {});
  `;
}

describe("a peer killed with SIGKILL in the middle of a frame", () => {
  it.each([
    ["after reading everything (FIN)", true],
    ["with unread data (RST)", false],
  ])("%s: its channel closes exactly once and the server keeps serving others", async (_, reads) => {
    const server = cleanup.server(await startServer({ channelClass: EchoChannel }));
    const good = await goodClient(server);
    let disconnections = 0;
    cleanup.subscription(server.disconnections$.subscribe(() => disconnections++));
    await good.roundTrip();

    const accepted = first(server.connections$);
    const peer = await spawnNode(cleanup, ["-e", halfFrameWriter(server.port, reads)]);
    const victim = await accepted;
    expect(victim.addr.port).toBe(peer.port);
    await good.roundTrip(); // the half frame does not block anyone
    if (!reads) {
      victim.send({ action: "unread" });
      await delay(50);
    }
    peer.child.kill("SIGKILL");
    await peer.exited;

    await waitFor(() => victim.closes > 0, "the victim's channel to close");
    await good.roundTrip();
    await delay(100);
    expect(victim.closes).toBe(1);
    expect(disconnections).toBe(1);
    expect(victim.errors).toHaveLength(1);
    const error = victim.errors[0] as ConnectionError;
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe("ERR_CONNECTION_LOST");
    if (reads) {
      expect(error.message).toBe(
        "The peer closed the connection in the middle of a frame; dropped the 50 bytes received of it",
      );
    } else {
      expect((error.cause as NodeJS.ErrnoException).code).toBe("ECONNRESET");
    }
    expect(server.channels).toHaveLength(1);
    expect(good.echoes).toEqual([0, 1, 2]);
  });
});

describe("a message that makes an async handler reject", () => {
  it("reports the rejection to the channel's onError, like a throw, and the server stays up", async () => {
    class AsyncChannel extends EchoChannel {
      async Network_login(message: IncomingMessage): Promise<void> {
        await delay(1);
        if (typeof message.token !== "string") throw new TypeError("token must be a string");
      }
    }
    const server = cleanup.server(await startServer({ channelClass: AsyncChannel }));
    const good = await goodClient(server);
    const hostile = cleanup.listener(new ConnectionListener());
    hostile.connect("127.0.0.1", server.port);
    await waitFor(() => server.channels.length === 2, "both channels");
    const hostileChannel = server.channels[1]!;

    hostile.send({ action: "login", token: 42 });
    await waitFor(() => hostileChannel.errors.length === 1, "the rejection to reach onError");
    expect(hostileChannel.errors[0]).toEqual(new TypeError("token must be a string"));
    expect(hostileChannel.isConnected).toBe(true);
    await good.roundTrip();
  });
});

describe("a peer that connects and sends nothing", () => {
  it("keeps its channel without idleTimeout (a Python client may only listen), hinders nobody, and ends with stop()", async () => {
    const server = cleanup.server(await startServer({ channelClass: EchoChannel }));
    const silent = cleanup.socket(await rawSocket(server.port));
    silent.resume();
    const silentClosed = new Promise<void>((resolve) => silent.once("close", () => resolve()));
    const good = await goodClient(server);
    for (let i = 0; i < 5; i++) await good.roundTrip();
    await delay(200);
    expect(server.channels).toHaveLength(2);
    const silentChannel = server.channels.find((channel) => channel.addr.port === silent.localPort)!;

    const stoppedAt = Date.now();
    await server.stop();
    await silentClosed;
    expect(Date.now() - stoppedAt).toBeLessThan(1_000);
    expect(silentChannel.closes).toBe(1);
    expect(silentChannel.errors).toEqual([]);
  });

  it("is cut off by idleTimeout, which frees its slot for a real player", async () => {
    const server = cleanup.server(
      await startServer({ channelClass: EchoChannel, idleTimeout: 200, maxConnections: 1 }),
    );
    const silent = cleanup.socket(await rawSocket(server.port));
    silent.resume();
    await waitFor(() => server.channels.length === 1, "the silent channel");
    const silentChannel = server.channels[0]!;
    await waitFor(() => silentChannel.closes === 1, "the idle timeout");
    expect(silentChannel.errors).toHaveLength(1);
    expect((silentChannel.errors[0] as ConnectionError).code).toBe("ERR_IDLE_TIMEOUT");

    const good = await goodClient(server);
    await good.roundTrip();
    expect(server.channels).toHaveLength(1);
  });
});

function count(values: readonly string[], value: string): number {
  return values.filter((candidate) => candidate === value).length;
}

describe("1,000 connections opened and closed in churn", () => {
  it("leave no channel, room, socket, timer or subscription behind", async () => {
    const limits = { heartbeat: { interval: 1_000 }, idleTimeout: 10_000 };
    const server = cleanup.server(
      await startServer({
        ...limits,
        channelClass: class extends Channel {
          override onConnect(): void {
            this.join("lobby");
            this.join(`table-${this.id % 10}`);
          }

          override onError(): void {
            channelErrors++; // the abrupt peers reset their connections
          }
        },
      }),
    );
    let channelErrors = 0;
    let channelStreamsCompleted = 0;
    let opened = 0;
    cleanup.subscription(
      server.connections$.subscribe((channel) => {
        opened++;
        channel.messages$.subscribe({ complete: () => channelStreamsCompleted++ });
        channel.rtt$.subscribe({ complete: () => channelStreamsCompleted++ });
        // A third of the connections are closed by the server.
        if (channel.id % 3 === 0) setTimeout(() => channel.close(), 5);
      }),
    );
    const baseline = process.getActiveResourcesInfo();

    // Every timer and socket created from here on must be gone at the end.
    const live = new Map<number, string>();
    const hook = createHook({
      init: (id, type) => {
        if (type === "Timeout" || type === "TCPWRAP") live.set(id, type);
      },
      destroy: (id) => {
        live.delete(id);
      },
    }).enable();
    cleanup.add(() => hook.disable());

    const TOTAL = 1_000;
    const BATCH = 100;
    let clientStreamsCompleted = 0;
    let listeners = 0;
    for (let start = 0; start < TOTAL; start += BATCH) {
      const batch: Promise<void>[] = [];
      for (let i = start; i < start + BATCH; i++) {
        if (i % 2 === 0) {
          // A real client, closed by itself or by the server.
          listeners++;
          const listener = new ConnectionListener();
          listener.connect("127.0.0.1", server.port, limits);
          const client = listener.connection!;
          client.messages$.subscribe({ complete: () => clientStreamsCompleted++ });
          batch.push(
            new Promise<void>((resolve) => {
              client.state$.subscribe({
                next: (state) => state === "open" && setTimeout(() => listener.close(), 10),
                complete: resolve,
              });
            }),
          );
        } else {
          // An abrupt peer: connects, then resets the connection.
          batch.push(
            new Promise<void>((resolve, reject) => {
              const socket = net.connect({ host: "127.0.0.1", port: server.port }, () =>
                setTimeout(() => socket.resetAndDestroy(), 10),
              );
              socket.on("error", reject);
              socket.on("close", () => resolve());
            }),
          );
        }
      }
      await Promise.all(batch);
    }
    await waitFor(() => server.channels.length === 0, "every channel to close", 10_000);

    expect(opened).toBe(TOTAL);
    expect(server.roomNames).toEqual([]);
    expect(server.room("lobby").size).toBe(0);
    expect(channelStreamsCompleted).toBe(2 * TOTAL);
    expect(clientStreamsCompleted).toBe(listeners);
    expect(channelErrors).toBeLessThanOrEqual(TOTAL / 2);
    // Polled with setImmediate: a polling timer would count itself.
    for (let deadline = Date.now() + 5_000; live.size > 0 && Date.now() < deadline;) await nextTurn();
    expect([...live.values()], "timers and sockets left behind").toEqual([]);
    // What keeps the process alive (ref'ed timers, sockets, servers) is back to what it was.
    const beyondBaseline = (): string[] => {
      const now = process.getActiveResourcesInfo();
      return now.filter((type) => count(now, type) > count(baseline, type));
    };
    for (let deadline = Date.now() + 2_000; beyondBaseline().length > 0 && Date.now() < deadline;) await nextTurn();
    expect(beyondBaseline()).toEqual([]);
  });
});
