import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { EMPTY, NEVER, of, throwError } from "rxjs";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import {
  Channel,
  ConnectionListener,
  Server,
  decode,
  type AuthContext,
  type Authenticate,
  type ChannelInit,
  type ConnectOptions,
  type DispatchMode,
  type IncomingMessage,
  type ServerOptions,
  type UntypedActions,
} from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { tcpLoginPeer, wsLoginPeer, type LoginPeer } from "./helpers/login-peers.js";
import { delay, waitFor } from "./helpers/net.js";
import { rawPeer } from "./helpers/players.js";
import { tcpProxy } from "./helpers/proxy.js";
import { rawServer } from "./helpers/raw.js";
import { rawWsServer, recordingLogger } from "./helpers/ws.js";
import { PROVISION_ADVICE, PYTHON } from "./helpers/system-tools.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** What this game's `authenticate` says about a player: `channel.data`. */
interface PlayerData {
  readonly name: string;
  readonly level: number;
}

/** A seat that writes every hook and dispatch into its server's `events`, in order. */
class Seat extends Channel<Lobby, UntypedActions, UntypedActions, PlayerData> {
  constructor(init?: ChannelInit) {
    super(init);
    this.server.events.push("new channel");
  }

  override onConnect(): void {
    this.server.events.push("channel.onConnect");
  }

  override networkReceived(message: IncomingMessage): void {
    this.server.events.push(`dispatched ${String(message.action)}`);
  }
}

/** A server of seats that records its own hook and its `connections$` in `events`. */
class Lobby extends Server<Seat> {
  readonly events: string[] = [];

  override onConnect(): void {
    this.events.push("server.onConnect");
  }
}

type Via = "tcp" | "ws" | "memory";
const VIAS: readonly Via[] = ["tcp", "ws", "memory"];
const DISPATCHES: readonly DispatchMode[] = ["live", "pump"];

/** A started lobby on 127.0.0.1, reachable over TCP, WebSocket and in memory, stopped after the test. */
async function startLobby(options: ServerOptions<Seat> = {}): Promise<Lobby> {
  const server = cleanup.server(
    new Lobby({ host: "127.0.0.1", port: 0, channelClass: Seat, ws: { port: 0 }, ...options }),
  );
  await server.start();
  server.listenLocal();
  cleanup.subscription(server.connections$.subscribe(() => server.events.push("connections$")));
  return server;
}

/** A repod-rx client of `server` over `via`, closed after the test, with every message it received in `log`. */
function connectVia(
  server: Server<any>,
  via: Via,
  options: ConnectOptions,
): { listener: ConnectionListener; log: IncomingMessage[] } {
  const listener = cleanup.listener(new ConnectionListener());
  const log: IncomingMessage[] = [];
  cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
  if (via === "tcp") listener.connect("127.0.0.1", server.port, options);
  else if (via === "ws") listener.connect(`ws://127.0.0.1:${server.wsPort}/`, options);
  else listener.connect(server, options);
  return { listener, log };
}

/** A hand-driven peer of `server` over TCP or a bare WebSocket. */
function rawLoginPeer(server: Server<any>, via: "tcp" | "ws", headers?: Record<string, string>): Promise<LoginPeer> {
  return via === "tcp"
    ? tcpLoginPeer(cleanup, server.port)
    : wsLoginPeer(cleanup, `ws://127.0.0.1:${server.wsPort}/`, headers);
}

/** Pumps `server` and the listeners for `ms` milliseconds: whatever is queued gets its chance to run. */
async function pumpFor(ms: number, ...targets: { pump(): number }[]): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    for (const target of targets) target.pump();
    await delay(5);
  }
}

/** Waits until the listener's client is closed for good. */
function closedFor(listener: ConnectionListener): Promise<void> {
  return waitFor(() => listener.connection?.state === "closed", "the client to close for good");
}

/** Waits until the server has closed `peer`'s connection. */
function closedBy(peer: LoginPeer): Promise<void> {
  return waitFor(() => peer.isClosed, "the server to close the connection");
}

/** A Promise and the functions that settle it, for an `authenticate` the test answers. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The reason of the server's last "refused" log line. */
function loggedReason(logger: ReturnType<typeof recordingLogger>): unknown {
  return logger.entries.filter((entry) => entry.message === "refused").at(-1)?.fields.reason;
}

const ANN: PlayerData = { name: "ann", level: 3 };

/**
 * Every way `authenticate` can say no, with the reason the client must read (`null`: whatever
 * the server logged, for an answer without a message of its own).
 */
