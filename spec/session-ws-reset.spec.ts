import { decode } from "@msgpack/msgpack";
import { afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionError, type IncomingMessage } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { pumpUntil, startServer, waitFor } from "./helpers/net.js";
import { tcpProxy } from "./helpers/proxy.js";
import { closeRawWebSocket, openRawWebSocket, payloadOf, Recorder } from "./helpers/ws.js";

// The two Node halves of what session-browser.spec.ts plays in Chromium: a WebSocket whose TCP
// connection is reset (no close frame, no FIN) is a drop to resume, on the server and on the
// client, exactly as it is over TCP.

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

class Seat extends Channel {
  readonly moves: number[] = [];
  readonly drops: Error[] = [];
  resumes = 0;
  closes = 0;

  Network_move(message: { n: number }): void {
    this.moves.push(message.n);
  }

  override onDrop(error: Error): void {
    this.drops.push(error);
  }

  override onResume(): void {
    this.resumes++;
  }

  override onClose(): void {
    this.closes++;
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, index) => from + index);

describe("a WebSocket connection reset under a resumable session", () => {
  it("is a drop on the server: the seat is held, not closed", async () => {
    const server = cleanup.server(
      await startServer({ channelClass: Seat, ws: { port: 0 }, resume: { window: 10_000 } }),
    );
    const proxy = await tcpProxy(cleanup, server.wsPort!);
    // A peer speaking the session protocol by hand, as a browser page does: hello first, then play.
    const socket = await openRawWebSocket(`ws://127.0.0.1:${proxy.port}/`);
    cleanup.add(() => closeRawWebSocket(socket));
    socket.on("error", () => {});
    const received: IncomingMessage[] = [];
    socket.on("message", (data) => received.push(decode(data as Buffer) as IncomingMessage));
    socket.send(payloadOf({ action: "@hello", session: true }));
    await waitFor(() => received.some((message) => message.action === "@session"), "the session grant");
    await waitFor(() => server.channels.length === 1, "the channel");
    const seat = server.channels[0]!;
    for (let n = 0; n < 5; n++) socket.send(payloadOf({ action: "move", n }));
    await waitFor(() => seat.moves.length === 5, "5 moves");

    proxy.cut();
    await waitFor(() => seat.drops.length + seat.closes > 0, "the server to notice the reset");
    expect(seat.closes, "onClose after a reset").toBe(0);
    expect(seat.drops).toHaveLength(1);
    expect(seat.drops[0]).toBeInstanceOf(ConnectionError);
    expect((seat.drops[0] as ConnectionError).code).toBe("ERR_CONNECTION_LOST");
    expect(server.channels).toEqual([seat]);
    expect(seat.isConnected).toBe(false);
  });

  it("is a drop on a Node client: dropped then resumed, no disconnected, nothing lost", async () => {
    const server = cleanup.server(
      await startServer({ channelClass: Seat, ws: { port: 0 }, resume: { window: 10_000 } }),
    );
    const proxy = await tcpProxy(cleanup, server.wsPort!);
    const player = cleanup.listener(new Recorder());
    player.connect(`ws://127.0.0.1:${proxy.port}/`, { resume: true });
    await waitFor(() => server.channels.length === 1, "the channel");
    const seat = server.channels[0]!;
    for (let n = 0; n < 5; n++) player.send({ action: "move", n });
    await waitFor(() => seat.moves.length === 5, "5 moves");

    proxy.cut();
    for (let n = 5; n < 10; n++) player.send({ action: "move", n });
    await pumpUntil(
      player,
      () => player.actions.some((action) => action === "resumed" || action === "disconnected"),
      "the client to resume or give up",
    );
    expect(player.actions).toEqual(["connected", "socketConnect", "dropped", "resumed"]);
    await waitFor(() => seat.moves.length === 10, "the 5 moves sent during the gap");
    expect(seat.moves).toEqual(range(0, 10));
    expect([seat.drops.length, seat.resumes, seat.closes]).toEqual([1, 1, 0]);
  });
});
