import { RESUMED_ACTION } from "../constants.js";
import type { ChannelLink } from "../connections/channel-link.js";
import type { Connection, ConnectionState } from "../connections/connection.js";
import type { SendOptions } from "../connections/outbox.js";
import { ConnectionError, type RepodError } from "../errors.js";
import { encode } from "../protocol/codec.js";
import type { Address, IncomingMessage } from "../types.js";
import type { ResolvedResume } from "./session-options.js";
import { BYE_ACTION, handleControl, isSessionControl } from "./session-control.js";
import { newSessionToken } from "./session-token.js";
import { SessionStream } from "./session-stream.js";

/** What a server session reports to the server. */
export interface ServerSessionEvents {
  /** A message from the player, counted, in order, exactly once across connections. */
  message(message: IncomingMessage): void;
  /** A heartbeat round trip completed, in milliseconds. */
  rtt(milliseconds: number): void;
  /** The connection was lost without a close: the seat is held for `window` ms. */
  drop(error: Error): void;
  /** The player came back on a new connection; the messages it missed follow. */
  resume(): void;
  /** The player showed it has the new token: the one it came back with, `spent`, is no longer good. */
  confirmed(spent: string): void;
  /** The seat ended, for good: a deliberate close, a hostile peer, the window passed. Exactly once. */
  end(error?: Error): void;
}

/**
 * A player's seat on the server: what outlives the connections that carry it. It numbers what is
 * sent to the player and keeps it until acknowledged, counts what the player sent, holds the seat
 * for `window` ms after a connection is lost without a close, and takes a new connection that
 * presents its token (single-use: a new one is issued at every resume).
 *
 * A channel sends through it as through a connection (it is the channel's {@link ChannelLink}).
 */
export class ServerSession implements ChannelLink {
  /** The current resume token; replaced at every resume. */
  token = newSessionToken();
  /**
   * The token of the last resume, still accepted until the player shows it received the new one;
   * `null` once spent.
   */
  previousToken: string | null = null;
  private readonly stream: SessionStream;
  private connection: Connection | null = null;
  private lastRemote: Address;
  private windowTimer: ReturnType<typeof setTimeout> | undefined;
  private ending = false;
  private ended = false;
  /** Whether the player said goodbye (`@bye`) on the current connection: its close is deliberate. */
  // Stryker disable next-line BooleanLiteral: the constructor's use() sets it to false before any message can arrive
  private peerSaidBye = false;
  private events: ServerSessionEvents | null = null;

  /**
   * @param data what `authenticate` returned (compared on resume)
   */
  constructor(
    connection: Connection,
    readonly data: unknown,
    private readonly options: ResolvedResume,
  ) {
    this.stream = new SessionStream(options);
    this.lastRemote = connection.remote;
    this.stream.attach(connection, 0);
    this.use(connection);
  }

  /** Starts reporting; called once the channel exists. */
  start(events: ServerSessionEvents): void {
    this.events = events;
  }

  get state(): ConnectionState {
    // Stryker disable next-line ConditionalExpression: the state is only read as === "open" (Channel.isConnected), and an ended seat has no open connection either way
    if (this.ended) return "closed";
    // Stryker disable next-line ConditionalExpression: the state is only read as === "open" (Channel.isConnected), and an ending seat's connection is closing, not open
    if (this.ending) return "closing";
    return this.connection?.state === "open" ? "open" : "connecting";
  }

  get remote(): Address {
    return this.lastRemote;
  }

  get bufferedAmount(): number {
    return this.stream.bufferedAmount(this.connection);
  }

  /** Messages received from the player, in all. */
  get received(): number {
    return this.stream.received;
  }

  send(message: object, options?: SendOptions): number {
    return this.sendFrame(encode(message), options);
  }

  /**
   * Numbers, keeps and sends one frame (see {@link SessionStream.send} for `volatile`, dropped
   * during a gap, and `latest`, which replaces a waiting frame under its number).
   */
  sendFrame(frame: Uint8Array, options?: SendOptions): number {
    if (this.ending || this.ended) return 0;
    const sent = this.stream.send(frame, options);
    if (this.stream.isOverflowed) {
      this.endWith(
        new ConnectionError(
          "ERR_RESUME_OVERFLOW",
          `Ended the session: more than ${this.options.maxMessages} messages or ${this.options.maxBytes} bytes waited for the player (resume.maxMessages, resume.maxBytes)`,
        ),
      );
      return 0;
    }
    return sent;
  }

  /**
   * A message the player sent after its hello while its login was checked: counted like every
   * other, so that what the player numbered and what the seat received stay in step.
   */
  receive(message: IncomingMessage): void {
    this.stream.countReceived();
    this.events?.message(message);
  }

  /**
   * A deliberate close: says goodbye (`@bye`, so the player does not take the close for a drop),
   * then the seat ends once what was sent is delivered, and is never resumed.
   */
  close(): void {
    // Stryker disable next-line ConditionalExpression,LogicalOperator: a second close() finds the connection closing (send and close do nothing) or none, and finish() returns once ended
    if (this.ending || this.ended) return;
    this.ending = true;
    const connection = this.connection;
    if (connection === null) {
      this.finish(undefined);
      return;
    }
    connection.send({ action: BYE_ACTION });
    connection.close();
  }