const REFUSALS: readonly {
  readonly how: string;
  readonly authenticate: () => unknown;
  readonly reason: string | null;
}[] = [
  {
    how: "throws",
    authenticate: () => {
      throw new Error("bad token");
    },
    reason: "bad token",
  },
  {
    how: "throws a string",
    authenticate: () => {
      throw "banned";
    },
    reason: "banned",
  },
  { how: "rejects", authenticate: () => Promise.reject(new Error("expired token")), reason: "expired token" },
  {
    how: "returns an Observable that errors",
    authenticate: () => throwError(() => new Error("revoked")),
    reason: "revoked",
  },
  { how: "returns an Observable that completes empty", authenticate: () => EMPTY, reason: null },
  { how: "returns undefined", authenticate: () => undefined, reason: null },
  { how: "resolves undefined", authenticate: () => Promise.resolve(undefined), reason: null },
  { how: "returns an Observable of undefined", authenticate: () => of(undefined), reason: null },
];

const refusingWith = (authenticate: (auth: unknown) => unknown): Authenticate<PlayerData> =>
  authenticate as unknown as Authenticate<PlayerData>;

describe("a refused login", () => {
  describe.each(VIAS)("over %s", (via) => {
    it.each(REFUSALS)(
      "when authenticate $how, the client gets exactly one error ERR_UNAUTHORIZED with the server's reason, and the server never has a channel",
      async ({ authenticate, reason }) => {
        const logger = recordingLogger();
        const server = await startLobby({ authenticate: refusingWith(authenticate), logger });
        const { listener, log } = connectVia(server, via, { auth: "token" });
        await closedFor(listener);
        const expected = reason ?? loggedReason(logger);
        expect(typeof expected).toBe("string");
        expect(log).toEqual([{ action: "error", code: "ERR_UNAUTHORIZED", error: expected }]);
        expect(server.events).toEqual([]);
        expect(server.channels).toEqual([]);
        expect(server.roomNames).toEqual([]);
      },
    );
  });

  describe.each(["tcp", "ws"] as const)("to a raw %s peer", (via) => {
    it.each(REFUSALS)(
      "when authenticate $how, the peer sees exactly one @refused ERR_UNAUTHORIZED, then the close, and no greeting",
      async ({ authenticate, reason }) => {
        const logger = recordingLogger();
        const server = await startLobby({ authenticate: refusingWith(authenticate), logger });
        const peer = await rawLoginPeer(server, via);
        peer.send({ action: "@hello", auth: "token" });
        await closedBy(peer);
        const expected = reason ?? loggedReason(logger);
        expect(peer.messages).toEqual([{ action: "@refused", code: "ERR_UNAUTHORIZED", reason: expected }]);
        expect(server.events).toEqual([]);
        expect(server.channels).toEqual([]);
      },
    );
  });

  it("an Observable that completes empty is refused with the same reason as undefined, not an RxJS message", async () => {
    const server = await startLobby({
      authenticate: refusingWith((auth: unknown) => (auth === "empty" ? EMPTY : undefined)),
    });
    const empty = await rawLoginPeer(server, "tcp");
    const nothing = await rawLoginPeer(server, "tcp");
    empty.send({ action: "@hello", auth: "empty" });
    nothing.send({ action: "@hello", auth: "nothing" });
    await closedBy(empty);
    await closedBy(nothing);
    expect(empty.messages).toHaveLength(1);
    expect(empty.messages[0]).toMatchObject({ action: "@refused", code: "ERR_UNAUTHORIZED" });
    expect(empty.messages).toEqual(nothing.messages);
  });

  it("in pump mode runs no hook and dispatches nothing, however often the server is pumped", async () => {
    const server = await startLobby({
      dispatch: "pump",
      authenticate: () => {
        throw new Error("bad token");
      },
    });
    const peer = await rawLoginPeer(server, "tcp");
    peer.send({ action: "@hello", auth: "token" });
    peer.send({ action: "move" });
    await closedBy(peer);
    await pumpFor(50, server);
    expect(peer.messages).toEqual([{ action: "@refused", code: "ERR_UNAUTHORIZED", reason: "bad token" }]);
    expect(server.events).toEqual([]);
  });

  it("a client whose login is pending when the server stops gets an error, never connected", async () => {
    let calls = 0;
    const server = await startLobby({
      authenticate: () => {
        calls++;
        return NEVER;
      },
    });
    const { listener, log } = connectVia(server, "tcp", { auth: "token" });
    await waitFor(() => calls === 1, "the login to be checked");
    await server.stop();
    await closedFor(listener);
    expect(log.map((message) => message.action)).toEqual(["error"]);
  });
});

