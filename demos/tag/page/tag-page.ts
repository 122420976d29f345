// The tag page, bundled for the browser by esbuild. Two styles side by side:
// - classic: the server's messages run Network_* handlers inside pump(), which autoPump calls on
//   every animation frame, just before the frame is drawn;
// - reactive: the keyboard becomes a stream of directions composed with RxJS operators (scan,
//   distinctUntilChanged, throttleTime), and only changes go to the server.

import {
  animationFrames,
  asyncScheduler,
  distinctUntilChanged,
  filter,
  fromEvent,
  map,
  merge,
  scan,
  share,
  tap,
  throttleTime,
} from "rxjs";
import { ConnectionListener, type Message } from "../../../lib/browser.js";
import type { PlayerState, TagClientMessages, TagServerMessages } from "../protocol.js";

type In = TagServerMessages;
type Snapshot = Message<In, "state"> & { at: number };

/** What the page exposes for tests and the curious: `window.tagDemo` in the console. */
export interface TagPageView {
  me: number;
  room: string;
  it: number | null;
  players: PlayerState[];
}

class TagClient extends ConnectionListener<In, TagClientMessages> {
  me = 0;
  room = "";
  tickMs = 1000 / 30;
  radius = 16;
  previous: Snapshot | null = null;
  latest: Snapshot | null = null;
  flash: { text: string; until: number } | null = null;

  Network_welcome(message: Message<In, "welcome">): void {
    this.me = message.id;
    this.room = message.room;
    this.tickMs = 1000 / message.tickRate;
    this.radius = message.radius;
    view.me = message.id;
    view.room = message.room;
    text("game", `${message.room} (up to ${message.roomSize} players)`);
    text("status", `you are P${message.id}`);
  }

  Network_state(message: Message<In, "state">): void {
    this.previous = this.latest;
    this.latest = { ...message, at: performance.now() };
    view.it = message.it;
    view.players = message.players;
    this.updateScores(message);
  }

  Network_tagged(message: Message<In, "tagged">): void {
    const who = message.tagged === this.me ? "You are" : `P${message.tagged} is`;
    this.flash = { text: `${who} it!`, until: performance.now() + 1200 };
  }

  Network_lobby(message: Message<In, "lobby">): void {
    const list = document.getElementById("games")!;
    list.replaceChildren(
      ...message.games.map((game) => {
        const item = document.createElement("li");
        item.textContent = `${game.room}: ${game.players} playing${game.room === this.room ? " (yours)" : ""}`;
        return item;
      }),
    );
  }

  Network_error(message: { error: string }): void {
    text("status", `error: ${message.error}`);
  }

  Network_disconnected(): void {
    text("status", "disconnected: reload to play again");
  }

  private updateScores(state: Message<In, "state">): void {
    const it = state.players.find((player) => player.id === state.it);
    text("it", it === undefined ? "" : `${it.id === this.me ? "you are" : `P${it.id} is`} it`);
    const list = document.getElementById("scores")!;
    list.replaceChildren(
      ...[...state.players]
        .sort((a, b) => a.itTime - b.itTime)
        .map((player) => {
          const item = document.createElement("li");
          if (player.id === this.me) item.className = "me";
          const dot = document.createElement("span");
          dot.className = "dot";
          dot.style.background = player.color;
          item.append(dot, `${player.name}${player.id === this.me ? " (you)" : ""}: ${player.itTime.toFixed(1)} s`);
          return item;
        }),
    );
  }
}

const canvas = document.getElementById("arena") as HTMLCanvasElement;
const context = canvas.getContext("2d")!;
const view: TagPageView = { me: 0, room: "", it: null, players: [] };
(window as unknown as { tagDemo: TagPageView }).tagDemo = view;

const client = new TagClient();
client.connect(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);

// The classic loop: on every animation frame, pump (the handlers run), then draw.
const frames$ = animationFrames().pipe(share());
client.autoPump(frames$);
frames$.subscribe(() => draw(performance.now()));

// The reactive side: keys held → a direction → sent only when it changes, at most every 50 ms
// (trailing, so the last change always goes out).
const KEYS: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0],
  KeyA: [-1, 0],
  ArrowRight: [1, 0],
  KeyD: [1, 0],
  ArrowUp: [0, -1],
  KeyW: [0, -1],
  ArrowDown: [0, 1],
  KeyS: [0, 1],
};
merge(fromEvent<KeyboardEvent>(window, "keydown"), fromEvent<KeyboardEvent>(window, "keyup"), fromEvent(window, "blur"))
  .pipe(
    filter((event) => !(event instanceof KeyboardEvent) || event.code in KEYS),
    tap((event) => event.preventDefault()),
    scan((held, event) => {
      const next = new Set(held);
      if (!(event instanceof KeyboardEvent)) next.clear();
      else if (event.type === "keydown") next.add(event.code);
      else next.delete(event.code);
      return next;
    }, new Set<string>()),
    map((held) => {
      let dx = 0;
      let dy = 0;
      for (const code of held) {
        dx += KEYS[code]?.[0] ?? 0;
        dy += KEYS[code]?.[1] ?? 0;
      }
      return { dx: Math.sign(dx), dy: Math.sign(dy) };
    }),
    distinctUntilChanged((a, b) => a.dx === b.dx && a.dy === b.dy),
    throttleTime(50, asyncScheduler, { leading: true, trailing: true }),
  )
  .subscribe((direction) => client.send({ action: "input", ...direction }));

/** Draws the arena between the last two states, so 30 ticks a second look smooth at 60 fps. */
function draw(now: number): void {
  context.fillStyle = "#1f3b2c";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.strokeStyle = "rgba(255,255,255,0.06)";
  context.lineWidth = 1;
  for (let x = 50; x < canvas.width; x += 50) line(x, 0, x, canvas.height);
  for (let y = 50; y < canvas.height; y += 50) line(0, y, canvas.width, y);

  const { latest, previous } = client;
  if (latest === null) return;
  const alpha = previous === null ? 1 : Math.min(1, (now - latest.at) / client.tickMs);
  for (const player of latest.players) {
    const before = previous?.players.find((candidate) => candidate.id === player.id) ?? player;
    const x = before.x + (player.x - before.x) * alpha;
    const y = before.y + (player.y - before.y) * alpha;
    const isIt = player.id === latest.it;
    context.beginPath();
    context.arc(x, y, client.radius, 0, Math.PI * 2);
    context.fillStyle = isIt ? "#e6194b" : player.color;
    context.globalAlpha = isIt && latest.frozen > 0 ? 0.55 : 1;
    context.fill();
    context.globalAlpha = 1;
    if (player.id === client.me) {
      context.lineWidth = 3;
      context.strokeStyle = "#ffffff";
      context.stroke();
    }
    context.fillStyle = "#ffffff";
    context.font = "bold 12px system-ui, sans-serif";
    context.textAlign = "center";
    context.fillText(isIt ? "IT" : player.name, x, y + 4);
  }
  if (client.flash !== null && now < client.flash.until) {
    context.fillStyle = "rgba(255,255,255,0.9)";
    context.font = "bold 28px system-ui, sans-serif";
    context.textAlign = "center";
    context.fillText(client.flash.text, canvas.width / 2, 40);
  }
}

function line(x0: number, y0: number, x1: number, y1: number): void {
  context.beginPath();
  context.moveTo(x0, y0);
  context.lineTo(x1, y1);
  context.stroke();
}

function text(id: string, value: string): void {
  const element = document.getElementById(id);
  if (element !== null) element.textContent = value;
}
