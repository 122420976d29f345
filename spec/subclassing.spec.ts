import { afterEach, describe, expect, it } from "vitest";
import { Channel, ConnectionListener, Server, type IncomingMessage } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { pumpUntil } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/**
 * Games subclass Server, Channel and ConnectionListener and give their own members everyday
 * names; the library's internals are truly private, so none of these can break it.
 */
describe("subclasses with members named like everyday game code", () => {
  it("keep the server and the listener working", async () => {
    class EchoChannel extends Channel {
      Network_ping(message: IncomingMessage): void {
        this.send({ action: "pong", n: message.n });
      }
    }
    class GameServer extends Server<EchoChannel> {
      override channelClass = EchoChannel;
      ran = 0;
      accepted = 0;
      run(): void {
        this.ran++;
      }
      accept(): void {
        this.accepted++;
      }
      receive(): void {}
      deliver(): void {}
      release(): void {}
      guard(): void {}
    }
    class Game extends ConnectionListener {
      requests: string[] = [];
      runHandler = "mine";
      messagesSubject = 0;
      pongs: unknown[] = [];
      Network_pong(message: IncomingMessage): void {
        this.pongs.push(message.n);
      }
    }

    const server = cleanup.server(new GameServer({ host: "127.0.0.1", port: 0 }));
    await server.start();
    const game = cleanup.listener(new Game());
    game.connect("127.0.0.1", server.port);
    game.send({ action: "ping", n: 1 });
    await pumpUntil(game, () => game.pongs.length === 1, "the pong");
    expect(game.pongs).toEqual([1]);
    expect(server.channels).toHaveLength(1);
    expect([server.ran, server.accepted]).toEqual([0, 0]);
    expect(game.requests).toEqual([]);
  });
});
