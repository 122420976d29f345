// One game of tag, without any networking: players, who is "it", movement, tagging. The server
// runs one per room and steps them all at a fixed tick.

import { ARENA_HEIGHT, ARENA_WIDTH, PLAYER_RADIUS, type PlayerState } from "./protocol.js";

/** Speed of every player, in units per second. */
export const PLAYER_SPEED = 220;
/**
 * Seconds after a tag during which the new "it" stands still and cannot tag: the others get a
 * head start, so there is no tagging straight back.
 */
export const TAG_COOLDOWN = 1.5;

const COLORS = ["#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#469990"] as const;

interface Player {
  readonly id: number;
  readonly name: string;
  readonly color: string;
  x: number;
  y: number;
  dx: number;
  dy: number;
  itTime: number;
}

/** A tag that happened during a step. */
export interface TagEvent {
  readonly tagger: number;
  readonly tagged: number;
}

/** One game of tag. Time only advances through {@link TagGame.step}, so it is deterministic. */
export class TagGame {
  private readonly players = new Map<number, Player>();
  private itId: number | null = null;
  private cooldown = 0;
  private ticks = 0;

  /** @param random the source of spawn positions; inject one for repeatable games. */
  constructor(private readonly random: () => number = Math.random) {}

  /** How many players are in this game. */
  get size(): number {
    return this.players.size;
  }

  /** The id of the player who is "it", or `null` in an empty game. */
  get it(): number | null {
    return this.itId;
  }

  /** Adds a player at a free spot; the first player of a game is "it". */
  add(id: number, name = `P${id}`): void {
    const used = new Set([...this.players.values()].map((player) => player.color));
    const color = COLORS.find((candidate) => !used.has(candidate)) ?? COLORS[id % COLORS.length] ?? COLORS[0];
    const { x, y } = this.spawnPoint();
    this.players.set(id, { id, name, color, x, y, dx: 0, dy: 0, itTime: 0 });
    if (this.itId === null) this.itId = id;
  }

  /** Removes a player; if it was "it", the player who has been "it" the least takes over (after a pause). */
  remove(id: number): void {
    this.players.delete(id);
    if (this.itId !== id) return;
    const next = [...this.players.values()].sort((a, b) => a.itTime - b.itTime)[0];
    this.itId = next?.id ?? null;
    this.cooldown = TAG_COOLDOWN;
  }

  /** Sets the direction a player holds; each component is clamped to -1, 0 or 1. */
  steer(id: number, dx: unknown, dy: unknown): void {
    const player = this.players.get(id);
    if (player === undefined) return;
    player.dx = unit(dx);
    player.dy = unit(dy);
  }

  /** Advances the game by `dt` seconds: moves everyone, then lets "it" tag. Returns the tags. */
  step(dt: number): TagEvent[] {
    this.ticks++;
    this.cooldown = Math.max(0, this.cooldown - dt);
    for (const player of this.players.values()) {
      if (player.id === this.itId && this.cooldown > 0) continue;
      const length = Math.hypot(player.dx, player.dy);
      if (length > 0) {
        player.x = clamp(
          player.x + (player.dx / length) * PLAYER_SPEED * dt,
          PLAYER_RADIUS,
          ARENA_WIDTH - PLAYER_RADIUS,
        );
        player.y = clamp(
          player.y + (player.dy / length) * PLAYER_SPEED * dt,
          PLAYER_RADIUS,
          ARENA_HEIGHT - PLAYER_RADIUS,
        );
      }
    }
    const it = this.itId === null ? undefined : this.players.get(this.itId);
    if (it === undefined) return [];
    it.itTime += dt;
    if (this.cooldown > 0) return [];
    for (const other of this.players.values()) {
      if (other === it || Math.hypot(other.x - it.x, other.y - it.y) >= PLAYER_RADIUS * 2) continue;
      this.itId = other.id;
      this.cooldown = TAG_COOLDOWN;
      return [{ tagger: it.id, tagged: other.id }];
    }
    return [];
  }

  /** The game as sent to its players. */
  snapshot(): { tick: number; it: number | null; frozen: number; players: PlayerState[] } {
    const players = [...this.players.values()].map(({ id, name, color, x, y, itTime }) => ({
      id,
      name,
      color,
      x: Math.round(x * 10) / 10,
      y: Math.round(y * 10) / 10,
      itTime: Math.round(itTime * 10) / 10,
    }));
    return { tick: this.ticks, it: this.itId, frozen: Math.round(this.cooldown * 10) / 10, players };
  }

  /** A spot away from everyone (the best of a few random tries). */
  private spawnPoint(): { x: number; y: number } {
    let best = { x: ARENA_WIDTH / 2, y: ARENA_HEIGHT / 2 };
    let bestDistance = -1;
    for (let attempt = 0; attempt < 12; attempt++) {
      const x = PLAYER_RADIUS + this.random() * (ARENA_WIDTH - 2 * PLAYER_RADIUS);
      const y = PLAYER_RADIUS + this.random() * (ARENA_HEIGHT - 2 * PLAYER_RADIUS);
      let nearest = Infinity;
      for (const player of this.players.values()) nearest = Math.min(nearest, Math.hypot(player.x - x, player.y - y));
      if (nearest > bestDistance) {
        best = { x, y };
        bestDistance = nearest;
      }
    }
    return best;
  }
}

function unit(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.sign(Math.round(value)) : 0;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
