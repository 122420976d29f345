import type { Logger } from "../logging.js";
import type { ActionMap, IncomingMessage } from "../types.js";
import type { ProtocolError } from "../errors.js";
import type { Observable } from "rxjs";
import type { RepliesFor, SchemasFor } from "./schema-map.js";

/**
 * What the `validation` option of a client or a server holds: made by `schemaValidation(schemas)`.
 * Only this contract is known to the connections, so that a page which validates nothing carries
 * none of the validation code.
 */
export interface MessageValidation {
  /**
   * @internal A client's messages, checked: takes the client's raw stream (its built-in actions
   * included) and returns it validated, in order, completing after the last waiting message; and
   * the check of the replies to the client's requests, counted on the same connection.
   */
  attach(source: Observable<IncomingMessage>, host: ValidationHost): AttachedValidation;
}

/**
 * The `validation` option of a listener receiving `In` and sending `Out`, checked against them by
 * the compiler: what `schemaValidation(schemas, { replies })` made, whose `schemas` output what
 * `In` declares for each action ({@link SchemasFor}) and whose `replies` output the replies `Out`
 * declares ({@link RepliesFor}). Anything `schemaValidation` makes fits an untyped listener.
 */
export type ValidationFor<In extends ActionMap, Out extends ActionMap> = MessageValidation & {
  /** The schemas of what the peer sends, which must output what `In` declares. */
  readonly schemas?: SchemasFor<In>;
  /** The map of what this side sends, whose reply schemas must output the replies `Out` declares. */
  readonly replies?: RepliesFor<Out> | null;
};

/** @internal What `attach` gives a client. */
export interface AttachedValidation {
  /** The client's messages, checked, in order. */
  readonly messages: Observable<IncomingMessage>;
  /** The check of the replies to the client's requests. */
  readonly replies: ReplyValidator;
}

/** @internal What a client gives its validation. */
export interface ValidationHost {
  readonly logger: Logger;
  readonly maxInvalidMessages: number;
  /** Who the peer is, for the log lines. */
  peer(): string;
  /** Sends a reply to the peer (an error reply to a request that failed its schema). */
  reply(message: object): void;
  /** Closes the connection for good: the peer sent what the policy does not tolerate. */
  close(error: ProtocolError): void;
}

/** @internal A reply's fate: the value the requester gets, or why it was refused. */
export type ReplyVerdict = { readonly value: unknown } | { readonly reason: string };

/**
 * @internal The check of the replies a side gets to its requests, against the reply schemas of
 * the requests' actions; a refused reply counts as an invalid message of the connection it came
 * on (logged within bounds, `maxInvalidMessages`, `onInvalid`).
 */
export interface ReplyValidator {
  /**
   * Checks `result`, the reply to a request of `action`: `undefined` when the action has no
   * reply schema (the reply goes to the requester as it came), else the verdict, or a Promise of
   * it for an async schema (never rejected).
   */
  checkReply(action: string, result: unknown): ReplyVerdict | PromiseLike<ReplyVerdict> | undefined;
}

/**
 * Checks the `validation` option: `undefined`, or what `schemaValidation(schemas)` made.
 * @throws {TypeError} for anything else, a bare schema map above all.
 */
export function checkValidationOption(value: unknown): MessageValidation | undefined {
  if (value === undefined) return undefined;
  if (typeof (value as Partial<MessageValidation> | null)?.attach !== "function") {
    throw new TypeError(
      "options.validation must be made by schemaValidation(schemas), such as schemaValidation({ move: v.object({ x: v.number() }) })",
    );
  }
  return value as MessageValidation;
}
