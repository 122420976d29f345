import { Subject, type Observable } from "rxjs";
import { describeOptionValue } from "../connections/connection-options.js";
import type { RoomEvent } from "./room.js";

/** What the registry tells its server: a room got its first member, or lost its last. */
export interface RoomLifecycle {
  created(name: string): void;
  deleted(name: string): void;
}

/**
 * The rooms of one server: which channels are in which named room, and the streams of joins and
 * leaves. A room exists while it has members.
 */
export class RoomRegistry<C> {
  readonly joins$: Observable<RoomEvent<C>>;
  readonly leaves$: Observable<RoomEvent<C>>;
  private readonly rooms = new Map<string, Set<C>>();
  private readonly joins = new Subject<RoomEvent<C>>();
  private readonly leaves = new Subject<RoomEvent<C>>();

  constructor(private readonly lifecycle: RoomLifecycle) {
    this.joins$ = this.joins.asObservable();
    this.leaves$ = this.leaves.asObservable();
  }

  /** The names of the rooms that have members now. */
  get names(): readonly string[] {
    return [...this.rooms.keys()];
  }

  members(name: string): ReadonlySet<C> | undefined {
    return this.rooms.get(name);
  }

  /** Adds `channel` to `name`, creating the room; false if it was already a member. */
  join(channel: C, name: string): boolean {
    let members = this.rooms.get(name);
    if (members === undefined) {
      members = new Set();
      this.rooms.set(name, members);
      this.lifecycle.created(name);
    }
    if (members.has(channel)) return false;
    members.add(channel);
    this.joins.next({ room: name, channel });
    return true;
  }

  /** Removes `channel` from `name`; an empty room disappears. False if it was not a member. */
  leave(channel: C, name: string): boolean {
    const members = this.rooms.get(name);
    if (members === undefined || !members.delete(channel)) return false;
    if (members.size === 0) {
      this.rooms.delete(name);
      this.lifecycle.deleted(name);
    }
    this.leaves.next({ room: name, channel });
    return true;
  }
}

/** @throws {TypeError} for a room name that is not a non-empty string. */
export function checkRoomName(name: unknown): void {
  if (typeof name !== "string" || name === "") {
    throw new TypeError(`A room name must be a non-empty string, got ${describeOptionValue(name)}`);
  }
}
