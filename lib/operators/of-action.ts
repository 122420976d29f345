import { filter, type ObservedValueOf, type OperatorFunction } from "rxjs";
import type { AnyChannel } from "../connections/channel.js";

/** The tag every message carries: its action. */
export interface ActionTag<A> {
  /** The action name, e.g. `"move"`. */
  readonly action: A;
}

/** A message with the channel it came from, as `server.messages$` emits it. */
export interface ChannelPair<C, M> {
  /** The channel the message came from. */
  readonly channel: C;
  /** The message. */
  readonly message: M;
}

/**
 * The message an element of `T` carries: the element itself for a message (`messages$`, `on()`),
 * or, for a `{ channel, message }` pair (`server.messages$`), the message as typed by the channel
 * class's own `messages$`.
 */
export type CarriedMessage<T> =
  T extends ActionTag<unknown>
    ? T
    : T extends ChannelPair<infer C, infer M>
      ? C extends AnyChannel
        ? ObservedValueOf<C["messages$"]>
        : M
      : T;

/** The action names an element of `T` may carry: every name for an untyped stream. */
export type ActionName<T> =
  CarriedMessage<T> extends infer M ? (M extends ActionTag<infer A> ? (A extends string ? A : string) : string) : never;

/** Message `M` narrowed to actions `K`; an untyped message gets the literal action. */
export type NarrowedMessage<M, K extends string> =
  M extends ActionTag<infer A>
    ? string extends A
      ? M & ActionTag<K>
      : M extends ActionTag<K>
        ? M
        : never
    : M & ActionTag<K>;

/** Element `T` narrowed to actions `K`: the message itself, or the pair with its message narrowed. */
export type WithAction<T, K extends string> =
  T extends ActionTag<unknown>
    ? NarrowedMessage<T, K>
    : T extends ChannelPair<infer C, unknown>
      ? ChannelPair<C, NarrowedMessage<CarriedMessage<T>, K>>
      : NarrowedMessage<T, K>;

/**
 * Lets through the messages whose action is one of `actions`, with the output type narrowed to
 * those messages. Works on every message stream of the library: a listener's or a client's
 * `messages$`, `on()`, a channel's `messages$`, and `server.messages$`, whose `{ channel, message }`
 * pairs are filtered by their message (typed by the channel class).
 *
 * ```ts
 * listener.messages$.pipe(ofAction("move", "jump")); // Observable<Message<In, "move" | "jump">>
 * server.messages$.pipe(ofAction("chat")); // { channel: ChatChannel; message: Message<In, "chat"> }
 * ```
 */
export function ofAction<T, K extends ActionName<T>>(...actions: [K, ...K[]]): OperatorFunction<T, WithAction<T, K>> {
  // One or two actions is the common case: a comparison beats a Set lookup there.
  const [first, second] = actions;
  const matches =
    actions.length === 1
      ? (action: unknown) => action === first
      : actions.length === 2
        ? (action: unknown) => action === first || action === second
        : (
            (set: ReadonlySet<unknown>) => (action: unknown) =>
              set.has(action)
          )(new Set<unknown>(actions));
  return filter((element: T): element is T & WithAction<T, K> => matches(actionOf(element))) as OperatorFunction<
    T,
    WithAction<T, K>
  >;
}

/** The action of a message, or of the message of a `{ channel, message }` pair. */
function actionOf(element: unknown): unknown {
  if (typeof element !== "object" || element === null) return undefined;
  // A message's own `action` wins: a chat message may well have a `message` field.
  if ("action" in element) return element.action;
  if ("channel" in element && "message" in element) {
    const message = element.message;
    return typeof message === "object" && message !== null && "action" in message ? message.action : undefined;
  }
  return undefined;
}