  /**
   * Takes the player's new connection: answers `@resumed` with a fresh token and the count of
   * messages received, then sends again what the player missed (it said it received
   * `peerReceived`). False when that cannot be done (the messages are not all kept).
   */
  resume(connection: Connection, peerReceived: number, presentedToken: string): boolean {
    if (this.ended || this.ending || !this.stream.canReplay(peerReceived)) return false;
    const previous = this.connection;
    // A resume proves the old transport dead even if it still looks open (a half-open socket):
    // cut it, and nothing it still delivers is read.
    if (previous !== null) {
      this.connection = null;
      // Stryker disable next-line CallExpression: the destroyed connection reads nothing more (it delivers messages and round trips only while open), and its close finds lost() checking for the current connection
      previous.route(IGNORE);
      previous.destroy();
    }
    this.token = newSessionToken();
    // The token the player came back with stays good until it shows it got the new one (its
    // first frame on this connection): a reset that swallows `@resumed` must not lose the seat.
    this.previousToken = presentedToken;
    connection.send({ action: RESUMED_ACTION, token: this.token, received: this.stream.received });
    this.stream.attach(connection, peerReceived);
    this.stopWindow();
    this.lastRemote = connection.remote;
    this.use(connection);
    this.events?.resume();
    return true;
  }

  private use(connection: Connection): void {
    this.connection = connection;
    this.peerSaidBye = false;
    connection.route({
      open: () => {},
      message: (message) => {
        // Stryker disable next-line ConditionalExpression: only the current connection's messages reach here: one replaced by a resume is routed to IGNORE, and one lost delivers nothing after its close
        if (this.previousToken !== null && connection === this.connection) {
          const spent = this.previousToken;
          this.previousToken = null;
          this.events?.confirmed(spent);
        }
        if (message.action === BYE_ACTION) {
          // Stryker disable next-line ConditionalExpression: only the current connection's messages reach here: one replaced by a resume is routed to IGNORE, and one lost delivers nothing after its close
          if (connection === this.connection) this.peerSaidBye = true;
          return;
        }
        if (isSessionControl(message)) {
          handleControl(this.stream, connection, message);
          return;
        }
        this.stream.countReceived();
        this.events?.message(message);
      },
      rtt: (milliseconds) => this.events?.rtt(milliseconds),
      close: (error) => this.lost(connection, error),
    });
  }

  /**
   * The connection closed: a drop (a network failure, or a clean close without the player's
   * goodbye, which is what a reset can look like) suspends the seat; a goodbye, a close asked for
   * on this side, or a peer that broke the protocol ends it.
   */
  private lost(connection: Connection, closed: Error | undefined): void {
    // Stryker disable next-line ConditionalExpression: only the current connection's close reaches here: one replaced by a resume is routed to IGNORE first, and a connection reports its close once
    if (connection !== this.connection) return;
    this.connection = null;
    this.stream.detach();
    if (this.ending || this.peerSaidBye || (closed !== undefined && !isDrop(closed))) {
      this.finish(closed);
      return;
    }
    const error =
      closed ??
      new ConnectionError(
        "ERR_CONNECTION_LOST",
        "The connection closed without the player's goodbye: taken for a network failure",
      );
    this.windowTimer = setTimeout(() => {
      this.endWith(
        new ConnectionError(
          "ERR_RESUME_EXPIRED",
          `The player did not come back within the resume window of ${this.options.window} ms`,
          { cause: error },
        ),
      );
    }, this.options.window);
    // Stryker disable next-line OptionalChaining: the server runs on Node only, where every timer has unref()
    this.windowTimer.unref?.();
    this.events?.drop(error);
  }

  private endWith(error: RepodError): void {
    // Stryker disable next-line ConditionalExpression: its callers cannot reach an ended seat: sendFrame() returns once ended and finish() stops the window timer
    if (this.ended) return;
    const connection = this.connection;
    if (connection !== null) {
      // The close event reports this error as the end.
      this.ending = true;
      connection.destroy(error);
      return;
    }
    this.finish(error);
  }

  private finish(error: Error | undefined): void {
    // Stryker disable next-line ConditionalExpression: its callers cannot reach an ended seat: close() and endWith() return once ended, and lost() needs a current connection, which an ended seat never gets back
    if (this.ended) return;
    this.ended = true;
    // Stryker disable next-line BooleanLiteral: every reader of ending also checks ended, which is now true
    this.ending = false;
    this.stopWindow();
    this.stream.end();
    this.events?.end(error);
  }

  private stopWindow(): void {
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) does nothing
    if (this.windowTimer !== undefined) clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
  }
}

/**
 * Whether a connection's end is a drop a player can come back from: the network failed (reset,
 * timeout, a peer that stopped reading), as opposed to a close, or a peer broke the protocol.
 */
function isDrop(error: Error): boolean {
  return error instanceof ConnectionError;
}

const IGNORE = { open() {}, message() {}, rtt() {}, close() {} };
