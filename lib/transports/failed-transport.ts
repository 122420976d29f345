import type { Address } from "../types.js";
import type { Transport, TransportEvents } from "./transport.js";

const LOCAL_ADDRESS: Address = Object.freeze({ host: "local", port: 0 });

/**
 * A client end that fails to connect: it reports `close(error)` in a later turn, as a socket
 * reports a refused connection, and never opens. What a client uses when its connector throws
 * (a server that accepts no in-process connection, for `connect(server)`); kept apart from the
 * in-memory transport so that a page that never connects in process does not carry that transport.
 */
export function failedTransport(error: Error): Transport {
  return {
    kind: "memory",
    remote: LOCAL_ADDRESS,
    bufferedAmount: 0,
    start(events: TransportEvents): void {
      const report = (): void => events.close(error);
      if (typeof setImmediate === "function") setImmediate(report);
      else setTimeout(report, 0);
    },
    write: noop,
    watchDrain: noop,
    end: noop,
    destroy: noop,
    pause: noop,
    resume: noop,
  };
}

function noop(): void {}