describe("a slow login", () => {
  describe.each(VIAS)("over %s", (via) => {
    it.each(DISPATCHES)(
      "in %s mode: nothing happens while authenticate is pending; once it resolves, onConnect runs, then what the client sent after its hello, in order",
      async (dispatch) => {
        const gate = deferred<PlayerData>();
        const seen: unknown[] = [];
        const server = await startLobby({
          dispatch,
          authenticate: (auth) => {
            seen.push(auth);
            return gate.promise;
          },
        });
        const { listener, log } = connectVia(server, via, { auth: "ann-token" });
        for (const action of ["a", "b", "c"]) listener.send({ action });
        await waitFor(() => seen.length === 1, "authenticate to be called");
        await pumpFor(100, server, listener);
        expect(seen).toEqual(["ann-token"]);
        expect(server.channels).toEqual([]);
        expect(server.events).toEqual([]);
        expect(log).toEqual([]);

        gate.resolve(ANN);
        await waitFor(() => {
          server.pump();
          return server.events.length === 7;
        }, "the channel and its messages");
        expect(server.events).toEqual([
          "new channel",
          "channel.onConnect",
          "server.onConnect",
          "connections$",
          "dispatched a",
          "dispatched b",
          "dispatched c",
        ]);
        expect(server.channels).toHaveLength(1);
        expect(server.channels[0]!.data).toBe(ANN);
        await waitFor(() => log.length === 2, "the greeting");
        expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect"]);
      },
    );
  });

  it.each(["tcp", "ws"] as const)(
    "a raw %s peer waiting for its login receives nothing, then only the greeting",
    async (via) => {
      const gate = deferred<PlayerData>();
      const server = await startLobby({ authenticate: () => gate.promise });
      const peer = await rawLoginPeer(server, via);
      peer.send({ action: "@hello", auth: "token" });
      peer.send({ action: "early" });
      await delay(100);
      expect(peer.messages).toEqual([]);
      expect(server.channels).toEqual([]);
      gate.resolve(ANN);
      await waitFor(() => peer.messages.length === 1 && server.events.includes("dispatched early"), "the greeting");
      await delay(30);
      expect(peer.messages).toEqual([{ action: "connected" }]);
    },
  );

  it("takes an Observable's first value as the player's data", async () => {
    const server = await startLobby({ authenticate: () => of(ANN, { name: "bob", level: 1 }) });
    connectVia(server, "tcp", { auth: "token" });
    await waitFor(() => server.channels.length === 1, "the channel");
    expect(server.channels[0]!.data).toBe(ANN);
  });

  it("types channel.data with the fourth generic of Channel, and authenticate's result with it", async () => {
    // Checked by tsc (spec/ is part of the project); at run time only the login below runs.
    expectTypeOf<Seat["data"]>().toEqualTypeOf<PlayerData>();
    expectTypeOf<Parameters<Authenticate<PlayerData>>>().toEqualTypeOf<[unknown, AuthContext]>();
    const typed: ServerOptions<Seat> = {
      authenticate: async () => Promise.resolve({ name: "ann", level: 1 }),
    };
    const wrong: ServerOptions<Seat> = {
      // @ts-expect-error authenticate must return the channel's data (PlayerData), not any object
      authenticate: () => ({ nickname: "ann" }),
    };
    void wrong;
    const server = await startLobby(typed);
    connectVia(server, "memory", { auth: "token" });
    await waitFor(() => server.channels.length === 1, "the channel");
    const channel = server.channels[0]!;
    expectTypeOf(channel.data).toEqualTypeOf<PlayerData>();
    expectTypeOf(channel.data.name).toBeString();
    expect(channel.data).toEqual({ name: "ann", level: 1 });
  });

  it("an auth function's client queues what it sends right after connect(), like any client", async () => {
    const server = await startLobby({ authenticate: () => ANN });
    const { listener } = connectVia(server, "tcp", { auth: () => "token" });
    const sent = listener.send({ action: "first move" });
    await waitFor(() => server.channels.length === 1, "the channel");
    await delay(50);
    expect(sent).toBeGreaterThan(0);
    expect(server.events.filter((event) => event.startsWith("dispatched"))).toEqual(["dispatched first move"]);
  });

  it("with resume, the messages sent while the login was checked count as received: none is dispatched twice after a drop", async () => {
    const gate = deferred<PlayerData>();
    const server = await startLobby({ authenticate: () => gate.promise, resume: { window: 5_000 } });
    const resumes: unknown[] = [];
    cleanup.subscription(server.resumes$.subscribe((channel) => resumes.push(channel)));
    const proxy = await tcpProxy(cleanup, server.port);
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", proxy.port, { auth: "token", resume: true });
    for (const action of ["a", "b", "c"]) listener.send({ action });
    await delay(50);
    gate.resolve(ANN);
    await waitFor(() => server.events.includes("dispatched c"), "the early messages");
    listener.send({ action: "d" });
    await waitFor(() => server.events.includes("dispatched d"), "d");
    // The server acknowledges what it received within 200 ms: let it, so the client trims what it keeps.
    await delay(300);
    proxy.cut();
    await waitFor(() => resumes.length === 1, "the resume");
    listener.send({ action: "e" });
    await waitFor(() => server.events.includes("dispatched e"), "e");
    await delay(50);
    expect(server.events.filter((event) => event.startsWith("dispatched"))).toEqual([
      "dispatched a",
      "dispatched b",
      "dispatched c",
      "dispatched d",
      "dispatched e",
    ]);
  });

  it("session control messages sent while the login is checked are never dispatched", async () => {
    const gate = deferred<PlayerData>();
    const server = await startLobby({ authenticate: () => gate.promise });
    const peer = await rawLoginPeer(server, "tcp");
    peer.send({ action: "@hello", auth: "token" });
    peer.send({ action: "@hello", auth: "again" });
    peer.send({ action: "@ack", n: 0 });
    peer.send({ action: "@resumed", token: "x", received: 0 });
    peer.send({ action: "move" });
    await delay(50);
    gate.resolve(ANN);
    await waitFor(() => server.events.includes("dispatched move"), "the move");
    await delay(30);
    expect(server.events.filter((event) => event.startsWith("dispatched"))).toEqual(["dispatched move"]);
  });
  it("with resume only, a session message a peer sends before its hello is dropped, never dispatched", async () => {
    const server = await startLobby({ resume: { helloWindow: 50 } });
    const peer = await rawLoginPeer(server, "tcp");
    peer.send({ action: "@ack", n: 0 });
    peer.send({ action: "move" });
    await waitFor(() => server.events.includes("dispatched move"), "the move");
    await delay(30);
    expect(server.events.filter((event) => event.startsWith("dispatched"))).toEqual(["dispatched move"]);
  });
});

