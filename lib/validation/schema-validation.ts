import { Subject, type Observable } from "rxjs";
import { LIFECYCLE_ACTIONS, REFUSED_ACTION, RESERVED_ACTION_PREFIX } from "../constants.js";
import type { ChannelLink } from "../connections/channel-link.js";
import { checkInteger } from "../connections/connection-options.js";
import type { Logger } from "../logging.js";
import type { IncomingMessage } from "../types.js";
import type { ActionSchema, SchemaMap } from "./schema-map.js";
import type { MessageValidation, ValidationHost } from "./validation-option.js";
import { ValidationStage } from "./validation-stage.js";

/** What happens to a connection whose peer sends a message that fails its schema. */
export type InvalidMessagePolicy = "drop" | "close";

/** Options of {@link schemaValidation}. */
export interface SchemaValidationOptions {
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
}

/** Default of {@link SchemaValidationOptions.maxWaiting}. */
export const DEFAULT_MAX_WAITING = 1024;

/**
 * The runtime check of a {@link SchemaMap}, for the `validation` option of a server (checks what
 * clients send) or of `connect()` (checks what the server sends). Made by {@link schemaValidation}.
 *
 * @typeParam S the schema map, kept for the types derived from it
 */
export class SchemaValidation<S extends SchemaMap = SchemaMap> implements MessageValidation {
  /** The schema map, as given. */
  readonly schemas: S;
  /** What a failing message does to its connection. */
  readonly onInvalid: InvalidMessagePolicy;
  /** Messages of one connection that may wait behind an async validation. */
  readonly maxWaiting: number;
  /** The schemas by action: own keys only, so `"constructor"` or `"__proto__"` is never a schema. */
  readonly #byAction: ReadonlyMap<string, ActionSchema>;

  /** @internal Use {@link schemaValidation}, which checks its arguments. */
  constructor(
    schemas: S,
    byAction: ReadonlyMap<string, ActionSchema>,
    onInvalid: InvalidMessagePolicy,
    maxWaiting: number,
  ) {
    this.schemas = schemas;
    this.#byAction = byAction;
    this.onInvalid = onInvalid;
    this.maxWaiting = maxWaiting;
  }

  /** The actions that have a schema. */
  get actions(): readonly string[] {
    return [...this.#byAction.keys()];
  }

  /**
   * @internal A server channel's stage: drops go through the server's logger, error replies and
   * the closing `@refused` through the channel's link.
   */
  channelStage(
    link: ChannelLink,
    host: { readonly logger: Logger; readonly maxInvalidMessages: number; deliver(message: IncomingMessage): void },
  ): ValidationStage {
    return new ValidationStage(this.#byAction, this.#policy(), {
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
  attach(source: Observable<IncomingMessage>, host: ValidationHost): Observable<IncomingMessage> {
    const output = new Subject<IncomingMessage>();
    const stage = new ValidationStage(this.#byAction, this.#policy(), {
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
    return output.asObservable();
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
 * @throws {TypeError} for a map that is not an object, a value that is not a Standard Schema, an
 *   action reserved by the library (`connected`, `error`... or one starting with `@`), or options
 *   of the wrong type.
 * @throws {RangeError} for `maxWaiting` out of range.
 */
export function schemaValidation<S extends SchemaMap>(
  schemas: S,
  options: SchemaValidationOptions = {},
): SchemaValidation<S> {
  if (typeof schemas !== "object" || schemas === null || Array.isArray(schemas)) {
    throw new TypeError(
      "schemas must be an object mapping actions to schemas, such as { move: v.object({ x: v.number() }) }",
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError('schemaValidation options must be an object such as { onInvalid: "close" }');
  }
  const byAction = new Map<string, ActionSchema>();
  for (const action of Object.keys(schemas)) {
    if (action.startsWith(RESERVED_ACTION_PREFIX) || LIFECYCLE_ACTIONS.has(action)) {
      throw new TypeError(
        `schemas.${action}: "${action}" is reserved by the library (built-in actions and those starting with "${RESERVED_ACTION_PREFIX}" are never validated)`,
      );
    }
    const schema = schemas[action];
    if (!isStandardSchema(schema)) {
      throw new TypeError(
        `schemas.${action} must be a Standard Schema v1 (a zod, valibot or arktype schema...), got ${describe(schema)}`,
      );
    }
    byAction.set(action, schema);
  }
  const { onInvalid = "drop", maxWaiting = DEFAULT_MAX_WAITING } = options;
  if (onInvalid !== "drop" && onInvalid !== "close") {
    throw new TypeError(`options.onInvalid must be "drop" or "close", got ${JSON.stringify(onInvalid)}`);
  }
  checkInteger("maxWaiting", maxWaiting, 1, 0xffff_ffff);
  return new SchemaValidation(schemas, byAction, onInvalid, maxWaiting);
}

function isStandardSchema(value: unknown): value is ActionSchema {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const props = (value as { "~standard"?: { version?: unknown; validate?: unknown } })["~standard"];
  return typeof props === "object" && props !== null && props.version === 1 && typeof props.validate === "function";
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" || typeof value === "function"
    ? `an ${typeof value} without "~standard"`
    : `a ${typeof value}`;
}

/** Sends on a link that may be closing; a reply that cannot go out is no reason to throw here. */
function sendQuietly(link: ChannelLink, message: object): void {
  try {
    link.send(message);
  } catch {
    // Only our own control messages are sent here: plain, always encodable.
  }
}
