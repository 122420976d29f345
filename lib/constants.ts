/** Host a `Server` listens on and a `ConnectionListener` connects to by default (repod's default). */
export const DEFAULT_HOST = "127.0.0.1";

/** TCP port a `Server` listens on and a `ConnectionListener` connects to by default (repod's default). */
export const DEFAULT_PORT = 5071;

/** Size in bytes of the big-endian uint32 length that precedes every msgpack payload on TCP. */
export const HEADER_SIZE = 4;

/** Largest msgpack payload accepted by default: 4 MiB. */
export const DEFAULT_MAX_PAYLOAD = 4 * 1024 * 1024;

/**
 * Actions that only the transport may produce. A peer that sends one of these cannot fake a
 * lifecycle event: such messages are dropped and logged (the server's greeting excepted).
 */
export const LIFECYCLE_ACTIONS: ReadonlySet<string> = new Set(["connected", "socketConnect", "disconnected", "error"]);

/**
 * Every action starting with this character is reserved for the library's own control messages.
 * Peers that do not know them (Python repod) route them to `networkReceived`, which ignores them.
 */
export const RESERVED_ACTION_PREFIX = "@";

/** Heartbeat request: `{ action: "@ping", id }`; a repod-rx peer answers at once with `@pong`. */
export const PING_ACTION = "@ping";
/** Heartbeat answer: `{ action: "@pong", id }`, echoing the ping's `id`. */
export const PONG_ACTION = "@pong";
/** Sent by a full server before it closes a connection: `{ action: "@refused", reason }`. */
export const REFUSED_ACTION = "@refused";

/**
 * Deepest nesting of arrays and maps accepted in one payload by default. Game messages nest a
 * few levels; 64 stays below what the msgpack encoder writes (100), so whatever is accepted can
 * be sent on.
 */
export const DEFAULT_MAX_PAYLOAD_DEPTH = 64;

/**
 * Most values (every array element, map key and map value, nested ones included) accepted in one
 * payload by default. Decoding costs about one allocation per value, so this, not the byte size,
 * bounds the CPU and memory a payload can cost: see the decode budget row of `npm run bench`.
 */
export const DEFAULT_MAX_PAYLOAD_ITEMS = 100_000;

/** Milliseconds a peer has to finish a frame it has started before it is cut off, by default. */
export const DEFAULT_FRAME_TIMEOUT = 30_000;

/** Answers a connection may be computing at once for its peer's requests, by default. */
export const DEFAULT_MAX_PENDING_ANSWERS = 100;

/** Invalid messages a peer may send over a connection's life before it is cut off, by default. */
export const DEFAULT_MAX_INVALID_MESSAGES = 100;

/** Milliseconds a WebSocket upgrade may take from the TCP connection to the open socket, by default. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** Largest number of bytes queued for one peer by default (16 MiB) before it is cut off. */
export const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/** The key that carries a request's id: `{ action: "getScore", "@req": 7 }`. */
export const REQUEST_ID_KEY = "@req";
/** A reply: `{ action: "@reply", "@re": 7, result }` or `{ action: "@reply", "@re": 7, error: "reason" }`. */
export const REPLY_ACTION = "@reply";
/** The key of a reply that names the request it answers. */
export const REPLY_ID_KEY = "@re";
