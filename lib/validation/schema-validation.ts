import { Subject, type Observable } from "rxjs";
import { LIFECYCLE_ACTIONS, REFUSED_ACTION, RESERVED_ACTION_PREFIX } from "../constants.js";
import type { ChannelLink } from "../connections/channel-link.js";
import { checkInteger } from "../connections/connection-options.js";
import type { Logger } from "../logging.js";
import type { IncomingMessage } from "../types.js";
import type { ActionSchema, SchemaMap } from "./schema-map.js";
import { describeValue, isStandardSchema } from "./standard-schema.js";
import type { AttachedValidation, MessageValidation, ValidationHost } from "./validation-option.js";
import { ValidationStage } from "./validation-stage.js";
import { SchemaWithReply, type ReplySchema } from "./with-reply.js";

/** What happens to a connection whose peer sends a message that fails its schema. */
export type InvalidMessagePolicy = "drop" | "close";

/**
 * Options of {@link schemaValidation}.
 *
 * @typeParam P the schema map of what this side sends (`replies`)
 */
export interface SchemaValidationOptions<P extends SchemaMap = NoReplies> {
  /**
   * `"drop"` (default): the message is dropped, logged (the first few of a connection, then
   * counted) and counted against `maxInvalidMessages`, past which the peer is cut off with
   * `ERR_TOO_MANY_INVALID`, as for any other bad input. `"close"`: the first failing message also
   * closes the connection; the peer is told why (`ERR_INVALID_MESSAGE`, a repod-rx client reports
   * it as an `error`). A server closes the connection of that client; a client closes for good.
   */
  readonly onInvalid?: InvalidMessagePolicy;
  /**
   * With async schemas: how many messages of one connection may wait behind a validation still
   * running before the peer is cut off with `ERR_VALIDATION_BACKLOG`. Default 1,024.
   */
  readonly maxWaiting?: number;
  /**
   * The schema map of what this side sends: the replies to its requests of an action declared
   * there with `withReply(fields, reply)` are checked against `reply` when they arrive, before
   * the requester sees them. One that passes is emitted as the reply schema outputs it; one that
   * fails makes the request error with a `RequestError` coded `ERR_INVALID_MESSAGE` (saying which
   * action and which field), and counts as an invalid message of the connection, like a message
   * that fails its schema (logged within bounds, `maxInvalidMessages`, `onInvalid`). Error replies
   * are not checked. A client passes the map of what it sends to the server, a server the map of
   * what its channels send. Default: no reply is checked.
   */
  readonly replies?: P;
}

/** The `replies` of a validation that checks no reply: an empty map. */
export type NoReplies = Record<never, never>;

/** Default of {@link SchemaValidationOptions.maxWaiting}. */
export const DEFAULT_MAX_WAITING = 1024;

/**
 * The runtime check of a {@link SchemaMap}, for the `validation` option of a server (checks what
 * clients send) or of `connect()` (checks what the server sends). Made by {@link schemaValidation}.
 *
 * @typeParam S the schema map of what the peer sends, kept for the types derived from it
 * @typeParam P the schema map of what this side sends, whose reply schemas check the replies
 */
export class SchemaValidation<
  S extends SchemaMap = SchemaMap,
  P extends SchemaMap = NoReplies,
> implements MessageValidation {
  /** The schema map, as given. */
  readonly schemas: S;
  /** The `replies` option, as given, or `null` without one. */
  readonly replies: P | null;
  /** What a failing message does to its connection. */
  readonly onInvalid: InvalidMessagePolicy;
  /** Messages of one connection that may wait behind an async validation. */
  readonly maxWaiting: number;
  /** The schemas by action: own keys only, so `"constructor"` or `"__proto__"` is never a schema. */
  readonly #byAction: ReadonlyMap<string, ActionSchema>;
  /** The reply schemas by the action of the request, from `replies`' `withReply` entries. */
  readonly #replyByAction: ReadonlyMap<string, ReplySchema>;

  /** @internal Use {@link schemaValidation}, which checks its arguments. */
  constructor(
    schemas: S,
    byAction: ReadonlyMap<string, ActionSchema>,
    onInvalid: InvalidMessagePolicy,
    maxWaiting: number,
    replies: P | null = null,
    replyByAction: ReadonlyMap<string, ReplySchema> = new Map(),
  ) {
    this.schemas = schemas;
    this.replies = replies;
    this.#byAction = byAction;
    this.#replyByAction = replyByAction;
    this.onInvalid = onInvalid;
    this.maxWaiting = maxWaiting;
  }

  /** The actions that have a schema. */
  get actions(): readonly string[] {
    return [...this.#byAction.keys()];
  }

  /** The actions whose replies are checked: those declared with `withReply` in `replies`. */
  get replyActions(): readonly string[] {
    return [...this.#replyByAction.keys()];
  }

  /**
   * @internal A server channel's stage: drops go through the server's logger, error replies and
   * the closing `@refused` through the channel's link.
   */
  channelStage(
    link: ChannelLink,
    host: { readonly logger: Logger; readonly maxInvalidMessages: number; deliver(message: IncomingMessage): void },
  ): ValidationStage {
    return new ValidationStage(this.#byAction, this.#replyByAction, this.#policy(), {
      logger: host.logger,
      maxInvalidMessages: host.maxInvalidMessages,
      peer: () => `${link.remote.host}:${link.remote.port}`,
      deliver: (message) => host.deliver(message),
      reply: (message) => sendQuietly(link, message),
      close: (error) => {
        // Said before the close, so that the client reports why rather than a bare disconnection.
        sendQuietly(link, { action: REFUSED_ACTION, code: error.code, reason: error.message });
        link.close();
      },
    });
  }

  /** @internal See {@link MessageValidation.attach}. */
  attach(source: Observable<IncomingMessage>, host: ValidationHost): AttachedValidation {
    const output = new Subject<IncomingMessage>();
    const stage = new ValidationStage(this.#byAction, this.#replyByAction, this.#policy(), {
      logger: host.logger,
      maxInvalidMessages: host.maxInvalidMessages,
      peer: () => host.peer(),
      deliver: (message) => output.next(message),
      reply: (message) => host.reply(message),
      close: (error) => {
        output.next({ action: "error", error: error.message, code: error.code });
        host.close(error);
      },
    });
    source.subscribe({
      next: (message) => stage.receive(message),
      complete: () =>
        stage.finish(() => {
          stage.end();
          output.complete();
        }),
    });
    return { messages: output.asObservable(), replies: stage };
  }

  #policy(): { closeOnInvalid: boolean; maxWaiting: number } {
    return { closeOnInvalid: this.onInvalid === "close", maxWaiting: this.maxWaiting };
  }
}

