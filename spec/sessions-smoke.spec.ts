import { afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionListener, type IncomingMessage } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, startServer, waitFor } from "./helpers/net.js";
import { tcpProxy } from "./helpers/proxy.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

class Seat extends Channel {
  readonly got: number[] = [];
  drops = 0;
  resumes = 0;
  closes = 0;
  Network_n(message: { n: number }): void {
    this.got.push(message.n);
  }
  override onDrop(): void {
    this.drops++;
  }
  override onResume(): void {
    this.resumes++;
  }
  override onClose(): void {
    this.closes++;
  }
}

describe("smoke", () => {
  it("resumes", async () => {
    const server = cleanup.server(await startServer({ channelClass: Seat, resume: { window: 5_000 } }));
    const proxy = await tcpProxy(cleanup, server.port);
    const listener = cleanup.listener(new ConnectionListener());
    const log: IncomingMessage[] = [];
    cleanup.subscription(listener.messages$.subscribe((m) => log.push(m)));
    listener.connect("127.0.0.1", proxy.port, { resume: true });
    await waitFor(() => server.channels.length === 1, "channel");
    const seat = server.channels[0] as Seat;
    for (let n = 0; n < 10; n++) listener.send({ action: "n", n });
    for (let n = 0; n < 10; n++) seat.send({ action: "m", n });
    await waitFor(() => seat.got.length === 10, "10");
    await delay(50);
    proxy.cut();
    await waitFor(() => seat.drops === 1, "drop");
    for (let n = 10; n < 20; n++) listener.send({ action: "n", n });
    for (let n = 10; n < 20; n++) seat.send({ action: "m", n });
    await waitFor(() => seat.resumes === 1, "resume");
    await waitFor(() => seat.got.length === 20, "20");
    await waitFor(() => log.filter((m) => m.action === "m").length === 20, "20 m");
    expect(seat.got).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(log.filter((m) => m.action === "m").map((m) => m.n)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(log.map((m) => m.action).filter((a) => a !== "m")).toEqual(["connected", "socketConnect", "dropped", "resumed"]);
    expect(seat.closes).toBe(0);
  });
});

describe("auth smoke", () => {
  it("logs in, refuses", async () => {
    class Player extends Channel<any, any, any, { name: string }> {}
    const server = cleanup.server(
      await startServer({
        channelClass: Player,
        authenticate: async (auth) => {
          if (auth !== "good") throw new Error("bad token");
          return { name: "ann" };
        },
      }),
    );
    const good = cleanup.listener(new ConnectionListener());
    const goodLog: IncomingMessage[] = [];
    cleanup.subscription(good.messages$.subscribe((m) => goodLog.push(m)));
    good.connect("127.0.0.1", server.port, { auth: () => "good" });
    await waitFor(() => server.channels.length === 1, "channel");
    expect((server.channels[0] as Player).data).toEqual({ name: "ann" });
    const bad = cleanup.listener(new ConnectionListener());
    const badLog: IncomingMessage[] = [];
    cleanup.subscription(bad.messages$.subscribe((m) => badLog.push(m)));
    bad.connect("127.0.0.1", server.port, { auth: "evil", reconnect: { initialDelay: 5 } });
    await waitFor(() => bad.connection?.state === "closed", "bad closed");
    expect(badLog).toEqual([{ action: "error", error: "bad token", code: "ERR_UNAUTHORIZED" }]);
    expect(server.channels).toHaveLength(1);
    expect(goodLog.map((m) => m.action)).toEqual(["connected", "socketConnect"]);
  });
});
