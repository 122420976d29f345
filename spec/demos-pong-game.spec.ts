import { describe, expect, it } from "vitest";
import { PongGame, SERVE_SPEED } from "../demos/pong/pong-game.js";
import {
  FIELD_HEIGHT,
  FIELD_WIDTH,
  PADDLE_HEIGHT,
  PADDLE_STEP,
  TICK_RATE,
  movePaddle,
} from "../demos/pong/protocol.js";

const DT = 1 / TICK_RATE;

/** Steps `game` until `until` holds or `ticks` run out; returns the sides that scored. */
function run(game: PongGame, ticks: number, until: () => boolean = () => false): string[] {
  const scored: string[] = [];
  for (let tick = 0; tick < ticks && !until(); tick++) {
    const side = game.step(DT);
    if (side !== null) scored.push(side);
  }
  return scored;
}

describe("a match of pong", () => {
  it("moves a paddle one step per input, inside the field, and acknowledges the input's number", () => {
    const game = new PongGame();
    expect(game.input("left", 1, -1)).toBe(true);
    expect(game.input("left", 2, -1)).toBe(true);
    game.step(DT);
    expect(game.paddles.left).toBe(FIELD_HEIGHT / 2 - 2 * PADDLE_STEP);
    expect(game.acks).toEqual({ left: 2, right: 0 });
    expect(movePaddle(PADDLE_HEIGHT / 2, -1)).toBe(PADDLE_HEIGHT / 2);
    expect(movePaddle(FIELD_HEIGHT - PADDLE_HEIGHT / 2, 1)).toBe(FIELD_HEIGHT - PADDLE_HEIGHT / 2);
  });

  it("applies at most two inputs per side and tick, the rest in the next ticks, and refuses bad ones", () => {
    const game = new PongGame();
    for (let seq = 1; seq <= 5; seq++) game.input("right", seq, 1);
    expect(game.input("right", 5, 1)).toBe(false);
    expect(game.input("right", 6, 2)).toBe(false);
    expect(game.input("right", 6.5, 1)).toBe(false);
    expect(game.input("right", "7", 1)).toBe(false);
    game.step(DT);
    expect(game.acks.right).toBe(2);
    game.step(DT);
    game.step(DT);
    expect(game.acks.right).toBe(5);
    expect(game.paddles.right).toBe(FIELD_HEIGHT / 2 + 5 * PADDLE_STEP);
  });

  it("keeps the ball in the middle until started, then serves it after a pause", () => {
    const game = new PongGame({ random: () => 0.5 });
    run(game, 60);
    expect(game.ball).toEqual({ x: FIELD_WIDTH / 2, y: FIELD_HEIGHT / 2, vx: 0, vy: 0 });
    game.start();
    run(game, 30);
    expect(game.ball.x).toBe(FIELD_WIDTH / 2);
    run(game, 10);
    expect(game.ball.x).toBeLessThan(FIELD_WIDTH / 2);
    expect(Math.hypot(game.ball.vx, game.ball.vy)).toBeCloseTo(SERVE_SPEED);
  });

  it("sends the ball back off a paddle, faster, and scores a point for the other side when a paddle misses", () => {
    // Served straight to the left, where the paddle waits in the middle.
    const game = new PongGame({ random: () => 0.5 });
    game.start();
    run(game, 400, () => game.ball.vx > 0);
    expect(game.ball.vx).toBeGreaterThan(SERVE_SPEED);
    expect(game.score).toEqual({ left: 0, right: 0 });
    // The right paddle goes to the top: the ball passes it.
    for (let seq = 1; seq <= 40; seq++) {
      game.input("right", seq, -1);
      game.step(DT);
    }
    const scored = run(game, 600, () => game.score.left > 0);
    expect(scored).toEqual(["left"]);
    expect(game.score).toEqual({ left: 1, right: 0 });
    expect(game.snapshot(1234)).toMatchObject({ time: 1234, score: { left: 1, right: 0 }, playing: true });
  });
});
