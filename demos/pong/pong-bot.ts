// A computer player for the pong demo, over TCP from Node: the same server, the same messages and
// the same numbered inputs as the page. It follows the ball when the ball comes its way, aiming
// where the ball will cross its paddle's line, with an error re-drawn at every hit so that it can
// be beaten. The pong server starts one when a player waits alone; `bot.ts` runs more by hand.

import { ConnectionListener, type Message } from "../../lib/index.js";
import {
  FIELD_HEIGHT,
  FIELD_WIDTH,
  PADDLE_HEIGHT,
  PADDLE_STEP,
  type PongClientMessages,
  type PongServerMessages,
  type Side,
} from "./protocol.js";

type In = PongServerMessages;

/** How far off a bot aims, at most, as a share of the paddle's height. */
const MAX_ERROR = 0.7;

/** One bot. Connect it, then call `pump()` and `play()` once per tick. */
export class PongBot extends ConnectionListener<In, PongClientMessages> {
  side: Side | null = null;
  /** Whether the connection has ended (or never opened). */
  ended = false;
  private last: { x: number; y: number; time: number } | null = null;
  private velocity = { x: 0, y: 0 };
  private paddle = FIELD_HEIGHT / 2;
  private seq = 0;
  private error = 0;

  constructor(
    readonly name = "bot",
    private readonly random: () => number = Math.random,
  ) {
    super();
  }

  Network_connected(): void {
    this.send({ action: "join", name: this.name, bot: true });
  }

  Network_welcome(message: Message<In, "welcome">): void {
    this.side = message.side;
  }

  Network_state(message: Message<In, "state">): void {
    if (this.side === null) return;
    const { ball, time } = message;
    if (this.last !== null && time > this.last.time) {
      const seconds = (time - this.last.time) / 1000;
      const velocity = { x: (ball.x - this.last.x) / seconds, y: (ball.y - this.last.y) / seconds };
      // The ball turned: someone hit it; aim a little off for the next one.
      if (Math.sign(velocity.x) !== Math.sign(this.velocity.x)) this.error = (this.random() * 2 - 1) * MAX_ERROR;
      this.velocity = velocity;
    }
    this.last = { x: ball.x, y: ball.y, time };
    this.paddle = message.paddles[this.side];
  }

  Network_error(): void {
    this.ended = true;
  }

  Network_disconnected(): void {
    this.ended = true;
  }

  /** One tick: sends the input that brings the paddle nearer to where the ball will come. */
  play(): void {
    if (this.side === null || this.last === null) return;
    const dir = Math.sign(this.target() - this.paddle);
    if (Math.abs(this.target() - this.paddle) < PADDLE_STEP || dir === 0) return;
    this.seq++;
    this.paddle += dir * PADDLE_STEP;
    this.send({ action: "input", seq: this.seq, dir });
  }

  /** Where the paddle should be: where the ball crosses its line if it comes this way, else the middle. */
  private target(): number {
    const ball = this.last!;
    const lineX = this.side === "left" ? 0 : FIELD_WIDTH;
    const coming = this.side === "left" ? this.velocity.x < 0 : this.velocity.x > 0;
    if (!coming) return FIELD_HEIGHT / 2;
    const seconds = (lineX - ball.x) / this.velocity.x;
    // The walls fold the ball's path back into the field.
    const span = 2 * FIELD_HEIGHT;
    const unfolded = (((ball.y + this.velocity.y * seconds) % span) + span) % span;
    const y = unfolded > FIELD_HEIGHT ? span - unfolded : unfolded;
    return y + this.error * (PADDLE_HEIGHT / 2);
  }
}
