import { ConnectionError } from "../errors.js";

/**
 * The `frameTimeout` of one connection: a frame (on WebSocket, a message) whose first byte has
 * arrived must be complete within `timeout` milliseconds, or `expire` is called once.
 *
 * The transport reports after each chunk it read whether a frame is still partial and whether that
 * frame began in the chunk; a peer that sends nothing, or whose last frame was complete, is never
 * timed. Chunks of whole frames cost a comparison: a timer is armed only when a chunk leaves a
 * frame partial, and there is at most one per connection, never reset per frame. When it fires it
 * is re-armed for what is left of the frame in progress then, or dropped if there is none, so a
 * stream of frames split across chunks costs one timer per `timeout`, not one per frame.
 *
 * Node only (`setImmediate`): in a browser, `WebSocket` shows whole messages and nothing else.
 */
export class FrameDeadline {
  /** `performance.now()` when the partial frame began; -1 while no frame is partial. */
  private startedAt = -1;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private confirmation: ReturnType<typeof setImmediate> | undefined;
  /** `performance.now()` when `hold()` stopped the clock; -1 while it runs. */
  private heldAt = -1;

  /**
   * @param timeout milliseconds, over 0 (a transport with `frameTimeout: 0` creates no deadline)
   * @param expire called with the milliseconds the frame has been waiting; the transport closes
   *   the connection there
   */
  constructor(
    readonly timeout: number,
    private readonly expire: (elapsed: number) => void,
  ) {}

  /**
   * Reports the state after one chunk.
   * @param partial whether a frame is unfinished now
   * @param began whether that unfinished frame started in this chunk (the previous one, if any,
   *   was completed in it)
   */
  update(partial: boolean, began: boolean): void {
    if (!partial) {
      this.startedAt = -1;
      return;
    }
    if (began || this.startedAt < 0) {
      this.startedAt = performance.now();
      if (this.timer === undefined && this.confirmation === undefined && this.heldAt < 0) this.arm(this.timeout);
    }
  }

  /**
   * Stops the clock: the transport paused reading on purpose (the rate limit), so the rest of a
   * partial frame waits unread on our side, not the peer's. The time until `release()` is not
   * counted against the frame.
   */
  hold(): void {
    if (this.heldAt >= 0) return;
    this.heldAt = performance.now();
    this.disarm();
  }

  /** Starts the clock again after `hold()`, with what was left of the frame in progress then. */
  release(): void {
    if (this.heldAt < 0) return;
    const now = performance.now();
    const held = now - this.heldAt;
    this.heldAt = -1;
    if (this.startedAt < 0) return;
    // A frame that began while held (in the rest of the chunk read as the pause began) starts now.
    this.startedAt = Math.min(now, this.startedAt + held);
    this.arm(Math.max(1, Math.ceil(this.timeout - (now - this.startedAt))));
  }

  /** Stops timing for good (the connection is closed). */
  stop(): void {
    this.startedAt = -1;
    this.heldAt = -1;
    this.disarm();
  }

  private disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.confirmation !== undefined) {
      clearImmediate(this.confirmation);
      this.confirmation = undefined;
    }
  }

  private arm(after: number): void {
    this.timer = setTimeout(this.check, after);
    // The socket keeps the process alive while it is open; this timer must not on its own.
    this.timer.unref?.();
  }

  private readonly check = (): void => {
    this.timer = undefined;
    if (this.startedAt < 0 || this.heldAt >= 0) return;
    const elapsed = performance.now() - this.startedAt;
    if (elapsed < this.timeout) {
      this.arm(Math.ceil(this.timeout - elapsed));
      return;
    }
    // Timers run before the event loop reads the sockets: after a stall of the loop (a long tick,
    // a GC pause) the rest of the frame may be waiting unread. The reads of this turn come first.
    const started = this.startedAt;
    this.confirmation = setImmediate(() => {
      this.confirmation = undefined;
      if (this.heldAt >= 0) return;
      if (this.startedAt !== started) {
        // Finished meanwhile; another frame may have begun since.
        if (this.startedAt >= 0) this.check();
        return;
      }
      this.startedAt = -1;
      this.expire(Math.round(performance.now() - started));
    });
  };
}

/**
 * The error that closes a connection whose peer left a frame unfinished. A `ConnectionError`, like
 * the idle and heartbeat timeouts: the bytes received so far are valid, the peer stalled (crashed,
 * lost its network, or holds the connection open on purpose) rather than broke the protocol.
 * @param progress what arrived of the frame, e.g. `"2 of its 4 header bytes"`
 */
export function frameTimeoutError(progress: string, elapsed: number, timeout: number): ConnectionError {
  return new ConnectionError(
    "ERR_FRAME_TIMEOUT",
    `The peer started a frame and did not finish it: ${progress} arrived in ${elapsed} ms, over the frameTimeout of ${timeout} ms`,
  );
}
