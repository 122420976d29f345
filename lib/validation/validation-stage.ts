import type { StandardSchemaV1 } from "@standard-schema/spec";
import { LIFECYCLE_ACTIONS, REPLY_ACTION, REPLY_ID_KEY, REQUEST_ID_KEY } from "../constants.js";
import { InvalidInput } from "../connections/invalid-input.js";
import { ProtocolError } from "../errors.js";
import type { Logger } from "../logging.js";
import type { IncomingMessage } from "../types.js";
import { describeIssues } from "./describe-issues.js";
import type { ActionSchema } from "./schema-map.js";
import { isThenable, threw } from "./standard-schema.js";
import type { ReplyValidator, ReplyVerdict } from "./validation-option.js";
import type { ReplySchema } from "./with-reply.js";

/** Where a stage's messages go, and how it acts on the connection it guards. */
export interface StageOutlet {
  /** Where drops and closes are logged. */
  readonly logger: Logger;
  /** Messages failing their schema tolerated before the peer is cut off (`maxInvalidMessages`). */
  readonly maxInvalidMessages: number;
  /** Who the peer is, for the log lines (called only when a line is written). */
  peer(): string;
  /** Hands a message on, in arrival order: validated, or one no schema covers. */
  deliver(message: IncomingMessage): void;
  /** Sends a reply to the peer: the error reply of a request that failed its schema. */
  reply(message: object): void;
  /** Ends the connection: the peer sent what the policy does not tolerate. Called once. */
  close(error: ProtocolError): void;
}

/** What the stage is doing: passing messages, closing for bad input (built-ins only), or gone. */
type StageState = "open" | "closing" | "ended";

/**
 * The schema check of one connection's incoming messages (one channel's, across the connections
 * of a resumed session; one client's, across reconnections). A message whose action has a schema
 * is handed on as the schema outputs it, with its `action` (and request id) put back; one that
 * fails is dropped, logged within bounds and counted, and never handed on. Every other message is
 * handed on untouched.
 *
 * Order is kept: while an async schema runs, the messages behind it wait here (at most
 * `maxWaiting`), built-in ones included, and follow once it settles. A sync schema costs nothing
 * more than its own run: nothing is queued.
 *
 * It also checks the replies to this side's requests ({@link ReplyValidator}), when the requester
 * settles them: a refused reply counts against the same budget as a refused message.
 */
export class ValidationStage implements ReplyValidator {
  readonly #schemas: ReadonlyMap<string, ActionSchema>;
  readonly #replies: ReadonlyMap<string, ReplySchema>;
  readonly #closeOnInvalid: boolean;
  readonly #maxWaiting: number;
  readonly #outlet: StageOutlet;
  #invalid: InvalidInput;
  #rejected = 0;
  #state: StageState = "open";
  /** Whether an async validation is running: what arrives meanwhile waits in `#waiting`. */
  #busy = false;
  #waiting: IncomingMessage[] = [];
  /** Runs once nothing waits any more (the end of the input, held back behind the waiting ones). */
  #whenIdle: (() => void) | null = null;

  constructor(
    schemas: ReadonlyMap<string, ActionSchema>,
    replies: ReadonlyMap<string, ReplySchema>,
    policy: { readonly closeOnInvalid: boolean; readonly maxWaiting: number },
    outlet: StageOutlet,
  ) {
    this.#schemas = schemas;
    this.#replies = replies;
    this.#closeOnInvalid = policy.closeOnInvalid;
    this.#maxWaiting = policy.maxWaiting;
    this.#outlet = outlet;
    this.#invalid = this.#newBudget();
  }

  /** Messages dropped so far for failing their schema, replies refused included. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Messages waiting behind an async validation. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Takes one message from the peer (or, on a client, a built-in action), in arrival order. */
  receive(message: IncomingMessage): void {
    // Stryker disable next-line ConditionalExpression: nothing arrives once ended: a server's stage ends with its connection's close or its seat's end, after which neither delivers anything, and a client's ends after its source completed
    if (this.#state === "ended") return;
    // Also queued while the waiting ones are being handed on: one that arrives from a handler
    // (a client's `disconnected` after a close) must not overtake them.
    if (!this.#busy && this.#waiting.length === 0) {
      this.#run(message);
      return;
    }
    if (this.#waiting.length >= this.#maxWaiting && !isBuiltIn(message.action)) {
      this.#shut(
        new ProtocolError(
          "ERR_VALIDATION_BACKLOG",
          `Closed the connection: more than ${this.#maxWaiting} messages waited behind an async schema (maxWaiting)`,
        ),
      );
      return;
    }
    this.#waiting.push(message);
  }

