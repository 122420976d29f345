// The tag game's messages, shared by the server, the page and the bot (the page imports types
// only, so its bundle carries nothing of this file). What clients send is declared once as valibot
// schemas: the server checks every input against them, the types come from the same map.

import * as v from "valibot";
import type { InferActions } from "../../lib/index.js";

/** The arena, in game units (pixels on the page). */
export const ARENA_WIDTH = 800;
export const ARENA_HEIGHT = 500;
/** A player's radius; two players touch at twice this distance. */
export const PLAYER_RADIUS = 16;
/** Players per game; one more starts a new game beside it. */
export const DEFAULT_ROOM_SIZE = 4;
/** Server simulation ticks per second. */
export const DEFAULT_TICK_RATE = 30;

/** One player as the server sends it. */
export type PlayerState = {
  readonly id: number;
  readonly name: string;
  readonly color: string;
  readonly x: number;
  readonly y: number;
  /** Seconds this player has been "it" in total: the lowest wins. */
  readonly itTime: number;
};

/** One component of a direction: -1, 0 or 1. */
const Axis = v.pipe(v.number(), v.integer(), v.minValue(-1), v.maxValue(1));

/** What a client sends, as schemas: the server drops (and logs) any input that does not fit. */
export const TagClientSchemas = {
  /** The direction held, each component -1, 0 or 1. Sent when it changes. */
  input: v.object({ dx: Axis, dy: Axis }),
};

/** What a client sends: `input: { dx: number; dy: number }`, checked by the schemas above. */
export type TagClientMessages = InferActions<typeof TagClientSchemas>;

/** What the server sends. */
export type TagServerMessages = {
  /** Sent once on joining: this player's id and game (room), and the arena. */
  welcome: {
    id: number;
    room: string;
    roomSize: number;
    width: number;
    height: number;
    radius: number;
    tickRate: number;
  };
  /** The whole game, every tick, to every player of the room; `frozen`: seconds "it" still waits after a tag. */
  state: { tick: number; it: number | null; frozen: number; players: PlayerState[] };
  /** `tagger` tagged `tagged`, who is "it" now. */
  tagged: { tagger: number; tagged: number };
  /** Every game running on the server, to everyone, whenever a player joins or leaves one. */
  lobby: { games: { room: string; players: number }[] };
};
