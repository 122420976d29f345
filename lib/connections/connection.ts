import { LIFECYCLE_ACTIONS, PING_ACTION, PONG_ACTION } from "../constants.js";
import { ConnectionError, ProtocolError, RepodError } from "../errors.js";
import { formatLogLine, isSilent, type Logger } from "../logging.js";
import { encode } from "../protocol/codec.js";
import type { DecodeBudget } from "../protocol/decode-budget.js";
import type { Transport, TransportEvents } from "../transports/transport.js";
import type { Address, IncomingMessage } from "../types.js";
import type { HeartbeatOptions, ResolvedRateLimit } from "./connection-options.js";
import { InvalidInput } from "./invalid-input.js";
import { Outbox, type LatestSlot, type SendOptions } from "./outbox.js";
import { InboundGate, looksLikeHeartbeat, RateLimiter, type GateHost } from "./rate-limiter.js";
import { readMessage } from "./read-message.js";

/**
 * Where a connection is in its life:
 * - `connecting`: the transport is opening; `send()` queues.
 * - `open`: `send()` writes (or queues in the outbox behind a backlog).
 * - `closing`: `close()` was called; what was queued still goes out, `send()` returns 0.
 * - `closed`: gone for good.
 */
export type ConnectionState = "connecting" | "open" | "closing" | "closed";

/** What a connection reports to its owner (a `Channel` or a `Client`). */
export interface ConnectionEvents {
  /** The transport opened (client side only: server-side connections start open). */
  open(): void;
  /** A valid message from the peer: a map whose action, if any, is not a lifecycle action. */
  message(message: IncomingMessage): void;
  /** The server's greeting arrived (client side): the server accepted this connection. */
  greeted?(): void;
  /** A heartbeat round trip completed, in milliseconds. */
  rtt(milliseconds: number): void;
  /** The same round trip with the peer's clock, when the peer sent it (repod-rx peers do). */
  clock?(sample: ClockSample): void;
  /** The connection ended; called exactly once. `error` if it ended through an error. */
  close(error?: Error): void;
}

/**
 * One heartbeat round trip that carried the peer's clock: what a server clock estimate is made of
 * (see `serverClock` in `repod-rx/operators`). Both times are wall clocks in milliseconds since
 * the epoch (`Date.now()`), the clock game servers stamp their snapshots with.
 */
export interface ClockSample {
  /** The round trip, in milliseconds. */
  readonly rtt: number;
  /** The peer's `Date.now()` when it answered, somewhere within the round trip. */
  readonly peerTime: number;
  /** This side's clock when the answer arrived (the connection's `now`, by default `Date.now()`). */
  readonly receivedAt: number;
}

/** Options of a {@link Connection}. */
export interface ConnectionOptions {
  readonly logger: Logger;
  /** Whether the transport is already open (accepted by a server). */
  readonly open: boolean;
  /** Swallow the first `connected` the peer sends: the server's greeting, on the client side. */
  readonly expectGreeting: boolean;
  /** Written first when the transport opens, before what `send()` queued meanwhile (a client's hello). */
  readonly firstFrame?: Uint8Array;
  /** The most one payload may cost to decode (`maxPayloadDepth`, `maxPayloadItems`). */
  readonly maxPayloadDepth: number;
  readonly maxPayloadItems: number;
  readonly maxPayloadKeys: number;
  /** Invalid messages tolerated before the peer is cut off with `ERR_TOO_MANY_INVALID`. */
  readonly maxInvalidMessages: number;
  /**
   * Bytes that may wait for the peer before it is cut off with `ERR_SEND_QUEUE_FULL`: the
   * outbox's backlog plus the transport's buffer, once bytes of an earlier turn still wait (see
   * {@link Outbox}).
   */
  readonly maxQueuedBytes: number;
  /** Milliseconds of silence from the peer after which it is cut off; 0 turns it off. */
  readonly idleTimeout: number;
  /** Pings to send and answers to expect; `null` sends none (pings are still answered). */
  readonly heartbeat: Required<HeartbeatOptions> | null;
  /** How fast the peer may send (`rateLimit`); `null` or absent for no limit. */
  readonly rateLimit?: ResolvedRateLimit | null;
  /** Clock in milliseconds; injectable for tests. */
  readonly now?: () => number;
}

