// The whiteboard's messages, shared by the server and the page (types and constants only, so the
// page's bundle imports nothing from Node).

/** A point on the board, in board pixels: `[x, y]`. */
export type Point = [x: number, y: number];

/** One stroke: who drew it, in which colour, through which points. */
export interface Stroke {
  readonly author: number;
  readonly color: string;
  readonly points: Point[];
}

/** Size of every board, in board pixels; pages scale it to fit. */
export const BOARD_WIDTH = 960;
export const BOARD_HEIGHT = 600;
/** The board a page opens without `?board=name`. */
export const DEFAULT_BOARD = "main";

/** What a page sends. */
export type WhiteboardClientMessages = {
  /** Joins a board (a room); sent first. Without it, a client draws on the default board. */
  board: { name: string };
  /** Starts a stroke at `point`. */
  startline: { point: Point };
  /** Extends the current stroke to `point`. */
  drawpoint: { point: Point };
  /** Wipes the board for everyone on it. */
  clear: Record<never, never>;
};

/** What the server sends. */
export type WhiteboardServerMessages = {
  /** Sent on joining a board: this client's id and colour, and the drawing so far. */
  welcome: { id: number; color: string; board: string; strokes: Stroke[] };
  /** Someone else started a stroke. */
  startline: { author: number; color: string; point: Point };
  /** Someone else extended their stroke. */
  drawpoint: { author: number; point: Point };
  /** Someone wiped the board. */
  clear: { author: number };
  /** The colours of everyone on the board, sent whenever someone joins or leaves. */
  players: { colors: string[] };
};
