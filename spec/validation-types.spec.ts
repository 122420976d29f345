// Type-level tests of schema maps: the compiler takes the protocol's types from the same zod and
// valibot schemas that check messages at run time, and rejects wrong sends and handlers. Checked by
// `tsc --noEmit` (spec/ is part of the project); at run time the calls are harmless.
import type { Observable } from "rxjs";
import * as v from "valibot";
import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  Channel,
  ConnectionListener,
  Server as GameServer,
  schemaValidation,
  withReply,
  type ChannelIn,
  type ChannelOut,
  type InferActions,
  type InferInputActions,
  type Message,
  type NetworkHandlers,
  type ReplyOf,
  type SchemaMap,
  type SchemaValidation,
  type Server,
  type WithReply,
} from "../lib/index.js";

/** What clients send: zod and valibot mixed, with a transform and a default. */
const ClientSchemas = {
  move: v.object({ x: v.number(), y: v.number() }),
  say: z.object({ text: z.string().transform((text) => text.length) }),
  join: v.object({ room: v.string(), team: v.optional(v.picklist(["red", "blue"]), "red") }),
};
/** What the server sends. */
const ServerSchemas = {
  state: z.object({ tick: z.number().int(), players: z.array(z.string()) }),
};

type ClientIn = InferActions<typeof ClientSchemas>;
type ClientOut = InferInputActions<typeof ClientSchemas>;
type ServerIn = InferActions<typeof ServerSchemas>;
type ServerOut = InferInputActions<typeof ServerSchemas>;

describe("schema maps as action maps", () => {
  it("InferActions is what the schemas output; InferInputActions what they accept", () => {
    expectTypeOf<ClientIn["move"]>().toEqualTypeOf<{ x: number; y: number }>();
    expectTypeOf<ClientIn["say"]>().toEqualTypeOf<{ text: number }>();
    expectTypeOf<ClientOut["say"]>().toEqualTypeOf<{ text: string }>();
    expectTypeOf<ClientIn["join"]["team"]>().toEqualTypeOf<"red" | "blue">();
    expectTypeOf<ClientOut["join"]["team"]>().toEqualTypeOf<"red" | "blue" | undefined>();
    expectTypeOf<keyof ClientIn>().toEqualTypeOf<"move" | "say" | "join">();
  });

  it("a map is checked as a SchemaMap; a schema of something other than an object of fields is refused", () => {
    expectTypeOf(ClientSchemas).toExtend<SchemaMap>();
    // @ts-expect-error a message's fields are an object, not a string
    schemaValidation({ shout: z.string() });
    // @ts-expect-error not a Standard Schema
    expect(() => schemaValidation({ move: { x: "number" } })).toThrow(TypeError);
    // At run time such a schema fails every message: its output is not an object of fields.
    expect(() => schemaValidation({ shout: z.string() } as never)).not.toThrow();
  });

  it("schemaValidation keeps the map's type", () => {
    const validation = schemaValidation(ClientSchemas, { onInvalid: "close" });
    expectTypeOf(validation).toEqualTypeOf<SchemaValidation<typeof ClientSchemas>>();
    expectTypeOf(validation.schemas.move).toEqualTypeOf(ClientSchemas.move);
    // @ts-expect-error not a policy
    expect(() => schemaValidation(ClientSchemas, { onInvalid: "kick" })).toThrow(TypeError);
    expect(validation.onInvalid).toBe("close");
    expectTypeOf(schemaValidation(ServerSchemas).schemas.state).toEqualTypeOf(ServerSchemas.state);
    expect(schemaValidation(ServerSchemas).actions).toEqual(["state"]);
  });
});

describe("a channel typed from the schema maps", () => {
  class GameChannel extends Channel<Server<GameChannel>, ClientIn, ServerOut> implements NetworkHandlers<ClientIn> {
    Network_move(message: Message<ClientIn, "move">): void {
      expectTypeOf(message.x).toBeNumber();
      expectTypeOf(message.action).toEqualTypeOf<"move">();
    }

    Network_say(message: Message<ClientIn, "say">): void {
      // The handler gets the transformed value.
      expectTypeOf(message.text).toBeNumber();
    }
  }

  it("send() takes what the server's schemas accept, and nothing else", () => {
    const channel = new GameChannel();
    expect(channel.send({ action: "state", tick: 1, players: ["ada"] })).toBe(0);
    // @ts-expect-error a field of the wrong type
    channel.send({ action: "state", tick: "1", players: [] });
    // @ts-expect-error a missing field
    channel.send({ action: "state", tick: 1 });
    // @ts-expect-error an action the server's schemas do not declare
    channel.send({ action: "move", x: 1, y: 2 });
  });

  it("messages$ carries the schemas' output", () => {
    expectTypeOf(new GameChannel().messages$).toEqualTypeOf<Observable<Message<ClientIn>>>();
  });

  it("a handler whose payload does not match its schema is rejected", () => {
    class WrongChannel extends Channel<Server, ClientIn> implements NetworkHandlers<ClientIn> {
      // @ts-expect-error Network_move gets numbers, not strings
      Network_move(message: { action: "move"; x: string; y: string }): void {
        void message;
      }
    }
    expect(new WrongChannel().rejectedMessages).toBe(0);
  });
});

