// The whiteboard page, bundled for the browser by esbuild. Two styles side by side:
// - reactive: the mouse becomes a stream of strokes with RxJS operators (switchMap, takeUntil);
// - classic: the server's messages run Network_* handlers inside pump(), once per animation frame.

import { animationFrames, distinctUntilChanged, fromEvent, map, merge, startWith, switchMap, takeUntil } from "rxjs";
import { ConnectionListener, type Message } from "../../../lib/browser.js";
import {
  BOARD_HEIGHT,
  BOARD_WIDTH,
  DEFAULT_BOARD,
  type Point,
  type WhiteboardClientMessages,
  type WhiteboardServerMessages,
} from "../protocol.js";

type In = WhiteboardServerMessages;

const canvas = element<HTMLCanvasElement>("board-canvas");
const context = canvas.getContext("2d")!;
canvas.width = BOARD_WIDTH;
canvas.height = BOARD_HEIGHT;

/** Draws the board and keeps where each author's pen is. */
class Pens {
  private readonly last = new Map<number, { color: string; point: Point }>();

  start(author: number, color: string, point: Point): void {
    this.last.set(author, { color, point });
    this.segment(color, point, point);
  }

  extend(author: number, point: Point): void {
    const pen = this.last.get(author);
    if (pen === undefined) return;
    this.segment(pen.color, pen.point, point);
    pen.point = point;
  }

  clear(): void {
    this.last.clear();
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  private segment(color: string, from: Point, to: Point): void {
    context.strokeStyle = color;
    context.lineWidth = 4;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(from[0], from[1]);
    context.lineTo(to[0], to[1]);
    context.stroke();
  }
}

class WhiteboardClient extends ConnectionListener<In, WhiteboardClientMessages> {
  id = 0;
  color = "#888888";
  readonly pens = new Pens();

  Network_welcome(message: Message<In, "welcome">): void {
    this.id = message.id;
    this.color = message.color;
    element("me").style.background = message.color;
    element("board").textContent = message.board;
    // A late joiner: the drawing so far.
    this.pens.clear();
    for (const stroke of message.strokes) {
      const [first, ...rest] = stroke.points;
      if (first === undefined) continue;
      this.pens.start(stroke.author, stroke.color, first);
      for (const point of rest) this.pens.extend(stroke.author, point);
    }
    status("connected");
  }

  Network_startline(message: Message<In, "startline">): void {
    this.pens.start(message.author, message.color, message.point);
  }

  Network_drawpoint(message: Message<In, "drawpoint">): void {
    this.pens.extend(message.author, message.point);
  }

  Network_clear(): void {
    this.pens.clear();
  }

  Network_players(message: Message<In, "players">): void {
    const people = element("people");
    people.replaceChildren(
      ...message.colors.map((color) => {
        const dot = document.createElement("span");
        dot.style.background = color;
        return dot;
      }),
    );
    people.append(`${message.colors.length} drawing`);
  }

  Network_error(message: { error: string }): void {
    status(`error: ${message.error}`);
  }

  Network_disconnected(): void {
    status("disconnected: reload to reconnect");
  }
}

const client = new WhiteboardClient();
client.pens.clear();
const board = new URLSearchParams(location.search).get("board") ?? DEFAULT_BOARD;
client.connect(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
client.send({ action: "board", name: board });
// The classic loop: handlers run inside pump(), once per animation frame.
client.autoPump(animationFrames());

// The reactive side: pointer events become strokes. Each press starts a stroke at its point and
// follows the pointer until it is released; repeated points are dropped.
const toPoint = (event: PointerEvent): Point => {
  const box = canvas.getBoundingClientRect();
  return [
    Math.round(((event.clientX - box.left) / box.width) * canvas.width),
    Math.round(((event.clientY - box.top) / box.height) * canvas.height),
  ];
};
const down$ = fromEvent<PointerEvent>(canvas, "pointerdown");
const move$ = fromEvent<PointerEvent>(canvas, "pointermove");
const up$ = merge(fromEvent(window, "pointerup"), fromEvent(canvas, "pointercancel"));

down$
  .pipe(
    switchMap((down) => {
      canvas.setPointerCapture(down.pointerId);
      return move$.pipe(
        map((move) => ({ action: "drawpoint" as const, point: toPoint(move) })),
        startWith({ action: "startline" as const, point: toPoint(down) }),
        distinctUntilChanged((a, b) => a.point[0] === b.point[0] && a.point[1] === b.point[1]),
        takeUntil(up$),
      );
    }),
  )
  .subscribe((message) => {
    // Draw our own stroke at once; the server relays it to everyone else.
    if (message.action === "startline") client.pens.start(client.id, client.color, message.point);
    else client.pens.extend(client.id, message.point);
    client.send(message);
  });

fromEvent(element("clear"), "click").subscribe(() => {
  client.pens.clear();
  client.send({ action: "clear" });
});

function element<E extends HTMLElement = HTMLElement>(id: string): E {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`The page has no #${id}`);
  return found as E;
}

function status(text: string): void {
  element("status").textContent = text;
}
