/** Longest string accepted as the id of a ping or a request. */
export const MAX_CONTROL_ID_LENGTH = 128;

/**
 * Whether `value` may be the id of a ping (`@ping`'s `id`) or of a request (the `@req` key): a
 * finite number or a short string. The library echoes these ids back in its own answers (pongs,
 * replies) without the game seeing them, so anything else is refused: an id nested deeper than
 * msgpack encodes would make the answer fail, and a big one would be sent back at our cost.
 */
export function isControlId(value: unknown): boolean {
  return (
    // Number.isFinite never coerces: true for finite numbers only.
    Number.isFinite(value) || (typeof value === "string" && value.length <= MAX_CONTROL_ID_LENGTH)
  );
}
