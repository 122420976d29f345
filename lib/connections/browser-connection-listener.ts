import { browserConnector } from "../transports/browser-connector.js";
import type { ActionMap, UntypedActions } from "../types.js";
import { bindListener } from "./connection-listener.js";

// The browser connector checks targets up front: `connect(host, port)` and `tcp://` throw a
// TypeError at the call, since a browser cannot open TCP.
const bound = bindListener(browserConnector);

/**
 * The client side of a game, in a browser: subclass it, define `Network_<action>(message)`
 * handlers, `connect("wss://host/path")`, then pump once per frame, e.g.
 * `listener.autoPump(animationFrames())`. See {@link ConnectionListenerApi} for every member.
 * Only `ws://` and `wss://` URLs can be opened; anything else throws a `TypeError`.
 *
 * @typeParam In  messages the server sends (handler payloads, `on()`)
 * @typeParam Out messages this side sends (`send()`)
 */
export class ConnectionListener<
  In extends ActionMap = UntypedActions,
  Out extends ActionMap = UntypedActions,
> extends bound.ListenerBase<In, Out> {}

/**
 * Makes a class that already extends something (a game scene, an entity) a browser connection
 * listener: `class Level extends withConnectionListener(Phaser.Scene) { Network_move(message) { ... } }`.
 * For typed messages: `withConnectionListener<typeof Scene, ServerMessages, ClientMessages>(Scene)`.
 */
export const withConnectionListener = bound.withConnectionListener;
