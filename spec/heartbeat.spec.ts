import type * as net from "node:net";
import { firstValueFrom, timeout } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import {
  ConnectionError,
  ConnectionListener,
  decode,
  encode,
  FrameDecoder,
  type ConnectOptions,
  type IncomingMessage,
} from "../lib/index.js";
import { spawnPingClient, spawnPingServer } from "./helpers/child.js";
import { Cleanup } from "./helpers/cleanup.js";
import { loggedListener } from "./helpers/listeners.js";
import { delay, first, rawSocket, startServer, waitFor } from "./helpers/net.js";
import { rawServer } from "./helpers/raw.js";
import { RecordingChannel } from "./helpers/recording-channel.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

// Short enough for a fast suite, long enough for a loaded CI machine to answer in time.
const heartbeat = { interval: 100, timeout: 400 };
// Detection happens on the first ping after `timeout` ms of silence; allow for a busy machine.
const DETECTION_BOUND = heartbeat.timeout + 2 * heartbeat.interval + 1_000;

function connectListener(
  port: number,
  options?: ConnectOptions,
): { listener: ConnectionListener; log: IncomingMessage[] } {
  const { listener, log } = loggedListener(cleanup);
  listener.connect("127.0.0.1", port, options);
  return { listener, log };
}

/** Every frame `socket` receives, decoded; nothing is ever answered. */
function swallow(socket: net.Socket): IncomingMessage[] {
  const received: IncomingMessage[] = [];
  const decoder = new FrameDecoder();
  socket.on("data", (chunk: Buffer) =>
    decoder.push(chunk, (payload) => received.push(decode(payload) as IncomingMessage)),
  );
  return received;
}

describe("rtt$", () => {
  it("emits round-trip times on both the channel and the client", async () => {
    const server = cleanup.server(await startServer({ heartbeat: { interval: 20 } }));
    const accepted = first(server.connections$);
    const { listener } = connectListener(server.port, { heartbeat: { interval: 20 } });
    const channel = await accepted;
    const client = listener.connection!;

    const [channelRtt, clientRtt] = await Promise.all([
      firstValueFrom(channel.rtt$.pipe(timeout(2_000))),
      firstValueFrom(client.rtt$.pipe(timeout(2_000))),
    ]);
    expect(channelRtt).toBeGreaterThanOrEqual(0);
    expect(channelRtt).toBeLessThan(1_000);
    expect(clientRtt).toBeGreaterThanOrEqual(0);
    expect(clientRtt).toBeLessThan(1_000);
  });

  it("completes when the connection ends, and the reserved actions never reach the handlers", async () => {
    const server = cleanup.server(await startServer({ heartbeat: { interval: 10 } }));
    const seen: unknown[] = [];
    cleanup.subscription(server.messages$.subscribe(({ message }) => seen.push(message.action)));
    const accepted = first(server.connections$);
    const { listener, log } = connectListener(server.port, { heartbeat: { interval: 10 } });
    const channel = await accepted;
    let completed = false;
    channel.rtt$.subscribe({ complete: () => (completed = true) });
    await firstValueFrom(listener.connection!.rtt$.pipe(timeout(2_000)));
    await firstValueFrom(channel.rtt$.pipe(timeout(2_000)));
    listener.close();
    await waitFor(() => completed, "rtt$ to complete");
    await waitFor(() => log.at(-1)?.action === "disconnected", "the client to close");
    expect(seen).toEqual([]);
    expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect", "disconnected"]);
  });
});

describe("a healthy peer that answers every ping", () => {
  it("stays connected for many timeouts with only heartbeat set, on the server and on the client", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, heartbeat }));
    const accepted = first(server.connections$);
    const { listener, log } = connectListener(server.port, { heartbeat });
    const channel = (await accepted) as RecordingChannel;
    const channelRtts: number[] = [];
    const clientRtts: number[] = [];
    cleanup.subscription(channel.rtt$.subscribe((rtt) => channelRtts.push(rtt)));
    cleanup.subscription(listener.connection!.rtt$.subscribe((rtt) => clientRtts.push(rtt)));

    await delay(4 * heartbeat.timeout);
    expect(channel.isConnected).toBe(true);
    expect(channel.errors).toEqual([]);
    expect(listener.connection!.isConnected).toBe(true);
    expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect"]);
    expect(channelRtts.length).toBeGreaterThan(5);
    expect(clientRtts.length).toBeGreaterThan(5);
  });
});

