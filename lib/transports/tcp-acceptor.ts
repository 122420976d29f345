import * as net from "node:net";
import type { Transport } from "./transport.js";
import { TcpTransport } from "./tcp-transport.js";

/** Options of a {@link TcpAcceptor}. */
export interface TcpAcceptorOptions {
  readonly host: string;
  readonly port: number;
  readonly maxPayload: number;
  readonly closeTimeout: number;
  /** Milliseconds a client has to finish a frame it started (see `TcpTransportOptions.frameTimeout`). */
  readonly frameTimeout?: number;
}

/** Listens on a TCP port and hands every accepted socket, wrapped in a transport, to `onTransport`. */
export class TcpAcceptor {
  private server: net.Server | null = null;
  private boundPort: number | null = null;

  constructor(private readonly options: TcpAcceptorOptions) {}

  /** The port actually bound (useful with `port: 0`), or `null` when not listening. */
  get port(): number | null {
    return this.boundPort;
  }

  /**
   * Starts listening; resolves once bound.
   * @throws {Error} with the reason and what to do, e.g. when the port is already in use.
   */
  listen(onTransport: (transport: Transport) => void): Promise<void> {
    const { host, port, maxPayload, closeTimeout, frameTimeout } = this.options;
    const server = net.createServer({ noDelay: true }, (socket) => {
      onTransport(new TcpTransport(socket, { maxPayload, closeTimeout, frameTimeout, connected: true }));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        this.server = null;
        const hint =
          error.code === "EADDRINUSE"
            ? "another process is listening there; stop it or choose another port (port 0 picks a free one)"
            : error.code === "EACCES"
              ? "this user may not listen there; choose a port above 1023"
              : "check the host and port";
        reject(new Error(`Cannot listen on TCP ${host}:${port}: ${error.message}; ${hint}`, { cause: error }));
      };
      server.once("error", onError);
      server.listen(port, host, () => {
        server.off("error", onError);
        server.on("error", () => {});
        this.boundPort = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  /** Stops accepting; connections already accepted are left to their owners. */
  close(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.boundPort = null;
    if (server === null) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
