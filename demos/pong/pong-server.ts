// The pong server, server-authoritative: clients only send numbered inputs; the server applies
// them at a fixed 60 Hz tick with `dispatch: "pump"` (`server.pump()` first in each tick, so no
// handler runs in the middle of a step), moves the ball, and sends every match a snapshot stamped
// with its clock (`Date.now()`) 30 times a second, with the number of the last input it applied
// for each side: what the page needs to interpolate the ball and the other paddle, and to
// reconcile its own predicted paddle.
//
// Players are paired in matches of two. A player alone gets a computer player (a `PongBot`, over
// TCP like any native client) after `botDelay`; the next person who comes to play takes the bot's
// seat.

import { Channel, Server, type ServerOptions } from "../../lib/index.js";
import { PongBot } from "./pong-bot.js";
import { PongGame } from "./pong-game.js";
import { SNAPSHOT_RATE, TICK_RATE, type PongClientMessages, type PongServerMessages, type Side } from "./protocol.js";

/** The server's side of one player. */
export class PongChannel extends Channel<PongServer, PongClientMessages, PongServerMessages> {
  name = "";
  bot = false;
  /** The match and side of this player, once seated. */
  match: string | null = null;
  side: Side | null = null;

  Network_join(message: { name?: unknown; bot?: unknown }): void {
    if (this.match !== null) return;
    this.name = typeof message.name === "string" && message.name !== "" ? message.name.slice(0, 20) : `P${this.id}`;
    this.bot = message.bot === true;
    this.server.seat(this);
  }

  Network_input(message: { seq?: unknown; dir?: unknown }): void {
    if (this.match === null || this.side === null) return;
    this.server.game(this.match)?.input(this.side, message.seq, message.dir);
  }

  override onClose(): void {
    this.server.unseat(this);
  }
}

/** One match: its game and who sits on each side. */
interface Match {
  readonly game: PongGame;
  readonly seats: Record<Side, PongChannel | null>;
  botTimer: ReturnType<typeof setTimeout> | null;
}

/** Options of a {@link PongServer}: the library's (dispatch is always `"pump"`), plus the game's. */
export interface PongServerOptions extends Omit<ServerOptions<PongChannel>, "dispatch"> {
  /** Milliseconds a player waits alone before a bot joins; `null` for no bots. Default 1,500. */
  readonly botDelay?: number | null;
  /** The ball's speed at each serve, in units per second. Default 380. */
  readonly serveSpeed?: number;
  /** Receives one line per join, leave and point. Default `console.log`. */
  readonly log?: (line: string) => void;
}

const SIDES = ["left", "right"] as const;

const other = (side: Side): Side => (side === "left" ? "right" : "left");

/** The pong server. `start()` also starts the tick loop; `stop()` ends it and its bots. */
export class PongServer extends Server<PongChannel> {
  override channelClass = PongChannel;
  readonly botDelay: number | null;
  private readonly serveSpeed: number | undefined;
  private readonly matches = new Map<string, Match>();
  private readonly bots = new Set<PongBot>();
  private readonly log: (line: string) => void;
  private loop: ReturnType<typeof setInterval> | null = null;
  private ticks = 0;
  private matchesCreated = 0;

  constructor(options: PongServerOptions = {}) {
    const { botDelay = 1_500, serveSpeed, log = console.log, ...serverOptions } = options;
    super({ ...serverOptions, dispatch: "pump" });
    if (botDelay !== null && !(botDelay >= 0 && botDelay < 2 ** 31))
      throw new RangeError(`botDelay must be a number of milliseconds of at least 0, or null, got ${botDelay}`);
    this.botDelay = botDelay;
    this.serveSpeed = serveSpeed;
    this.log = log;
  }

  override async start(): Promise<void> {
    await super.start();
    this.loop = setInterval(() => this.tick(), 1000 / TICK_RATE);
  }

  override async stop(): Promise<void> {
    if (this.loop !== null) clearInterval(this.loop);
    this.loop = null;
    for (const match of this.matches.values()) if (match.botTimer !== null) clearTimeout(match.botTimer);
    for (const bot of this.bots) bot.close();
    this.bots.clear();
    await super.stop();
  }

  /** The game of `match`, if it is still played. */
  game(match: string): PongGame | undefined {
    return this.matches.get(match)?.game;
  }

  /** The bots this server started and that still play. */
  get botPlayers(): readonly PongBot[] {
    return [...this.bots];
  }

  /** Every match: its name and who plays each side (`null`: an empty seat). */
  get lineup(): { match: string; left: string | null; right: string | null }[] {
    return [...this.matches].map(([match, { seats }]) => ({
      match,
      left: seats.left?.name ?? null,
      right: seats.right?.name ?? null,
    }));
  }

