import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { ActionMap, ReplyOf, WithReply } from "../types.js";
import type { SchemaWithReply } from "./with-reply.js";

/**
 * The schema of one action's fields: any schema that implements Standard Schema v1 (zod, valibot,
 * arktype...) and whose value is an object, e.g. `z.object({ x: z.number() })` or
 * `v.object({ x: v.number() })`. It sees the fields only: `action` and the library's `@` keys are
 * taken off before it runs and put back on its output, so a strict object schema works too.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ActionSchema = StandardSchemaV1<any, object>;

/**
 * A protocol declared once as values: each key is an action, each value the schema of its fields,
 * e.g. `{ move: v.object({ x: v.number(), y: v.number() }) }`, or, for an action asked as a
 * request, the schema of its fields and of its reply, `withReply(fields, reply)`. The types of
 * both sides come from it ({@link InferActions}, {@link InferInputActions}) and
 * `schemaValidation(map)` checks every incoming message of its actions at run time.
 */
export type SchemaMap = { readonly [action: string]: ActionSchema };

/**
 * The action map a receiver of `S` sees: each action's fields as its schema outputs them (after
 * defaults and transforms), the type of `Network_*` handler payloads, `on()` and `messages$`. The
 * `z.infer` / `v.InferOutput` of a whole protocol. An action declared `withReply(fields, reply)`
 * also declares ({@link WithReply}) what its handler answers: the reply schema's input, which the
 * requester's check turns into its output.
 */
export type InferActions<S extends SchemaMap> = {
  -readonly [K in keyof S]: S[K] extends SchemaWithReply<ActionSchema, infer R>
    ? WithReply<StandardSchemaV1.InferOutput<S[K]>, StandardSchemaV1.InferInput<R>>
    : StandardSchemaV1.InferOutput<S[K]>;
};

/**
 * The action map a sender to `S` uses: each action's fields as its schema accepts them (before
 * defaults and transforms), the type of `send()` and `request()`. The same as {@link InferActions}
 * for schemas without transforms or defaults. The `z.input` / `v.InferInput` of a whole protocol.
 * An action declared `withReply(fields, reply)` also declares ({@link WithReply}) what
 * `request()` emits: the reply schema's output, as the `replies` check of `schemaValidation`
 * delivers it.
 */
export type InferInputActions<S extends SchemaMap> = {
  -readonly [K in keyof S]: S[K] extends SchemaWithReply<ActionSchema, infer R>
    ? WithReply<StandardSchemaV1.InferInput<S[K]>, StandardSchemaV1.InferOutput<R>>
    : StandardSchemaV1.InferInput<S[K]>;
};

// Both bounds also take any other action, which the protocol does not constrain; their index
// signature also keeps them from being weak types, which would ask for an action in common.

/**
 * The schema maps that fit a receiver of protocol `M`: an action `M` declares may be left out,
 * one it does not declare may be added, and every action of both must output fields that `M`
 * accepts for it. The bound the `validation` options of a typed channel and listener put on
 * their map; any map fits an untyped protocol.
 */
export type SchemasFor<M extends ActionMap> = string extends keyof M
  ? unknown
  : { readonly [K in keyof M]?: StandardSchemaV1<unknown, M[K]> } & { readonly [action: string]: unknown };

/**
 * The `replies` maps that fit a requester of protocol `M`: for each action `M` declares a reply
 * for ({@link WithReply}), a `withReply` entry's reply schema must output that reply (an entry
 * without one checks no reply). Any map fits an untyped protocol.
 */
export type RepliesFor<M extends ActionMap> = string extends keyof M
  ? unknown
  : {
      readonly [K in keyof M]?: unknown extends ReplyOf<M, K>
        ? unknown
        : {
            /** The reply schema, which must output the declared reply. */
            readonly reply?: StandardSchemaV1<unknown, ReplyOf<M, K>>;
          };
    } & { readonly [action: string]: unknown };
