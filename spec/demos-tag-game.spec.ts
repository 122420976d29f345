import { describe, expect, it } from "vitest";
import { PLAYER_SPEED, TAG_COOLDOWN, TagGame } from "../demos/tag/tag-game.js";
import { ARENA_HEIGHT, ARENA_WIDTH, PLAYER_RADIUS } from "../demos/tag/protocol.js";

/** A game whose players spawn where `spots` say (x and y alternate, as fractions of the arena). */
function gameWithSpawns(...spots: number[]): TagGame {
  let index = 0;
  return new TagGame(() => spots[index++ % spots.length] ?? 0.5);
}

function position(game: TagGame, id: number): { x: number; y: number } {
  const player = game.snapshot().players.find((candidate) => candidate.id === id)!;
  return { x: player.x, y: player.y };
}

describe("a game of tag", () => {
  it("makes its first player 'it' and moves players at their speed, inside the arena", () => {
    const game = gameWithSpawns(0.5, 0.5);
    game.add(1);
    expect(game.it).toBe(1);
    const start = position(game, 1);
    game.steer(1, 1, 0);
    game.step(0.5);
    expect(position(game, 1).x).toBeCloseTo(start.x + PLAYER_SPEED * 0.5, 0);
    for (let tick = 0; tick < 200; tick++) game.step(0.05);
    expect(position(game, 1).x).toBe(ARENA_WIDTH - PLAYER_RADIUS);
    expect(position(game, 1).y).toBeLessThanOrEqual(ARENA_HEIGHT - PLAYER_RADIUS);
  });

  it("passes 'it' on a touch, then freezes the new 'it' so it cannot tag straight back", () => {
    // Both spawn in the middle row, 0.1 of the width apart.
    const game = gameWithSpawns(0.45, 0.5, 0.55, 0.5);
    game.add(1);
    game.add(2);
    game.steer(1, 1, 0);
    let tags: { tagger: number; tagged: number }[] = [];
    for (let tick = 0; tick < 60 && tags.length === 0; tick++) tags = game.step(1 / 30);
    expect(tags).toEqual([{ tagger: 1, tagged: 2 }]);
    expect(game.it).toBe(2);

    // Player 2 is frozen for the cooldown, even though it holds a direction and touches player 1.
    game.steer(1, 0, 0);
    game.steer(2, -1, 0);
    const frozenAt = position(game, 2);
    for (let tick = 0; tick < Math.floor(TAG_COOLDOWN * 30) - 2; tick++) expect(game.step(1 / 30)).toEqual([]);
    expect(position(game, 2)).toEqual(frozenAt);
    expect(game.snapshot().frozen).toBeGreaterThan(0);
  });

  it("hands 'it' to the player who has been 'it' the least when 'it' leaves, and empties", () => {
    const game = gameWithSpawns(0.1, 0.1, 0.9, 0.9, 0.1, 0.9);
    game.add(1);
    game.add(2);
    game.add(3);
    game.step(1);
    game.remove(1);
    expect([2, 3]).toContain(game.it);
    game.remove(2);
    game.remove(3);
    expect(game.it).toBeNull();
    expect(game.size).toBe(0);
  });
});