describe("the messages before a login", () => {
  it("32 messages after the hello wait for authenticate and are all dispatched, in order", async () => {
    const gate = deferred<PlayerData>();
    const server = await startLobby({ authenticate: () => gate.promise });
    const peer = await rawLoginPeer(server, "tcp");
    peer.send({ action: "@hello", auth: "token" });
    for (let n = 0; n < 32; n++) peer.send({ action: `m${n}` });
    await delay(100);
    gate.resolve(ANN);
    await waitFor(() => server.events.includes("dispatched m31"), "the 32 messages");
    expect(server.events.filter((event) => event.startsWith("dispatched"))).toEqual(
      Array.from({ length: 32 }, (_, n) => `dispatched m${n}`),
    );
    expect(peer.messages).toEqual([{ action: "connected" }]);
  });

  it.each(["tcp", "ws"] as const)(
    "a %s peer that sends more than 32 messages before its login is checked is refused with ERR_UNAUTHORIZED",
    async (via) => {
      const gate = deferred<PlayerData>();
      const server = await startLobby({ authenticate: () => gate.promise });
      const peer = await rawLoginPeer(server, via);
      peer.send({ action: "@hello", auth: "token" });
      for (let n = 0; n < 33; n++) peer.send({ action: `m${n}` });
      await closedBy(peer);
      gate.resolve(ANN);
      await delay(30);
      expect(peer.messages).toHaveLength(1);
      expect(peer.messages[0]).toMatchObject({ action: "@refused", code: "ERR_UNAUTHORIZED" });
      expect(server.events).toEqual([]);
    },
  );

  it.each([
    ["a game message", { action: "move", x: 1 }],
    ["a session message", { action: "@ack", n: 0 }],
    ["a map without an action", { x: 1 }],
  ])("a first message that is not @hello (%s) is refused with ERR_UNAUTHORIZED", async (_name, first) => {
    let calls = 0;
    const server = await startLobby({
      authenticate: () => {
        calls++;
        return ANN;
      },
    });
    const peer = await rawLoginPeer(server, "tcp");
    peer.send(first);
    peer.send({ action: "@hello", auth: "token" });
    await closedBy(peer);
    expect(peer.messages).toHaveLength(1);
    expect(peer.messages[0]).toMatchObject({ action: "@refused", code: "ERR_UNAUTHORIZED" });
    expect(calls).toBe(0);
    expect(server.events).toEqual([]);
  });
});