describe("a listener typed from the schema maps", () => {
  const listener = new ConnectionListener<ServerIn, ClientOut>();

  it("send() and request() take the input of the client's schemas", () => {
    expect(listener.send({ action: "say", text: "hi" })).toBe(0);
    expect(listener.send({ action: "join", room: "lobby" })).toBe(0);
    // @ts-expect-error the wire carries the input: a string, not the transformed number
    listener.send({ action: "say", text: 2 });
    // @ts-expect-error a value outside the picklist
    listener.send({ action: "join", room: "lobby", team: "green" });
    // @ts-expect-error an action the client's schemas do not declare
    listener.send({ action: "state", tick: 1, players: [] });
    expectTypeOf(listener.request<number>({ action: "move", x: 1, y: 2 })).toEqualTypeOf<Observable<number>>();
    // @ts-expect-error a request is a message of the protocol too
    void listener.request({ action: "move", x: "1", y: 2 });
  });

  it("on() carries the output of the server's schemas", () => {
    listener.on("state").subscribe((message) => {
      expectTypeOf(message.tick).toBeNumber();
      expectTypeOf(message.players).toEqualTypeOf<string[]>();
    });
    // @ts-expect-error the server does not send it
    listener.on("move");
    expect(listener.on("state")).toBeDefined();
  });
});

/** Requests whose replies are declared: valibot for the client's, zod for the server's. */
const AskServer = {
  move: v.object({ x: v.number(), y: v.number() }),
  join: withReply(
    v.object({ room: v.string() }),
    v.object({ seat: v.number(), name: v.optional(v.string(), "guest") }),
  ),
  score: withReply(
    z.object({ of: z.string() }),
    z
      .number()
      .int()
      .transform((points) => String(points)),
  ),
};
const AskClient = {
  state: z.object({ tick: z.number() }),
  pick: withReply(z.object({ options: z.array(z.number()) }), z.object({ choice: z.number() })),
};
type AskServerIn = InferActions<typeof AskServer>;
type AskServerOut = InferInputActions<typeof AskServer>;
type AskClientIn = InferActions<typeof AskClient>;
type AskClientOut = InferInputActions<typeof AskClient>;

