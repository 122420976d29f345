import { afterEach, describe, expect, it } from "vitest";
import { Channel, Server, type IncomingMessage } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { pumpUntil, startServer, waitFor } from "./helpers/net.js";
import { Recorder } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Every chat is broadcast to every player, in the order the server received them. */
class ChatChannel extends Channel {
  Network_chat(message: IncomingMessage): void {
    this.server.sendToAll({ action: "chat", from: message.from, n: message.n });
  }
}

describe("Server with the ws option", () => {
  it("lets a TCP player and a WebSocket player see each other's broadcasts, in the same order", async () => {
    const server = cleanup.server(await startServer({ channelClass: ChatChannel, ws: { port: 0 } }));
    const received: IncomingMessage[] = [];
    cleanup.subscription(server.messages$.subscribe(({ message }) => received.push(message)));
    const tcp = cleanup.listener(new Recorder());
    const web = cleanup.listener(new Recorder());
    tcp.connect("127.0.0.1", server.port);
    web.connect(`ws://127.0.0.1:${server.wsPort}/`);
    await pumpUntil(
      { pump: () => tcp.pump() + web.pump() },
      () => tcp.of("connected").length === 1 && web.of("connected").length === 1,
      "both players connected",
    );

    for (let n = 0; n < 25; n++) {
      tcp.send({ action: "chat", from: "tcp", n });
      web.send({ action: "chat", from: "web", n });
    }
    await pumpUntil(
      { pump: () => tcp.pump() + web.pump() },
      () => tcp.of("chat").length === 50 && web.of("chat").length === 50,
      "50 broadcasts on each side",
    );

    const serverOrder = received.map(({ from, n }) => ({ action: "chat", from, n }));
    expect(tcp.of("chat")).toEqual(serverOrder);
    expect(web.of("chat")).toEqual(serverOrder);
    for (const from of ["tcp", "web"]) {
      expect(serverOrder.filter((message) => message.from === from).map((message) => message.n)).toEqual([
        ...Array(25).keys(),
      ]);
    }
    expect(server.channels).toHaveLength(2);
    expect(
      server.channels.every((channel) => channel instanceof ChatChannel && channel.addr.host === "127.0.0.1"),
    ).toBe(true);
  });

  it("greets a WebSocket client and runs the same hooks and built-in actions as for TCP", async () => {
    const hooks: string[] = [];
    class HookChannel extends Channel {
      override onConnect(): void {
        hooks.push("channel.onConnect");
        this.send({ action: "hello", to: "you" });
      }
      override onClose(): void {
        hooks.push("channel.onClose");
      }
    }
    class HookServer extends Server<HookChannel> {
      override channelClass = HookChannel;
      override onConnect(): void {
        hooks.push("server.onConnect");
      }
      override onDisconnect(): void {
        hooks.push("server.onDisconnect");
      }
    }
    const server = cleanup.server(new HookServer({ host: "127.0.0.1", port: 0, ws: { port: 0 } }));
    await server.start();
    let connectedHandlerRuns = 0;
    const web = cleanup.listener(
      new (class extends Recorder {
        Network_connected(): void {
          connectedHandlerRuns++;
        }
      })(),
    );
    web.connect(`ws://127.0.0.1:${server.wsPort}`);
    await pumpUntil(web, () => web.of("hello").length === 1, "the hello");
    expect(server.sendToAll({ action: "everyone" })).toBe(1);
    await pumpUntil(web, () => web.of("everyone").length === 1, "the broadcast");

    await server.stop();
    await pumpUntil(web, () => web.of("disconnected").length === 1, "disconnected");

    // Network_connected runs once: the greeting is swallowed, as over TCP.
    expect(connectedHandlerRuns).toBe(1);
    expect(web.actions).toEqual(["socketConnect", "hello", "everyone", "disconnected"]);
    expect(hooks).toEqual(["channel.onConnect", "server.onConnect", "channel.onClose", "server.onDisconnect"]);
    expect(server.channels).toHaveLength(0);
  });

  it("exposes the bound WebSocket port as wsPort with port 0, and null without the ws option", async () => {
    const withWs = cleanup.server(await startServer({ ws: { port: 0 } }));
    const without = cleanup.server(await startServer());

    expect(withWs.wsPort).toEqual(expect.any(Number));
    expect(withWs.wsPort).toBeGreaterThan(0);
    expect(withWs.wsPort).not.toBe(withWs.port);
    expect(without.wsPort).toBeNull();

    await withWs.stop();
    expect(withWs.wsPort).toBeNull();
  });

  it("closes WebSocket channels on stop() after delivering what was already sent to them", async () => {
    class Flood extends Channel {
      override onConnect(): void {
        for (let n = 0; n < 200; n++) this.send({ action: "tick", n });
      }
    }
    const server = cleanup.server(await startServer({ channelClass: Flood, ws: { port: 0 } }));
    const web = cleanup.listener(new Recorder());
    web.connect(`ws://127.0.0.1:${server.wsPort}`);
    await waitFor(() => server.channels.length === 1, "the channel");
    await server.stop();
    await pumpUntil(web, () => web.of("disconnected").length === 1, "disconnected");

    expect(web.of("tick").map((message) => message.n)).toEqual([...Array(200).keys()]);
    expect(web.of("error")).toEqual([]);
  });

  it("refuses invalid ws options at construction, saying what is allowed", () => {
    expect(() => new Server({ ws: {} })).toThrow(
      new TypeError(
        'options.ws needs exactly one of port (a WebSocket port of its own) and server (an existing http or https server), such as { port: 8080 } or { server: httpServer, path: "/game" }',
      ),
    );
    expect(() => new Server({ ws: 8080 as never })).toThrow(TypeError);
    expect(() => new Server({ ws: { port: 70_000 } })).toThrow(
      new RangeError("options.ws.port must be between 0 and 65535, got 70000"),
    );
    expect(() => new Server({ ws: { port: 1.5 } })).toThrow(TypeError);
    expect(() => new Server({ ws: { server: {} as never } })).toThrow(
      new TypeError("options.ws.server must be an http.Server or https.Server"),
    );
    expect(() => new Server({ ws: { port: 0, path: "game" } })).toThrow(
      /options\.ws\.path must be a string starting with "\/"/,
    );
    expect(() => new Server({ ws: { port: 0, origins: "https://a.example" as never } })).toThrow(
      /options\.ws\.origins must be an array/,
    );
    expect(() => new Server({ ws: { port: 0, perMessageDeflate: "yes" as never } })).toThrow(
      /perMessageDeflate must be true or false/,
    );
    expect(() => new Server({ ws: { port: 0, host: "" } })).toThrow(/options\.ws\.host must be a non-empty string/);
  });
});