describe("the handshake timeout", () => {
  it.each(["tcp", "ws"] as const)(
    "a raw %s peer that says nothing is refused with ERR_HANDSHAKE_TIMEOUT after handshakeTimeout, and its slot is free again",
    async (via) => {
      const server = await startLobby({ authenticate: () => ANN, handshakeTimeout: 200, maxConnections: 1 });
      const started = Date.now();
      const peer = await rawLoginPeer(server, via);
      await closedBy(peer);
      const elapsed = Date.now() - started;
      expect(peer.messages).toHaveLength(1);
      expect(peer.messages[0]).toMatchObject({ action: "@refused", code: "ERR_HANDSHAKE_TIMEOUT" });
      expect(elapsed).toBeGreaterThanOrEqual(180);
      expect(elapsed).toBeLessThan(2_000);
      const { log } = connectVia(server, "tcp", { auth: "token" });
      await waitFor(() => server.channels.length === 1, "a new player in the freed slot");
      await waitFor(() => log.length === 2, "its greeting");
      expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect"]);
    },
  );

  it("a client whose authenticate does not answer in time is refused with ERR_HANDSHAKE_TIMEOUT", async () => {
    const server = await startLobby({ authenticate: () => new Promise<PlayerData>(() => {}), handshakeTimeout: 200 });
    const { listener, log } = connectVia(server, "tcp", { auth: "token" });
    await closedFor(listener);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ action: "error", code: "ERR_HANDSHAKE_TIMEOUT" });
    expect(server.events).toEqual([]);
  });

  it.each([
    ["no session option", {}],
    ["resume only", { resume: { helloWindow: 50 } }],
  ] as const)(
    "without authenticate (%s), a silent peer is never cut: a listen-only Python client stays",
    async (_name, options) => {
      const server = await startLobby({ handshakeTimeout: 200, ...options });
      const peer = await rawLoginPeer(server, "tcp");
      await delay(600);
      expect(peer.isClosed).toBe(false);
      expect(peer.messages).toEqual([{ action: "connected" }]);
      expect(server.channels).toHaveLength(1);
      server.channels[0]!.send({ action: "news" });
      await waitFor(() => peer.messages.length === 2, "the news");
      expect(peer.messages[1]).toEqual({ action: "news" });
    },
  );
});

