import { map, type Observable, type ObservedValueOf } from "rxjs";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  Channel,
  ConnectionListener,
  Server,
  withConnectionListener,
  type BuiltInActions,
  type ChannelMessage,
  type Client,
  type Message,
  type NetworkHandlers,
} from "../lib/index.js";

/** What the server sends. */
interface ServerMessages {
  chat: { text: string; from: string };
  move: { x: number; y: number };
}

/** What the client sends. */
interface ClientMessages {
  say: { text: string };
  join: { room: string; team?: "red" | "blue" };
}

// These tests are checked by `tsc --noEmit` (spec/ is part of the project); at run time they only
// make sure the calls they type-check are harmless.
describe("typed action maps", () => {
  describe("Message<M, K>", () => {
    it("is the action tag plus the fields of that action", () => {
      expectTypeOf<Message<ServerMessages, "move">>().toEqualTypeOf<{ action: "move" } & { x: number; y: number }>();
    });

    it("without K is the union of every message of the protocol, narrowed by action", () => {
      const describeMessage = (message: Message<ServerMessages>): string => {
        switch (message.action) {
          case "chat":
            expectTypeOf(message.text).toBeString();
            return message.text;
          case "move":
            expectTypeOf(message.x).toBeNumber();
            return `${message.x},${message.y}`;
        }
      };
      expect(describeMessage({ action: "move", x: 1, y: 2 })).toBe("1,2");
      expectTypeOf<Message<ServerMessages>["action"]>().toEqualTypeOf<"chat" | "move">();
    });
  });

  describe("ConnectionListener<In, Out>", () => {
    const listener = new ConnectionListener<ServerMessages, ClientMessages>();

    it("send() accepts the declared outgoing messages only", () => {
      expect(listener.send({ action: "say", text: "hi" })).toBe(0);
      expect(listener.send({ action: "join", room: "lobby", team: "red" })).toBe(0);
      // @ts-expect-error an action the protocol does not declare
      listener.send({ action: "shout", text: "hi" });
      // @ts-expect-error a field of the wrong type
      listener.send({ action: "say", text: 5 });
      // @ts-expect-error a missing field
      listener.send({ action: "join" });
      // @ts-expect-error a value outside a literal union
      listener.send({ action: "join", room: "lobby", team: "green" });
      // @ts-expect-error an incoming action is not an outgoing one
      listener.send({ action: "chat", text: "hi", from: "me" });
    });

    it("on(action) is an Observable of that action's messages, built-in actions included", () => {
      expectTypeOf(listener.on("move")).toEqualTypeOf<Observable<Message<ServerMessages & BuiltInActions, "move">>>();
      expectTypeOf<ObservedValueOf<ReturnType<typeof listener.on<"move">>>["x"]>().toBeNumber();
      expectTypeOf(listener.on("move").pipe(map((m) => m.x + m.y))).toEqualTypeOf<Observable<number>>();
      expectTypeOf<ObservedValueOf<ReturnType<typeof listener.on<"error">>>["error"]>().toBeString();
      expectTypeOf(listener.on("connected")).toEqualTypeOf<
        Observable<Message<ServerMessages & BuiltInActions, "connected">>
      >();
      // @ts-expect-error an action the server does not send
      listener.on("say");
      expect(listener.on("move")).toBeDefined();
    });

    it("connection is a typed Client whose messages$ carries incoming and built-in messages", () => {
      expectTypeOf(listener.connection).toEqualTypeOf<Client<ServerMessages, ClientMessages> | null>();
      expectTypeOf<ObservedValueOf<Client<ServerMessages, ClientMessages>["messages$"]>>().toEqualTypeOf<
        Message<ServerMessages & BuiltInActions>
      >();
      expectTypeOf<Parameters<Client<ServerMessages, ClientMessages>["send"]>[0]>().toEqualTypeOf<
        Message<ClientMessages>
      >();
      expect(listener.connection).toBeNull();
    });

    it("NetworkHandlers<M> checks the payload of every Network_* handler a class implements", () => {
      class Game
        extends ConnectionListener<ServerMessages, ClientMessages>
        implements NetworkHandlers<ServerMessages & BuiltInActions>
      {
        readonly texts: string[] = [];
        Network_chat(message: Message<ServerMessages, "chat">): void {
          expectTypeOf(message.from).toBeString();
          this.texts.push(message.text);
        }
        Network_error(message: Message<BuiltInActions, "error">): void {
          expectTypeOf(message.error).toBeString();
        }
      }
      class Wrong implements NetworkHandlers<ServerMessages> {
        // @ts-expect-error x is a number in a move message
        Network_move(message: { action: "move"; x: string }): void {
          void message;
        }
      }
      const game = new Game();
      game.Network_chat({ action: "chat", text: "hi", from: "server" });
      expect(game.texts).toEqual(["hi"]);
      expect(new Wrong()).toBeInstanceOf(Wrong);
    });
  });

  describe("untyped use", () => {
    it("accepts any action and any fields, and reads any field", () => {
      const listener = new ConnectionListener();
      expect(listener.send({ action: "anything", x: 1, nested: { deep: [1, "two"] } })).toBe(0);
      const fields = listener.on("whatever").pipe(map((m) => m.anyField));
      expectTypeOf(fields).toEqualTypeOf<Observable<any>>();
      expectTypeOf<ObservedValueOf<typeof fields>>().toBeAny();
      expect(fields).toBeDefined();
    });

    it("reads any field of messages$, on the listener and on its client", () => {
      const listener = new ConnectionListener();
      const xs = listener.messages$.pipe(map((m) => m.x));
      expectTypeOf<ObservedValueOf<typeof xs>>().toBeAny();
      const actions = listener.messages$.pipe(map((m) => m.action));
      expectTypeOf<ObservedValueOf<typeof actions>>().toEqualTypeOf<string>();
      expect([xs, actions].every(Boolean)).toBe(true);
    });

    it("still requires an action when sending", () => {
      const channel = new Channel();
      // @ts-expect-error a message needs an action
      expect(channel.send({ text: "no action" })).toBe(0);
    });
  });

  describe("Channel<S, In, Out> and Server<C>", () => {
    class GameChannel extends Channel<GameServer, ClientMessages, ServerMessages> {
      Network_say(message: Message<ClientMessages, "say">): void {
        this.server.shout(message.text);
      }
    }
    class GameServer extends Server<GameChannel> {
      override channelClass = GameChannel;
      shout(text: string): void {
        this.sendToAll({ action: "chat", text, from: "server" });
      }
    }

    it("types send() with the channel's outgoing messages and messages$ with its incoming ones", () => {
      const channel = new GameChannel();
      expect(channel.send({ action: "move", x: 1, y: 2 })).toBe(0);
      // @ts-expect-error the channel sends ServerMessages
      channel.send({ action: "say", text: "hi" });
      expectTypeOf(channel.messages$).toEqualTypeOf<Observable<Message<ClientMessages>>>();
    });

    it("types the server getter with the server class", () => {
      expectTypeOf<GameChannel["server"]>().toEqualTypeOf<GameServer>();
      expect(() => new GameChannel().server).toThrow("Channel is not connected to a server");
    });

    it("types the server's channels, hooks and streams with the channel class", () => {
      const server = new GameServer({ port: 0 });
      expectTypeOf(server.channels).toEqualTypeOf<readonly GameChannel[]>();
      expectTypeOf(server.connections$).toEqualTypeOf<Observable<GameChannel>>();
      expectTypeOf(server.messages$).toEqualTypeOf<Observable<ChannelMessage<GameChannel>>>();
      expectTypeOf<Parameters<GameServer["onConnect"]>[0]>().toEqualTypeOf<GameChannel>();
      expect(server.channelClass).toBe(GameChannel);
    });

    it("lets a server of a channel subclass go wherever a plain Server is expected", () => {
      const countPlayers = (server: Server): number => server.channels.length;
      expect(countPlayers(new GameServer({ port: 0 }))).toBe(0);
      expectTypeOf<GameServer>().toMatchTypeOf<Server>();
    });

    it("rejects a channelClass option that does not make the server's channel type", () => {
      class OtherChannel extends Channel {
        other = true;
      }
      // @ts-expect-error OtherChannel is not a GameChannel
      const server = new Server<GameChannel>({ channelClass: OtherChannel });
      expect(server).toBeInstanceOf(Server);
    });
  });

  describe("withConnectionListener", () => {
    it("gives the mixed class the typed listener API", () => {
      class Scene {
        readonly kind = "scene";
      }
      class Level extends withConnectionListener<typeof Scene, ServerMessages, ClientMessages>(Scene) {}
      const level = new Level();
      expect(level.send({ action: "say", text: "hi" })).toBe(0);
      // @ts-expect-error an action the protocol does not declare
      level.send({ action: "shout" });
      expectTypeOf<typeof level.kind>().toEqualTypeOf<"scene">();
      expectTypeOf(level).toMatchTypeOf<Scene>();
      expectTypeOf(level.on("chat")).toEqualTypeOf<Observable<Message<ServerMessages & BuiltInActions, "chat">>>();
      expect(level.kind).toBe("scene");
    });
  });
});
