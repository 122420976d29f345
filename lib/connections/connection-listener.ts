import { filter, Observable, Subject, Subscription } from "rxjs";
import { REPLY_ACTION } from "../constants.js";
import { dispatch } from "../dispatch/dispatch.js";
import { PendingAnswers } from "../dispatch/pending-answers.js";
import { PendingRequests, requestId, type RequestOptions } from "../dispatch/requests.js";
import { encode } from "../protocol/codec.js";
import { PumpScheduler } from "../scheduling/pump-scheduler.js";
import { parseConnectTarget } from "../transports/connect-target.js";
import type { Connector, ConnectorOptions, ConnectTarget, Transport } from "../transports/transport.js";
import type {
  ActionMap,
  BuiltInActions,
  IncomingMessage,
  Message,
  UntypedActions,
  Received,
  replyType,
  RequestResult,
} from "../types.js";
import type { ValidationFor } from "../validation/validation-option.js";
import { Client, resolveClientOptions, type ClientOptions } from "./client.js";
import type { ClockSample } from "./connection.js";
import { checkSendOptions, type SendOptions } from "./outbox.js";

/**
 * Options of `connect()`: the client's limits, heartbeat and reconnection policy. On a listener
 * typed `ConnectionListener<In, Out>`, the compiler checks the `validation` option against the
 * protocol (see {@link ValidationFor}): its schemas must output what `In` declares, its `replies`
 * the replies `Out` declares.
 *
 * @typeParam In  messages the server sends
 * @typeParam Out messages this side sends
 */
export type ConnectOptions<
  In extends ActionMap = UntypedActions,
  Out extends ActionMap = UntypedActions,
> = ClientOptions & {
  /**
   * Checks every message the server sends (and, with `replies`, the replies to this side's
   * requests) against its schema: `schemaValidation(serverSchemas, { replies: clientSchemas })`.
   * See `ClientOptions.validation`.
   */
  readonly validation?: ValidationFor<In, Out>;
};

/** A server in the same process, as accepted by `connect(server)` (see `Server.listenLocal`). */
export interface LocalServer {
  /** @internal What `connect(server)` calls to open an in-process connection; not for games. */
  openLocal(options: ConnectorOptions): Transport;
}

