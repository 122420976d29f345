import type { IncomingMessage } from "../types.js";

/** What both `Channel` and `ConnectionListener` offer to the dispatcher. */
export interface DispatchTarget {
  networkReceived(message: IncomingMessage): unknown;
}

type Handler = (message: IncomingMessage) => unknown;

/**
 * Method names tried for an action, cached because building them is the only per-message
 * allocation of a dispatch. The cache is bounded: a peer sending endless distinct actions must not
 * grow it without limit, so past the bound names are built on the fly.
 */
const namesByAction = new Map<string, readonly string[]>();
const MAX_CACHED_ACTIONS = 4096;

function handlerNames(action: string): readonly string[] {
  let names = namesByAction.get(action);
  if (names === undefined) {
    const primary = "Network_" + action;
    // Dotted actions ("player.move") may also be handled by Network_player_move.
    names = action.includes(".") ? [primary, "Network_" + action.replaceAll(".", "_")] : [primary];
    if (namesByAction.size < MAX_CACHED_ACTIONS) namesByAction.set(action, names);
  }
  return names;
}

/**
 * Finds the handler of `action` on `target` by name at call time, so handlers assigned at run
 * time work: `Network_<action>`, then for a dotted action `Network_<action with _ for .>`.
 */
export function findHandler(target: object, action: unknown): Handler | undefined {
  if (typeof action !== "string") return undefined;
  for (const name of handlerNames(action)) {
    const handler = (target as Record<string, unknown>)[name];
    if (typeof handler === "function") return handler as Handler;
  }
  return undefined;
}

/**
 * Calls the `Network_*` handler of the message's action on `target`, or `networkReceived` when
 * there is none (no `action`, a non-string `action`, or no such method). Returns what the handler
 * returned; exceptions propagate to the caller.
 */
export function dispatch(target: DispatchTarget, message: IncomingMessage): unknown {
  const handler = findHandler(target, message.action);
  return handler === undefined ? target.networkReceived(message) : handler.call(target, message);
}
