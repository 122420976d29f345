import { nodeConnector } from "../transports/node-connector.js";
import type { ActionMap, UntypedActions } from "../types.js";
import { bindListener } from "./connection-listener.js";

const bound = bindListener(nodeConnector);

/**
 * The client side of a game: subclass it, define `Network_<action>(message)` handlers, call
 * `connect()`, then `pump()` once per frame. See {@link ConnectionListenerApi} for every member.
 *
 * @typeParam In  messages the server sends (handler payloads, `on()`)
 * @typeParam Out messages this side sends (`send()`)
 */
export class ConnectionListener<
  In extends ActionMap = UntypedActions,
  Out extends ActionMap = UntypedActions,
> extends bound.ListenerBase<In, Out> {}

/**
 * Makes a class that already extends something (a game scene, an entity) a connection listener:
 * `class Level extends withConnectionListener(Scene) { Network_move(message) { ... } }`.
 * For typed messages: `withConnectionListener<typeof Scene, ServerMessages, ClientMessages>(Scene)`.
 */
export const withConnectionListener = bound.withConnectionListener;
