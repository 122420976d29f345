import { map, Observable, type OperatorFunction } from "rxjs";

/** One input of this player, numbered in the order it was made. */
export interface NumberedInput<I> {
  /** Its number: 1 for the first, one more for each next one. */
  readonly seq: number;
  /** The input itself, e.g. the direction held. */
  readonly input: I;
}

/** The server's word on the predicted entity: its state after the inputs up to `lastInput`. */
export interface AuthoritativeState<S> {
  /** The entity's state as the server has it. */
  readonly state: S;
  /** The number (`seq`) of the last input the server applied; 0 before the first. */
  readonly lastInput: number;
}

/** Options of {@link predict}. */
export interface PredictOptions<S, I> {
  /** This player's inputs, numbered (`numberInputs()`), as they are sent to the server. */
  readonly inputs: Observable<NumberedInput<I>>;
  /** Applies one input to a state exactly as the server does (a pure function). */
  readonly apply: (state: S, input: I) => S;
  /**
   * The most inputs kept waiting for the server's acknowledgement; past it the oldest are
   * forgotten (a server that acknowledges nothing must not grow the list forever). Default 256.
   */
  readonly maxPending?: number;
}

/**
 * Numbers the inputs of a stream 1, 2, 3... (per subscription), for {@link predict} and for the
 * server to say which input it applied last. Subscribe once, e.g. with `share()`, and send each
 * numbered input to the server.
 */
export function numberInputs<I>(): OperatorFunction<I, NumberedInput<I>> {
  return map((input, index) => ({ seq: index + 1, input }));
}

/**
 * Client-side prediction with server reconciliation. Each input is applied locally at once, so
 * the player sees its own entity respond without waiting a round trip; when the server's
 * authoritative state arrives (the source), the inputs it has applied (up to `lastInput`) are
 * forgotten and those still on their way are applied again on top of it. Emits the predicted
 * state after every input and every authoritative state.
 *
 * - Inputs made before the first authoritative state wait for it (there is nothing to apply them to).
 * - An authoritative state older than one already received (a smaller `lastInput`) is ignored,
 *   and so is an input whose number is not above the last one's.
 * - Completes when the authoritative states complete; errors when either stream errors.
 *
 * ```ts
 * const inputs$ = keys$.pipe(numberInputs(), share());
 * inputs$.subscribe(({ seq, input }) => listener.send({ action: "input", seq, dir: input }));
 * const paddle$ = listener.on("state").pipe(
 *   map((state) => ({ state: state.paddles[me], lastInput: state.acks[me] })),
 *   predict({ inputs: inputs$, apply: (y, dir) => y + dir * SPEED }),
 * );
 * ```
 */
export function predict<S, I>(options: PredictOptions<S, I>): OperatorFunction<AuthoritativeState<S>, S> {
  if (typeof options !== "object" || options === null || typeof options.inputs?.subscribe !== "function") {
    throw new TypeError("predict() needs options.inputs, an Observable of numbered inputs (see numberInputs())");
  }
  if (typeof options.apply !== "function") {
    throw new TypeError("predict() needs options.apply, a function (state, input) => state");
  }
  const maxPending = options.maxPending ?? 256;
  if (!Number.isInteger(maxPending) || maxPending < 1) {
    throw new RangeError(`options.maxPending must be an integer of at least 1, got ${String(maxPending)}`);
  }
  const { inputs, apply } = options;
  return (authoritative$) =>
    new Observable<S>((subscriber) => {
      /** The inputs the server has not acknowledged yet, in order. */
      let pending: NumberedInput<I>[] = [];
      let lastSeq = -Infinity;
      let lastAck = -Infinity;
      let predicted: { state: S } | null = null;

      const fail = (error: unknown): void => subscriber.error(error);
      subscriber.add(
        authoritative$.subscribe({
          next: ({ state, lastInput }) => {
            if (lastInput < lastAck) return;
            lastAck = lastInput;
            let first = 0;
            while (first < pending.length && pending[first]!.seq <= lastInput) first++;
            if (first > 0) pending = pending.slice(first);
            let replayed = state;
            for (const { input } of pending) replayed = apply(replayed, input);
            predicted = { state: replayed };
            subscriber.next(replayed);
          },
          error: fail,
          complete: () => subscriber.complete(),
        }),
      );
      subscriber.add(
        inputs.subscribe({
          next: (numbered) => {
            // A number at or below one already seen (an input replayed twice) would be applied twice.
            if (!(numbered.seq > lastSeq) || numbered.seq <= lastAck) return;
            lastSeq = numbered.seq;
            pending.push(numbered);
            if (pending.length > maxPending) pending.shift();
            if (predicted === null) return;
            predicted = { state: apply(predicted.state, numbered.input) };
            subscriber.next(predicted.state);
          },
          error: fail,
        }),
      );
    });
}
