import type { IncomingMessage } from "../types.js";

/** What both `Channel` and `ConnectionListener` offer to the dispatcher. */
export interface DispatchTarget {
  networkReceived(message: IncomingMessage): unknown;
}

type Handler = (message: IncomingMessage) => unknown;

/**
 * `"Network_" + action` for each action seen, cached because building it is the only per-message
 * allocation of a dispatch. Bounded in entries and in size: a peer sending endless distinct
 * actions, or long ones (up to `maxPayload` each), must not grow it without limit, so past the
 * bounds names are built on the fly. The cache is shared by every connection of the process.
 */
const namesByAction = new Map<string, string>();
const MAX_CACHED_ACTIONS = 4096;
/** Longer actions are never cached: no game names its actions with more. */
const MAX_CACHED_ACTION_LENGTH = 64;

function handlerName(action: string): string {
  let name = namesByAction.get(action);
  if (name === undefined) {
    name = "Network_" + action;
    if (namesByAction.size < MAX_CACHED_ACTIONS && action.length <= MAX_CACHED_ACTION_LENGTH) {
      namesByAction.set(action, name);
    }
  }
  return name;
}

/**
 * Finds the handler of `action` on `target` by name at call time, so handlers assigned at run
 * time work: `Network_<action>`, then for a dotted action `Network_<action with _ for .>`.
 */
export function findHandler(target: object, action: unknown): Handler | undefined {
  if (typeof action !== "string") return undefined;
  const handler = (target as Record<string, unknown>)[handlerName(action)];
  if (typeof handler === "function") return handler as Handler;
  // Dotted actions ("player.move") may also be handled by Network_player_move.
  if (action.includes(".")) {
    const underscored = (target as Record<string, unknown>)[handlerName(action.replaceAll(".", "_"))];
    if (typeof underscored === "function") return underscored as Handler;
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
