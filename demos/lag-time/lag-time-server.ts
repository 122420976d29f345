// The lag-time demo's server, after repod's lag_time example: it pings each client, the client
// sends the ping back, and the server measures the round trip and prints per-client statistics.
// The protocol is repod's (`{ action: "ping", count }`, echoed unchanged), so repod's Python
// lag-time client can be measured too.

import { Channel, Server, type ServerOptions } from "../../lib/index.js";
import { formatSummary, RttStats, type RttSummary } from "./rtt-stats.js";

/** The one message of this demo, in both directions: the client echoes it. */
export type PingMessages = {
  ping: { count: number };
};

/** The server's side of one measured client. */
export class LagTimeChannel extends Channel<LagTimeServer, PingMessages, PingMessages> {
  /** The round trips measured for this client. */
  readonly stats = new RttStats();
  private readonly sentAt = new Map<number, number>();
  private count = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** Sends the next ping, timestamped on the server's clock. */
  ping(): void {
    this.timer = null;
    const count = this.count++;
    this.sentAt.set(count, this.server.now());
    this.send({ action: "ping", count });
  }

  /** The client's echo: one round trip. */
  Network_ping(message: { count?: unknown }): void {
    const sentAt = typeof message.count === "number" ? this.sentAt.get(message.count) : undefined;
    if (sentAt === undefined) return; // not one of ours, or already answered
    this.sentAt.delete(message.count as number);
    this.stats.add(this.server.now() - sentAt);
    this.server.measured(this);
    this.timer = setTimeout(() => this.ping(), this.server.interval);
  }

  override onClose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.server.report(this, "disconnected");
  }
}

/** Options of a {@link LagTimeServer}: the library's server options, plus the measurement's. */
export interface LagTimeServerOptions extends ServerOptions<LagTimeChannel> {
  /** Milliseconds between an answer and the next ping. Default 100. */
  readonly interval?: number;
  /** Print a client's statistics every this many round trips. Default 10. */
  readonly reportEvery?: number;
  /** Receives each printed line. Default `console.log`. */
  readonly log?: (line: string) => void;
  /** The clock, in milliseconds. Default `performance.now`. */
  readonly now?: () => number;
}

/** A client's statistics as reported, for tests and tools. */
export interface LagTimeReport {
  readonly channel: LagTimeChannel;
  readonly summary: RttSummary;
  readonly final: boolean;
}

/** Pings every client and prints its round-trip statistics. */
export class LagTimeServer extends Server<LagTimeChannel> {
  override channelClass = LagTimeChannel;
  readonly interval: number;
  readonly reportEvery: number;
  readonly now: () => number;
  /** Every report printed, oldest first. */
  readonly reports: LagTimeReport[] = [];
  private readonly log: (line: string) => void;

  constructor(options: LagTimeServerOptions = {}) {
    const {
      interval = 100,
      reportEvery = 10,
      log = console.log,
      now = () => performance.now(),
      ...serverOptions
    } = options;
    super(serverOptions);
    if (!Number.isInteger(reportEvery) || reportEvery < 1)
      throw new RangeError(`reportEvery must be an integer of at least 1, got ${reportEvery}`);
    if (!(interval >= 0))
      throw new RangeError(`interval must be a number of milliseconds of at least 0, got ${interval}`);
    this.interval = interval;
    this.reportEvery = reportEvery;
    this.now = now;
    this.log = log;
  }

  override onConnect(channel: LagTimeChannel): void {
    this.log(`client ${channel.id} (${channel.addr.host}:${channel.addr.port}) connected`);
    channel.ping();
  }

  /** Called after each round trip; reports every `reportEvery`th. */
  measured(channel: LagTimeChannel): void {
    if (channel.stats.count % this.reportEvery === 0) this.report(channel, "so far");
  }

  /** Prints `channel`'s statistics. */
  report(channel: LagTimeChannel, when: "so far" | "disconnected"): void {
    const summary = channel.stats.summary();
    this.reports.push({ channel, summary, final: when === "disconnected" });
    this.log(`client ${channel.id} ${when}: ${formatSummary(summary)}`);
  }
}