/**
 * The part of a connection that does not depend on the transport: encoding outgoing messages,
 * queueing them while the transport opens, decoding and validating incoming payloads, limits,
 * heartbeats, and the state machine. Both ends of every transport go through it, so TCP,
 * WebSocket and in-memory connections drop, log and close in exactly the same way.
 */
export class Connection {
  private stateValue: ConnectionState;
  /** Whether the transport ever opened: a failure before is a failed connect, after a lost connection. */
  private opened: boolean;
  /** What goes out, and the backlog the peer has not taken yet (also what waits while connecting). */
  private readonly outbox: Outbox;
  private payloadBytes = 0;
  private greetingPending: boolean;
  private events: ConnectionEvents;
  private readonly now: () => number;
  /** When the peer last sent anything, for the idle and heartbeat checks. */
  private lastActivity: number;
  private readonly trackActivity: boolean;
  /** Whether the peer has ever answered a ping: only such peers can time out on heartbeats. */
  private answersPings = false;
  private pingId = 0;
  private pingSentAt = 0;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private readonly budget: DecodeBudget;
  /** What the peer sent that had to be dropped; created with the first such message. */
  private invalid: InvalidInput | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Holds back what the peer sends over its rate limit; `null` without one, and until the peer
   * sends its first payload: the budgets start full either way, and an idle connection (most of a
   * server's) does not carry the gate.
   */
  private gate: InboundGate | null = null;

  constructor(
    readonly transport: Transport,
    events: ConnectionEvents,
    private readonly options: ConnectionOptions,
  ) {
    this.events = events;
    this.now = options.now ?? Date.now;
    this.stateValue = options.open ? "open" : "connecting";
    this.opened = options.open;
    this.greetingPending = options.expectGreeting;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: lastActivity is read only by the idle check and the heartbeat, which do not run when both are off; tracking it anyway only costs a clock read
    this.trackActivity = options.idleTimeout > 0 || options.heartbeat !== null;
    this.lastActivity = this.now();
    this.budget = {
      maxDepth: options.maxPayloadDepth,
      maxItems: options.maxPayloadItems,
      maxKeys: options.maxPayloadKeys,
    };
    this.outbox = new Outbox(transport, options.maxQueuedBytes);
    transport.start(new TransportEventsOf(this));
    if (options.open) {
      this.outbox.start();
      this.startTimers();
    }
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get remote(): Address {
    return this.transport.remote;
  }

  /**
   * Bytes accepted and not yet handed to the operating system: the outbox's backlog (queued while
   * opening included) and the transport's buffer.
   */
  get bufferedAmount(): number {
    return this.outbox.bufferedAmount;
  }

  /** Whether a frame sent now goes to the transport at once: open, no backlog, buffer below the mark. */
  get isClear(): boolean {
    return this.stateValue === "open" && this.outbox.isClear;
  }

  /**
   * Encodes and sends `message`; returns the bytes queued, header included, or 0 once closing
   * (and for a volatile message that would wait).
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded.
   */
  send(message: object, options?: SendOptions): number {
    // Encoded even when closed, so that bad input is reported the same way in every state.
    return this.sendFrame(encode(message), options);
  }

  /**
   * Sends an already encoded frame (shared by broadcasts); same return value as `send`. A peer
   * that is behind (bytes of an earlier turn still wait) and would have more than
   * `maxQueuedBytes` waiting is cut off: its connection closes with `ERR_SEND_QUEUE_FULL` and the
   * frame is refused with 0. `tag` is kept with a latest-wins frame while it waits (a session's
   * number for it, see {@link replaceLatest}).
   */
  sendFrame(frame: Uint8Array, options?: SendOptions, tag = 0): number {
    const state = this.stateValue;
    if (state !== "open" && state !== "connecting") return 0;
    let key: string | undefined;
    if (options !== undefined) {
      // While connecting everything waits: a volatile frame would be stale by the time it left.
      if (options.volatile === true && !this.isClear) return 0;
      key = options.latest;
    }
    const accepted = this.outbox.offer(frame, key, tag);
    return accepted >= 0 ? accepted : this.overflow(frame.byteLength);
  }

  /**
   * Puts `frame` in the place of the frame sent with `latest: key` that still waits unsent.
   * Returns that frame's slot (with the `tag` it was sent with), or `null` when none waits; a peer
   * cut off because the bigger frame would pass `maxQueuedBytes` also gives `null`.
   */
  replaceLatest(key: string, frame: Uint8Array): LatestSlot | null {
    const state = this.stateValue;
    if (state !== "open" && state !== "connecting") return null;
    const slot = this.outbox.replace(key, frame);
    if (slot !== undefined) return slot;
    if (state === "open") this.overflow(frame.byteLength);
    return null;
  }

  /**
   * Paces what goes to the transport by what the peer acknowledged (see `Outbox.pace`); the
   * pacer calls {@link acknowledged} when the peer acknowledges more.
   */
  pace(gate: (backlogBytes: number) => boolean): void {
    this.outbox.pace(gate);
  }

  /** The peer acknowledged more: frames held back by the pacer may go now. */
  acknowledged(): void {
    if (this.stateValue === "open") this.outbox.drain();
  }

  /** Bytes of the payloads received from the peer so far (frame headers not counted). */
  get receivedBytes(): number {
    return this.payloadBytes;
  }

  /**
   * Closes gracefully: every frame accepted by `send()` before this call is delivered first,
   * including frames queued while the connection was still opening and the outbox's backlog (all
   * handed to the transport now: the transport's `closeTimeout` bounds how long they may take).
   */
  close(): void {
    // Stryker disable next-line ConditionalExpression: a second close() while closing finds the timers stopped and wasOpen false, so it does nothing either way
    if (this.stateValue === "closing" || this.stateValue === "closed") return;
    const wasOpen = this.stateValue === "open";
    this.stateValue = "closing";
    this.stopTimers();
    if (wasOpen) {
      this.outbox.flushAll();
      this.transport.end();
    }
  }

  /**
   * Sends this connection's events somewhere else from now on: a new connection is handled by a
   * login handshake first, then by its channel or the session it resumes.
   */
  route(events: ConnectionEvents): void {
    this.events = events;
  }

  /**
   * Drops a message the layer above found invalid (a session control message out of place...),
   * counted and logged like any invalid message; past `maxInvalidMessages` the peer is cut off.
   */
  reject(error: ProtocolError): void {
    this.drop(error);
  }

  /** Closes at once, dropping what is queued; `close(error)` follows asynchronously. */
  destroy(error?: Error): void {
    if (this.stateValue === "closed") return;
    // Nothing more goes out: `send()` returns 0 from now on, not only once `close` has followed.
    this.stateValue = "closing";
    this.outbox.stop();
    // Stryker disable next-line CallExpression: onClose, which the transport reports next, stops them too; a timer firing in between finds the connection closing (a beat sends nothing, an idle check's destroy leaves the first error in place, the gate's release finds it not open)
    this.stopTimers();
    this.transport.destroy(error);
  }

  private overflow(size: number): number {
    const queued = this.outbox.bufferedAmount;
    this.destroy(
      new ConnectionError(
        "ERR_SEND_QUEUE_FULL",
        `Closed the connection: ${queued + size} bytes would wait for a peer that is not reading, ` +
          `over the maxQueuedBytes limit of ${this.options.maxQueuedBytes}`,
      ),
    );
    return 0;
  }

  /** @internal The transport can take more: the outbox hands it what waits. */
  drainOutbox(): void {
    this.outbox.drain();
  }

  /** @internal The transport opened. */
  onOpen(): void {
    this.opened = true;
    const closeRequested = this.stateValue === "closing";
    if (!closeRequested) this.stateValue = "open";
    if (this.options.firstFrame !== undefined) this.transport.write(this.options.firstFrame);
    // What was sent while connecting follows, within the high-water mark (all of it when closing).
    this.outbox.start();
    this.lastActivity = this.now();
    this.events.open();
    if (closeRequested) {
      this.outbox.flushAll();
      this.transport.end();
    } else this.startTimers();
  }

  /** @internal A payload from the peer. */
  onPayload(payload: Uint8Array): void {
    // After close() (a kicked flooder, a client saying goodbye) what the peer still sends is ignored.
    if (this.stateValue !== "open") return;
    this.payloadBytes += payload.byteLength;
    // Stryker disable next-line ConditionalExpression: see trackActivity: without an idle check or a heartbeat nothing reads lastActivity
    if (this.trackActivity) this.lastActivity = this.now();
    try {
      this.receive(payload);
    } catch (error) {
      // Nothing the peer sends may reach the process: everything above is written not to throw,
      // and should something still do so, only this connection pays for it, loudly.
      this.fail(error);
    }
  }

  private receive(payload: Uint8Array): void {
    const gate = this.gate ?? this.openGate();
    // While messages wait for their rate limit, what still arrives waits behind them, undecoded.
    if (gate?.holding && !looksLikeHeartbeat(payload)) {
      gate.hold(payload);
      return;
    }
    const message = this.decode(payload);
    if (message === null) return;
    // Over its rate limit, the message waits in the gate (the transport pauses meanwhile).
    if (gate === null || gate.admit(message, payload.byteLength)) this.handle(message);
  }

  /** The rate limit's gate, created with the first payload; `null` without a rate limit. */
  private openGate(): InboundGate | null {
    const limit = this.options.rateLimit;
    if (!limit) return null;
    this.gate = new InboundGate(new RateLimiter(limit), new GateHostOf(this));
    return this.gate;
  }

  /** The peer's message in `payload`, or `null` if it was invalid and dropped. */
  private decode(payload: Uint8Array): IncomingMessage | null {
    const message = readMessage(payload, this.budget);
    if (!(message instanceof ProtocolError)) return message;
    this.drop(message);
    return null;
  }

  /** @internal A payload the rate limit held back undecoded, decoded now; `null` if it was dropped. */
  decodeHeld(payload: Uint8Array): IncomingMessage | null {
    return this.guarded(() => this.decode(payload)) ?? null;
  }

  /** @internal A message the rate limit held back, delivered now that its budget allows it. */
  deliverHeld(message: IncomingMessage): void {
    // Stryker disable next-line ConditionalExpression: see trackActivity: without an idle check or a heartbeat nothing reads lastActivity
    if (this.trackActivity) this.lastActivity = this.now();
    this.guarded(() => this.handle(message));
  }

  /** Runs receive-path work outside `onPayload` (from the rate limit's timer) behind the same safety net. */
  private guarded<T>(work: () => T): T | undefined {
    try {
      return work();
    } catch (error) {
      this.fail(error);
      return undefined;
    }
  }

  private handle(message: IncomingMessage): void {
    const action = message.action;
    if (typeof action === "string") {
      if (action === PING_ACTION) {
        // Through the same bound as every other byte we write: a peer that pings and never reads
        // is cut off at maxQueuedBytes like one that never reads the game's messages.
        // A ping that asks for the clock (`clock: 1`, sent by repod-rx) gets the wall clock: the
        // time game servers stamp snapshots with. Others get the bare pong older peers expect.
        const pong =
          message.clock === 1
            ? { action: PONG_ACTION, id: message.id, time: Date.now() }
            : { action: PONG_ACTION, id: message.id };
        this.sendFrame(encode(pong));
        return;
      }
      if (action === PONG_ACTION) {
        this.onPong(message.id, message.time);
        return;
      }
      if (LIFECYCLE_ACTIONS.has(action)) {
        if (this.greetingPending && action === "connected") {
          this.greetingPending = false;
          this.events.greeted?.();
          return;
        }
        this.drop(
          new ProtocolError(
            "ERR_FORGED_LIFECYCLE",
            `Dropped a "${action}" message sent by the peer: only the transport produces it`,
          ),
        );
        return;
      }
    }
    this.events.message(message);
  }

  private onPong(id: unknown, peerTime: unknown): void {
    this.answersPings = true;
    if (id === this.pingId && this.pingSentAt > 0) {
      const receivedAt = this.now();
      const rtt = receivedAt - this.pingSentAt;
      this.events.rtt(rtt);
      if (typeof peerTime === "number" && Number.isFinite(peerTime)) this.events.clock?.({ rtt, peerTime, receivedAt });
      this.pingSentAt = 0;
    }
  }

  private startTimers(): void {
    const { heartbeat, idleTimeout } = this.options;
    if (heartbeat !== null) {
      this.heartbeatTimer = setInterval(() => this.beat(heartbeat.timeout), heartbeat.interval);
      // Stryker disable next-line OptionalChaining: a Node timer always has unref(); the browser case (a number) is spec/browser.spec.ts's
      this.heartbeatTimer.unref?.();
    }
    if (idleTimeout > 0) this.scheduleIdleCheck(idleTimeout);
  }

  private beat(timeout: number): void {
    const silence = this.silence();
    if (this.answersPings && silence > timeout) {
      this.destroy(
        new ConnectionError(
          "ERR_HEARTBEAT_TIMEOUT",
          `No answer from the peer for ${silence} ms, over the heartbeat timeout of ${timeout} ms; it is gone`,
        ),
      );
      return;
    }
    this.pingId = (this.pingId + 1) % 0x7fffffff;
    this.pingSentAt = this.now();
    this.sendFrame(encode({ action: PING_ACTION, id: this.pingId, clock: 1 }));
  }

  /** One timer per connection, re-armed for the remaining time instead of reset per message. */
  private scheduleIdleCheck(after: number): void {
    this.idleTimer = setTimeout(() => {
      const idleTimeout = this.options.idleTimeout;
      const silence = this.silence();
      if (silence >= idleTimeout) {
        this.destroy(
          new ConnectionError(
            "ERR_IDLE_TIMEOUT",
            `The peer sent nothing for ${silence} ms, over the idleTimeout of ${idleTimeout} ms`,
          ),
        );
      } else {
        this.scheduleIdleCheck(idleTimeout - silence);
      }
    }, after);
    // Stryker disable next-line OptionalChaining: a Node timer always has unref(); the browser case (a number) is spec/browser.spec.ts's
    this.idleTimer.unref?.();
  }

  /** Milliseconds the peer has been silent; none while its messages wait in the gate: we are not reading. */
  private silence(): number {
    return this.gate?.holding ? 0 : this.now() - this.lastActivity;
  }

  private stopTimers(): void {
    // Stryker disable next-line ConditionalExpression: clearInterval(undefined) does nothing, so clearing unconditionally is the same
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) does nothing, so clearing unconditionally is the same
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.heartbeatTimer = undefined;
    this.idleTimer = undefined;
    this.gate?.stop();
  }

  /** Drops one invalid message; the one past `maxInvalidMessages` cuts the peer off. */
  /** @internal Drops one invalid message: the transport's `invalid`, or an invalid payload. */
  drop(error: ProtocolError): void {
    const invalid = (this.invalid ??= new InvalidInput(this.options.maxInvalidMessages, this.options.logger, () =>
      this.peer(),
    ));
    // Stryker disable next-line ConditionalExpression: destroy() returns at once on a closed connection, so this check only saves work
    if (!invalid.record(error) || this.stateValue === "closed") return;
    this.destroy(
      new ProtocolError(
        "ERR_TOO_MANY_INVALID",
        `Closed the connection: the peer sent ${invalid.count} invalid messages, over the maxInvalidMessages limit of ${this.options.maxInvalidMessages}; the last was dropped with ${error.code}`,
      ),
    );
  }

  /** The library failed on the receive path: a bug, reported loudly, that ends this connection only. */
  private fail(error: unknown): void {
    const fields = { peer: this.peer(), reason: error };
    if (isSilent(this.options.logger)) console.error(formatLogLine("error", "receive failed", fields), error);
    else this.options.logger.error("receive failed", fields);
    this.destroy(
      new ConnectionError(
        "ERR_RECEIVE_FAILED",
        "Handling a message from the peer failed; closed this connection only",
        {
          cause: error,
        },
      ),
    );
  }

  private peer(): string {
    const { host, port } = this.transport.remote;
    return `${host}:${port}`;
  }

  /** @internal The transport closed. */
  onClose(error: Error | undefined): void {
    // Stryker disable next-line ConditionalExpression: every transport reports close exactly once (the Transport contract), so this guard never fires
    if (this.stateValue === "closed") return;
    // What the peer sent before it went is delivered, as it would have been without a rate limit.
    // Stryker disable next-line ConditionalExpression: connecting there is no gate yet, and once closing close() or destroy() has stopped it, which emptied it, so a flush would deliver nothing
    if (this.stateValue === "open") this.gate?.flush();
    this.stateValue = "closed";
    this.outbox.stop();
    this.stopTimers();
    this.invalid?.close();
    this.events.close(error === undefined || error instanceof RepodError ? error : this.wrap(error));
  }

  /**
   * Gives a transport's own error (Node's `ECONNREFUSED`, `ECONNRESET`...) one of our stable codes,
   * keeping its readable message ("connect ECONNREFUSED 127.0.0.1:5071") and the original as `cause`.
   */
  private wrap(error: Error): ConnectionError {
    const code = this.opened ? "ERR_CONNECTION_LOST" : "ERR_CONNECT_FAILED";
    return new ConnectionError(code, error.message, { cause: error });
  }
}

/**
 * Forwards a transport's events to its connection: one small object per connection rather than a
 * closure per event, which a server holding thousands of idle connections pays for each of them.
 */
class TransportEventsOf implements TransportEvents {
  constructor(private readonly connection: Connection) {}