const LOCAL_TARGET: ConnectTarget = Object.freeze({
  protocol: "memory",
  host: "local",
  port: 0,
  url: "memory://local",
});

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
  readonly messages$: Observable<Received<In>>;
  /**
   * Heartbeat round trips with the server's clock, of every connection of this listener (with the
   * `heartbeat` option on): the input of `serverClock` in `repod-rx/operators`.
   */
  readonly clockSamples$: Observable<ClockSample>;
  /**
   * Connects to a server and returns at once; the outcome arrives through `pump()` as built-in
   * actions: `connected` and `socketConnect`, or one `error` if the connection cannot be made.
   * Accepts `(host, port)`, `("tcp://host:port")` or a WebSocket URL `("ws://host:port/path")`.
   * A previous connection of this listener is closed first.
   */
  connect(host?: string, port?: number, options?: ConnectOptions<In, Out>): void;
  /** Connects to a URL (`"ws://host:port/path"`, `"wss://..."`, `"tcp://host:port"`) with options. */
  connect(url: string, options?: ConnectOptions<In, Out>): void;
  /**
   * Connects to a server in the same process, with no socket (the server must have called
   * `listenLocal()` or `start()`): same built-in actions, pump semantics and limits as TCP.
   */
  connect(server: LocalServer, options?: ConnectOptions<In, Out>): void;
  /**
   * Runs the handlers of every message queued before this call, in arrival order, each exactly
   * once, and returns how many ran. A handler's exception leaves `pump()` like any synchronous
   * call; the messages after it stay queued for the next `pump()`.
   */
  pump(): number;
  /**
   * Sends one message; returns the bytes queued, or 0 when not connected. `options`:
   * `{ volatile: true }` drops the message (returns 0) rather than let it wait behind a backlog,
   * a connection still opening or a reconnection; `{ latest: key }` replaces the message with the
   * same key that still waits unsent (see {@link SendOptions}). Default: an ordinary message.
   * @throws {TypeError} for a value that cannot be encoded, or options of the wrong type.
   */
  send(message: Message<Out>, options?: SendOptions): number;
  /**
   * Asks the server something: sends `message` and emits the reply once (the server's handler
   * answers by returning a value), then completes. Cold: each subscription sends one request.
   * The reply is delivered inside `pump()`, in arrival order with every other message. Errors on
   * timeout (`ERR_REQUEST_TIMEOUT`, default 10 s), on an error reply (`RequestError` carrying the
   * server's message), or when the connection ends first; unsubscribing cancels the wait and a
   * late reply is dropped.
   *
   * The reply's type is the one `Out` declares for the action (`WithReply`, or `withReply` in a
   * schema map), `unknown` when it declares none, or `R` when given: `request<number>(message)`.
   * With `connect(..., { validation: schemaValidation(serverSchemas, { replies: clientSchemas }) })`
   * the reply is checked against its schema first; one that fails errors with a `RequestError`
   * coded `ERR_INVALID_MESSAGE`.
   */
  request<R = typeof replyType, K extends keyof Out & string = keyof Out & string>(
    message: Message<Out, K>,
    options?: RequestOptions,
  ): Observable<RequestResult<NoInfer<R>, Out, K>>;
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
    readonly #messagesSubject = new Subject<IncomingMessage>();
    readonly messages$ = this.#messagesSubject.asObservable() as Observable<Message<BuiltInActions & UntypedActions>>;
    readonly #clockSubject = new Subject<ClockSample>();
    readonly clockSamples$ = this.#clockSubject.asObservable();
    // Timeouts, like replies, reach the requester inside pump().
    // A reply is checked by the validation of the client its request went out on.
    readonly #requests = new PendingRequests(
      (deliver) => this.scheduler.enqueue(callLater, deliver),
      () => this.connection?.replyValidator ?? null,
    );
    // What pump() runs for each message. Which of these it is gets decided when the message
    // arrives (see `#workFor`), so that the frame pays only for the handler call of a game message.
    readonly #runMessage = (message: IncomingMessage): void => {
      const result = dispatch(this, message);
      // An async handler's rejection leaves the next pump() like a synchronous handler's
      // exception, instead of becoming an unhandled rejection.
      if (result instanceof Promise) result.catch((error: unknown) => this.scheduler.enqueue(rethrow, error));
    };
    readonly #runRequest = (message: IncomingMessage): void => {
      this.#answers?.answer(requestId(message), () => dispatch(this, message));
    };
    readonly #runReply = (message: IncomingMessage): void => {
      this.#requests.settle(message);
    };
    readonly #runConnected = (message: IncomingMessage): void => {
      // Answers go back on the connection their requests came from: each one gets its own set,
      // opened where its `connected` is dispatched and closed with its `disconnected`.
      if (this.connection !== null) {
        this.#answers?.close();
        this.#answers = new PendingAnswers(
          (reply) => this.send(reply as Message),
          this.connection.limits.maxPendingAnswers,
        );
      }
      // Never a request: only the transport produces `connected` (a peer's is dropped as forged).
      this.#runMessage(message);
    };
    #workFor(message: IncomingMessage): (message: IncomingMessage) => void {
      const action = message.action;
      if (action === REPLY_ACTION) return this.#runReply;
      if (action === "connected") return this.#runConnected;
      return requestId(message) === undefined ? this.#runMessage : this.#runRequest;
    }
    /** Fails the requests whose id is below `before`: the connection they went out on is gone. */
    readonly #failRequests = (before: number): void => {
      this.#requests.failAll("The connection ended before the reply", before);
      // Answers still computed for the server that is gone have nobody to go to; the next
      // connection's requests get a fresh set (see `connect`).
      this.#answers?.close();
    };
    /** The answers in progress to the current connection's requests. */
    #answers: PendingAnswers | null = null;
    /** For each replaced connection, the id of the first request sent after it (on its successor). */
    readonly #requestsEnd = new WeakMap<Client, number>();

    connect(
      hostOrServer?: string | LocalServer,
      portOrOptions?: number | ConnectOptions,
      maybeOptions?: ConnectOptions,
    ): void {
      let client: Client;
      if (typeof hostOrServer === "object" && hostOrServer !== null && typeof hostOrServer.openLocal === "function") {
        const local = hostOrServer;
        const options = resolveClientOptions((portOrOptions as ConnectOptions | undefined) ?? {});
        this.close();
        // A server that accepts no in-process connection throws: the client fails that attempt
        // the way a refused socket does (one `error` with ERR_CONNECT_FAILED, or a retry).
        client = new Client(LOCAL_TARGET, (_target, connectorOptions) => local.openLocal(connectorOptions), options);
      } else {
        const withOptions = typeof portOrOptions === "object" && portOrOptions !== null;
        const port = withOptions ? undefined : (portOrOptions as number | undefined);
        const options = resolveClientOptions(withOptions ? portOrOptions : (maybeOptions ?? {}));
        const target = parseConnectTarget(hostOrServer as string | undefined, port);
        connector.check?.(target);
        this.close();
        client = new Client(target, connector, options);
      }
      if (this.connection !== null) this.#requestsEnd.set(this.connection, this.#requests.nextRequestId);
      this.connection = client;
      const sentOn = (): number => this.#requestsEnd.get(client) ?? this.#requests.nextRequestId;
      // Ends by itself: messages$ completes once the client is closed for good.
      client.messages$.subscribe({
        next: (message: IncomingMessage) => {
          this.scheduler.enqueue(this.#workFor(message), message);
          // A reply only comes back on the connection its request went out on: once that one is
          // lost (even if the client reconnects), its requests fail, right after `disconnected`.
          if (message.action === "disconnected") this.scheduler.enqueue(this.#failRequests, sentOn());
          this.#messagesSubject.next(message);
        },
        complete: () => this.scheduler.enqueue(this.#failRequests, sentOn()),
      });
      client.clockSamples$.subscribe((sample) => this.#clockSubject.next(sample));
    }

    pump(): number {
      return this.scheduler.flush();
    }

    send(message: Message, options?: SendOptions): number {
      if (this.connection !== null) return this.connection.send(message, options);
      // Encoded and checked anyway, so that bad input throws the same TypeError before connect() as after.
      encode(message);
      checkSendOptions(options);
      return 0;
    }

    request(message: Message, options?: RequestOptions): Observable<never> {
      return this.#requests.request((request) => this.send(request as Message), message, options);
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

    // Stryker disable next-line BlockStatement: the default does nothing; its body only marks the parameter as used
    networkReceived(message: IncomingMessage): void {
      void message;
    }
  };
}

function callLater(work: () => void): void {
  work();
}

function rethrow(error: unknown): never {
  throw error;
}

/**
 * The two public forms of a listener bound to one connector: a base for `class X extends
 * ConnectionListener<In, Out>` (its generic construct signature carries the protocol types) and
 * the mixin. Each entry point (Node, browser) binds its own connector.
 */
export function bindListener(connector: Connector): {
  readonly ListenerBase: new <In extends ActionMap, Out extends ActionMap>() => ConnectionListenerApi<In, Out>;
  readonly withConnectionListener: <
    TBase extends Constructor,
    In extends ActionMap = UntypedActions,
    Out extends ActionMap = UntypedActions,
  >(
    Base: TBase,
  ) => TBase & Constructor<ConnectionListenerApi<In, Out>>;
} {
  return {
    ListenerBase: listenerMixin(Object, connector) as unknown as new <
      In extends ActionMap,
      Out extends ActionMap,
    >() => ConnectionListenerApi<In, Out>,
    withConnectionListener: <TBase extends Constructor, In extends ActionMap, Out extends ActionMap>(Base: TBase) =>
      listenerMixin(Base, connector) as TBase & Constructor<ConnectionListenerApi<In, Out>>,
  };
}
