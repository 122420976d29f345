// The whiteboard's server: every stroke is relayed live to everyone on the same board (a room),
// in its author's colour, and kept so that a late joiner receives the drawing so far. Several
// boards run side by side: a page joins the board named in its address (`/?board=name`).

import { Channel, Server, type ServerOptions } from "../../lib/index.js";
import {
  BOARD_HEIGHT,
  BOARD_WIDTH,
  DEFAULT_BOARD,
  type Point,
  type Stroke,
  type WhiteboardClientMessages,
  type WhiteboardServerMessages,
} from "./protocol.js";

/** Colours handed out to the people on a board, each distinct while there are fewer than 12. */
export const PALETTE = [
  "#e6194b",
  "#3cb44b",
  "#4363d8",
  "#f58231",
  "#911eb4",
  "#42d4f4",
  "#f032e6",
  "#9a6324",
  "#469990",
  "#808000",
  "#000075",
  "#800000",
] as const;
/** Points a board keeps; beyond, its oldest strokes are dropped. */
export const MAX_POINTS_PER_BOARD = 100_000;
/** Boards a server keeps; a client asking for one more draws on the default board. */
export const MAX_BOARDS = 64;

/** One board: its strokes, oldest first. */
class Board {
  readonly strokes: Stroke[] = [];
  private points = 0;

  constructor(readonly name: string) {}

  begin(author: number, color: string, point: Point): Stroke {
    const stroke: Stroke = { author, color, points: [point] };
    this.strokes.push(stroke);
    this.added();
    return stroke;
  }

  extend(stroke: Stroke, point: Point): void {
    stroke.points.push(point);
    this.added();
  }

  clear(): void {
    this.strokes.length = 0;
    this.points = 0;
  }

  private added(): void {
    this.points++;
    while (this.points > MAX_POINTS_PER_BOARD && this.strokes.length > 1) {
      this.points -= this.strokes.shift()?.points.length ?? 0;
    }
  }
}

/** The server's side of one drawing page. */
export class WhiteboardChannel extends Channel<WhiteboardServer, WhiteboardClientMessages, WhiteboardServerMessages> {
  /** This client's colour on its board; set when it joins one. */
  color: string = PALETTE[0];
  /** The board this client draws on, or `null` before it joins one. */
  board: Board | null = null;
  /** The stroke being drawn, or `null` between strokes. */
  stroke: Stroke | null = null;

  Network_board(message: { name?: unknown }): void {
    if (this.board === null) this.server.enter(this, boardName(message.name));
  }

  Network_startline(message: { point?: unknown }): void {
    const point = toPoint(message.point);
    if (point === null) return;
    const board = this.board ?? this.server.enter(this, DEFAULT_BOARD);
    this.stroke = board.begin(this.id, this.color, point);
    this.server
      .room(board.name)
      .sendToAll({ action: "startline", author: this.id, color: this.color, point }, { except: this });
  }

  Network_drawpoint(message: { point?: unknown }): void {
    const point = toPoint(message.point);
    if (point === null) return;
    if (this.stroke === null || this.board === null) {
      this.Network_startline({ point });
      return;
    }
    this.board.extend(this.stroke, point);
    this.server.room(this.board.name).sendToAll({ action: "drawpoint", author: this.id, point }, { except: this });
  }

  Network_clear(): void {
    if (this.board === null) return;
    this.board.clear();
    for (const member of this.server.room(this.board.name).channels) member.stroke = null;
    this.server.room(this.board.name).sendToAll({ action: "clear", author: this.id }, { except: this });
  }

  override onClose(): void {
    if (this.board !== null) this.server.sendPlayers(this.board.name);
  }
}

/** Options of a {@link WhiteboardServer}: the library's, plus where to print. */
export interface WhiteboardServerOptions extends ServerOptions<WhiteboardChannel> {
  /** Receives one line per join and leave. Default `console.log`. */
  readonly log?: (line: string) => void;
}

/** The whiteboard server. */
export class WhiteboardServer extends Server<WhiteboardChannel> {
  override channelClass = WhiteboardChannel;
  private readonly boards = new Map<string, Board>();
  private readonly log: (line: string) => void;

  constructor(options: WhiteboardServerOptions = {}) {
    const { log = console.log, ...serverOptions } = options;
    super(serverOptions);
    this.log = log;
  }

  /** The names of the boards drawn on so far. */
  get boardNames(): string[] {
    return [...this.boards.keys()];
  }

  /** Puts `channel` on the board `name` with a colour of its own, and sends it the drawing so far. */
  enter(channel: WhiteboardChannel, name: string): Board {
    let board = this.boards.get(name);
    if (board === undefined) {
      if (this.boards.size >= MAX_BOARDS && name !== DEFAULT_BOARD) return this.enter(channel, DEFAULT_BOARD);
      board = new Board(name);
      this.boards.set(name, board);
    }
    const room = this.room(name);
    const taken = new Set([...room.channels].map((member) => member.color));
    channel.color = PALETTE.find((color) => !taken.has(color)) ?? PALETTE[room.size % PALETTE.length] ?? PALETTE[0];
    channel.board = board;
    channel.join(name);
    channel.send({ action: "welcome", id: channel.id, color: channel.color, board: name, strokes: board.strokes });
    this.sendPlayers(name);
    this.log(`board ${name}: client ${channel.id} joined in ${channel.color} (${room.size} drawing)`);
    return board;
  }

  /** Tells everyone on a board who is there. */
  sendPlayers(name: string): void {
    const room = this.room(name);
    room.sendToAll({ action: "players", colors: [...room.channels].map((member) => member.color) });
  }

  override onDisconnect(channel: WhiteboardChannel): void {
    if (channel.board !== null)
      this.log(
        `board ${channel.board.name}: client ${channel.id} left (${this.room(channel.board.name).size} drawing)`,
      );
  }
}

/** A board name from a page: letters, digits, `-` and `_`, at most 32; anything else is the default. */
export function boardName(value: unknown): string {
  if (typeof value !== "string") return DEFAULT_BOARD;
  const name = value.trim().toLowerCase();
  return /^[a-z0-9_-]{1,32}$/.test(name) ? name : DEFAULT_BOARD;
}

/** A point from the network, rounded and clamped to the board; `null` for anything else. */
export function toPoint(value: unknown): Point | null {
  if (!Array.isArray(value) || value.length !== 2) return null;
  const [x, y] = value as unknown[];
  if (typeof x !== "number" || typeof y !== "number" || !Number.isFinite(x) || !Number.isFinite(y)) return null;
  return [Math.round(Math.min(BOARD_WIDTH, Math.max(0, x))), Math.round(Math.min(BOARD_HEIGHT, Math.max(0, y)))];
}
