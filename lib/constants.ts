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
export const LIFECYCLE_ACTIONS: ReadonlySet<string> = new Set([
  "connected",
  "socketConnect",
  "disconnected",
  "error",
  "dropped",
  "resumed",
]);

/**
 * Every action starting with this character is reserved for the library's own control messages.
 * Peers that do not know them (Python repod) route them to `networkReceived`, which ignores them.
 */
export const RESERVED_ACTION_PREFIX = "@";

/** Heartbeat request: `{ action: "@ping", id }`; a repod-rx peer answers at once with `@pong`. */
export const PING_ACTION = "@ping";
/** Heartbeat answer: `{ action: "@pong", id }`, echoing the ping's `id`. */
export const PONG_ACTION = "@pong";
/**
 * Sent by a server before it closes a connection it will not serve: `{ action: "@refused", reason,
 * code }`, `code` being `ERR_SERVER_FULL` (also when absent, as older servers send it),
 * `ERR_UNAUTHORIZED` or `ERR_HANDSHAKE_TIMEOUT`.
 */
export const REFUSED_ACTION = "@refused";

/**
 * A client's first message when it logs in or asks for a resumable session:
 * `{ action: "@hello", auth?, session?: true, resume?: { token, received } }`. A Python client
 * logs in with `{ "action": "@hello", "auth": ... }`.
 */
export const HELLO_ACTION = "@hello";
/** The server's answer to a hello that asked for a session: `{ action: "@session", token, window }`. */
export const SESSION_ACTION = "@session";
/** A successful resume: `{ action: "@resumed", token, received }`, then the messages the client missed. */
export const RESUMED_ACTION = "@resumed";
/**
 * A resume that could not be made: `{ action: "@resume-failed", code, reason }`; the same
 * connection then goes on as a fresh session (greeting first).
 */
export const RESUME_FAILED_ACTION = "@resume-failed";
/** How many of the peer's messages a side has received: `{ action: "@ack", n }`. */
export const ACK_ACTION = "@ack";

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
 * An extension value (`ExtData`, or a msgpack timestamp decoded as a `Date`) counts as 4 values:
 * decoding one costs several times any other leaf value (65,536 timestamps took up to 65 ms,
 * 16,384 take 5 to 11). At this bound, empty containers, numbers, strings, binaries and extension
 * values decode in 2 to 21 ms and under 10 MiB of heap (4 MiB of empty maps, unbounded: over a
 * second and 256 MiB), while a game snapshot of 3,000 entities with 8 fields each (51,000 values)
 * passes. Maps with many different keys cost more per value: `DEFAULT_MAX_PAYLOAD_KEYS` bounds
 * them.
 */
export const DEFAULT_MAX_PAYLOAD_ITEMS = 65_536;

/**
 * Most distinct map keys accepted in one payload by default. A key is distinct unless an earlier
 * map of the payload had the same key after the same keys in the same order: V8 gives such maps
 * the same hidden class, and makes a new one for every other key. 65,536 values of maps whose keys
 * all differ took up to 100 ms to decode, and the same 8 names in ever different orders up to 50,
 * so counting names alone would not do. At 1,024, the costliest payloads the defaults accept
 * decode in 20 to 42 ms, most of it misses in @msgpack/msgpack's key cache (16 names per key
 * length), which a lower bound would hardly change; at 4,096, up to 64 ms. A snapshot of 3,000
 * entities with the same 8 fields counts 8 (plus the envelope's), a scoreboard keyed by 1,000
 * player names 1,000. See the decode budget row of `npm run bench`.
 */
export const DEFAULT_MAX_PAYLOAD_KEYS = 1_024;

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
