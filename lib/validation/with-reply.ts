import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { ActionSchema } from "./schema-map.js";
import { describeValue, isStandardSchema } from "./standard-schema.js";

/**
 * The schema of a request's reply: any Standard Schema (zod, valibot, arktype...), of any value:
 * `v.object({ seat: v.number() })`, `z.number()`, `v.array(v.string())`...
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ReplySchema = StandardSchemaV1<any, unknown>;

/**
 * An action's schema that also declares the reply to a request of that action; made by
 * {@link withReply}. It is the Standard Schema of the message's fields (it checks them exactly as
 * `fields` does), so it goes in a schema map like any other, and it carries `reply`, the schema of
 * what the peer answers.
 *
 * @typeParam F the schema of the message's fields
 * @typeParam R the schema of the reply
 */
export class SchemaWithReply<
  F extends ActionSchema = ActionSchema,
  R extends ReplySchema = ReplySchema,
> implements StandardSchemaV1<StandardSchemaV1.InferInput<F>, StandardSchemaV1.InferOutput<F>> {
  /** The Standard Schema interface of `fields`: the message's fields are checked by it alone. */
  readonly "~standard": StandardSchemaV1.Props<StandardSchemaV1.InferInput<F>, StandardSchemaV1.InferOutput<F>>;
  // Private fields make the type nominal: only what withReply made counts as declaring a reply.
  readonly #fields: F;
  readonly #reply: R;

  /** @internal Use {@link withReply}, which checks its arguments. */
  constructor(fields: F, reply: R) {
    this["~standard"] = fields["~standard"] as SchemaWithReply<F, R>["~standard"];
    this.#fields = fields;
    this.#reply = reply;
  }

  /** The schema of the message's fields, as given. */
  get fields(): F {
    return this.#fields;
  }

  /** The schema of the reply, as given. */
  get reply(): R {
    return this.#reply;
  }
}

/**
 * Declares, in a schema map, an action that is asked as a request and the schema of its reply:
 * `{ join: withReply(v.object({ room: v.string() }), v.object({ seat: v.number() })) }`. The
 * message's fields are checked by `fields`, as for any action of the map. The reply's type
 * reaches the requester through the map's types (`request({ action: "join", room })` is then an
 * `Observable<{ seat: number }>`, see `InferInputActions`), and `schemaValidation(incoming,
 * { replies: thisMap })` checks every reply to such a request when it arrives.
 *
 * The reply schema may be async; the requester then gets the reply once the check has settled.
 *
 * @throws {TypeError} when `fields` or `reply` is not a Standard Schema.
 */
export function withReply<F extends ActionSchema, R extends ReplySchema>(fields: F, reply: R): SchemaWithReply<F, R> {
  if (!isStandardSchema(fields)) {
    throw new TypeError(
      `withReply(fields, reply): fields must be a Standard Schema v1 of the message's fields (a zod, valibot or arktype schema...), got ${describeValue(fields)}`,
    );
  }
  if (!isStandardSchema(reply)) {
    throw new TypeError(
      `withReply(fields, reply): reply must be a Standard Schema v1 of the reply (a zod, valibot or arktype schema...), got ${describeValue(reply)}`,
    );
  }
  return new SchemaWithReply(fields, reply);
}
