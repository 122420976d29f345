import type { RedisChannels } from "./redis-channels.js";
import type { RedisClientLike, RedisMessageListener } from "./redis-client.js";

/**
 * Which channels the subscriber connection should be on, and the work of getting it there.
 *
 * Rooms come and go at any time, also while Redis is away or a subscription change is in flight,
 * so the adapter only records them here; {@link sync} then compares what is wanted with what
 * Redis has confirmed (`getPubSubListeners`) and sends the difference. Comparing instead of
 * replaying each change makes a sync idempotent and lets the one after a reconnection catch up
 * with everything that changed during the outage.
 */
export class RoomSubscriptions {
  /** The rooms with local members. */
  readonly #rooms = new Set<string>();
  #syncing: Promise<void> | null = null;
  #dirty = false;

  /**
   * @param channels The channel names of the game.
   * @param subscriber The subscriber connection now (`null` when there is none).
   * @param listener Receives every message of every channel subscribed here.
   */
  constructor(
    private readonly channels: RedisChannels,
    private readonly subscriber: () => RedisClientLike | null,
    private readonly listener: RedisMessageListener,
  ) {}

  /** Starts over from the rooms a server has when its adapter starts. */
  reset(rooms: Iterable<string>): void {
    this.#rooms.clear();
    for (const name of rooms) this.#rooms.add(name);
  }

  /** The room got its first local member; takes effect on the next {@link sync}. */
  add(room: string): void {
    this.#rooms.add(room);
  }

  /** The room lost its last local member; takes effect on the next {@link sync}. */
  delete(room: string): void {
    this.#rooms.delete(room);
  }

  /**
   * Makes the subscriber's channels match what is wanted now: the shared channels plus one per
   * room with local members. One run at a time; a call during a run returns that run and makes
   * it loop once more, so the promise settles only after the latest change was applied. Does
   * nothing while the subscriber is not ready (the sync after its reconnection catches up).
   * @throws (rejects) with the Redis error of a failed SUBSCRIBE or UNSUBSCRIBE.
   */
  sync(): Promise<void> {
    if (this.#syncing !== null) {
      this.#dirty = true;
      return this.#syncing;
    }
    const run = async (): Promise<void> => {
      do {
        this.#dirty = false;
        const sub = this.subscriber();
        if (sub === null || !sub.isReady) return;
        const wanted = this.channels.wanted(this.#rooms);
        const current = sub.getPubSubListeners("CHANNELS");
        const add = [...wanted].filter((channel) => !current.has(channel));
        const remove = [...current.keys()].filter((channel) => !wanted.has(channel));
        if (add.length > 0) await sub.subscribe(add, this.listener, true);
        if (remove.length > 0) await sub.unsubscribe(remove);
      } while (this.#dirty);
    };
    this.#syncing = run().finally(() => {
      this.#syncing = null;
    });
    return this.#syncing;
  }
}
