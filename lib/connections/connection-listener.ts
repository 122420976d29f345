import { filter, Observable, Subject, type Subscription } from "rxjs";
import { dispatch } from "../dispatch/dispatch.js";
import { PumpScheduler } from "../scheduling/pump-scheduler.js";
import { parseConnectTarget } from "../transports/connect-target.js";
import type { Connector } from "../transports/transport.js";
import type { ActionMap, BuiltInActions, IncomingMessage, Message, UntypedActions } from "../types.js";
import { Client, type ClientOptions } from "./client.js";

/** Options of `connect()`: the client's limits, heartbeat and reconnection policy. */
export type ConnectOptions = ClientOptions;

/**
 * The client side of a game: connect, then call `pump()` once per frame to run the `Network_*`
 * handlers of everything that arrived since the last frame, in arrival order.
 *
 * @typeParam In  messages the server sends (handler payloads, `on()`)
 * @typeParam Out messages this side sends (`send()`)
 */
export interface ConnectionListenerApi<In extends ActionMap = UntypedActions, Out extends ActionMap = UntypedActions> {
  /** The scheduler `pump()` flushes; pass it to `observeOn` to run your own streams inside `pump()`. */
  readonly scheduler: PumpScheduler;
  /** The current connection, or `null` before `connect()`. */
  readonly connection: Client<In, Out> | null;
  /** Every message of every connection of this listener, live (not deferred to `pump()`). */
  readonly messages$: Observable<Message<In & BuiltInActions>>;
  /**
   * Connects to a server and returns at once; the outcome arrives through `pump()` as built-in
   * actions: `connected` and `socketConnect`, or one `error` if the connection cannot be made.
   * Accepts `(host, port)`, `("tcp://host:port")` or a WebSocket URL `("ws://host:port/path")`.
   * A previous connection of this listener is closed first.
   */
  connect(host?: string, port?: number, options?: ConnectOptions): void;
  /**
   * Runs the handlers of every message queued before this call, in arrival order, each exactly
   * once, and returns how many ran. A handler's exception leaves `pump()` like any synchronous
   * call; the messages after it stay queued for the next `pump()`.
   */
  pump(): number;
  /** Sends one message; returns the bytes queued, or 0 when not connected. */
  send(message: Message<Out>): number;
  /** Closes the connection gracefully (everything sent before is delivered). */
  close(): void;
  /** The live Observable of one action's messages, for composing RxJS operators. */
  on<K extends keyof (In & BuiltInActions) & string>(action: K): Observable<Message<In & BuiltInActions, K>>;
  /**
   * Calls `pump()` on every emission of `ticks$` (`animationFrames()` in a browser, `interval(16)`
   * in Node) until the returned subscription is unsubscribed. A handler's exception goes to
   * `onError` if given; otherwise it is rethrown asynchronously, like an exception in any other
   * timer callback. Either way the next tick keeps pumping.
   */
  autoPump(ticks$: Observable<unknown>, onError?: (error: unknown) => void): Subscription;
  /** Called for a message that has no `Network_*` handler. Default: does nothing. */
  networkReceived(message: IncomingMessage): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Constructor<T = object> = new (...args: any[]) => T;

/**
 * Makes any class a connection listener, for classes that already extend something (a game
 * scene): `class Level extends withConnectionListener(Scene) { Network_move(m) { ... } }`.
 * @internal Exposed through the entry points with their own connector.
 */
export function listenerMixin<TBase extends Constructor>(
  Base: TBase,
  connector: Connector,
): TBase & Constructor<ConnectionListenerApi> {
  return class ConnectionListener extends Base implements ConnectionListenerApi {
    readonly scheduler = new PumpScheduler();
    connection: Client | null = null;
    private readonly messagesSubject = new Subject<IncomingMessage>();
    readonly messages$ = this.messagesSubject.asObservable() as Observable<Message<BuiltInActions & UntypedActions>>;
    private readonly runHandler = (message: IncomingMessage): void => {
      dispatch(this, message);
    };

    connect(host?: string, port?: number, options: ConnectOptions = {}): void {
      const target = parseConnectTarget(host, port);
      this.close();
      const client = new Client(target, connector, options);
      this.connection = client;
      // Ends by itself: messages$ completes once the connection is over.
      client.messages$.subscribe((message: IncomingMessage) => {
        this.scheduler.enqueue(this.runHandler, message);
        this.messagesSubject.next(message);
      });
    }

    pump(): number {
      return this.scheduler.flush();
    }

    send(message: Message): number {
      return this.connection === null ? 0 : this.connection.send(message);
    }

    close(): void {
      // The subscription stays until the old connection completes, so its `disconnected` arrives.
      this.connection?.close();
    }

    on(action: string): Observable<never> {
      return this.messages$.pipe(filter((message) => message.action === action)) as Observable<never>;
    }

    autoPump(ticks$: Observable<unknown>, onError?: (error: unknown) => void): Subscription {
      return ticks$.subscribe(() => {
        try {
          this.pump();
        } catch (error) {
          if (onError) onError(error);
          else
            setTimeout(() => {
              throw error;
            });
        }
      });
    }

    networkReceived(message: IncomingMessage): void {
      void message;
    }
  };
}
