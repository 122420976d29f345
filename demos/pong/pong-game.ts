// One match of pong, without any networking: two paddles moved by numbered inputs, a ball,
// the score. The server runs one per match and steps them all at a fixed tick; time only
// advances through `step`, so a match is deterministic for a given `random`.

import {
  BALL_RADIUS,
  FIELD_HEIGHT,
  FIELD_WIDTH,
  INPUTS_PER_TICK,
  PADDLE_HEIGHT,
  PADDLE_INSET,
  PADDLE_WIDTH,
  movePaddle,
  type PongState,
  type Side,
} from "./protocol.js";

/** The ball's speed at each serve, in units per second. */
export const SERVE_SPEED = 380;
/** Each paddle hit speeds the ball up by this factor, up to `MAX_SPEED`. */
const SPEED_UP = 1.06;
const MAX_SPEED = 900;
/** The steepest angle a paddle sends the ball off at (hit at its very end), in radians. */
const MAX_BOUNCE = (60 * Math.PI) / 180;
/** Seconds the ball waits in the middle before a serve. */
const SERVE_PAUSE = 0.6;
/** Inputs kept per side for the next ticks; more (a client sending too fast) are dropped. */
const MAX_QUEUED_INPUTS = 8;

interface Input {
  readonly seq: number;
  readonly dir: number;
}

/** Options of a {@link PongGame}. */
export interface PongGameOptions {
  /** The source of serve angles; inject one for repeatable matches. Default `Math.random`. */
  readonly random?: () => number;
  /** The ball's speed at each serve, in units per second. Default {@link SERVE_SPEED}. */
  readonly serveSpeed?: number;
}

/** One match of pong. */
export class PongGame {
  readonly paddles = { left: FIELD_HEIGHT / 2, right: FIELD_HEIGHT / 2 };
  readonly acks = { left: 0, right: 0 };
  readonly score = { left: 0, right: 0 };
  readonly ball = { x: FIELD_WIDTH / 2, y: FIELD_HEIGHT / 2, vx: 0, vy: 0 };
  private readonly queues: Record<Side, Input[]> = { left: [], right: [] };
  private readonly random: () => number;
  private readonly serveSpeed: number;
  private playingValue = false;
  private pause = 0;
  private serveTo: Side = "left";
  private ticks = 0;

  constructor(options: PongGameOptions = {}) {
    this.random = options.random ?? Math.random;
    this.serveSpeed = options.serveSpeed ?? SERVE_SPEED;
  }

  /** Whether the ball is in play. */
  get playing(): boolean {
    return this.playingValue;
  }

  /**
   * Queues one input of `side`, applied by the next steps in order. Returns false for an input
   * that is not an input (a `seq` not above the last one, a `dir` that is not -1, 0 or 1) or that
   * overflows the queue.
   */
  input(side: Side, seq: unknown, dir: unknown): boolean {
    const queue = this.queues[side];
    const last = queue[queue.length - 1]?.seq ?? this.acks[side];
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq <= last) return false;
    if (dir !== -1 && dir !== 0 && dir !== 1) return false;
    if (queue.length >= MAX_QUEUED_INPUTS) return false;
    queue.push({ seq, dir });
    return true;
  }

  /** Starts play: the scores from 0, the ball served after a pause. */
  start(): void {
    this.score.left = 0;
    this.score.right = 0;
    this.playingValue = true;
    this.center();
  }

  /** Stops play: the ball rests in the middle (a side waits for an opponent). */
  stop(): void {
    this.playingValue = false;
    this.center();
  }

  /** Forgets `side`'s inputs and puts its paddle back, for a new player on that side. */
  reset(side: Side): void {
    this.queues[side] = [];
    this.acks[side] = 0;
    this.paddles[side] = FIELD_HEIGHT / 2;
  }

  /** Advances the match by `dt` seconds: inputs first, then the ball. Returns the side that scored, if any. */
  step(dt: number): Side | null {
    this.ticks++;
    for (const side of ["left", "right"] as const) {
      const queue = this.queues[side];
      for (const { seq, dir } of queue.splice(0, INPUTS_PER_TICK)) {
        this.paddles[side] = movePaddle(this.paddles[side], dir);
        this.acks[side] = seq;
      }
    }
    if (!this.playingValue) return null;
    if (this.pause > 0) {
      this.pause -= dt;
      if (this.pause <= 0) this.serve();
      return null;
    }
    return this.moveBall(dt);
  }

  /** The match as sent to its players, stamped with `time` (the server's clock). */
  snapshot(time: number): PongState {
    return {
      time,
      tick: this.ticks,
      ball: { x: round(this.ball.x), y: round(this.ball.y) },
      paddles: { left: this.paddles.left, right: this.paddles.right },
      acks: { left: this.acks.left, right: this.acks.right },
      score: { left: this.score.left, right: this.score.right },
      playing: this.playingValue,
    };
  }

  private moveBall(dt: number): Side | null {
    const ball = this.ball;
    ball.x += ball.vx * dt;
    ball.y += ball.vy * dt;
    if (ball.y < BALL_RADIUS) {
      ball.y = 2 * BALL_RADIUS - ball.y;
      ball.vy = Math.abs(ball.vy);
    } else if (ball.y > FIELD_HEIGHT - BALL_RADIUS) {
      ball.y = 2 * (FIELD_HEIGHT - BALL_RADIUS) - ball.y;
      ball.vy = -Math.abs(ball.vy);
    }
    const leftFace = PADDLE_INSET + PADDLE_WIDTH;
    const rightFace = FIELD_WIDTH - PADDLE_INSET - PADDLE_WIDTH;
    if (ball.vx < 0 && ball.x - BALL_RADIUS <= leftFace && ball.x > PADDLE_INSET)
      this.hit("left", leftFace + BALL_RADIUS);
    else if (ball.vx > 0 && ball.x + BALL_RADIUS >= rightFace && ball.x < FIELD_WIDTH - PADDLE_INSET)
      this.hit("right", rightFace - BALL_RADIUS);
    if (ball.x < -BALL_RADIUS) return this.point("right");
    if (ball.x > FIELD_WIDTH + BALL_RADIUS) return this.point("left");
    return null;
  }

  /** The ball at `side`'s paddle: sent back off at an angle that grows with the distance from its centre. */
  private hit(side: Side, x: number): void {
    const ball = this.ball;
    const offset = (ball.y - this.paddles[side]) / (PADDLE_HEIGHT / 2 + BALL_RADIUS);
    if (Math.abs(offset) > 1) return;
    const speed = Math.min(MAX_SPEED, Math.hypot(ball.vx, ball.vy) * SPEED_UP);
    const angle = offset * MAX_BOUNCE;
    const direction = side === "left" ? 1 : -1;
    ball.x = x;
    ball.vx = direction * speed * Math.cos(angle);
    ball.vy = speed * Math.sin(angle);
  }

  private point(side: Side): Side {
    this.score[side]++;
    // The next serve goes to the side that lost the point.
    this.serveTo = side === "left" ? "right" : "left";
    this.center();
    return side;
  }

  private center(): void {
    Object.assign(this.ball, { x: FIELD_WIDTH / 2, y: FIELD_HEIGHT / 2, vx: 0, vy: 0 });
    this.pause = SERVE_PAUSE;
  }

  private serve(): void {
    const angle = (this.random() - 0.5) * (Math.PI / 3);
    const direction = this.serveTo === "left" ? -1 : 1;
    this.ball.vx = direction * this.serveSpeed * Math.cos(angle);
    this.ball.vy = this.serveSpeed * Math.sin(angle);
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