  /**
   * One tick of the classic game loop at 60 Hz: run the handlers of everything that arrived since
   * the last tick (joins, inputs, leaves), let the bots play, advance every match by one fixed
   * step, and every other tick send each match its snapshot.
   */
  tick(): void {
    this.pump();
    for (const bot of this.bots) {
      bot.pump();
      if (bot.ended) this.bots.delete(bot);
      else bot.play();
    }
    this.ticks++;
    const snapshot = this.ticks % (TICK_RATE / SNAPSHOT_RATE) === 0;
    const time = Date.now();
    for (const [name, { game }] of this.matches) {
      const scorer = game.step(1 / TICK_RATE);
      if (scorer !== null) {
        this.log(`${name}: ${scorer} scores, ${game.score.left}-${game.score.right}`);
        this.room(name).sendToAll({ action: "scored", side: scorer, score: { ...game.score } });
      }
      if (snapshot) this.room(name).sendToAll({ action: "state", ...game.snapshot(time) });
    }
  }

  /**
   * Seats a player: beside someone waiting, else (a person) in a bot's seat, else in a new match.
   * Two bots play each other until a person comes to take a seat.
   */
  seat(channel: PongChannel): void {
    const open = (seats: Match["seats"]): boolean => seats.left === null || seats.right === null;
    // A bot goes to a person waiting first (the server called it for them), else to another bot.
    const waiting = channel.bot
      ? (this.find((seats) => open(seats) && (seats.left ?? seats.right)?.bot === false) ?? this.find(open))
      : this.find(open);
    const withBot = channel.bot
      ? undefined
      : this.find((seats) => seats.left?.bot === true || seats.right?.bot === true);
    let name: string;
    let side: Side;
    if (waiting !== undefined) {
      [name] = waiting;
      side = waiting[1].seats.left === null ? "left" : "right";
    } else if (withBot !== undefined) {
      [name] = withBot;
      side = withBot[1].seats.left?.bot === true ? "left" : "right";
      const bot = withBot[1].seats[side]!;
      withBot[1].seats[side] = null;
      // Its connection closes; its onClose finds its seat taken and does nothing more.
      bot.close();
      this.log(`${name}: ${bot.name} leaves its seat to ${channel.name}`);
    } else {
      name = `match-${++this.matchesCreated}`;
      this.matches.set(name, {
        game: new PongGame({ serveSpeed: this.serveSpeed }),
        seats: { left: null, right: null },
        botTimer: null,
      });
      side = "left";
    }
    const match = this.matches.get(name)!;
    match.seats[side] = channel;
    match.game.reset(side);
    channel.match = name;
    channel.side = side;
    channel.join(name);
    channel.send({ action: "welcome", side, match: name, tickRate: TICK_RATE, snapshotRate: SNAPSHOT_RATE });
    this.log(`${name}: ${channel.name} plays ${side} (from ${channel.addr.host}:${channel.addr.port})`);
    this.lineupChanged(name, match);
  }

  /** Takes a leaving player out of its match; a match left to nobody (or to a bot alone) ends. */
  unseat(channel: PongChannel): void {
    const name = channel.match;
    const match = name === null ? undefined : this.matches.get(name);
    if (name === null || match === undefined || channel.side === null || match.seats[channel.side] !== channel) return;
    match.seats[channel.side] = null;
    this.log(`${name}: ${channel.name} left`);
    const stays = match.seats[other(channel.side)];
    if (stays === null || stays.bot) {
      if (match.botTimer !== null) clearTimeout(match.botTimer);
      this.matches.delete(name);
      stays?.close();
      return;
    }
    this.lineupChanged(name, match);
  }

  /** The first match whose seats pass `test`. */
  private find(test: (seats: Match["seats"]) => boolean): [string, Match] | undefined {
    for (const entry of this.matches) if (test(entry[1].seats)) return entry;
    return undefined;
  }

  /** Tells both sides who they play, and starts play or waits (calling a bot) for the seat to fill. */
  private lineupChanged(name: string, match: Match): void {
    for (const side of SIDES) {
      const facing = match.seats[other(side)];
      match.seats[side]?.send({ action: "opponent", name: facing?.name ?? null, bot: facing?.bot ?? false });
    }
    if (match.botTimer !== null) clearTimeout(match.botTimer);
    match.botTimer = null;
    if (match.seats.left !== null && match.seats.right !== null) {
      match.game.start();
      return;
    }
    match.game.stop();
    const alone = match.seats.left ?? match.seats.right;
    if (this.botDelay !== null && alone !== null && !alone.bot) {
      match.botTimer = setTimeout(() => {
        match.botTimer = null;
        this.callBot();
      }, this.botDelay);
    }
  }

  /** Starts a bot that connects over TCP like any native client; it is seated beside the player who waits. */
  private callBot(): void {
    const bot = new PongBot();
    this.bots.add(bot);
    const host = this.host === "0.0.0.0" || this.host === "::" ? "127.0.0.1" : this.host;
    bot.connect(host, this.port);
  }
}
