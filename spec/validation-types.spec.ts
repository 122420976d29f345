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
  schemaValidation,
  type InferActions,
  type InferInputActions,
  type Message,
  type NetworkHandlers,
  type SchemaMap,
  type SchemaValidation,
  type Server,
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
