// The pong page, bundled for the browser by esbuild: the netcode operators of repod-rx/operators
// on one page.
// - Own paddle: predicted. Inputs are numbered (`numberInputs`), sent, and applied at once with
//   the same rule as the server (`movePaddle`); each snapshot says the last input the server
//   applied, and `predict` replays the ones still on their way on top of it.
// - Ball and other paddle: interpolated (`interpolate`), blended between the 30 snapshots a
//   second, 100 ms behind the snapshots as they arrive (the server's clock inferred from them, so
//   the simulated lag, which heartbeats do not see, is covered too); the ball snaps back to the
//   middle after a point.
// - Server clock: `serverClock` turns heartbeat round trips into the clock offset, used to show
//   how old each snapshot is on arrival.
// - `?lag=150`: `simulateLatency` puts 75 ms (plus up to 15 ms of jitter) on each way.

import { animationFrames, filter, fromEvent, interval, map, merge, scan, share } from "rxjs";
import { ConnectionListener, type Message } from "../../../lib/browser.js";
import {
  interpolate,
  numberInputs,
  predict,
  serverClock,
  simulateLatency,
  type ClockEstimate,
  type InterpolatedFrame,
} from "../../../lib/operators.js";
import {
  BALL_RADIUS,
  FIELD_HEIGHT,
  FIELD_WIDTH,
  PADDLE_HEIGHT,
  PADDLE_INSET,
  PADDLE_WIDTH,
  TICK_RATE,
  movePaddle,
  type PongClientMessages,
  type PongServerMessages,
  type Side,
} from "../protocol.js";

type In = PongServerMessages;
type Point = { x: number; y: number };

/** What the page exposes for tests and the curious: `window.pongDemo` in the console. */
export interface PongPageView {
  side: Side | null;
  match: string;
  opponent: { name: string | null; bot: boolean };
  score: { left: number; right: number };
  playing: boolean;
  /** What is drawn: the ball and both paddles (own one predicted). */
  ball: Point | null;
  paddles: { left: number | null; right: number | null };
  /** Inputs sent, and the simulated lag of this page (round trip). */
  inputs: number;
  lag: number;
  frames: number;
}

const view: PongPageView = {
  side: null,
  match: "",
  opponent: { name: null, bot: false },
  score: { left: 0, right: 0 },
  playing: false,
  ball: null,
  paddles: { left: null, right: null },
  inputs: 0,
  lag: 0,
  frames: 0,
};
(window as unknown as { pongDemo: PongPageView }).pongDemo = view;

class PongClient extends ConnectionListener<In, PongClientMessages> {
  Network_connected(): void {
    text("status", "connected");
    this.send({ action: "join", name: new URLSearchParams(location.search).get("name") ?? "" });
  }

  Network_welcome(message: Message<In, "welcome">): void {
    view.side = message.side;
    view.match = message.match;
    text("match", `${message.match}: you play ${message.side}`);
  }

  Network_opponent(message: Message<In, "opponent">): void {
    view.opponent = { name: message.name, bot: message.bot };
    text("opponent", message.name === null ? "waiting for an opponent…" : `against ${message.name}`);
  }

  Network_state(message: Message<In, "state">): void {
    view.score = message.score;
    view.playing = message.playing;
  }

  Network_error(message: { error: string }): void {
    text("status", `error: ${message.error}`);
  }

  Network_disconnected(): void {
    text("status", "disconnected: reload to play again");
  }
}

