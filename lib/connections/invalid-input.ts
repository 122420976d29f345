import type { ProtocolError } from "../errors.js";
import type { Logger } from "../logging.js";

/**
 * Invalid messages of one connection logged one by one; past this, they are only counted, and
 * one summary line is logged when the connection ends. A flooding peer costs at most this many
 * lines plus two, however much it sends.
 */
export const LOGGED_DROPS_PER_CONNECTION = 5;

/**
 * What one connection has dropped from its peer: bounded logging (the first few drops, then a
 * count) and the `maxInvalidMessages` budget after which the peer is cut off.
 */
export class InvalidInput {
  #count = 0;

  /**
   * @param max invalid messages tolerated over the connection's life (`maxInvalidMessages`)
   * @param peer who the peer is, for the log lines (called only when a line is written)
   */
  constructor(
    private readonly max: number,
    private readonly logger: Logger,
    private readonly peer: () => string,
  ) {}

  /** Invalid messages dropped so far. */
  get count(): number {
    return this.#count;
  }

  /** Records and logs (within bounds) one dropped message; true once the peer is over its budget. */
  record(error: ProtocolError): boolean {
    const count = ++this.#count;
    if (count <= LOGGED_DROPS_PER_CONNECTION) {
      this.logger.warn("dropped", { peer: this.peer(), code: error.code, reason: error.message });
    } else if (count === LOGGED_DROPS_PER_CONNECTION + 1) {
      this.logger.warn("dropping quietly", {
        peer: this.peer(),
        reason: `over ${LOGGED_DROPS_PER_CONNECTION} invalid messages; the next ones are counted, not logged`,
      });
    }
    return count > this.max;
  }

  /** Called once when the connection ends: one line for the drops that were not logged. */
  close(): void {
    const unlogged = this.#count - LOGGED_DROPS_PER_CONNECTION;
    if (unlogged > 0) {
      this.logger.warn("dropped in all", { peer: this.peer(), count: this.#count, unlogged });
    }
  }
}
