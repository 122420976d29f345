import type { BenchServer, ClientLink, StartedServer } from "./bench-server.js";

/**
 * Every implementation the benchmark compares. A row of the results is one implementation; the
 * server process starts servers by `server` key (two client variants may share one server).
 */
export type ImplId =
  | "raw-net"
  | "raw-net-coalesced"
  | "raw-ws"
  | "raw-ws-coalesced"
  | "socket.io"
  | "repod-tcp"
  | "repod-ws"
  | "repod-tcp-rx"
  | "repod-ws-rx";

export type ServerKey =
  "raw-net" | "raw-net-coalesced" | "raw-ws" | "raw-ws-coalesced" | "socket.io" | "repod-tcp" | "repod-ws";

export type Transport = "tcp" | "ws";

export interface ImplInfo {
  readonly id: ImplId;
  readonly label: string;
  readonly transport: Transport;
  readonly server: ServerKey;
}

export const IMPLS: Readonly<Record<ImplId, ImplInfo>> = {
  "raw-net": { id: "raw-net", label: "raw net, per-message writes", transport: "tcp", server: "raw-net" },
  "raw-net-coalesced": {
    id: "raw-net-coalesced",
    label: "raw net, coalesced writes",
    transport: "tcp",
    server: "raw-net-coalesced",
  },
  "raw-ws": { id: "raw-ws", label: "raw ws, per-message writes", transport: "ws", server: "raw-ws" },
  "raw-ws-coalesced": {
    id: "raw-ws-coalesced",
    label: "raw ws, coalesced writes",
    transport: "ws",
    server: "raw-ws-coalesced",
  },
  "socket.io": { id: "socket.io", label: "socket.io (ws only, msgpack)", transport: "ws", server: "socket.io" },
  "repod-tcp": { id: "repod-tcp", label: "repod-rx TCP", transport: "tcp", server: "repod-tcp" },
  "repod-ws": { id: "repod-ws", label: "repod-rx WebSocket", transport: "ws", server: "repod-ws" },
  "repod-tcp-rx": { id: "repod-tcp-rx", label: "repod-rx TCP, on().pipe()", transport: "tcp", server: "repod-tcp" },
  "repod-ws-rx": { id: "repod-ws-rx", label: "repod-rx WebSocket, on().pipe()", transport: "ws", server: "repod-ws" },
};

/** Starts one server; implementations load lazily so a process only pays for what it runs. */
export async function startServer(key: ServerKey): Promise<StartedServer> {
  const wrap = (server: BenchServer): StartedServer => ({ server });
  switch (key) {
    case "raw-net":
    case "raw-net-coalesced": {
      const { startRawNetServer } = await import("./raw-net.js");
      return wrap(await startRawNetServer(key === "raw-net-coalesced"));
    }
    case "raw-ws":
    case "raw-ws-coalesced": {
      const { startRawWsServer } = await import("./raw-ws.js");
      return wrap(await startRawWsServer(key === "raw-ws-coalesced"));
    }
    case "socket.io": {
      const { startSocketIoServer } = await import("./socket-io.js");
      return wrap(await startSocketIoServer());
    }
    case "repod-tcp":
    case "repod-ws": {
      const { startRepodServer } = await import("./repod.js");
      return startRepodServer(key === "repod-ws" ? "ws" : "tcp");
    }
  }
}

/** Opens one client connection of implementation `id` to `port` on 127.0.0.1. */
export async function openLink(id: ImplId, port: number): Promise<ClientLink> {
  switch (id) {
    case "raw-net":
    case "raw-net-coalesced": {
      const { openRawNetLink } = await import("./raw-net.js");
      return openRawNetLink(port, id === "raw-net-coalesced");
    }
    case "raw-ws":
    case "raw-ws-coalesced": {
      const { openRawWsLink } = await import("./raw-ws.js");
      return openRawWsLink(port, id === "raw-ws-coalesced");
    }
    case "socket.io": {
      const { openSocketIoLink } = await import("./socket-io.js");
      return openSocketIoLink(port);
    }
    case "repod-tcp":
    case "repod-ws":
    case "repod-tcp-rx":
    case "repod-ws-rx": {
      const { openRepodLink } = await import("./repod.js");
      return openRepodLink(IMPLS[id].transport, port, id.endsWith("-rx"));
    }
  }
}
