import type { StandardSchemaV1 } from "@standard-schema/spec";

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
 * e.g. `{ move: v.object({ x: v.number(), y: v.number() }) }`. The types of both sides come from
 * it ({@link InferActions}, {@link InferInputActions}) and `schemaValidation(map)` checks every
 * incoming message of its actions at run time.
 */
export type SchemaMap = { readonly [action: string]: ActionSchema };

/**
 * The action map a receiver of `S` sees: each action's fields as its schema outputs them (after
 * defaults and transforms), the type of `Network_*` handler payloads, `on()` and `messages$`. The
 * `z.infer` / `v.InferOutput` of a whole protocol.
 */
export type InferActions<S extends SchemaMap> = {
  -readonly [K in keyof S]: StandardSchemaV1.InferOutput<S[K]>;
};

/**
 * The action map a sender to `S` uses: each action's fields as its schema accepts them (before
 * defaults and transforms), the type of `send()` and `request()`. The same as {@link InferActions}
 * for schemas without transforms or defaults. The `z.input` / `v.InferInput` of a whole protocol.
 */
export type InferInputActions<S extends SchemaMap> = {
  -readonly [K in keyof S]: StandardSchemaV1.InferInput<S[K]>;
};
