import { Observable, Subject } from "rxjs";
import { PendingAnswers } from "../dispatch/pending-answers.js";
import { PendingRequests, type RequestOptions } from "../dispatch/requests.js";
import { encode } from "../protocol/codec.js";
import type { Server } from "../server/server.js";
import type {
  ActionMap,
  Address,
  IncomingMessage,
  Message,
  replyType,
  RequestResult,
  UntypedActions,
} from "../types.js";
import type { ReplyValidator } from "../validation/validation-option.js";
import type { ChannelLink } from "./channel-link.js";
import { checkSendOptions, type SendOptions } from "./outbox.js";

/** A channel or a server of any protocol: the bound of the classes' own type parameters. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyChannel = Channel<any, any, any, any>;
/** A server with any channel class: the default server type of a `Channel`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyServer = Server<any>;

/**
 * What the server hands a new channel. Opaque: a subclass with its own constructor passes it on
 * unchanged, `constructor(init?: ChannelInit) { super(init); }`.
 */
export interface ChannelInit {
  /** @internal */ readonly link: ChannelLink;
  /** @internal */ readonly server: AnyServer;
  /** @internal */ readonly id: number;
  /** @internal */ readonly data?: unknown;
  /**
   * @internal The schema check of this channel's messages and of the replies to its requests,
   * with the server's `validation` option.
   */
  readonly validation?: ReplyValidator & { readonly rejected: number };
}

const EMPTY_ADDRESS: Address = Object.freeze({ host: "", port: 0 });
const NO_ROOMS: ReadonlySet<string> = new Set();

/**
 * The server's side of one connected client; the server creates one per connection from its
 * `channelClass`. Subclass it and define `Network_<action>(message)` methods: a message
 * `{ action: "chat", text }` calls `Network_chat(message)`; one with no such method calls
 * `networkReceived(message)`.
 *
 * @typeParam S   the server class, for a typed `server` getter
 * @typeParam In  messages the client sends (handler payloads, `messages$`)
 * @typeParam Out messages this channel sends (`send()`)
 * @typeParam D   what the server's `authenticate` returns for a player (`data`)
 */
export class Channel<
  S extends AnyServer = AnyServer,
  In extends ActionMap = UntypedActions,
  Out extends ActionMap = UntypedActions,
  D = unknown,
