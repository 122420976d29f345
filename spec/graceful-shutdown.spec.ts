import { afterEach, describe, expect, it } from "vitest";
import { ConnectionListener, type IncomingMessage } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { loggedListener } from "./helpers/listeners.js";
import { first, startServer, waitFor } from "./helpers/net.js";
import { RecordingChannel } from "./helpers/recording-channel.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const COUNT = 5_000;
// 5,000 messages of about 1 KiB: several megabytes, more than the kernel buffers of a loopback
// socket hold, so stop() and close() must really wait for the bytes to leave.
const PADDING = "p".repeat(1_000);

function connectListener(port: number): { listener: ConnectionListener; log: IncomingMessage[] } {
  const { listener, log } = loggedListener(cleanup);
  listener.connect("127.0.0.1", port);
  return { listener, log };
}

function sequence(log: readonly IncomingMessage[]): unknown[] {
  return log.filter((message) => message.action === "seq").map((message) => message.n);
}

const expected = Array.from({ length: COUNT }, (_, n) => n);

describe("server.stop()", () => {
  it("delivers every message sent before it, in order, then disconnects the client", async () => {
    const server = cleanup.server(await startServer());
    const accepted = first(server.connections$);
    const { log } = connectListener(server.port);
    const channel = await accepted;

    for (let n = 0; n < COUNT; n++) expect(channel.send({ action: "seq", n, padding: PADDING })).toBeGreaterThan(0);
    await server.stop();

    await waitFor(() => log.at(-1)?.action === "disconnected", "the client to see the end", 10_000);
    expect(sequence(log)).toEqual(expected);
    expect(log.map((message) => message.action).filter((action) => action !== "seq")).toEqual([
      "connected",
      "socketConnect",
      "disconnected",
    ]);
  });

  it("delivers every broadcast to every client", async () => {
    const server = cleanup.server(await startServer());
    const clients = [connectListener(server.port), connectListener(server.port), connectListener(server.port)];
    await waitFor(() => server.channels.length === 3, "three channels");

    for (let n = 0; n < COUNT; n++) expect(server.sendToAll({ action: "seq", n, padding: PADDING })).toBe(3);
    await server.stop();

    for (const { log } of clients) {
      await waitFor(() => log.at(-1)?.action === "disconnected", "every client to see the end", 10_000);
      expect(sequence(log)).toEqual(expected);
    }
  });
});

describe("client.close()", () => {
  it("delivers every message sent before it, in order", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel }));
    const accepted = first(server.connections$);
    const { listener } = connectListener(server.port);
    const channel = await accepted;
    await waitFor(() => listener.connection?.isConnected === true, "the client to open");

    for (let n = 0; n < COUNT; n++) expect(listener.send({ action: "seq", n, padding: PADDING })).toBeGreaterThan(0);
    listener.close();
    expect(listener.send({ action: "seq", n: COUNT })).toBe(0);

    await waitFor(() => channel.closes === 1, "the channel to close", 10_000);
    expect(sequence(channel.received)).toEqual(expected);
    expect(channel.errors).toEqual([]);
  });

  it("delivers what was sent while the connection was still opening", async () => {
    const server = cleanup.server(await startServer({ channelClass: RecordingChannel }));
    const accepted = first(server.connections$);
    const { listener, log } = connectListener(server.port);
    for (let n = 0; n < 100; n++) expect(listener.send({ action: "seq", n })).toBeGreaterThan(0);
    listener.close();

    const channel = (await accepted) as RecordingChannel;
    await waitFor(() => channel.closes === 1, "the channel to close");
    expect(sequence(channel.received)).toEqual(Array.from({ length: 100 }, (_, n) => n));
    await waitFor(() => listener.connection?.state === "closed", "the client to close");
    expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect", "disconnected"]);
  });
});
