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

/**
 * In front of the map, a small table indexed by a hash of the action's length and first and last
 * characters: every decoded action is a fresh string, which a `Map` lookup must hash in full
 * first, while comparing it with the one string its slot holds costs a few character reads. Two
 * actions that share a slot take turns in it, and the map answers for the other.
 */
const SLOT_COUNT = 64;
const slotActions: (string | undefined)[] = new Array<string | undefined>(SLOT_COUNT).fill(undefined);
const slotNames: string[] = new Array<string>(SLOT_COUNT).fill("");

function handlerName(action: string): string {
  const length = action.length;
  const slot =
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ArithmeticOperator: any slot works, the hash only spreads actions over them
    length === 0 ? 0 : (length * 7 + action.charCodeAt(0) * 3 + action.charCodeAt(length - 1)) & (SLOT_COUNT - 1);
  // Stryker disable next-line ConditionalExpression: the table only saves the map lookup below, which gives the same name
  if (slotActions[slot] === action) return slotNames[slot]!;
  let name = namesByAction.get(action);
  // Stryker disable next-line ConditionalExpression: building the name again gives the same name; the cache only saves that work
  if (name === undefined) {
    name = "Network_" + action;
    // Stryker disable next-line EqualityOperator: whether a name of exactly the bound is cached only changes how much work the cache saves
    if (length > MAX_CACHED_ACTION_LENGTH) return name;
    // As a property key, once: the name the handler lookups use is then an internalized string,
    // which V8 looks up on an object without hashing it again.
    name = Object.keys({ [name]: 0 })[0]!;
    // Stryker disable next-line EqualityOperator: caching 4,097 names, or none, only changes how much work the cache saves
    if (namesByAction.size < MAX_CACHED_ACTIONS) namesByAction.set(action, name);
  }
  slotActions[slot] = action;
  slotNames[slot] = name;
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
  // Stryker disable next-line ConditionalExpression,StringLiteral: without a dot, the underscored name is the name just looked up
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