/**
 * Declares the runtime check of a protocol: `schemas` maps each action to the schema of its
 * fields, in any library that implements Standard Schema (zod, valibot, arktype...). Pass the
 * result as the `validation` option of a `Server` (for what clients send) or of `connect()` (for
 * what the server sends); take the types from the same map with `InferActions<typeof schemas>`.
 *
 * Every incoming message of an action of the map is checked before anything sees it: one that
 * passes reaches its handler, `on()` and `messages$` as the schema outputs it (defaults and
 * transforms applied, unknown keys stripped if the schema strips them); one that fails reaches
 * none of them, see {@link SchemaValidationOptions.onInvalid}, and a request that fails gets an
 * error reply (`RequestError` coded `ERR_INVALID_MESSAGE` for a repod-rx requester). Actions not
 * in the map are delivered as before.
 *
 * Async schemas (an async refinement) work: the connection's later messages wait until the check
 * settles, so handlers still run in arrival order, at the cost of at least one microtask of
 * latency per async message for everything behind it.
 *
 * With `replies`, the map of what this side sends, the replies to its requests are checked too:
 * see {@link SchemaValidationOptions.replies}.
 *
 * @throws {TypeError} for a map that is not an object, a value that is not a Standard Schema, an
 *   action reserved by the library (`connected`, `error`... or one starting with `@`), or options
 *   of the wrong type (`replies` that is not such a map).
 * @throws {RangeError} for `maxWaiting` out of range.
 */
export function schemaValidation<S extends SchemaMap, P extends SchemaMap = NoReplies>(
  schemas: S,
  options: SchemaValidationOptions<P> = {},
): SchemaValidation<S, P> {
  if (typeof schemas !== "object" || schemas === null || Array.isArray(schemas)) {
    throw new TypeError(
      "schemas must be an object mapping actions to schemas, such as { move: v.object({ x: v.number() }) }",
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError('schemaValidation options must be an object such as { onInvalid: "close" }');
  }
  const byAction = schemasByAction("schemas", schemas);
  const { onInvalid = "drop", maxWaiting = DEFAULT_MAX_WAITING, replies } = options;
  if (onInvalid !== "drop" && onInvalid !== "close") {
    throw new TypeError(`options.onInvalid must be "drop" or "close", got ${JSON.stringify(onInvalid)}`);
  }
  checkInteger("maxWaiting", maxWaiting, 1, 0xffff_ffff);
  const replyByAction = new Map<string, ReplySchema>();
  if (replies !== undefined) {
    if (typeof replies !== "object" || replies === null || Array.isArray(replies)) {
      throw new TypeError(
        `options.replies must be the schema map of what this side sends, such as { join: withReply(v.object({ room: v.string() }), v.object({ seat: v.number() })) }, got ${describeValue(replies)}`,
      );
    }
    for (const [action, schema] of schemasByAction("options.replies", replies)) {
      if (schema instanceof SchemaWithReply) replyByAction.set(action, schema.reply);
    }
  }
  return new SchemaValidation(schemas, byAction, onInvalid, maxWaiting, replies ?? null, replyByAction);
}

/** The schemas of a map by action, checked: own keys only, each a Standard Schema of an action the library does not keep. */
function schemasByAction(name: string, schemas: SchemaMap): Map<string, ActionSchema> {
  const byAction = new Map<string, ActionSchema>();
  for (const action of Object.keys(schemas)) {
    if (action.startsWith(RESERVED_ACTION_PREFIX) || LIFECYCLE_ACTIONS.has(action)) {
      throw new TypeError(
        `${name}.${action}: "${action}" is reserved by the library (built-in actions and those starting with "${RESERVED_ACTION_PREFIX}" are never validated)`,
      );
    }
    const schema = schemas[action];
    if (!isStandardSchema(schema)) {
      throw new TypeError(
        `${name}.${action} must be a Standard Schema v1 (a zod, valibot or arktype schema...), got ${describeValue(schema)}`,
      );
    }
    byAction.set(action, schema as ActionSchema);
  }
  return byAction;
}

/** Sends on a link that may be closing; a reply that cannot go out is no reason to throw here. */
function sendQuietly(link: ChannelLink, message: object): void {
  try {
    link.send(message);
  } catch {
    // Only our own control messages are sent here: plain, always encodable.
  }
}
