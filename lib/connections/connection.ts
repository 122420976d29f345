import { LIFECYCLE_ACTIONS } from "../constants.js";
import { ProtocolError } from "../errors.js";
import type { Logger } from "../logging.js";
import { decode, encode, isPlainObject } from "../protocol/codec.js";
import type { Transport } from "../transports/transport.js";
import type { Address, IncomingMessage } from "../types.js";

/**
 * Where a connection is in its life:
 * - `connecting`: the transport is opening; `send()` queues.
 * - `open`: `send()` writes.
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
  /** The connection ended; called exactly once. `error` if it ended through an error. */
  close(error?: Error): void;
}

/** Options of a {@link Connection}. */
export interface ConnectionOptions {
  readonly logger: Logger;
  /** Whether the transport is already open (accepted by a server). */
  readonly open: boolean;
  /** Swallow the first `connected` the peer sends: the server's greeting, on the client side. */
  readonly expectGreeting: boolean;
}

/**
 * The part of a connection that does not depend on the transport: encoding outgoing messages,
 * queueing them while the transport opens, decoding and validating incoming payloads, and the
 * state machine. Both ends of every transport go through it, so TCP, WebSocket and in-memory
 * connections drop, log and close in exactly the same way.
 */
export class Connection {
  private stateValue: ConnectionState;
  private pending: Uint8Array[] = [];
  private greetingPending: boolean;
  private readonly events: ConnectionEvents;

  constructor(
    readonly transport: Transport,
    events: ConnectionEvents,
    private readonly options: ConnectionOptions,
  ) {
    this.events = events;
    this.stateValue = options.open ? "open" : "connecting";
    this.greetingPending = options.expectGreeting;
    transport.start({
      open: () => this.onOpen(),
      payload: (payload) => this.onPayload(payload),
      invalid: (error) => this.drop(error),
      close: (error) => this.onClose(error),
    });
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get remote(): Address {
    return this.transport.remote;
  }

  /**
   * Encodes and sends `message`; returns the bytes queued, header included, or 0 once closing.
   * @throws {TypeError} for a value that is not a plain object or cannot be encoded.
   */
  send(message: object): number {
    // Encoded even when closed, so that bad input is reported the same way in every state.
    return this.sendFrame(encode(message));
  }

  /** Sends an already encoded frame (shared by broadcasts); same return value as `send`. */
  sendFrame(frame: Uint8Array): number {
    switch (this.stateValue) {
      case "open":
        this.transport.write(frame);
        return frame.byteLength;
      case "connecting":
        this.pending.push(frame);
        return frame.byteLength;
      default:
        return 0;
    }
  }

  /**
   * Closes gracefully: every frame accepted by `send()` before this call is delivered first,
   * including frames queued while the connection was still opening.
   */
  close(): void {
    if (this.stateValue === "closing" || this.stateValue === "closed") return;
    const wasOpen = this.stateValue === "open";
    this.stateValue = "closing";
    if (wasOpen) this.transport.end();
  }

  /** Closes at once, dropping what is queued. */
  destroy(error?: Error): void {
    if (this.stateValue === "closed") return;
    this.pending = [];
    this.transport.destroy(error);
  }

  private onOpen(): void {
    const closeRequested = this.stateValue === "closing";
    if (!closeRequested) this.stateValue = "open";
    const pending = this.pending;
    this.pending = [];
    for (const frame of pending) this.transport.write(frame);
    this.events.open();
    if (closeRequested) this.transport.end();
  }

  private onPayload(payload: Uint8Array): void {
    if (this.stateValue === "closed") return;
    let value: unknown;
    try {
      value = decode(payload);
    } catch (cause) {
      this.drop(
        new ProtocolError("ERR_INVALID_PAYLOAD", `Dropped an unreadable msgpack payload of ${payload.byteLength} bytes`, {
          cause,
        }),
      );
      return;
    }
    if (!isPlainObject(value)) {
      this.drop(new ProtocolError("ERR_NOT_A_MAP", `Dropped a payload that is not a map: ${describeValue(value)}`));
      return;
    }
    const message = value as IncomingMessage;
    const action = message.action;
    if (typeof action === "string" && LIFECYCLE_ACTIONS.has(action)) {
      if (this.greetingPending && action === "connected") {
        this.greetingPending = false;
        return;
      }
      this.drop(
        new ProtocolError("ERR_FORGED_LIFECYCLE", `Dropped a "${action}" message sent by the peer: only the transport produces it`),
      );
      return;
    }
    this.events.message(message);
  }

  private drop(error: ProtocolError): void {
    const { host, port } = this.transport.remote;
    this.options.logger.warn("dropped", { peer: `${host}:${port}`, code: error.code, reason: error.message });
  }

  private onClose(error: Error | undefined): void {
    if (this.stateValue === "closed") return;
    this.stateValue = "closed";
    this.pending = [];
    this.events.close(error);
  }
}

function describeValue(value: unknown): string {
  if (value === null) return "nil";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "binary data";
  return `a ${typeof value}`;
}
