/**
 * What the processes of the soak (bench/soak.ts) share: the actions the soak server handles, and
 * what each role reports.
 */

/** The actions of the soak server's channels. */
export const ACTIONS = {
  /** `{ secret }`: the good client identifies itself; anyone else sending it is ignored. */
  good: "good",
  /** `{ n }`: a numbered message; from the good client, checked and echoed. */
  num: "num",
  /** `{ n }`: the server's own numbered stream to the good client. */
  seq: "seq",
  /** Join the room of the state stream. */
  watch: "watch",
  /** The ~2 KB state broadcast to the watchers, latest-wins. */
  state: "state",
  /** What the flooders send as fast as they can. */
  flood: "flood",
  /** Echoed as it came. */
  echo: "echo",
  /** A request, answered `{ ok: true }`. */
  ask: "ask",
} as const;

/** Where the soak server listens. */
export interface SoakPorts {
  readonly tcp: number;
  readonly ws: number;
}

export type Transport = "tcp" | "ws";

/** Counts by name, e.g. hostile inputs by kind or closes by error code. */
export type Counts = Record<string, number>;

/** The server's log count of invalid messages dropped without a line of their own. */
export const UNLOGGED_DROPS = "dropped, not logged one by one";

export function bump(counts: Counts, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/** What the server saw of one good connection. */
export interface GoodChannelStats {
  readonly transport: Transport;
  /** Numbered messages received in order from the good client. */
  readonly received: number;
  /** Numbered messages that arrived out of order or twice, or numbers skipped (must all be 0). */
  readonly outOfOrder: number;
  /** Numbered messages the server sent it (`seq`), and whether it is still connected. */
  readonly seqSent: number;
  readonly connected: boolean;
  /** The code its connection ended with, if it ended. */
  readonly closeCode: string | null;
}

/** What the server reports. */
export interface ServerStats {
  readonly rssMiB: number;
  readonly heapMiB: number;
  /** Channels open now, by what the peer showed itself to be (good, flooder, watcher, other), and opened since the start. */
  readonly channels: number;
  readonly open: Counts;
  readonly accepted: number;
  /** Connections that ended, by the code they ended with ("clean" for a close without error). */
  readonly closes: Counts;
  /** Log events by message, and `dropped` warnings by code. */
  readonly log: Counts;
  /** The first lines of library failures (`receive failed`) and channel errors, verbatim. */
  readonly failures: string[];
  readonly good: GoodChannelStats[];
  /** Messages dispatched to handlers, by action (the flood, the echo...). */
  readonly dispatched: Counts;
  readonly statesBroadcast: number;
}

/** What the good client reports, per connection. */
export interface GoodClientStats {
  readonly transport: Transport;
  /** Numbered messages sent, and their echoes received in order. */
  readonly sent: number;
  readonly echoed: number;
  /** Numbered `seq` messages received from the server in order. */
  readonly seqReceived: number;
  /** Echoes or seq messages out of order, duplicated or skipped (must be 0). */
  readonly outOfOrder: number;
  /** Requests sent, answered, failed. */
  readonly requests: number;
  readonly answered: number;
  readonly requestErrors: number;
  /** States received from the broadcast. */
  readonly states: number;
  /** Times the connection ended or errored (must be 0). */
  readonly disconnections: number;
  readonly errors: string[];
}

/** What an attacker role reports. */
export interface AttackerStats {
  /** Inputs or actions tried, by kind. */
  readonly tried: Counts;
  /** Connections opened, and how they ended as seen from the attacker. */
  readonly connections: number;
  readonly endings: Counts;
  /** Whatever else the role counts (messages flooded, bytes read...). */
  readonly extra: Counts;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
