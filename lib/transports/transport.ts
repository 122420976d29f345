import type { ProtocolError } from "../errors.js";
import type { Address } from "../types.js";

/**
 * What a transport reports to the connection that owns it. Called as methods (`events.open()`),
 * except `payload`, which may be passed on alone (`decoder.push(chunk, events.payload)`).
 */
export interface TransportEvents {
  /** The connection is established (client side; server-side transports start open). */
  open(): void;
  /** One msgpack payload arrived (without the TCP length header). */
  payload(payload: Uint8Array): void;
  /** A message could not be read but the stream is intact (e.g. a WebSocket text frame): drop it. */
  invalid(error: ProtocolError): void;
  /**
   * The connection is gone; called exactly once, after `open` or instead of it. `error` is set
   * when it ended through an error (refused, reset, oversized frame...).
   */
  close(error?: Error): void;
  /**
   * The transport's buffer fell below the mark given to {@link Transport.watchDrain}: it can take
   * more frames. Called once per `watchDrain`.
   */
  drain?(): void;
}

/**
 * One byte pipe to one peer: TCP, WebSocket or in-memory. Transports move frames; encoding,
 * validation and lifecycle live in the connection above them, so every transport behaves alike.
 */
export interface Transport {
  /** What carries the bytes. */
  readonly kind: "tcp" | "ws" | "memory";
  /** The peer's address, as far as the transport knows it. */
  readonly remote: Address;
  /** Bytes accepted by `write` and not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /** Starts delivering events; called once, right after construction. */
  start(events: TransportEvents): void;
  /**
   * Queues one whole frame (4-byte header included: a WebSocket transport drops it). The bytes may
   * be shared with other transports (broadcast) and must not be modified.
   */
  write(frame: Uint8Array): void;
  /**
   * Asks for one `drain` event once `bufferedAmount` is below `below` bytes: the connection's
   * outbox holds a backlog and waits for room (TCP: the socket's `drain`, or at once when a turn's
   * write left the buffer below the mark; WebSocket: the socket under it; in-memory: delivery to
   * the peer; a browser's WebSocket: `bufferedAmount`, polled while a drain is awaited). Never
   * reports synchronously from this call. Nothing is reported once the transport has closed.
   */
  watchDrain(below: number): void;
  /** Sends everything queued, then closes. `close` follows once the peer is gone. */
  end(): void;
  /** Closes at once, dropping what is queued. `close` follows with `error`, if given. */
  destroy(error?: Error): void;
  /**
   * Stops reading from the peer (the rate limit holds its messages back): what the peer sends
   * waits in the operating system, and flow control makes the peer wait in turn. Payloads already
   * read (the rest of a chunk) may still be reported; the connection queues them. `frameTimeout`
   * does not count the time paused, and the peer's close still comes after everything it sent
   * before it (a reset may end the connection while paused). A browser cannot stop reading: it
   * keeps what arrives, in order, and reports it on `resume()`, or before `close`. Pausing a
   * paused transport does nothing.
   */
  pause(): void;
  /** Reads again after `pause()`: first what was kept meanwhile, in order. Does nothing unless paused. */
  resume(): void;
}

/**
 * Opens a client transport to `target`. Node and browser entry points provide different ones.
 * `check`, when present, is called by `connect()` before anything starts, so a target this
 * connector can never open (TCP in a browser) throws at the call instead of failing later.
 */
export type Connector = ((target: ConnectTarget, options: ConnectorOptions) => Transport) & {
  readonly check?: (target: ConnectTarget) => void;
};

/** A parsed `connect()` argument. */
export interface ConnectTarget {
  readonly protocol: "tcp" | "ws" | "wss" | "memory";
  readonly host: string;
  readonly port: number;
  /** The whole URL for WebSocket targets. */
  readonly url: string;
}

/** Limits a connector applies to the transport it opens. */
export interface ConnectorOptions {
  readonly maxPayload: number;
  /** Milliseconds a graceful close waits for the server to close its side. */
  readonly closeTimeout?: number;
  /**
   * Milliseconds the server has to finish a frame it started before the connection is cut with
   * `ERR_FRAME_TIMEOUT`; 0 turns it off. Applied by the Node connector (TCP and `ws`); ignored by
   * the browser one, whose `WebSocket` only ever shows whole messages, and by in-process
   * connections, which deliver whole frames.
   */
  readonly frameTimeout?: number;
  /** TLS settings for `wss://` from Node (see `ClientOptions.tls`); ignored elsewhere. */
  readonly tls?: TlsOptions;
}

/** What a Node client may need to trust a `wss://` server: a private CA, a test certificate. */
export interface TlsOptions {
  /**
   * Certificates (PEM) to trust besides the system's, e.g. your own CA. A `Buffer` from
   * `readFileSync` is a `Uint8Array`; the type names the latter so that the browser entry's
   * types need no Node types.
   */
  readonly ca?: string | Uint8Array | readonly (string | Uint8Array)[];
  /** Whether to refuse a server whose certificate does not verify. Default `true`; turn off only in tests. */
  readonly rejectUnauthorized?: boolean;
  /** The name to check the certificate against, when it differs from the URL's host. */
  readonly servername?: string;
}
