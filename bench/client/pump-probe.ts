import { filter, firstValueFrom, type Subscription } from "rxjs";
import { ConnectionListener, type IncomingMessage } from "../../lib/index.js";
import type { AppMessage } from "../impls/bench-messages.js";
import { within } from "../impls/bench-server.js";
import { connectListener } from "../impls/repod.js";

/** Handlers with a little real work each, so neither dispatch loop can be optimised away. */
class PumpListener extends ConnectionListener {
  total = 0;

  Network_move(message: AppMessage): void {
    this.total += message.seq as number;
  }

  Network_chat(message: AppMessage): void {
    this.total += (message.text as string).length;
  }

  Network_fire(message: AppMessage): void {
    this.total += message.angle as number;
  }

  Network_hit(message: AppMessage): void {
    this.total += message.damage as number;
  }
}

/** The baseline: what a hand-written game loop does with an array of decoded messages. */
function switchDispatch(target: PumpListener, messages: readonly AppMessage[]): void {
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    switch (message.action) {
      case "move":
        target.Network_move(message);
        break;
      case "chat":
        target.Network_chat(message);
        break;
      case "fire":
        target.Network_fire(message);
        break;
      case "hit":
        target.Network_hit(message);
        break;
      default:
        target.networkReceived(message as IncomingMessage);
    }
  }
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function time(work: () => void): number {
  const start = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - start);
}

export interface PumpSample {
  readonly pumpNs: number;
  readonly switchNs: number;
  readonly dispatched: number;
}

/**
 * The client half of the pump scenario. The listener's queue can only be filled through a real
 * connection (the public API has no way to hand it decoded messages), so the server sends a burst
 * over loopback; this probe lets it arrive without pumping, then times one `pump()` of the whole
 * queue and one switch loop over the very same message objects.
 */
export class PumpProbe {
  private readonly listener = new PumpListener();
  private captured: AppMessage[] = [];
  private capture: Subscription | null = null;

  async open(port: number): Promise<void> {
    this.capture = this.listener.messages$.subscribe((message) => this.captured.push(message as AppMessage));
    await connectListener(this.listener, "tcp", port);
    this.arm();
  }

  /** Empties the queue and the captured array before a burst. */
  arm(): void {
    for (let i = 0; i < 100 && this.listener.scheduler.size > 0; i++) this.listener.pump();
    this.captured = [];
  }

  async measure(count: number, switchFirst: boolean): Promise<PumpSample> {
    await within(
      (async () => {
        while (this.captured.length < count) await new Promise((resolve) => setTimeout(resolve, 1));
      })(),
      10_000,
      `${count} messages of the pump burst`,
    );
    const messages = this.captured;
    let dispatched = 0;
    let pumpNs = 0;
    let switchNs = 0;
    const runPump = (): void => {
      collectGarbage();
      pumpNs = time(() => {
        dispatched = this.listener.pump();
      });
    };
    const runSwitch = (): void => {
      collectGarbage();
      switchNs = time(() => switchDispatch(this.listener, messages));
    };
    const before = this.listener.total;
    if (switchFirst) {
      runSwitch();
      runPump();
    } else {
      runPump();
      runSwitch();
    }
    if (dispatched !== messages.length)
      throw new Error(`pump() ran ${dispatched} handlers for ${messages.length} queued messages`);
    if (!Number.isFinite(this.listener.total - before)) throw new Error("handlers produced no finite total");
    this.captured = [];
    return { pumpNs, switchNs, dispatched };
  }

  async close(): Promise<void> {
    const gone = firstValueFrom(this.listener.messages$.pipe(filter((m) => m.action === "disconnected")));
    this.listener.close();
    await within(gone, 1_000, "pump probe disconnect").catch(() => {});
    this.capture?.unsubscribe();
  }
}
