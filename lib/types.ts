import type { Observable } from "rxjs";

/**
 * The protocol of one direction of a connection: each key is an action name, each value the
 * fields that travel with it. For example
 * `interface ServerMessages { chat: { text: string }; move: { x: number; y: number } }`.
 */
// `object`, not `{ [action: string]: object }`: an interface has no implicit index signature, so
// the index-signature form rejected exactly the `interface ServerMessages { ... }` shown above.
export type ActionMap = object;

/**
 * The map used when no protocol is declared: any action, any fields. The fields are `any` so
 * that untyped code reads them freely and any object type with an `action` can be sent.
 */
export interface UntypedActions {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [action: string]: Record<string, any>;
}

/**
 * A message of action `K` of protocol `M`: `{ action: K, ...fields }`. With `K` left out, the
 * union of every message of the protocol, which is what `send()` accepts.
 */
export type Message<M extends ActionMap = UntypedActions, K extends keyof M = keyof M> = K extends keyof M & string
  ? {
      /** The action: the receiver runs `Network_<action>(message)`. */
      action: K;
    } & M[K]
  : never;

/**
 * The action map behind a union of messages, the inverse of {@link Message}: each action of `U`
 * and its fields, `ActionsOf<Message<M>>` being `M` again for a typed protocol.
 */
export type ActionsOf<U> = {
  [K in U extends Message<UntypedActions, infer A> ? A : never]: Omit<Extract<U, Message<UntypedActions, K>>, "action">;
};

/**
 * Every message a receiver of protocol `In` may get: `In`'s messages and the built-in actions.
 * Untyped (`In` with a string index), any message with an `action`, any fields.
 */
export type Received<In extends ActionMap> = string extends keyof In
  ? Message<UntypedActions>
  : Message<In & BuiltInActions>;

/** A decoded message as it arrives from the network before its action has been looked at. */
export type IncomingMessage = {
  /** The action, not checked yet: a peer may send anything, or nothing, here. */
  action?: unknown;
  [key: string]: unknown;
};

/** The actions every connection delivers besides the peer's own messages. */
export interface BuiltInActions {
  /** The connection is open: `send()` now writes straight to the peer. */
  connected: Record<never, never>;
  /** Delivered right after `connected`, as repod and PodSixNet do. */
  socketConnect: Record<never, never>;
  /** The connection ended; delivered exactly once per opened connection. */
  disconnected: Record<never, never>;
  /** The connection failed, was refused, or failed after opening. */
  error: {
    /** A readable reason, e.g. `connect ECONNREFUSED 127.0.0.1:5071`. */
    error: string;
    /** The stable code of the failure, e.g. `ERR_SERVER_FULL`, when it has one. */
    code?: string;
  };
  /**
   * With a resumable session: the connection dropped and the client is coming back to its seat
   * (show "reconnecting..."); nothing sent either way in the meantime is lost. Why it dropped.
   */
  dropped: {
    /** A readable reason for the drop. */
    error: string;
    /** The stable code of the drop, e.g. `ERR_HEARTBEAT_TIMEOUT`, when it has one. */
    code?: string;
  };
  /** With a resumable session: the client is back in its seat; what it missed follows. */
  resumed: Record<never, never>;
}

/**
 * The `Network_*` handlers a class may define for protocol `M`; `implements NetworkHandlers<M>`
 * makes the compiler check every handler's payload and, for an action that declares its reply
 * ({@link WithReply}), what the handler answers: the reply, a Promise or an Observable of it, or
 * nothing (no reply is sent).
 */
export type NetworkHandlers<M extends ActionMap> = {
  [K in keyof M & string as `Network_${K}`]?: (
    message: Message<M, K>,
  ) => ReplyOf<M, K> | PromiseLike<ReplyOf<M, K>> | Observable<ReplyOf<M, K>> | void;
};

/**
 * The key under which an action map declares the type of the reply to a request of an action: a
 * phantom, optional key of the action's fields that no message ever carries. Declared for the
 * compiler only (there is no such value at run time), so it is exported as a type: write
 * {@link WithReply} rather than use it directly.
 */
export declare const replyType: unique symbol;

/**
 * The fields `F` of an action that is asked as a request and answered with an `R`, for a
 * hand-written action map: `interface ClientMessages { join: WithReply<{ room: string }, { seat: number }> }`.
 * Then `request({ action: "join", room })` is an `Observable<{ seat: number }>`, and a
 * `Network_join` handler checked by {@link NetworkHandlers} answers a `{ seat: number }`. Sending
 * the message with `send()` is unchanged. A schema map declares the same with `withReply`.
 */
export type WithReply<F extends object, R> = F & {
  /** The reply's type, for the compiler only: never present in a message. */
  readonly [replyType]?: R;
};

/**
 * The reply type that action `K` of protocol `M` declares with {@link WithReply}, or `unknown`
 * when it declares none (and for an untyped protocol).
 */
export type ReplyOf<M extends ActionMap, K extends keyof M> = M[K] extends WithReply<object, infer R> ? R : unknown;

/** Where a peer is. */
export interface Address {
  /** The peer's IP address (`"local"` for an in-memory connection). */
  readonly host: string;
  /** The peer's port (0 for an in-memory connection). */
  readonly port: number;
}

/**
 * What `request()` emits: `R` when it is given (`request<number>(message)`), else, with `R` left at
 * its default (`typeof replyType`, which stands for "not given"), the reply that action `K` of the
 * sender's protocol `M` declares ({@link ReplyOf}): `unknown` when it declares none.
 */
export type RequestResult<R, M extends ActionMap, K extends keyof M> = [R] extends [typeof replyType]
  ? ReplyOf<M, K>
  : R;