  /** Calls `done` once every message received so far has been handed on or dropped. */
  finish(done: () => void): void {
    if (this.#busy || this.#waiting.length > 0) this.#whenIdle = done;
    else done();
  }

  /** See {@link ReplyValidator.checkReply}. */
  checkReply(action: string, result: unknown): ReplyVerdict | PromiseLike<ReplyVerdict> | undefined {
    const schema = this.#replies.get(action);
    if (schema === undefined) return undefined;
    let checked: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>;
    try {
      checked = schema["~standard"].validate(result);
    } catch (error) {
      checked = threw(error);
    }
    if (isThenable(checked)) {
      return checked.then(
        (settled) => this.#judgeReply(action, settled),
        (error: unknown) => this.#judgeReply(action, threw(error)),
      );
    }
    return this.#judgeReply(action, checked);
  }

  /** The connection has ended: what still waits is dropped, the drops not logged are summed up. */
  end(): void {
    // Stryker disable next-line ConditionalExpression: end() comes once: from a connection's close or a seat's end (each reported once), or from a client's finish callback, which runs once
    if (this.#state === "ended") return;
    this.#state = "ended";
    this.#waiting = [];
    this.#invalid.close();
  }

  #run(message: IncomingMessage): void {
    const action = message.action;
    const schema = typeof action === "string" ? this.#schemas.get(action) : undefined;
    if (schema === undefined) {
      if (this.#state === "open" || isBuiltIn(action)) this.#pass(message);
      return;
    }
    // Closing for bad input: nothing more from this peer reaches a handler.
    if (this.#state !== "open") return;
    const name = action as string;
    let result: StandardSchemaV1.Result<object> | Promise<StandardSchemaV1.Result<object>>;
    try {
      result = schema["~standard"].validate(fieldsOf(message));
    } catch (error) {
      result = threw(error);
    }
    if (isThenable(result)) {
      this.#busy = true;
      result.then(
        (settled) => this.#resume(message, name, settled),
        (error: unknown) => this.#resume(message, name, threw(error)),
      );
      return;
    }
    this.#settle(message, name, result);
  }

  /** An async validation settled: its message, then what waited behind it, in order. */
  #resume(message: IncomingMessage, action: string, result: StandardSchemaV1.Result<object>): void {
    this.#busy = false;
    // Stryker disable next-line ConditionalExpression: a fast path; once ended, #settle hands on nothing, end() emptied the queue and only the finish callback, which ends the stage itself, sets #whenIdle
    if (this.#state === "ended") return;
    this.#settle(message, action, result);
    // `#settle` and the handlers it reaches may have ended the stage meanwhile: end() empties the
    // queue, and receive() queues nothing once ended, so the loop stops there too.
    while (!this.#busy && this.#waiting.length > 0) {
      this.#run(this.#waiting.shift()!);
    }
    if (!this.#busy && this.#whenIdle !== null) {
      const done = this.#whenIdle;
      this.#whenIdle = null;
      done();
    }
  }

  #settle(message: IncomingMessage, action: string, result: StandardSchemaV1.Result<object>): void {
    if (this.#state !== "open") return;
    if (result.issues) {
      this.#reject(message, describeIssues(action, result.issues));
      return;
    }
    const value: unknown = result.value;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.#reject(
        message,
        `"${action}" failed its schema: it returned ${describeOutput(value)}, not an object of fields`,
      );
      return;
    }
    // A copy, so that a schema returning a shared object never gets our keys written into it;
    // `action` first, as on the wire (spreading into a literal that already has it is the cheap
    // way in V8), then again in case a transform returned a field of that name.
    const validated: IncomingMessage = { action, ...value };
    validated.action = action;
    const id = message[REQUEST_ID_KEY];
    if (id !== undefined) validated[REQUEST_ID_KEY] = id;
    this.#pass(validated);
  }

  #pass(message: IncomingMessage): void {
    // A client's budget is per connection, as the connection's own one is.
    if (message.action === "disconnected") {
      this.#invalid.close();
      this.#invalid = this.#newBudget();
    }
    this.#outlet.deliver(message);
  }

  #reject(message: IncomingMessage, reason: string): void {
    const id = message[REQUEST_ID_KEY];
    if (id !== undefined) {
      // The requester hears why instead of waiting for its timeout.
      this.#outlet.reply({ action: REPLY_ACTION, [REPLY_ID_KEY]: id, error: reason, code: "ERR_INVALID_MESSAGE" });
    }
    this.#count(reason);
  }

  /** A reply's check is done: its value, or why it is refused (counted like a refused message). */
  #judgeReply(action: string, result: StandardSchemaV1.Result<unknown>): ReplyVerdict {
    if (!result.issues) return { value: result.value };
    const reason = describeIssues(action, result.issues, "the reply to ");
    // Once the connection has ended (an async check outlived it) there is nothing left to count or close.
    if (this.#state !== "ended") this.#count(reason);
    return { reason };
  }

  /** Counts one refused message or reply: logged within bounds, and the policy applied. */
  #count(reason: string): void {
    this.#rejected++;
    const error = new ProtocolError("ERR_INVALID_MESSAGE", reason);
    const over = this.#invalid.record(error);
    if (this.#closeOnInvalid) this.#shut(error);
    else if (over) {
      this.#shut(
        new ProtocolError(
          "ERR_TOO_MANY_INVALID",
          `Closed the connection: the peer sent ${this.#invalid.count} messages that failed their schemas, over the maxInvalidMessages limit of ${this.#outlet.maxInvalidMessages}`,
        ),
      );
    }
  }

  #shut(error: ProtocolError): void {
    if (this.#state !== "open") return;
    this.#state = "closing";
    this.#outlet.logger.warn("closing", { peer: this.#outlet.peer(), code: error.code, reason: error.message });
    this.#outlet.close(error);
  }

  #newBudget(): InvalidInput {
    return new InvalidInput(this.#outlet.maxInvalidMessages, this.#outlet.logger, () => this.#outlet.peer());
  }
}

/**
 * The message's fields, as the schema sees them: without `action` and the request id, which are
 * the library's, so that a strict object schema accepts a well-formed message.
 */
function fieldsOf(message: IncomingMessage): Record<string, unknown> {
  // A rest copy defines keys as plain data, so a peer's "__proto__" key stays a key. The literal
  // key (REQUEST_ID_KEY) keeps the copy on V8's fast path, which a computed one leaves.
  const { action, "@req": id, ...fields } = message;
  void action;
  void id;
  return fields;
}

function isBuiltIn(action: unknown): boolean {
  return typeof action === "string" && LIFECYCLE_ACTIONS.has(action);
}

function describeOutput(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}
