import { filter, map, type Observable } from "rxjs";
import type { AnyChannel } from "../connections/channel.js";
import { checkSendOptions, type SendOptions } from "../connections/outbox.js";

/** Channels to leave out of a broadcast: one, or several. */
export type Except<C> = C | Iterable<C> | null | undefined;

/**
 * Options of `sendToAll`: who is left out, and how the message is sent to each channel
 * (`volatile`, `latest`: see {@link SendOptions}; each channel applies them to its own backlog,
 * so a slow player's stale state is replaced while the others get every message). Default: an
 * ordinary message to everyone.
 */
export interface BroadcastOptions<C> extends SendOptions {
  /** A channel, or several, that must not receive the message (typically its sender). */
  readonly except?: Except<C>;
}

/** A join or a leave, as emitted by the server's room streams. */
export interface RoomEvent<C> {
  readonly room: string;
  readonly channel: C;
}

/** What a {@link Room} view needs from its server. @internal */
export interface RoomHost<C> {
  roomMembers(name: string): ReadonlySet<C> | undefined;
  broadcastTo(
    channels: Iterable<C>,
    message: object,
    except: Except<C>,
    room: string | undefined,
    options?: SendOptions,
  ): number;
  readonly roomJoins$: Observable<RoomEvent<C>>;
  readonly roomLeaves$: Observable<RoomEvent<C>>;
}

const NO_MEMBERS: ReadonlySet<never> = new Set();

/**
 * A live view of one named room of a server, as returned by `server.room(name)`. The view can be
 * taken before the room exists; the room itself exists while it has members and disappears by
 * itself when the last one leaves (or closes).
 */
export class Room<C extends AnyChannel> {
  /** Each channel joining this room, live. */
  readonly joins$: Observable<C>;
  /** Each channel leaving this room (or closing while in it), live. */
  readonly leaves$: Observable<C>;

  /** @internal */
  constructor(
    /** The room's name, as given to `server.room(name)` and `channel.join(name)`. */
    readonly name: string,
    private readonly host: RoomHost<C>,
  ) {
    this.joins$ = host.roomJoins$.pipe(
      filter((event) => event.room === name),
      map((event) => event.channel),
    );
    this.leaves$ = host.roomLeaves$.pipe(
      filter((event) => event.room === name),
      map((event) => event.channel),
    );
  }

  /** The members now. */
  get channels(): ReadonlySet<C> {
    return this.host.roomMembers(this.name) ?? NO_MEMBERS;
  }

  /** How many members the room has now. */
  get size(): number {
    return this.channels.size;
  }

  /**
   * Sends one message to every member but `except`; encoded once however many receive it, with
   * `volatile` or `latest` applied by each member's connection (see {@link BroadcastOptions}).
   * Returns the number of channels it was queued for (a volatile message dropped for a member
   * that has a backlog does not count).
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded, or for
   *   options of the wrong type.
   */
  sendToAll(message: object, options: BroadcastOptions<C> = {}): number {
    return this.host.broadcastTo(this.channels, message, options.except, this.name, options);
  }
}

/**
 * The send options of a broadcast, checked once for all its channels: `undefined` for an ordinary
 * message, so that each channel takes the fast path.
 * @throws {TypeError} for options of the wrong type.
 */
export function toSendOptions(options: SendOptions | undefined): SendOptions | undefined {
  checkSendOptions(options);
  if (options === undefined) return undefined;
  return options.volatile === true || options.latest !== undefined ? options : undefined;
}

/** Whether `channel` is excluded by `except`. */
export function toExcluded<C>(except: Except<C>): ReadonlySet<C> | null {
  if (except === null || except === undefined) return null;
  if (typeof except === "object" && Symbol.iterator in except) return new Set(except as Iterable<C>);
  return new Set([except as C]);
}
