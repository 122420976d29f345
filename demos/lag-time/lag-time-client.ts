// The lag-time demo's client: sends every ping back. Two ways, to compare what a game loop adds
// to the round trip: "pump" answers in a Network_ping handler (inside pump(), once per frame, as
// repod does), "live" answers from the ping stream the moment the message arrives.

import type { Subscription } from "rxjs";
import { ConnectionListener, type Message } from "../../lib/index.js";
import type { PingMessages } from "./lag-time-server.js";

/** When a {@link LagTimeClient} answers a ping. */
export type AnswerMode = "pump" | "live";

/** Options of a {@link LagTimeClient}. */
export interface LagTimeClientOptions {
  /** Default `"pump"`. */
  readonly answer?: AnswerMode;
  /** Closes the connection after answering this many pings. Default `Infinity`. */
  readonly maxPings?: number;
  /** Receives each line to show. Default: nothing is shown. */
  readonly print?: (line: string) => void;
}

/** Answers the server's pings. */
export class LagTimeClient extends ConnectionListener<PingMessages, PingMessages> {
  /** How many pings were answered. */
  answered = 0;
  /** Whether the connection has ended (or never opened). */
  ended = false;
  readonly answer: AnswerMode;
  private readonly maxPings: number;
  private readonly print: (line: string) => void;
  private readonly live: Subscription | null;

  constructor(options: LagTimeClientOptions = {}) {
    super();
    this.answer = options.answer ?? "pump";
    this.maxPings = options.maxPings ?? Infinity;
    this.print = options.print ?? (() => {});
    // The reactive style: the stream of one action, answered as each message arrives.
    this.live = this.answer === "live" ? this.on("ping").subscribe((message) => this.echo(message)) : null;
  }

  /** The classic style: runs inside pump(). */
  Network_ping(message: Message<PingMessages, "ping">): void {
    if (this.answer === "pump") this.echo(message);
  }

  Network_connected(): void {
    this.print(`connected; answering pings ${this.answer === "pump" ? "inside pump()" : "as they arrive"}`);
  }

  Network_error(message: { error: string }): void {
    this.print(`error: ${message.error}`);
    this.finish();
  }

  Network_disconnected(): void {
    this.print(`disconnected after ${this.answered} pings`);
    this.finish();
  }

  private echo(message: Message<PingMessages, "ping">): void {
    if (this.answered >= this.maxPings) return;
    this.send(message);
    this.answered++;
    if (this.answered >= this.maxPings) this.close();
  }

  private finish(): void {
    this.ended = true;
    this.live?.unsubscribe();
  }
}