describe("a vanished peer", () => {
  // SIGKILL is not a vanished peer: the kernel closes the dead process's sockets and sends a FIN
  // (or a RST), which TCP reports at once. A peer that vanishes for real (power cut, cable
  // pulled, NAT entry dropped) sends nothing at all; only the heartbeat can notice. A process
  // frozen with SIGSTOP behaves exactly like that: its socket stays open, reads nothing, and
  // answers no ping.
  it("is detected by the server within the configured time and ends with onClose", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, heartbeat }));
    const accepted = first(server.connections$);
    const peer = await spawnPingClient(cleanup, server.port);
    const channel = await accepted;
    await firstValueFrom(channel.rtt$.pipe(timeout(2_000))); // it answered a ping: a repod-rx peer

    const frozenAt = Date.now();
    peer.child.kill("SIGSTOP");
    await waitFor(() => channel.closes > 0, "the frozen peer to be detected", 5_000);
    const detectedAfter = channel.closedAt - frozenAt;
    expect(detectedAfter).toBeGreaterThanOrEqual(heartbeat.timeout - heartbeat.interval);
    expect(detectedAfter).toBeLessThan(DETECTION_BOUND);
    expect(channel.closes).toBe(1);
    expect(channel.errors).toHaveLength(1);
    expect(channel.errors[0]).toBeInstanceOf(ConnectionError);
    expect((channel.errors[0] as ConnectionError).code).toBe("ERR_HEARTBEAT_TIMEOUT");
    expect(server.channels).toEqual([]);
  });

  it("is detected by the client within the configured time and ends with error then disconnected", async () => {
    const peer = await spawnPingServer(cleanup);
    const { listener, log } = connectListener(peer.port, { heartbeat });
    await waitFor(() => listener.connection !== null, "the connection");
    await firstValueFrom(listener.connection!.rtt$.pipe(timeout(2_000)));

    const frozenAt = Date.now();
    peer.child.kill("SIGSTOP");
    await waitFor(
      () => log.some((message) => message.action === "disconnected"),
      "the frozen server to be detected",
      5_000,
    );
    expect(Date.now() - frozenAt).toBeLessThan(DETECTION_BOUND);
    expect(log).toEqual([
      { action: "connected" },
      { action: "socketConnect" },
      { action: "error", code: "ERR_HEARTBEAT_TIMEOUT", error: expect.stringMatching(/heartbeat timeout of 400 ms/) },
      { action: "disconnected" },
    ]);
    expect(listener.connection?.state).toBe("closed");
  });
});

describe("a peer that never answers pings (a Python repod peer)", () => {
  it("is not timed out by the server's heartbeat", async () => {
    const fast = { interval: 20, timeout: 60 };
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel, heartbeat: fast }));
    const accepted = first(server.connections$);
    const socket = cleanup.socket(await rawSocket(server.port));
    const received = swallow(socket);
    const channel = (await accepted) as RecordingChannel;

    await delay(10 * fast.timeout);
    expect(received.filter((message) => message.action === "@ping").length).toBeGreaterThan(5);
    expect(channel.isConnected).toBe(true);
    expect(channel.errors).toEqual([]);
    expect(channel.closes).toBe(0);
  });

  it("is not timed out by the client's heartbeat", async () => {
    let received: IncomingMessage[] = [];
    const port = await rawServer(cleanup, (socket) => {
      socket.write(encode({ action: "connected" }));
      received = swallow(socket);
    });
    const fast = { interval: 20, timeout: 60 };
    const { listener, log } = connectListener(port, { heartbeat: fast });
    await waitFor(() => listener.connection?.isConnected === true, "the connection");
    await delay(10 * fast.timeout);
    expect(received.filter((message) => message.action === "@ping").length).toBeGreaterThan(5);
    expect(listener.connection?.isConnected).toBe(true);
    expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect"]);
  });
});