describe("what authenticate knows of a client", () => {
  it("over TCP: transport tcp, the peer's address, no request, not resuming", async () => {
    const contexts: AuthContext[] = [];
    const server = await startLobby({
      authenticate: (_auth, context) => {
        contexts.push(context);
        return ANN;
      },
    });
    const peer = await rawLoginPeer(server, "tcp");
    peer.send({ action: "@hello", auth: "token" });
    await waitFor(() => server.channels.length === 1, "the channel");
    expect(contexts).toHaveLength(1);
    expect(contexts[0]).toMatchObject({
      transport: "tcp",
      remote: { host: "127.0.0.1", port: peer.localPort },
      resuming: false,
    });
    expect(contexts[0]!.request).toBeUndefined();
  });

  it("in memory: transport memory, no request", async () => {
    const contexts: AuthContext[] = [];
    const server = await startLobby({
      authenticate: (_auth, context) => {
        contexts.push(context);
        return ANN;
      },
    });
    connectVia(server, "memory", { auth: "token" });
    await waitFor(() => server.channels.length === 1, "the channel");
    expect(contexts).toHaveLength(1);
    expect(contexts[0]).toMatchObject({ transport: "memory", resuming: false });
    expect(contexts[0]!.request).toBeUndefined();
  });

  it("over WebSocket: transport ws, the peer's address, and the upgrade request with its cookie and URL query", async () => {
    const contexts: AuthContext[] = [];
    const server = await startLobby({
      authenticate: (auth, context) => {
        contexts.push(context);
        // A cookie-based login: the browser sent its session cookie with the upgrade request.
        const cookie = context.request?.headers.cookie ?? "";
        if (auth !== undefined || !/(^|;\s*)sid=s3cret(;|$)/.test(cookie)) throw new Error("no session cookie");
        const room = new URL(context.request!.url ?? "/", "http://localhost").searchParams.get("room");
        return { name: `ann@${room}`, level: 1 };
      },
    });
    const peer = await wsLoginPeer(cleanup, `ws://127.0.0.1:${server.wsPort}/?room=7`, {
      cookie: "theme=dark; sid=s3cret",
    });
    peer.send({ action: "@hello" });
    await waitFor(() => server.channels.length === 1, "the channel");
    expect(contexts).toHaveLength(1);
    expect(contexts[0]).toMatchObject({
      transport: "ws",
      remote: { host: "127.0.0.1", port: peer.localPort },
      resuming: false,
    });
    expect(contexts[0]!.request?.headers.cookie).toBe("theme=dark; sid=s3cret");
    expect(contexts[0]!.request?.url).toBe("/?room=7");
    expect(server.channels[0]!.data).toEqual({ name: "ann@7", level: 1 });
    await waitFor(() => peer.messages.length === 1, "the greeting");
    expect(peer.messages).toEqual([{ action: "connected" }]);
  });

  it("a repod-rx WebSocket client without auth logs in by its upgrade request alone (a cookie or URL login)", async () => {
    const server = await startLobby({
      handshakeTimeout: 500,
      authenticate: (_auth, context) => {
        const ticket = new URL(context.request?.url ?? "/", "http://localhost").searchParams.get("ticket");
        if (ticket !== "t-1") throw new Error("no ticket");
        return ANN;
      },
    });
    // As a browser page would: the ticket (or a cookie) travels with the upgrade request, no auth.
    const listener = cleanup.listener(new ConnectionListener());
    const log: IncomingMessage[] = [];
    cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
    listener.connect(`ws://127.0.0.1:${server.wsPort}/?ticket=t-1`);
    await waitFor(
      () => server.channels.length === 1 || log.some((message) => message.action === "error"),
      "the login",
      2_000,
    );
    await delay(50);
    expect(log).toEqual([{ action: "connected" }, { action: "socketConnect" }]);
    expect(server.channels).toHaveLength(1);
  });

  it("a repod-rx WebSocket client without auth still opens with { action: @hello }, for a server to check its upgrade request", async () => {
    const first: unknown[] = [];
    const { url } = await rawWsServer(cleanup, (socket) => {
      socket.on("message", (data: Buffer) => first.push(decode(Uint8Array.from(data))));
    });
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect(url);
    listener.send({ action: "move" });
    await waitFor(() => first.length >= 1, "the client's first message");
    expect(first[0]).toEqual({ action: "@hello" });
  });

  it("a resumed login sees resuming true", async () => {
    const contexts: AuthContext[] = [];
    const server = await startLobby({
      resume: { window: 5_000 },
      authenticate: (_auth, context) => {
        contexts.push(context);
        return ANN;
      },
    });
    const resumes: unknown[] = [];
    cleanup.subscription(server.resumes$.subscribe((channel) => resumes.push(channel)));
    const proxy = await tcpProxy(cleanup, server.port);
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", proxy.port, { auth: "token", resume: true });
    await waitFor(() => server.channels.length === 1, "the channel");
    await delay(30);
    proxy.cut();
    await waitFor(() => resumes.length === 1, "the resume");
    expect(contexts.map((context) => context.resuming)).toEqual([false, true]);
  });
});

