import type { Logger } from "../logging.js";
import type { IncomingMessage } from "../types.js";
import type { ProtocolError } from "../errors.js";
import type { Observable } from "rxjs";

/**
 * What the `validation` option of a client or a server holds: made by `schemaValidation(schemas)`.
 * Only this contract is known to the connections, so that a page which validates nothing carries
 * none of the validation code.
 */
export interface MessageValidation {
  /**
   * @internal A client's messages, checked: takes the client's raw stream (its built-in actions
   * included) and returns it validated, in order; completes after the last waiting message.
   */
  attach(source: Observable<IncomingMessage>, host: ValidationHost): Observable<IncomingMessage>;
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
