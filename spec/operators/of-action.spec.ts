import { Subject, type Observable, type ObservedValueOf } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import {
  Channel,
  ConnectionListener,
  Server,
  type ChannelMessage,
  type IncomingMessage,
  type Message,
} from "../../lib/index.js";
import { ofAction } from "../../lib/operators.js";
import { Cleanup } from "../helpers/cleanup.js";
import { pumpUntil, startServer } from "../helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** What the server sends. */
interface ServerMessages {
  chat: { text: string; from: string };
  move: { x: number; y: number };
}

/** What the client sends. */
interface ClientMessages {
  say: { text: string };
  jump: { height: number };
}

class GameChannel extends Channel<Server<GameChannel>, ClientMessages, ServerMessages> {}

function newTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

const chat = { action: "chat", text: "hi", from: "ann" };
const move = { action: "move", x: 1, y: 2 };
const connected = { action: "connected" };

describe("ofAction", () => {
  it("lets through the messages of one action, in order", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const messages = cold("a-b-c-a|", { a: chat, b: move, c: connected });
      expectObservable(messages.pipe(ofAction("chat"))).toBe("a-----a|", { a: chat });
    });
  });

  it("lets through the messages of any of several actions", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const messages = cold("a-b-c-d|", { a: chat, b: move, c: connected, d: { action: "other" } });
      expectObservable(messages.pipe(ofAction("chat", "connected"))).toBe("a---c--|", { a: chat, c: connected });
      expectObservable(messages.pipe(ofAction("chat", "move", "connected"))).toBe("a-b-c--|", {
        a: chat,
        b: move,
        c: connected,
      });
    });
  });

  it("filters { channel, message } pairs by their message, even when a message has a `message` field", () => {
    const channel = { id: 7 };
    const said = { channel, message: { action: "say", text: "hi" } };
    const jumped = { channel, message: { action: "jump", height: 3 } };
    const quoted = { action: "say", message: { action: "jump" }, channel };
    newTestScheduler().run(({ cold, expectObservable }) => {
      const pairs = cold("a-b-q|", { a: said, b: jumped, q: quoted });
      expectObservable(pairs.pipe(ofAction("jump"))).toBe("--b--|", { b: jumped });
      expectObservable(pairs.pipe(ofAction("say"))).toBe("a---q|", { a: said, q: quoted });
    });
  });

  it("drops what carries no action: null, numbers, maps without `action`", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      const values = cold("abcd|", { a: null, b: 5, c: { text: "x" }, d: { channel: 1, message: null } });
      expectObservable(values.pipe(ofAction("x" as string))).toBe("----|");
    });
  });

  it("completes with an empty stream and passes errors on", () => {
    newTestScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold("|").pipe(ofAction("chat"))).toBe("|");
      expectObservable(cold("a-#", { a: chat }, new Error("gone")).pipe(ofAction("chat"))).toBe(
        "a-#",
        { a: chat },
        new Error("gone"),
      );
    });
  });

  it("unsubscribes from its source when unsubscribed", () => {
    newTestScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const messages = hot("-a-b-a-", { a: chat, b: move });
      expectObservable(messages.pipe(ofAction("chat")), "^--!").toBe("-a--", { a: chat });
      expectSubscriptions(messages.subscriptions).toBe("^--!");
    });
  });

  describe("types", () => {
    const listener = new ConnectionListener<ServerMessages, ClientMessages>();

    it("narrows a listener's messages$ to the messages of the actions given", () => {
      const chats = listener.messages$.pipe(ofAction("chat"));
      expectTypeOf(chats).toEqualTypeOf<Observable<Message<ServerMessages, "chat">>>();
      const some = listener.messages$.pipe(ofAction("chat", "disconnected"));
      expectTypeOf<ObservedValueOf<typeof some>["action"]>().toEqualTypeOf<"chat" | "disconnected">();
      expect(some).toBeDefined();
      // @ts-expect-error an action the protocol does not declare
      listener.messages$.pipe(ofAction("shout"));
      expect(chats).toBeDefined();
    });

    it("narrows server.messages$ pairs, typing the message from the channel class", () => {
      const pairs = new Subject<ChannelMessage<GameChannel>>();
      const jumps = pairs.pipe(ofAction("jump"));
      expectTypeOf(jumps).toEqualTypeOf<
        Observable<{ readonly channel: GameChannel; readonly message: Message<ClientMessages, "jump"> }>
      >();
      // @ts-expect-error the client never sends "chat"
      pairs.pipe(ofAction("chat"));
      expect(jumps).toBeDefined();
    });

    it("narrows on() output further, and gives untyped streams the literal action", () => {
      const moves = listener.on("move").pipe(ofAction("move"));
      expectTypeOf(moves).toEqualTypeOf<Observable<Message<ServerMessages, "move">>>();
      const untyped = new ConnectionListener().messages$.pipe(ofAction("anything"));
      expectTypeOf<ObservedValueOf<typeof untyped>["action"]>().toEqualTypeOf<"anything">();
      const raw = new Subject<IncomingMessage>().pipe(ofAction("ping"));
      expectTypeOf<ObservedValueOf<typeof raw>["action"]>().toEqualTypeOf<"ping">();
      expect([untyped, raw]).toHaveLength(2);
      expect(moves).toBeDefined();
    });
  });

  it("filters a real server's messages$ and a real listener's messages$ and on(), over TCP", async () => {
    const server = cleanup.server(await startServer<GameChannel>({ channelClass: GameChannel }));
    const heard: string[] = [];
    server.messages$.pipe(ofAction("say")).subscribe(({ channel, message }) => {
      heard.push(message.text);
      channel.send({ action: "chat", text: message.text.toUpperCase(), from: "server" });
      channel.send({ action: "move", x: 1, y: 1 });
    });
    const listener = cleanup.listener(new ConnectionListener<ServerMessages, ClientMessages>());
    const chats: string[] = [];
    const viaOn: string[] = [];
    listener.messages$.pipe(ofAction("chat")).subscribe((message) => chats.push(message.text));
    listener
      .on("chat")
      .pipe(ofAction("chat"))
      .subscribe((message) => viaOn.push(message.from));
    listener.connect("127.0.0.1", server.port);
    listener.send({ action: "jump", height: 1 });
    listener.send({ action: "say", text: "hi" });
    await pumpUntil(listener, () => chats.length === 1, "the chat");
    expect(heard).toEqual(["hi"]);
    expect(chats).toEqual(["HI"]);
    expect(viaOn).toEqual(["server"]);
  });
});