describe("the client's credentials", () => {
  it.each(VIAS)(
    "over %s, an auth function is called at every (re)connect and authenticate sees its new token",
    async (via) => {
      let issued = 0;
      const seen: unknown[] = [];
      const server = await startLobby({
        authenticate: (auth) => {
          seen.push(auth);
          return { name: String(auth), level: 1 };
        },
      });
      const { log } = connectVia(server, via, {
        auth: async () => Promise.resolve(`token-${++issued}`),
        reconnect: { initialDelay: 5, maxDelay: 20 },
      });
      await waitFor(() => server.channels.length === 1, "the first channel");
      expect(server.channels[0]!.data.name).toBe("token-1");
      server.channels[0]!.close();
      await waitFor(() => seen.length === 2 && server.channels.length === 1, "the second login");
      expect(seen).toEqual(["token-1", "token-2"]);
      expect(issued).toBe(2);
      expect(server.channels[0]!.data.name).toBe("token-2");
      await waitFor(() => log.length === 5, "the second greeting");
      expect(log.map((message) => message.action)).toEqual([
        "connected",
        "socketConnect",
        "disconnected",
        "connected",
        "socketConnect",
      ]);
    },
  );

  it.each(VIAS)(
    "over %s, static credentials the server refused are never sent again, even with reconnect on",
    async (via) => {
      const seen: unknown[] = [];
      const server = await startLobby({
        authenticate: (auth) => {
          seen.push(auth);
          throw new Error("stolen token");
        },
      });
      const { listener, log } = connectVia(server, via, {
        auth: "stolen",
        reconnect: { initialDelay: 5, maxDelay: 20 },
      });
      await closedFor(listener);
      await delay(200);
      expect(seen).toEqual(["stolen"]);
      expect(log).toEqual([{ action: "error", code: "ERR_UNAUTHORIZED", error: "stolen token" }]);
    },
  );

  it("an auth function that settles after close() opens no connection", async () => {
    let accepted = 0;
    const port = await rawServer(cleanup, () => accepted++);
    let credentials!: (value: string) => void;
    const listener = cleanup.listener(new ConnectionListener());
    const log: IncomingMessage[] = [];
    cleanup.subscription(listener.messages$.subscribe((message) => log.push(message)));
    listener.connect("127.0.0.1", port, { auth: () => new Promise<string>((resolve) => (credentials = resolve)) });
    await waitFor(() => credentials !== undefined, "the auth function to be called");
    listener.close();
    credentials("late");
    await delay(100);
    expect(accepted).toBe(0);
    expect(listener.connection!.state).toBe("closed");
    expect(log).toEqual([]);
  });

  it("an auth function that returns the value the server refused does not send it again", async () => {
    let calls = 0;
    const seen: unknown[] = [];
    const server = await startLobby({
      authenticate: (auth) => {
        seen.push(auth);
        throw new Error("stolen token");
      },
    });
    const { log } = connectVia(server, "tcp", {
      auth: () => {
        calls++;
        return { user: "ann", token: "stolen" };
      },
      reconnect: { initialDelay: 5, maxDelay: 20 },
    });
    await waitFor(() => calls >= 2, "the function to be asked again");
    await delay(200);
    expect(seen).toEqual([{ user: "ann", token: "stolen" }]);
    expect(log).toEqual([{ action: "error", code: "ERR_UNAUTHORIZED", error: "stolen token" }]);
  });

  it("an auth function that returns a new value after a refusal is tried with it", async () => {
    const tokens = ["expired", "fresh"];
    const seen: unknown[] = [];
    const server = await startLobby({
      authenticate: (auth) => {
        seen.push(auth);
        if (auth !== "fresh") throw new Error("token expired");
        return ANN;
      },
    });
    const { log } = connectVia(server, "tcp", {
      auth: () => tokens.shift() ?? "fresh",
      reconnect: { initialDelay: 5, maxDelay: 20 },
    });
    await waitFor(() => server.channels.length === 1, "the channel");
    await waitFor(() => log.length === 3, "the greeting");
    expect(seen).toEqual(["expired", "fresh"]);
    expect(log).toEqual([
      { action: "error", code: "ERR_UNAUTHORIZED", error: "token expired" },
      { action: "connected" },
      { action: "socketConnect" },
    ]);
  });
});

