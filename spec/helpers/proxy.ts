import * as net from "node:net";
import type { Cleanup } from "./cleanup.js";

/**
 * A TCP proxy on 127.0.0.1:0 in front of `target`, under the test's control: `cut()` resets both
 * sockets of every connection through it at once, as a network that fails abruptly does (no FIN
 * reaches either side, only resets). Closed after the test.
 */
export interface TestProxy {
  readonly port: number;
  /** Connections currently piped through. */
  readonly open: number;
  /** Connections accepted so far, refused ones included. */
  readonly accepted: number;
  /** Resets every connection through the proxy, both sides. */
  cut(): void;
  /**
   * Resets the client's side of every connection and leaves the server's side open, as a network
   * that fails between the two does when the server never hears of it (a half-open connection).
   * Returns the server's sides, still connected to the server, with what the client sent that
   * the proxy held back (see `hold`), so that a test can deliver it late; they are destroyed after
   * the test.
   */
  cutClientSide(): HalfOpen[];
  /**
   * While on, what clients send is held in the proxy instead of reaching the server (frames stuck
   * in a failing network); turning it off forwards what was held, in order.
   */
  hold(on: boolean): void;
  /**
   * While on, every new connection is reset as soon as it is accepted, without reaching the
   * server: a server out of reach. Connections already through are left alone.
   */
  refuse(on: boolean): void;
  /** Sends the connections accepted from now on to another port (a restarted server). */
  retarget(port: number): void;
  /**
   * Cuts everything (as `cut()`) the first time a chunk the server sends matches `predicate`,
   * before that chunk is forwarded: the client never reads it. One-shot.
   */
  cutBeforeServerSends(predicate: (chunk: Buffer) => boolean): void;
  /**
   * Cuts everything the first time a chunk sent by `from` matches `predicate`, right after
   * forwarding it: the reset reaches the other side behind data it has not read yet. One-shot.
   */
  cutRightAfter(from: "server" | "client", predicate: (chunk: Buffer) => boolean): void;
}

/** A one-shot cut armed on the chunks one side sends. */
interface Trap {
  readonly from: "server" | "client";
  /** Whether the matching chunk is forwarded before the cut. */
  readonly forward: boolean;
  readonly matches: (chunk: Buffer) => boolean;
}

/** The server's side of a connection whose client side was cut. */
export interface HalfOpen {
  /** The socket to the server, still open as far as the server knows. */
  readonly socket: net.Socket;
  /** Whether the server has closed it (or it was destroyed). */
  readonly closed: boolean;
  /** Writes what the client sent that was held, as a network that delivers it late would. */
  deliverHeld(): void;
}

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Client bytes held back while `hold` is on. */
  held: Buffer[];
  /** Set when the pair is cut on purpose: its events must not touch the other side any more. */
  detached: boolean;
}

export async function tcpProxy(cleanup: Cleanup, targetPort: number): Promise<TestProxy> {
  const pairs = new Set<Pair>();
  const orphans = new Set<net.Socket>();
  let target = targetPort;
  let refusing = false;
  let holding = false;
  let accepted = 0;
  let trap: Trap | null = null;

  const cut = (): void => {
    for (const pair of [...pairs]) {
      pair.detached = true;
      pair.client.resetAndDestroy();
      pair.upstream.resetAndDestroy();
    }
    pairs.clear();
  };

  /** Writes `chunk` to `to`, pausing `from` until `to` drains. */
  const forward = (from: net.Socket, to: net.Socket, chunk: Buffer): void => {
    if (!to.write(chunk)) {
      from.pause();
      to.once("drain", () => from.resume());
    }
  };

  const server = net.createServer((client) => {
    accepted++;
    client.on("error", () => {});
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: "127.0.0.1", port: target });
    upstream.on("error", () => {});
    const pair: Pair = { client, upstream, held: [], detached: false };
    pairs.add(pair);
    // A side that fails (a reset, a refused upstream) fails the other side the same way, so a
    // server out of reach looks like a network failure to the client, not like a clean close;
    // a side that ends cleanly ends the other one cleanly (FIN for FIN).
    const closed =
      (other: net.Socket) =>
      (hadError: boolean): void => {
        if (pair.detached) return;
        pairs.delete(pair);
        if (hadError) other.resetAndDestroy();
        else other.end();
      };
    client.on("close", closed(upstream));
    upstream.on("close", closed(client));
    /** Forwards `chunk` from one side to the other unless a trap cuts first (or right after). */
    const relay = (from: "server" | "client", chunk: Buffer): void => {
      const [source, target] = from === "client" ? [client, upstream] : [upstream, client];
      const sprung = trap !== null && trap.from === from && trap.matches(chunk) ? trap : null;
      if (sprung !== null) trap = null;
      if (sprung === null || sprung.forward) forward(source, target, chunk);
      if (sprung !== null) cut();
    };
    client.on("data", (chunk: Buffer) => {
      if (pair.detached) return;
      if (holding) pair.held.push(chunk);
      else relay("client", chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!pair.detached) relay("server", chunk);
    });
    client.on("end", () => {
      if (!pair.detached) upstream.end();
    });
    upstream.on("end", () => {
      if (!pair.detached) client.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        cut();
        for (const socket of orphans) socket.destroy();
        orphans.clear();
        server.close(() => resolve());
      }),
  );
  return {
    port: (server.address() as net.AddressInfo).port,
    get open() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    cut,
    cutClientSide() {
      const kept: HalfOpen[] = [];
      for (const pair of [...pairs]) {
        pair.detached = true;
        pair.client.resetAndDestroy();
        const socket = pair.upstream;
        // Whatever the server still sends is read and dropped, as by a network that lost the client.
        socket.resume();
        orphans.add(socket);
        kept.push({
          socket,
          get closed() {
            return socket.destroyed || socket.readableEnded;
          },
          deliverHeld() {
            const held = pair.held;
            pair.held = [];
            for (const chunk of held) if (!socket.destroyed) socket.write(chunk);
          },
        });
      }
      pairs.clear();
      return kept;
    },
    hold(on) {
      holding = on;
      if (on) return;
      for (const pair of pairs) {
        const held = pair.held;
        pair.held = [];
        for (const chunk of held) forward(pair.client, pair.upstream, chunk);
      }
    },
    refuse(on) {
      refusing = on;
    },
    retarget(port) {
      target = port;
    },
    cutBeforeServerSends(predicate) {
      trap = { from: "server", forward: false, matches: predicate };
    },
    cutRightAfter(from, predicate) {
      trap = { from, forward: true, matches: predicate };
    },
  };
}