> {
  /** A number unique among the channels of this process; 0 for a channel without a server. */
  readonly id: number;
  /** The peer's address, `{ host, port }`. */
  readonly addr: Address;

  /**
   * What the server's `authenticate` returned for this player (who they are, their rights);
   * `undefined` without `authenticate`. Set before `onConnect`, kept across resumes.
   */
  readonly data: D;

  readonly #connection: ChannelLink | null;
  readonly #server: S | null;
  // Created on first use: a server holds thousands of channels, most of which never use them.
  #messages: Subject<IncomingMessage> | null = null;
  #rtt: Subject<number> | null = null;
  #rooms: Set<string> | null = null;
  #requests: PendingRequests | null = null;
  #answers: PendingAnswers | null = null;
  #ended = false;
  readonly #validation: (ReplyValidator & { readonly rejected: number }) | null;

  constructor(init?: ChannelInit) {
    this.#connection = init?.link ?? null;
    this.data = init?.data as D;
    this.#server = (init?.server as S | undefined) ?? null;
    this.id = init?.id ?? 0;
    this.#validation = init?.validation ?? null;
    this.addr = this.#connection?.remote ?? EMPTY_ADDRESS;
    if (this.#connection === null) this.#ended = true;
  }

  /** Every message this client sends, live, as it arrives; completes when the channel closes. */
  get messages$(): Observable<Message<In>> {
    this.#messages ??= stream<IncomingMessage>(this.#ended);
    return this.#messages.asObservable() as Observable<Message<In>>;
  }

  /** Heartbeat round-trip times in milliseconds (with the server's `heartbeat` option on). */
  get rtt$(): Observable<number> {
    this.#rtt ??= stream<number>(this.#ended);
    return this.#rtt.asObservable();
  }

  /** The server this channel belongs to. @throws {Error} for a channel created without one. */
  get server(): S {
    if (this.#server === null) throw new Error("Channel is not connected to a server");
    return this.#server;
  }

  /** Whether messages sent now go out. */
  get isConnected(): boolean {
    return this.#connection?.state === "open";
  }

  /**
   * Messages from this client dropped for failing their schema (the server's `validation`
   * option); 0 without one.
   */
  get rejectedMessages(): number {
    return this.#validation?.rejected ?? 0;
  }

  /**
   * Bytes accepted by `send()` and not yet handed to the operating system; with session resume,
   * also those kept for a resume until the player acknowledges them.
   */
  get bufferedAmount(): number {
    return this.#connection?.bufferedAmount ?? 0;
  }

  /**
   * Sends one message to this client. Returns the bytes queued, 4-byte header included, or 0 once
   * the channel is closing or closed, and for a `volatile` message dropped because it would wait.
   * `options`: `{ volatile: true }` drops the message rather than queue it behind a backlog (or
   * keep it through a resumable session's gap); `{ latest: key }` replaces the message with the
   * same key that still waits unsent (see {@link SendOptions}). Default: an ordinary message.
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded as msgpack,
   *   or for options of the wrong type.
   */
  send(message: Message<Out>, options?: SendOptions): number {
    checkSendOptions(options);
    if (this.#connection !== null) return this.#connection.send(message, options);
    // Encoded anyway, so that bad input throws the same TypeError without a server as with one.
    encode(message);
    return 0;
  }

  /**
   * Asks this client something: sends `message` and emits the client's reply once (a listener
   * answers by returning a value from its handler), then completes. Cold: each subscription sends
   * one request. Errors on timeout (`ERR_REQUEST_TIMEOUT`, default 10 s), on an error reply
   * (`RequestError`), or when the channel closes first; unsubscribing cancels the wait.
   *
   * The reply's type is the one `Out` declares for the action (`WithReply`, or `withReply` in a
   * schema map), `unknown` when it declares none, or `R` when given: `request<number>(message)`.
   * With the server's `validation: schemaValidation(clientSchemas, { replies: serverSchemas })`,
   * the reply is checked against its schema first; one that fails errors with a `RequestError`
   * coded `ERR_INVALID_MESSAGE`.
   */
  request<R = typeof replyType, K extends keyof Out & string = keyof Out & string>(
    message: Message<Out, K>,
    options?: RequestOptions,
  ): Observable<RequestResult<NoInfer<R>, Out, K>> {
    this.#requests ??= new PendingRequests(undefined, () => this.#validation);
    return this.#requests.request((request) => this.send(request as Message<Out>), message, options);
  }

  /** The rooms this channel is in. */
  get rooms(): ReadonlySet<string> {
    return this.#rooms ?? NO_ROOMS;
  }

  /**
   * Enters the room `name` (created on first join). A channel may be in any number of rooms and
   * leaves them all when it closes. Joining a room twice, or after closing, does nothing.
   * @throws {TypeError} for a name that is not a non-empty string.
   */
  join(name: string): void {
    const server = this.#server;
    const rooms = (this.#rooms ??= new Set());
    if (server === null || rooms.has(name)) return;
    // In `rooms` before the server streams the join, so a `joins$` subscriber sees it there.
    rooms.add(name);
    let joined = false;
    try {
      joined = server.joinRoom(this, name);
    } finally {
      if (!joined) rooms.delete(name);
    }
  }

  /** Leaves the room `name`; an empty room disappears. Leaving a room one is not in does nothing. */
  leave(name: string): void {
    if (this.#rooms?.delete(name)) this.#server?.leaveRoom(this, name);
  }

  /** Closes the channel gracefully: what was sent before is delivered, then `onClose` runs. */
  close(): void {
    this.#connection?.close();
  }

  /** Called once the channel is set up and greeted (`{ action: "connected" }` is already sent). */
  onConnect(): void {}

  /**
   * Called exactly once when the channel has closed, however it ended; with session resume, when
   * the seat really ends (a deliberate close, or a drop not resumed within the window), never for
   * a drop that was resumed.
   */
  onClose(): void {}

  /**
   * With session resume: the connection was lost without a close (a reset, a timeout...). The
   * seat is held for the resume window: the channel keeps its id, data and rooms, `isConnected` is
   * false, and what is sent to it is kept and delivered when the player comes back. Default: does
   * nothing (show the player as "reconnecting").
   */
  // Stryker disable next-line BlockStatement: the default does nothing; its body only marks the argument as used
  onDrop(error: Error): void {
    void error;
  }

  /**
   * With session resume: the player came back; runs before any message it sent in the meantime is
   * dispatched. Default: does nothing.
   */
  onResume(): void {}

  /**
   * Called with an exception thrown by one of this channel's handlers or hooks, or with the error
   * that ended the connection (`ERR_CONNECTION_LOST` for a reset, a timeout, a limit...). The
   * channel keeps dispatching the following messages. Default: a handler's or hook's exception is
   * reported through the server's logger, or `console.error` when logging is silent; the error
   * that ended the connection is not printed (the logger's "disconnected" line carries it).
   */
  onError(error: unknown): void {
    this.#server?.reportChannelError(this, error);
  }

  /** Called for a message that has no `Network_*` handler. Default: does nothing. */
  // Stryker disable next-line BlockStatement: the default does nothing; its body only marks the argument as used
  networkReceived(message: IncomingMessage): void {
    void message;
  }

  /** @internal Feeds `messages$`; called by the server for each valid message. */
  emitMessage(message: IncomingMessage): void {
    if (this.#messages?.observed) this.#messages.next(message);
  }

  /** @internal Feeds `rtt$`. */
  emitRtt(milliseconds: number): void {
    this.#rtt?.next(milliseconds);
  }

  /**
   * @internal Answers the client's request `id` with what `run` (the handler) returns, within the
   * server's `maxPendingAnswers`; answers still in progress are dropped when the channel ends.
   */
  answer(id: unknown, run: () => unknown): void {
    if (this.#ended || this.#server === null) return;
    this.#answers ??= new PendingAnswers(
      (reply) => this.send(reply as Message<Out>),
      this.#server.limits.maxPendingAnswers,
    );
    this.#answers.answer(id, run);
  }

  /** @internal Settles the request a reply answers. */
  settleReply(reply: IncomingMessage): void {
    this.#requests?.settle(reply);
  }

  /**
   * @internal Called by the server when the connection has closed: completes `messages$` and
   * `rtt$`, fails the requests still waiting, forgets the rooms (the server has left them).
   */
  completeMessages(): void {
    this.#ended = true;
    this.#messages?.complete();
    this.#rtt?.complete();
    this.#answers?.close();
    this.#requests?.failAll(`The channel to ${this.addr.host}:${this.addr.port} closed before the reply`);
  }
}

/** A subject for a stream asked for now: already complete if its channel has ended. */
function stream<T>(ended: boolean): Subject<T> {
  const subject = new Subject<T>();
  if (ended) subject.complete();
  return subject;
}
