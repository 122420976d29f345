/** The most a single payload may cost to decode; see `maxPayloadDepth` and `maxPayloadItems`. */
export interface DecodeBudget {
  /** Deepest nesting of arrays and maps. */
  readonly maxDepth: number;
  /** Most values, counting every array element, map key and map value at any depth. */
  readonly maxItems: number;
}

/**
 * Why `payload` would cost more than `budget` to decode, or `null` when it is within it.
 * STUB: to be replaced by a scan of the msgpack structure.
 */
export function exceedsDecodeBudget(payload: Uint8Array, budget: DecodeBudget): string | null {
  void payload;
  void budget;
  return null;
}
