// The tag game's server, server-authoritative: clients only send the direction they hold; the
// server simulates every game at a fixed tick and sends each game its state. It shows the classic
// pump loop on the server side: `dispatch: "pump"` holds every message until `server.pump()`,
// which the tick calls first, so input handlers never run in the middle of a simulation step.
//
// Players are seated in rooms of `roomSize`: when every game is full, the next player starts a new
// one beside the others. Each room has its own TagGame and gets only its own state.

import { Channel, Server, schemaValidation, type Message, type ServerOptions } from "../../lib/index.js";
import {
  DEFAULT_ROOM_SIZE,
  DEFAULT_TICK_RATE,
  ARENA_HEIGHT,
  ARENA_WIDTH,
  PLAYER_RADIUS,
  TagClientSchemas,
  type TagClientMessages,
  type TagServerMessages,
} from "./protocol.js";
import { TagGame } from "./tag-game.js";

/** The server's side of one player. */
export class TagChannel extends Channel<TagServer, TagClientMessages, TagServerMessages> {
  /** The room of this player's game, or `null` before it is seated. */
  game: string | null = null;

  // In pump mode the hooks run inside server.pump() too, between two simulation steps.
  override onConnect(): void {
    this.server.seat(this);
  }

  // Only input that passed its schema gets here: dx and dy are -1, 0 or 1.
  Network_input(message: Message<TagClientMessages, "input">): void {
    if (this.game !== null) this.server.game(this.game)?.steer(this.id, message.dx, message.dy);
  }

  override onClose(): void {
    this.server.unseat(this);
  }
}

/** Options of a {@link TagServer}: the library's (dispatch is always `"pump"`), plus the game's. */
export interface TagServerOptions extends Omit<ServerOptions<TagChannel>, "dispatch"> {
  /** Players per game. Default 4. */
  readonly roomSize?: number;
  /** Simulation ticks per second. Default 30. */
  readonly tickRate?: number;
  /** Receives one line per join, leave and tag. Default `console.log`. */
  readonly log?: (line: string) => void;
}

/** The tag server. `start()` also starts the tick loop; `stop()` ends it. */
export class TagServer extends Server<TagChannel> {
  override channelClass = TagChannel;
  readonly roomSize: number;
  readonly tickRate: number;
  private readonly games = new Map<string, TagGame>();
  private readonly log: (line: string) => void;
  private loop: ReturnType<typeof setInterval> | null = null;
  private gamesCreated = 0;

  constructor(options: TagServerOptions = {}) {
    const { roomSize = DEFAULT_ROOM_SIZE, tickRate = DEFAULT_TICK_RATE, log = console.log, ...serverOptions } = options;
    // Player input is checked against its schema before `Network_input` sees it.
    super({ validation: schemaValidation(TagClientSchemas), ...serverOptions, dispatch: "pump" });
    if (!Number.isInteger(roomSize) || roomSize < 1)
      throw new RangeError(`roomSize must be an integer of at least 1, got ${roomSize}`);
    if (!(tickRate > 0 && tickRate <= 240))
      throw new RangeError(`tickRate must be a number of ticks per second from 1 to 240, got ${tickRate}`);
    this.roomSize = roomSize;
    this.tickRate = tickRate;
    this.log = log;
  }

  override async start(): Promise<void> {
    await super.start();
    this.loop = setInterval(() => this.tick(), 1000 / this.tickRate);
  }

  override async stop(): Promise<void> {
    if (this.loop !== null) clearInterval(this.loop);
    this.loop = null;
    await super.stop();
  }

  /** The game played in `room`, if any. */
  game(room: string): TagGame | undefined {
    return this.games.get(room);
  }

  /** Every game: its room and number of players, oldest first. */
  get lobby(): { room: string; players: number }[] {
    return [...this.games].map(([room, game]) => ({ room, players: game.size }));
  }

  /**
   * One tick of the classic game loop, at a fixed rate: run the handlers of every message that
   * arrived since the last tick (inputs, joins, leaves), advance every game by one fixed step, then
   * send each room its new state (encoded once per room).
   */
  tick(): void {
    this.pump();
    const dt = 1 / this.tickRate;
    for (const [room, game] of this.games) {
      for (const tag of game.step(dt)) {
        this.log(`${room}: P${tag.tagger} tagged P${tag.tagged}`);
        this.room(room).sendToAll({ action: "tagged", ...tag });
      }
      this.room(room).sendToAll({ action: "state", ...game.snapshot() });
    }
  }

  /** Seats a new player in the first game with a free place, or in a new game. */
  seat(channel: TagChannel): void {
    let room = [...this.games].find(([, game]) => game.size < this.roomSize)?.[0];
    if (room === undefined) {
      room = `game-${++this.gamesCreated}`;
      this.games.set(room, new TagGame());
    }
    const game = this.games.get(room)!;
    game.add(channel.id);
    channel.game = room;
    channel.join(room);
    channel.send({
      action: "welcome",
      id: channel.id,
      room,
      roomSize: this.roomSize,
      width: ARENA_WIDTH,
      height: ARENA_HEIGHT,
      radius: PLAYER_RADIUS,
      tickRate: this.tickRate,
    });
    this.log(
      `${room}: P${channel.id} joined from ${channel.addr.host}:${channel.addr.port} (${game.size}/${this.roomSize})`,
    );
    this.sendLobby();
  }

  /** Takes a leaving player out of its game; an empty game ends (its room is already gone). */
  unseat(channel: TagChannel): void {
    if (channel.game === null) return;
    const game = this.games.get(channel.game);
    game?.remove(channel.id);
    if (game !== undefined && game.size === 0) this.games.delete(channel.game);
    this.log(`${channel.game}: P${channel.id} left (${game?.size ?? 0}/${this.roomSize})`);
    channel.game = null;
    this.sendLobby();
  }

  /** Tells everyone, whatever their game, which games are running. */
  private sendLobby(): void {
    this.sendToAll({ action: "lobby", games: this.lobby });
  }
}
