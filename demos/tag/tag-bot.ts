// A computer player for the tag demo, over TCP from Node: the same server, the same messages and
// the same handlers as the browser page. When it is "it" it chases the nearest player; otherwise
// it wanders, and runs from "it" (keeping off the walls) once "it" comes near.

import { ConnectionListener, type Message } from "../../lib/index.js";
import { ARENA_HEIGHT, ARENA_WIDTH, type TagClientMessages, type TagServerMessages } from "./protocol.js";

type In = TagServerMessages;

/** How near "it" comes before a bot runs. */
const FLEE_DISTANCE = 160;

/** One bot. Connect it, then pump it in a loop like any client. */
export class TagBot extends ConnectionListener<In, TagClientMessages> {
  me = 0;
  room = "";
  /** Whether the connection has ended (or never opened). */
  ended = false;
  private heading = { dx: 0, dy: 0 };
  private wanderTo = { x: ARENA_WIDTH / 2, y: ARENA_HEIGHT / 2 };

  constructor(private readonly print: (line: string) => void = () => {}) {
    super();
  }

  Network_welcome(message: Message<In, "welcome">): void {
    this.me = message.id;
    this.room = message.room;
    this.print(`bot P${message.id} plays in ${message.room}`);
  }

  Network_state(message: Message<In, "state">): void {
    const me = message.players.find((player) => player.id === this.me);
    if (me === undefined) return;
    const others = message.players.filter((player) => player.id !== this.me);
    let goal = { x: 0, y: 0 };
    if (message.it === this.me) {
      const nearest = others.sort((a, b) => Math.hypot(a.x - me.x, a.y - me.y) - Math.hypot(b.x - me.x, b.y - me.y))[0];
      if (nearest !== undefined) goal = { x: nearest.x - me.x, y: nearest.y - me.y };
    } else {
      const it = others.find((player) => player.id === message.it);
      if (it !== undefined && Math.hypot(me.x - it.x, me.y - it.y) < FLEE_DISTANCE) {
        goal = { x: me.x - it.x, y: me.y - it.y };
        // The walls push back, so a runner does not get cornered at once.
        goal.x += (ARENA_WIDTH / 2 - me.x) * 0.6;
        goal.y += (ARENA_HEIGHT / 2 - me.y) * 0.6;
      } else {
        if (Math.hypot(this.wanderTo.x - me.x, this.wanderTo.y - me.y) < 20) {
          this.wanderTo = { x: 40 + Math.random() * (ARENA_WIDTH - 80), y: 40 + Math.random() * (ARENA_HEIGHT - 80) };
        }
        goal = { x: this.wanderTo.x - me.x, y: this.wanderTo.y - me.y };
      }
    }
    const heading = { dx: direction(goal.x, goal.y), dy: direction(goal.y, goal.x) };
    if (heading.dx !== this.heading.dx || heading.dy !== this.heading.dy) {
      this.heading = heading;
      this.send({ action: "input", ...heading });
    }
  }

  Network_error(message: { error: string }): void {
    this.print(`bot: ${message.error}`);
    this.ended = true;
  }

  Network_disconnected(): void {
    this.ended = true;
  }
}

/** -1, 0 or 1 along one axis: 0 when the other axis dominates by far, so bots move in 8 directions. */
function direction(along: number, across: number): number {
  if (Math.abs(along) < Math.abs(across) * 0.4) return 0;
  return Math.sign(along);
}
