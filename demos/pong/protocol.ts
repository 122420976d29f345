// The pong game's messages and rules shared by the server, the page and the bot (types, constants
// and pure functions only, so the page's bundle imports nothing from Node). `movePaddle` is the
// one rule both sides run: the server to apply an input, the page to predict it.

/** The field, in game units (pixels on the page). */
export const FIELD_WIDTH = 800;
export const FIELD_HEIGHT = 480;
/** A paddle's size and the distance of its face from its own end of the field. */
export const PADDLE_HEIGHT = 90;
export const PADDLE_WIDTH = 12;
export const PADDLE_INSET = 24;
export const BALL_RADIUS = 8;
/** Units a paddle moves per input: one input per tick while a key is held. */
export const PADDLE_STEP = 7;
/** Server simulation ticks per second; each tick applies at most this many inputs per player. */
export const TICK_RATE = 60;
export const INPUTS_PER_TICK = 2;
/** Snapshots per second sent to the players (every other tick). */
export const SNAPSHOT_RATE = 30;

/** A side of the field. */
export type Side = "left" | "right";

/** Where `side`'s paddle is after one input `dir` (-1 up, 1 down): the rule shared by server and page. */
export function movePaddle(y: number, dir: number): number {
  const half = PADDLE_HEIGHT / 2;
  return Math.min(FIELD_HEIGHT - half, Math.max(half, y + Math.sign(dir) * PADDLE_STEP));
}

/** What a client sends. */
export type PongClientMessages = {
  /** Sent once, first: who plays. A `bot` gives its seat up to a person who comes to play. */
  join: { name: string; bot?: boolean };
  /** One input per tick while a key is held, numbered from 1 (see `numberInputs`). */
  input: { seq: number; dir: number };
};

/** One snapshot of a match, stamped with the server's clock. */
export type PongState = {
  /** The server's `Date.now()` when the snapshot was taken. */
  time: number;
  tick: number;
  ball: { x: number; y: number };
  /** The centre of each paddle. */
  paddles: { left: number; right: number };
  /** The number of the last input the server applied, per side. */
  acks: { left: number; right: number };
  score: { left: number; right: number };
  /** Whether the ball is in play (false while a side waits for an opponent). */
  playing: boolean;
};

/** What the server sends. */
export type PongServerMessages = {
  /** Sent on joining: this player's side and match. */
  welcome: { side: Side; match: string; tickRate: number; snapshotRate: number };
  /** The match, `SNAPSHOT_RATE` times a second. */
  state: PongState;
  /** Who plays the other side (`null`: nobody yet). */
  opponent: { name: string | null; bot: boolean };
  /** `side` scored. */
  scored: { side: Side; score: { left: number; right: number } };
};
