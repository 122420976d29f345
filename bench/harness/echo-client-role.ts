/**
 * The client role of an echo row's child: one repod-rx client at a time, receiving through a
 * `Network_move` handler run by `pump()` (as in the echo scenario), driven through the pipelined
 * echo of ../client/echo-driver.ts by the commands the harness sends that role (./echo-rounds.ts):
 * `echo.open`, `echo.run`, `echo.close`, `exit`.
 */
import { filter, firstValueFrom, type Subscription } from "rxjs";
import { ConnectionListener } from "../../lib/index.js";
import { pipelinedEcho } from "../client/echo-driver.js";
import type { AppMessage } from "../impls/bench-messages.js";
import { settleWithin, within, type ClientLink } from "../impls/bench-server.js";
import { pumpOnArrival } from "../impls/repod.js";
import type { CommandTable } from "./ipc.js";

/** A client that hands every `move` its `Network_move` handler receives to `onApp`. */
export class EchoListener extends ConnectionListener {
  onApp: (message: AppMessage) => void = () => {};

  Network_move(message: AppMessage): void {
    this.onApp(message);
  }
}

/** How to connect one client of a variant. */
export interface EchoLinkOptions {
  /** Calls `listener.connect(...)` to the variant's server. */
  readonly connect: (listener: EchoListener) => void;
  /** Named in the error if the connection is not made within 10 s, e.g. `repod-rx connect to 127.0.0.1:PORT`. */
  readonly what: string;
  /** Checks made once connected (e.g. that the client got what the variant claims); a throw closes the link. */
  readonly afterConnect?: (listener: EchoListener) => Promise<void>;
}

/** Connects a client and resolves once it is connected (and `afterConnect` resolved); closed on failure. */
export async function openEchoLink(options: EchoLinkOptions): Promise<ClientLink> {
  const listener = new EchoListener();
  const subscriptions: Subscription[] = [pumpOnArrival(listener)];
  const link: ClientLink = {
    onMessage: () => {},
    send: (message) => {
      listener.send(message as never);
    },
    async close() {
      const gone = firstValueFrom(listener.messages$.pipe(filter((m) => m.action === "disconnected")));
      listener.close();
      await settleWithin(gone, 1_000);
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
  };
  listener.onApp = (message) => link.onMessage(message);
  try {
    const outcome = firstValueFrom(
      listener.messages$.pipe(filter((m) => m.action === "connected" || m.action === "error")),
    );
    options.connect(listener);
    const first = await within(outcome, 10_000, options.what);
    if (first.action === "error") throw new Error(`could not connect: ${String(first.error)}`);
    await options.afterConnect?.(listener);
  } catch (error) {
    await link.close();
    throw error;
  }
  return link;
}

/** The sizes every `echo.open` carries, besides the variant's own arguments. */
export interface EchoOpenArgs {
  /** Unmeasured round trips run before `echo.open` answers, so that the measured run starts warm. */
  readonly warmup: number;
  /** Round trips in flight during the warmup. */
  readonly window: number;
}

/**
 * The client role's commands.
 * @param open connects a client of the variant `echo.open` names.
 */
export function echoClientCommands<A extends EchoOpenArgs>(open: (args: A) => Promise<ClientLink>): CommandTable {
  let echoLink: ClientLink | null = null;
  const closeLink = async (): Promise<void> => {
    const link = echoLink;
    echoLink = null;
    await link?.close();
  };
  return {
    async "echo.open"(args: A) {
      await closeLink();
      echoLink = await open(args);
      if (args.warmup > 0) await pipelinedEcho(echoLink, args.warmup, args.window, 30_000);
    },

    async "echo.run"({ count, window, timeoutMs }: { count: number; window: number; timeoutMs: number }) {
      if (echoLink === null) throw new Error("echo.run before echo.open");
      return { elapsedNs: await pipelinedEcho(echoLink, count, window, timeoutMs) };
    },

    "echo.close": closeLink,

    exit: closeLink,
  };
}
