import { Observable, Subject } from "rxjs";
import type { Server } from "../server/server.js";
import type { ActionMap, Address, IncomingMessage, Message, UntypedActions } from "../types.js";
import type { Connection } from "./connection.js";

/**
 * What the server hands a new channel. Opaque: a subclass with its own constructor passes it on
 * unchanged, `constructor(init?: ChannelInit) { super(init); }`.
 */
export interface ChannelInit {
  /** @internal */ readonly connection: Connection;
  /** @internal */ readonly server: Server<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** @internal */ readonly id: number;
}

const EMPTY_ADDRESS: Address = Object.freeze({ host: "", port: 0 });

/**
 * The server's side of one connected client; the server creates one per connection from its
 * `channelClass`. Subclass it and define `Network_<action>(message)` methods: a message
 * `{ action: "chat", text }` calls `Network_chat(message)`; one with no such method calls
 * `networkReceived(message)`.
 *
 * @typeParam S   the server class, for a typed `server` getter
 * @typeParam In  messages the client sends (handler payloads, `messages$`)
 * @typeParam Out messages this channel sends (`send()`)
 */
export class Channel<
  S extends Server<any> = Server<any>, // eslint-disable-line @typescript-eslint/no-explicit-any
  In extends ActionMap = UntypedActions,
  Out extends ActionMap = UntypedActions,
> {
  /** A number unique among the channels of this process; 0 for a channel without a server. */
  readonly id: number;
  /** The peer's address, `{ host, port }`. */
  readonly addr: Address;
  /** Every message this client sends, live, as it arrives; completes when the channel closes. */
  readonly messages$: Observable<Message<In>>;
  /** Heartbeat round-trip times in milliseconds (with the server's `heartbeat` option on). */
  readonly rtt$: Observable<number>;

  readonly #connection: Connection | null;
  readonly #server: S | null;
  readonly #messages = new Subject<IncomingMessage>();
  readonly #rtt = new Subject<number>();

  constructor(init?: ChannelInit) {
    this.#connection = init?.connection ?? null;
    this.#server = (init?.server as S | undefined) ?? null;
    this.id = init?.id ?? 0;
    this.addr = this.#connection?.remote ?? EMPTY_ADDRESS;
    this.messages$ = this.#messages.asObservable() as Observable<Message<In>>;
    this.rtt$ = this.#rtt.asObservable();
    if (this.#connection === null) this.completeMessages();
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

  /** Bytes accepted by `send()` and not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.#connection?.bufferedAmount ?? 0;
  }

  /**
   * Sends one message to this client. Returns the bytes queued, 4-byte header included, or 0 once
   * the channel is closing or closed.
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded as msgpack.
   */
  send(message: Message<Out>): number {
    if (this.#connection === null) return 0;
    return this.#connection.send(message);
  }

  /** Closes the channel gracefully: what was sent before is delivered, then `onClose` runs. */
  close(): void {
    this.#connection?.close();
  }

  /** Called once the channel is set up and greeted (`{ action: "connected" }` is already sent). */
  onConnect(): void {}

  /** Called exactly once when the channel has closed, however it ended. */
  onClose(): void {}

  /**
   * Called with an exception thrown by one of this channel's handlers or hooks, or with the error
   * that ended the connection. The channel keeps dispatching the following messages. Default:
   * reports it through the server's logger, or `console.error` when logging is silent.
   */
  onError(error: unknown): void {
    this.#server?.reportChannelError(this, error);
  }

  /** Called for a message that has no `Network_*` handler. Default: does nothing. */
  networkReceived(message: IncomingMessage): void {
    void message;
  }

  /** @internal Feeds `messages$`; called by the server for each valid message. */
  emitMessage(message: IncomingMessage): void {
    this.#messages.next(message);
  }

  /** @internal Feeds `rtt$`. */
  emitRtt(milliseconds: number): void {
    this.#rtt.next(milliseconds);
  }

  /** @internal Completes `messages$` and `rtt$`; called by the server when the connection has closed. */
  completeMessages(): void {
    this.#messages.complete();
    this.#rtt.complete();
  }
}