describe("Python clients", () => {
  it("a Python-style raw TCP client logs in with @hello first and is greeted with connected, and nothing starting with @", async () => {
    const seen: unknown[] = [];
    const server = await startLobby({
      authenticate: (auth) => {
        seen.push(auth);
        return ANN;
      },
    });
    const peer = await rawLoginPeer(server, "tcp");
    peer.send({ action: "@hello", auth: { user: "ann", password: "pw" } });
    peer.send({ action: "move" });
    await waitFor(() => server.events.includes("dispatched move"), "the move");
    server.channels[0]!.send({ action: "state" });
    await waitFor(() => peer.messages.length === 2, "the state");
    expect(seen).toEqual([{ user: "ann", password: "pw" }]);
    expect(peer.messages).toEqual([{ action: "connected" }, { action: "state" }]);
  });

  it("a real Python repod peer logs in by sending @hello as its first frame", async () => {
    const python = PYTHON;
    expect(existsSync(python), `${python} is missing: ${PROVISION_ADVICE}`).toBe(true);
    const seen: unknown[] = [];
    const server = await startLobby({
      authenticate: (auth) => {
        seen.push(auth);
        if (auth !== "py-token") throw new Error("bad token");
        return { name: "py", level: 2 };
      },
    });
    const script = fileURLToPath(new URL("./fixtures/python-peer.py", import.meta.url));
    const child = spawn(python, [script, "127.0.0.1", String(server.port)]);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    cleanup.add(async () => {
      child.kill("SIGKILL");
      await exited;
    });
    const received: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout }).on("line", (line) =>
      received.push(JSON.parse(line) as Record<string, unknown>),
    );
    child.stdin.write(JSON.stringify({ action: "@hello", auth: "py-token" }) + "\n");
    child.stdin.write(JSON.stringify({ action: "move" }) + "\n");
    await waitFor(() => server.events.includes("dispatched move"), "the move");
    await waitFor(() => received.length === 1, "the greeting");
    expect(seen).toEqual(["py-token"]);
    expect(server.channels[0]!.data).toEqual({ name: "py", level: 2 });
    expect(received).toEqual([{ action: "connected" }]);
  });

  it("a repod-rx client with auth sends { action: @hello, auth } as its first frame", async () => {
    const first: Record<string, unknown>[] = [];
    const port = await rawServer(cleanup, (socket) => {
      const peer = rawPeer(socket);
      socket.on("data", () => {
        if (first.length === 0 && peer.messages.length > 0) first.push(peer.messages[0]!);
      });
    });
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", port, { auth: { user: "ann" } });
    listener.send({ action: "move" });
    await waitFor(() => first.length === 1, "the first frame");
    expect(first[0]).toEqual({ action: "@hello", auth: { user: "ann" } });
  });

  it.each(DISPATCHES)(
    "in %s mode, a server without authenticate and resume ignores a repod-rx client's @hello: it dispatches only the game's messages",
    async (dispatch) => {
      const server = await startLobby({ dispatch });
      const messages: unknown[] = [];
      cleanup.subscription(server.messages$.subscribe(({ message }) => messages.push(message.action)));
      const { listener, log } = connectVia(server, "tcp", { auth: "token" });
      listener.send({ action: "move" });
      await waitFor(() => {
        server.pump();
        return server.events.includes("dispatched move");
      }, "the move");
      await pumpFor(30, server);
      expect(server.events).toEqual([
        "new channel",
        "channel.onConnect",
        "server.onConnect",
        "connections$",
        "dispatched move",
      ]);
      expect(messages).toEqual(["move"]);
      expect(server.channels[0]!.data).toBeUndefined();
      await waitFor(() => log.length === 2, "the greeting");
      expect(log.map((message) => message.action)).toEqual(["connected", "socketConnect"]);
    },
  );
});

describe("maxConnections", () => {
  it.each(VIAS)(
    "counts logins in progress: with 2 pending logins and maxConnections 2, a %s client is refused ERR_SERVER_FULL",
    async (via) => {
      const gate = deferred<PlayerData>();
      let calls = 0;
      const server = await startLobby({
        maxConnections: 2,
        authenticate: () => {
          calls++;
          return gate.promise;
        },
      });
      const first = await rawLoginPeer(server, "tcp");
      const second = await rawLoginPeer(server, "tcp");
      first.send({ action: "@hello", auth: "one" });
      second.send({ action: "@hello", auth: "two" });
      await waitFor(() => calls === 2, "two logins in progress");
      const { listener, log } = connectVia(server, via, { auth: "three" });
      await closedFor(listener);
      expect(log).toHaveLength(1);
      expect(log[0]).toMatchObject({ action: "error", code: "ERR_SERVER_FULL" });
      expect(calls).toBe(2);
      gate.resolve(ANN);
      await waitFor(() => server.channels.length === 2, "the two pending players");
    },
  );
});

describe("options", () => {
  it.each(["yes", 42, {}, null])("authenticate that is not a function (%j) is a TypeError at construction", (value) => {
    expect(() => new Server({ authenticate: value as never })).toThrow(TypeError);
    expect(() => new Server({ authenticate: value as never })).toThrow(/authenticate must be a function/);
  });

  it.each([0, -1, 2 ** 31])("handshakeTimeout %d is a RangeError at construction", (value) => {
    expect(() => new Server({ handshakeTimeout: value, authenticate: () => ANN })).toThrow(RangeError);
    expect(() => new Server({ handshakeTimeout: value })).toThrow(/handshakeTimeout/);
  });

  it.each([1.5, "200", Number.NaN])("handshakeTimeout %j that is not an integer is a TypeError", (value) => {
    expect(() => new Server({ handshakeTimeout: value as never })).toThrow(TypeError);
  });
});