const client = new PongClient();
const lag = Math.max(0, Number(new URLSearchParams(location.search).get("lag")) || 0);
view.lag = lag;
// Before anything subscribes to the client's streams, so that they all see the lag.
if (lag > 0) {
  simulateLatency(client, { delay: lag / 2, jitter: lag / 10 });
  text("lag", `${lag} ms round trip simulated (${lag / 2} ms each way, plus up to ${lag / 10} ms)`);
}
client.connect(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`, {
  heartbeat: { interval: 1_000 },
});
client.autoPump(animationFrames());

// Keys held → a direction, sampled at the server's tick rate: one numbered input per tick while
// a key is held, as the server applies one per tick.
const KEYS: Record<string, number> = { ArrowUp: -1, KeyW: -1, ArrowDown: 1, KeyS: 1 };
const held$ = merge(
  fromEvent<KeyboardEvent>(window, "keydown"),
  fromEvent<KeyboardEvent>(window, "keyup"),
  fromEvent(window, "blur"),
).pipe(
  scan((held, event) => {
    const next = new Set(held);
    if (!(event instanceof KeyboardEvent)) next.clear();
    else if (event.code in KEYS) {
      event.preventDefault();
      if (event.type === "keydown") next.add(event.code);
      else next.delete(event.code);
    }
    return next;
  }, new Set<string>()),
);
let held = new Set<string>();
held$.subscribe((keys) => (held = keys));
const inputs$ = interval(1000 / TICK_RATE).pipe(
  map(() => Math.sign([...held].reduce((sum, code) => sum + (KEYS[code] ?? 0), 0))),
  filter((dir) => dir !== 0 && view.side !== null),
  numberInputs(),
  share(),
);
inputs$.subscribe(({ seq, input }) => {
  client.send({ action: "input", seq, dir: input });
  view.inputs = seq;
});

// Own paddle: predicted, reconciled with each snapshot.
const states$ = client.on("state");
let predicted: number | null = null;
states$
  .pipe(
    filter(() => view.side !== null),
    map((state) => ({ state: state.paddles[view.side!], lastInput: state.acks[view.side!] })),
    predict({ inputs: inputs$, apply: movePaddle }),
  )
  .subscribe((y) => (predicted = y));

// Server clock: how far ahead the server's clock is, and so how old each snapshot is on arrival.
let clock: ClockEstimate | null = null;
client.clockSamples$.pipe(serverClock()).subscribe((estimate) => {
  clock = estimate;
  text("clock", `${signed(estimate.offset)} ms ± ${estimate.uncertainty.toFixed(1)} (round trip ${estimate.rtt} ms)`);
});
states$.subscribe((state) => {
  if (clock !== null)
    text("age", `${Math.round(clock.toServer(Date.now()) - state.time)} ms after the server took them`);
});

// Ball and paddles: interpolated, one frame per animation frame.
const PADDLE_X = { left: PADDLE_INSET + PADDLE_WIDTH / 2, right: FIELD_WIDTH - PADDLE_INSET - PADDLE_WIDTH / 2 };
states$
  .pipe(
    map((state) => ({
      time: state.time,
      entities: {
        ball: state.ball,
        left: { x: PADDLE_X.left, y: state.paddles.left },
        right: { x: PADDLE_X.right, y: state.paddles.right },
      },
    })),
    interpolate<Point>({ ticks: animationFrames(), delay: 100, snapDistance: FIELD_WIDTH / 4 }),
  )
  .subscribe(draw);

const canvas = document.getElementById("field") as HTMLCanvasElement;
const context = canvas.getContext("2d")!;

function draw(frame: InterpolatedFrame<Point>): void {
  const { ball, left, right } = frame.entities;
  view.frames++;
  view.ball = ball ?? null;
  view.paddles = {
    left: view.side === "left" && predicted !== null ? predicted : (left?.y ?? null),
    right: view.side === "right" && predicted !== null ? predicted : (right?.y ?? null),
  };
  context.fillStyle = "#0b2233";
  context.fillRect(0, 0, FIELD_WIDTH, FIELD_HEIGHT);
  context.fillStyle = "rgba(255,255,255,0.15)";
  for (let y = 8; y < FIELD_HEIGHT; y += 28) context.fillRect(FIELD_WIDTH / 2 - 2, y, 4, 14);
  context.font = "bold 56px system-ui, sans-serif";
  context.textAlign = "center";
  context.fillText(String(view.score.left), FIELD_WIDTH / 2 - 80, 70);
  context.fillText(String(view.score.right), FIELD_WIDTH / 2 + 80, 70);
  for (const side of ["left", "right"] as const) {
    const y = view.paddles[side];
    if (y === null) continue;
    context.fillStyle = side === view.side ? "#ffd23f" : "#8fb8de";
    context.fillRect(PADDLE_X[side] - PADDLE_WIDTH / 2, y - PADDLE_HEIGHT / 2, PADDLE_WIDTH, PADDLE_HEIGHT);
  }
  if (ball !== undefined) {
    context.beginPath();
    context.arc(ball.x, ball.y, BALL_RADIUS, 0, Math.PI * 2);
    context.fillStyle = "#ffffff";
    context.fill();
  }
  if (!view.playing) {
    context.fillStyle = "rgba(255,255,255,0.85)";
    context.font = "bold 24px system-ui, sans-serif";
    context.fillText("waiting for an opponent…", FIELD_WIDTH / 2, FIELD_HEIGHT / 2 - 30);
  }
}

function signed(value: number): string {
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(1)}`;
}

function text(id: string, value: string): void {
  const element = document.getElementById(id);
  if (element !== null) element.textContent = value;
}
