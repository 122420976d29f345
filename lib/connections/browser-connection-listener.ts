import { assertBrowserTarget, browserConnector } from "../transports/browser-connector.js";
import { parseConnectTarget } from "../transports/connect-target.js";
import type { ActionMap, UntypedActions } from "../types.js";
import {
  listenerMixin,
  type ConnectionListenerApi,
  type ConnectOptions,
  type Constructor,
  type LocalServer,
} from "./connection-listener.js";

type ConnectArguments = [
  hostOrServer?: string | LocalServer,
  portOrOptions?: number | ConnectOptions,
  options?: ConnectOptions,
];

/**
 * The shared listener bound to the browser connector, with `connect()` refusing what a browser
 * cannot open (`tcp://`, `connect(host, port)`) with a `TypeError` at the call.
 */
function browserListenerMixin<TBase extends Constructor>(Base: TBase): TBase & Constructor<ConnectionListenerApi> {
  const Listener = listenerMixin(Base, browserConnector);
  const connect = Listener.prototype.connect as (this: ConnectionListenerApi, ...args: ConnectArguments) => void;
  return class BrowserConnectionListener extends Listener {
    override connect(...args: ConnectArguments): void {
      const [hostOrServer, portOrOptions] = args;
      if (typeof hostOrServer !== "object") {
        assertBrowserTarget(
          parseConnectTarget(hostOrServer, typeof portOrOptions === "number" ? portOrOptions : undefined),
        );
      }
      connect.apply(this, args);
    }
  };
}

const ListenerBase = browserListenerMixin(Object) as unknown as new <
  In extends ActionMap,
  Out extends ActionMap,
>() => ConnectionListenerApi<In, Out>;

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
> extends ListenerBase<In, Out> {}

/**
 * Makes a class that already extends something (a game scene, an entity) a browser connection
 * listener: `class Level extends withConnectionListener(Phaser.Scene) { Network_move(message) { ... } }`.
 * For typed messages: `withConnectionListener<typeof Scene, ServerMessages, ClientMessages>(Scene)`.
 */
export function withConnectionListener<
  TBase extends Constructor,
  In extends ActionMap = UntypedActions,
  Out extends ActionMap = UntypedActions,
>(Base: TBase): TBase & Constructor<ConnectionListenerApi<In, Out>> {
  return browserListenerMixin(Base) as TBase & Constructor<ConnectionListenerApi<In, Out>>;
}