describe("request results typed from the schema maps", () => {
  const listener = new ConnectionListener<AskClientIn, AskServerOut>();

  it("request() emits the reply a withReply entry declares: its output for the requester, its input for the handler", () => {
    expectTypeOf(listener.request({ action: "join", room: "lobby" })).toEqualTypeOf<
      Observable<{ seat: number; name: string }>
    >();
    // zod: the requester gets the transformed reply, the handler answers what the schema accepts.
    expectTypeOf(listener.request({ action: "score", of: "ada" })).toEqualTypeOf<Observable<string>>();
    expectTypeOf<ReplyOf<AskServerIn, "score">>().toEqualTypeOf<number>();
    expectTypeOf<ReplyOf<AskServerOut, "join">>().toEqualTypeOf<{ seat: number; name: string }>();
    expectTypeOf<ReplyOf<AskServerIn, "join">>().toEqualTypeOf<{ seat: number; name?: string | undefined }>();
    // No declared reply: unknown, as before; the explicit form still names it.
    expectTypeOf(listener.request({ action: "move", x: 1, y: 2 })).toEqualTypeOf<Observable<unknown>>();
    expectTypeOf(listener.request<number>({ action: "move", x: 1, y: 2 })).toEqualTypeOf<Observable<number>>();
    expectTypeOf(listener.request<number>({ action: "join", room: "lobby" })).toEqualTypeOf<Observable<number>>();
    // @ts-expect-error the declared reply is not a number
    const seat: Observable<number> = listener.request({ action: "join", room: "lobby" });
    // @ts-expect-error a request's fields are checked as before
    void listener.request({ action: "join", room: 1 });
    // @ts-expect-error and so are its extra keys
    void listener.request({ action: "join", room: "lobby", seat: 1 });
    expect(seat).toBeDefined();
  });

  it("the phantom reply key changes nothing for send(), messages and their fields", () => {
    expect(listener.send({ action: "join", room: "lobby" })).toBe(0);
    expectTypeOf<Message<AskServerIn, "join">["room"]>().toEqualTypeOf<string>();
    expectTypeOf<keyof AskServerIn>().toEqualTypeOf<"move" | "join" | "score">();
    expectTypeOf<AskServerIn["join"]>().toEqualTypeOf<
      WithReply<{ room: string }, { seat: number; name?: string | undefined }>
    >();
  });

  it("channel.request() emits the reply the channel's Out declares", () => {
    class Table extends Channel<Server<Table>, AskServerIn, AskClientOut> {}
    const table = new Table();
    expectTypeOf(table.request({ action: "pick", options: [1, 2] })).toEqualTypeOf<Observable<{ choice: number }>>();
    expectTypeOf(table.request<string>({ action: "state", tick: 1 })).toEqualTypeOf<Observable<string>>();
    expectTypeOf(new Channel().request({ action: "anything" })).toEqualTypeOf<Observable<unknown>>();
    expectTypeOf(new Channel().request<string>({ action: "anything" })).toEqualTypeOf<Observable<string>>();
    // The protocol read back from a channel class, replies included.
    expectTypeOf<ChannelIn<Table>["join"]["room"]>().toEqualTypeOf<string>();
    expectTypeOf<ReplyOf<ChannelIn<Table>, "join">>().toEqualTypeOf<ReplyOf<AskServerIn, "join">>();
    expectTypeOf<keyof ChannelIn<Table>>().toEqualTypeOf<"move" | "join" | "score">();
    expectTypeOf<ReplyOf<ChannelOut<Table>, "pick">>().toEqualTypeOf<{ choice: number }>();
  });

  it("a handler of an action with a declared reply must answer it", () => {
    class Table extends Channel<Server<Table>, AskServerIn> implements NetworkHandlers<AskServerIn> {
      Network_join(message: Message<AskServerIn, "join">): { seat: number } {
        return { seat: message.room.length };
      }

      async Network_score(): Promise<number> {
        return 1;
      }
    }
    class WrongTable extends Channel<Server<WrongTable>, AskServerIn> implements NetworkHandlers<AskServerIn> {
      // @ts-expect-error join answers a seat, not a string
      Network_join(): string {
        return "seat 1";
      }

      // Not answering is allowed: no reply is sent.
      Network_score(): void {}
    }
    expect(new Table().Network_join({ action: "join", room: "ab" })).toEqual({ seat: 2 });
    expect(new WrongTable().rejectedMessages).toBe(0);
  });

  it("WithReply declares a reply in a hand-written action map", () => {
    interface ClientMessages {
      join: WithReply<{ room: string }, { seat: number }>;
      chat: { text: string };
    }
    const client = new ConnectionListener<AskClientIn, ClientMessages>();
    expectTypeOf(client.request({ action: "join", room: "a" })).toEqualTypeOf<Observable<{ seat: number }>>();
    expectTypeOf(client.request({ action: "chat", text: "hi" })).toEqualTypeOf<Observable<unknown>>();
    expect(client.send({ action: "join", room: "a" })).toBe(0);
  });
});

describe("validation options checked against the protocol", () => {
  class Table extends Channel<Server<Table>, AskServerIn, AskClientOut> {}

  it("a typed server takes a map whose schemas output what its channel receives", () => {
    const servers = [
      new GameServer({ channelClass: Table, validation: schemaValidation(AskServer, { replies: AskClient }) }),
      // Extra actions, and actions the map leaves out, are fine.
      new GameServer({
        channelClass: Table,
        validation: schemaValidation({ move: AskServer.move, extra: v.object({}) }),
      }),
      new GameServer({
        channelClass: Table,
        // @ts-expect-error move's x is a number for the channel, a string for this schema
        validation: schemaValidation({ move: v.object({ x: v.string(), y: v.number() }) }),
      }),
      new GameServer({
        channelClass: Table,
        // @ts-expect-error the pick reply the channel expects is { choice: number }
        validation: schemaValidation(AskServer, { replies: { pick: withReply(AskClient.pick.fields, z.string()) } }),
      }),
      // An untyped channel takes any map.
      new GameServer({ validation: schemaValidation({ move: v.object({ x: v.string() }) }, { replies: AskServer }) }),
    ];
    expect(servers.every((server) => !server.isListening)).toBe(true);
  });

  it("a typed listener takes a map whose schemas output what it receives, and whose replies fit its requests", () => {
    const listener = new ConnectionListener<AskClientIn, AskServerOut>();
    const connectLater = (): void => {
      listener.connect("127.0.0.1", 5071, { validation: schemaValidation(AskClient, { replies: AskServer }) });
      listener.connect("ws://127.0.0.1:8080/", { validation: schemaValidation({ other: v.object({}) }) });
      // @ts-expect-error the server's state carries a number tick
      listener.connect("127.0.0.1", 5071, { validation: schemaValidation({ state: v.object({ tick: v.string() }) }) });
      listener.connect("127.0.0.1", 5071, {
        // @ts-expect-error the join reply the listener expects has a number seat
        validation: schemaValidation(AskClient, {
          replies: {
            join: withReply(v.object({ room: v.string() }), v.object({ seat: v.string(), name: v.string() })),
          },
        }),
      });
      new ConnectionListener().connect("127.0.0.1", 5071, { validation: schemaValidation({ x: v.object({}) }) });
    };
    expect(connectLater).toBeTypeOf("function");
  });
});