  /** Bound: a transport may hand it on alone (to its frame decoder). */
  readonly payload = (payload: Uint8Array): void => this.connection.onPayload(payload);

  open(): void {
    this.connection.onOpen();
  }

  invalid(error: ProtocolError): void {
    this.connection.drop(error);
  }

  close(error?: Error): void {
    this.connection.onClose(error);
  }

  drain(): void {
    this.connection.drainOutbox();
  }
}

/** What the rate limit's gate asks of its connection, as one small object (see {@link TransportEventsOf}). */
class GateHostOf implements GateHost {
  constructor(private readonly connection: Connection) {}

  pause(): void {
    this.connection.transport.pause();
  }

  resume(): void {
    this.connection.transport.resume();
  }

  isOpen(): boolean {
    // Stryker disable next-line ConditionalExpression: whenever the connection leaves open the gate is stopped first (emptied, reading resumed), so it never finds it otherwise while holding anything; resuming again is a no-op
    return this.connection.state === "open";
  }

  decode(payload: Uint8Array): IncomingMessage | null {
    return this.connection.decodeHeld(payload);
  }

  deliver(message: IncomingMessage): void {
    this.connection.deliverHeld(message);
  }

  exceed(error: ProtocolError): void {
    this.connection.destroy(error);
  }
}
