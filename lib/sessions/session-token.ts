/** Random bytes in a resume token: 128 bits, beyond guessing for the life of any session. */
const TOKEN_BYTES = 16;

/**
 * A new unguessable resume token, as 32 hex digits, from the platform's cryptographic random
 * generator (Web Crypto: Node 20 and every browser have it as `globalThis.crypto`).
 */
export function newSessionToken(): string {
  const bytes = new Uint8Array(TOKEN_BYTES);
  globalThis.crypto.getRandomValues(bytes);
  let token = "";
  for (const byte of bytes) token += byte.toString(16).padStart(2, "0");
  return token;
}

/** Whether `value` has the shape of a token (what a peer sends is checked before any lookup). */
export function isSessionToken(value: unknown): value is string {
  return typeof value === "string" && value.length === TOKEN_BYTES * 2 && /^[0-9a-f]+$/.test(value);
}
