/**
 * The soak's good client: one repod-rx `ConnectionListener` over TCP and one over WebSocket, each
 * connected once for the whole soak, exchanging numbered messages with the server the whole time:
 * 100 a second each way (`num`, echoed by the server), the server's own numbered stream (`seq`,
 * 50 a second), a request every 200 ms, and the state broadcast. Everything numbered must arrive,
 * in order, exactly once; the connection must never end.
 */
import type { Subscription } from "rxjs";
import { ConnectionListener, RepodError, type IncomingMessage } from "../../lib/index.js";
import { serveRole } from "../harness/role-child.js";
import { pumpOnArrival } from "../impls/repod.js";
import { ACTIONS, sleep, type GoodClientStats, type SoakPorts, type Transport } from "./shared.js";

const NUM_INTERVAL_MS = 10;
const ASK_INTERVAL_MS = 200;

class GoodListener extends ConnectionListener {
  sent = 0;
  echoed = 0;
  seqReceived = 0;
  outOfOrder = 0;
  requests = 0;
  answered = 0;
  requestErrors = 0;
  states = 0;
  disconnections = 0;
  connected = false;
  readonly errors: string[] = [];

  constructor(readonly transport: Transport) {
    super();
  }

  Network_connected(): void {
    this.connected = true;
  }

  /** The numbers expected next; a gap, a repeat or a step back counts once as out of order. */
  #nextEcho = 0;
  #nextSeq = 0;

  Network_num(message: IncomingMessage): void {
    if (message.n !== this.#nextEcho) this.outOfOrder++;
    this.#nextEcho = (message.n as number) + 1;
    this.echoed++;
  }

  Network_seq(message: IncomingMessage): void {
    if (message.n !== this.#nextSeq) this.outOfOrder++;
    this.#nextSeq = (message.n as number) + 1;
    this.seqReceived++;
  }

  Network_state(): void {
    this.states++;
  }

  Network_disconnected(): void {
    this.connected = false;
    this.disconnections++;
  }

  Network_error(message: IncomingMessage): void {
    if (this.errors.length < 10) this.errors.push(String(message.error));
  }

  stats(): GoodClientStats {
    return {
      transport: this.transport,
      sent: this.sent,
      echoed: this.echoed,
      seqReceived: this.seqReceived,
      outOfOrder: this.outOfOrder,
      requests: this.requests,
      answered: this.answered,
      requestErrors: this.requestErrors,
      states: this.states,
      disconnections: this.disconnections,
      errors: [...this.errors],
    };
  }
}

export function goodClientRole(): void {
  const listeners: GoodListener[] = [];
  const subscriptions: Subscription[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];

  serveRole("soak good client", {
    async start({ ports, secret }: { ports: SoakPorts; secret: string }) {
      for (const transport of ["tcp", "ws"] as const) {
        const listener = new GoodListener(transport);
        subscriptions.push(pumpOnArrival(listener));
        if (transport === "ws") listener.connect(`ws://127.0.0.1:${ports.ws}`);
        else listener.connect("127.0.0.1", ports.tcp);
        const deadline = Date.now() + 10_000;
        while (!listener.connected) {
          if (Date.now() > deadline || listener.errors.length > 0) {
            throw new Error(`the good ${transport} client could not connect: ${listener.errors.join("; ")}`);
          }
          await sleep(10);
        }
        listener.send({ action: ACTIONS.good, secret, transport });
        listener.send({ action: ACTIONS.watch });
        listeners.push(listener);
      }
      timers.push(
        setInterval(() => {
          for (const listener of listeners) {
            if (listener.send({ action: ACTIONS.num, n: listener.sent }) > 0) listener.sent++;
          }
        }, NUM_INTERVAL_MS),
        setInterval(() => {
          for (const listener of listeners) {
            listener.requests++;
            subscriptions.push(
              listener.request({ action: ACTIONS.ask }).subscribe({
                next: () => listener.answered++,
                error: (error: unknown) => {
                  listener.requestErrors++;
                  if (listener.errors.length < 10) {
                    listener.errors.push(error instanceof RepodError ? `request: ${error.code}` : String(error));
                  }
                },
              }),
            );
          }
        }, ASK_INTERVAL_MS),
      );
    },

    /** Stops sending; returns what was sent. */
    stop() {
      for (const timer of timers.splice(0)) clearInterval(timer);
      return listeners.map((listener) => listener.stats());
    },

    /**
     * Resolves once every echo and request is back and `seq` has reached what the server sent
     * (`seqSent`, by transport), or once nothing more has arrived for `quietMs`, or after
     * `timeoutMs`: what is missing then is lost.
     */
    async settle({
      seqSent,
      quietMs,
      timeoutMs,
    }: {
      seqSent: Partial<Record<Transport, number>>;
      quietMs: number;
      timeoutMs: number;
    }) {
      const deadline = Date.now() + timeoutMs;
      const done = (listener: GoodListener): boolean =>
        listener.echoed >= listener.sent &&
        listener.answered + listener.requestErrors >= listener.requests &&
        listener.seqReceived >= (seqSent[listener.transport] ?? 0);
      const progress = (): number =>
        listeners.reduce((sum, l) => sum + l.echoed + l.answered + l.requestErrors + l.seqReceived, 0);
      let last = progress();
      let lastChange = Date.now();
      while (!listeners.every(done) && Date.now() < deadline && Date.now() - lastChange < quietMs) {
        await sleep(20);
        if (progress() !== last) {
          last = progress();
          lastChange = Date.now();
        }
      }
      return listeners.map((listener) => listener.stats());
    },

    exit() {
      for (const timer of timers) clearInterval(timer);
      for (const subscription of subscriptions) subscription.unsubscribe();
      for (const listener of listeners) listener.close();
    },
  });
}
