import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  Channel,
  ConnectionListener,
  encode,
  HEADER_SIZE,
  ProtocolError,
  REPLY_ACTION,
  Server,
  type Address,
  type IncomingMessage,
  type ServerOptions,
} from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, pumpUntil, startServer, waitFor } from "./helpers/net.js";
import { loggedListener } from "./helpers/listeners.js";
import { connectPlayer, type Player } from "./helpers/players.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A server that accepts in-process clients only: no port is opened. */
function localServer<C extends Channel<any>>(options: ServerOptions<C> = {}): Server<C> {
  const server = cleanup.server(new Server<C>(options));
  server.listenLocal();
  return server;
}

/** A channel class whose channels record their errors in `errors`. */
function errorRecordingChannel() {
  const errors: unknown[] = [];
  class ErrorRecording extends Channel {
    override onError(error: unknown): void {
      errors.push(error);
    }
  }
  return { errors, channelClass: ErrorRecording };
}

/** The actions a listener received, in order. */
function actions(player: { received: readonly IncomingMessage[] }): unknown[] {
  return player.received.map((message) => message.action);
}

describe("in-memory transport: connection and greeting", () => {
  it("listenLocal() opens no port; connect(server) delivers connected then socketConnect and swallows the server's greeting", async () => {
    const server = localServer();
    expect(server.isListening).toBe(true);
    const player = await connectPlayer(cleanup, server, "local");
    await delay(20);
    player.listener.pump();
    expect(actions(player)).toEqual(["connected", "socketConnect"]);
    expect(server.channels).toEqual([player.channel]);
    expect(player.channel.addr).toEqual({ host: "local", port: 0 });
    expect(player.listener.connection!.address).toEqual({ host: "local", port: 0 });
    expect(player.listener.connection!.state).toBe("open");
  });

  it("the built-in actions run through pump() in order, as Network_* handlers, like over TCP", async () => {
    const log: string[] = [];
    class Player extends ConnectionListener {
      Network_connected(): void {
        log.push("connected");
      }

      Network_socketConnect(): void {
        log.push("socketConnect");
      }

      Network_hello(message: { text: string }): void {
        log.push(`hello ${message.text}`);
      }

      Network_disconnected(): void {
        log.push("disconnected");
      }
    }
    class Greeter extends Channel {
      override onConnect(): void {
        this.send({ action: "hello", text: "there" });
      }
    }
    const server = localServer({ channelClass: Greeter });
    const listener = cleanup.listener(new Player());
    listener.connect(server);
    await delay(20);
    expect(log).toEqual([]); // nothing runs outside pump()
    await pumpUntil(listener, () => log.length === 3, "the greeting");
    expect(log).toEqual(["connected", "socketConnect", "hello there"]);
    listener.close();
    await pumpUntil(listener, () => log.length === 4, "disconnected");
    expect(log).toEqual(["connected", "socketConnect", "hello there", "disconnected"]);
  });

  it("disconnected arrives exactly once, whichever side closes", async () => {
    const server = localServer();
    const byClient = await connectPlayer(cleanup, server, "local");
    const byServer = await connectPlayer(cleanup, server, "local");
    const byStop = await connectPlayer(cleanup, server, "local");

    byClient.listener.close();
    byServer.channel.close();
    await waitFor(() => server.channels.length === 1, "two channels to close");
    await server.stop();
    await delay(20);
    for (const player of [byClient, byServer, byStop]) {
      expect(player.of("disconnected")).toHaveLength(1);
      expect(player.of("error")).toHaveLength(0);
      expect(player.listener.connection!.state).toBe("closed");
    }
  });

  it("a started TCP server accepts local clients too, and stop() ends both", async () => {
    const server = cleanup.server(await startServer());
    const local = await connectPlayer(cleanup, server, "local");
    const remote = await connectPlayer(cleanup, server, "tcp");
    expect(server.channels).toEqual([local.channel, remote.channel]);
    await server.stop();
    await waitFor(
      () => local.of("disconnected").length === 1 && remote.of("disconnected").length === 1,
      "both disconnected",
    );
  });

  it("connect(server) to a server that accepts no local clients reports one error, ERR_CONNECT_FAILED", async () => {
    const server = cleanup.server(new Server()); // neither listenLocal() nor start()
    const { listener, log: received } = loggedListener(cleanup);
    listener.connect(server);
    await waitFor(() => listener.connection!.state === "closed", "the client to close");
    listener.pump();
    expect(received).toEqual([
      {
        action: "error",
        code: "ERR_CONNECT_FAILED",
        error: "The server accepts no local connections: call server.listenLocal() or await server.start() first",
      },
    ]);
  });

  it("a stopped server accepts no more local clients until listenLocal() again", async () => {
    const server = localServer();
    await server.stop();
    const { listener, log: received } = loggedListener(cleanup);
    listener.connect(server);
    await waitFor(() => listener.connection!.state === "closed", "the refusal");
    expect(received.map((message) => message.code)).toEqual(["ERR_CONNECT_FAILED"]);

    server.listenLocal();
    const player = await connectPlayer(cleanup, server, "local");
    expect(server.channels).toEqual([player.channel]);
  });

  it("a server listening locally that fails to start on a taken port keeps accepting local clients", async () => {
    const taken = net.createServer();
    cleanup.netServer(taken);
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const server = localServer({ host: "127.0.0.1", port });
    await expect(server.start()).rejects.toThrow(/^Cannot listen on TCP 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    expect(server.isListening).toBe(true);
    const player = await connectPlayer(cleanup, server, "local");
    expect(server.channels).toEqual([player.channel]);
  });
});

describe("in-memory transport: hooks", () => {
  it("onConnect, onClose, onDisconnect and the server streams run as over TCP, each once, in order", async () => {
    const log: string[] = [];
    class Hooked extends Channel {
      override onConnect(): void {
        log.push(`channel onConnect ${this.isConnected}`);
      }

      override onClose(): void {
        log.push("channel onClose");
      }
    }
    class HostServer extends Server<Hooked> {
      override onConnect(channel: Hooked, addr: Address): void {
        log.push(`server onConnect ${addr.host}:${addr.port} ${channel instanceof Hooked}`);
      }

      override onDisconnect(): void {
        log.push("server onDisconnect");
      }
    }
    const server = cleanup.server(new HostServer({ channelClass: Hooked }));
    server.listenLocal();
    cleanup.subscription(server.connections$.subscribe(() => log.push("connections$")));
    cleanup.subscription(server.disconnections$.subscribe(() => log.push("disconnections$")));

    const player = await connectPlayer(cleanup, server, "local");
    expect(log).toEqual(["channel onConnect true", "server onConnect local:0 true", "connections$"]);
    player.listener.close();
    await waitFor(() => log.length === 6, "the close hooks");
    expect(log.slice(3)).toEqual(["channel onClose", "server onDisconnect", "disconnections$"]);
  });

  it("a failing hook goes to the channel's onError and the connection carries on", async () => {
    const errors: unknown[] = [];
    class Faulty extends Channel {
      override onConnect(): void {
        throw new Error("hook failed");
      }

      override onError(error: unknown): void {
        errors.push(error);
      }

      Network_ping(): void {
        this.send({ action: "pong" });
      }
    }
    const server = localServer({ channelClass: Faulty });
    const player = await connectPlayer(cleanup, server, "local");
    expect(errors).toEqual([new Error("hook failed")]);
    player.listener.send({ action: "ping" });
    await waitFor(() => player.of("pong").length === 1, "the pong");
  });
});

describe("in-memory transport: pump semantics", () => {
  it("with dispatch: 'pump', the handlers of every local channel run inside server.pump() in global arrival order", async () => {
    const log: string[] = [];
    class Ordered extends Channel {
      Network_say(message: { text: string }): void {
        log.push(`${this.id}:${message.text}`);
      }
    }
    const server = localServer({ dispatch: "pump", channelClass: Ordered });
    const a = await connectPlayer(cleanup, server, "local");
    const b = await connectPlayer(cleanup, server, "local");
    // Each message arrives before the next is sent (sent in one turn, each client's frames would
    // arrive together, as over TCP).
    for (const [player, text] of [
      [a, "1"],
      [b, "2"],
      [a, "3"],
    ] as const) {
      const queued = server.scheduler.size;
      player.listener.send({ action: "say", text });
      await waitFor(() => server.scheduler.size === queued + 1, `message ${text}`);
    }
    await delay(10);
    expect(log).toEqual([]);
    expect(server.pump()).toBe(3);
    expect(log).toEqual([`${a.channel.id}:1`, `${b.channel.id}:2`, `${a.channel.id}:3`]);
  });

  it("the listener runs only what arrived before pump() began; what a handler causes waits for the next pump", async () => {
    const log: number[] = [];
    class Counter extends ConnectionListener {
      Network_n(message: { n: number }): void {
        log.push(message.n);
        if (message.n === 1) this.scheduler.schedule(() => log.push(99));
      }
    }
    const server = localServer();
    const player = await connectPlayer(cleanup, server, "local", new Counter());
    for (let n = 1; n <= 3; n++) player.channel.send({ action: "n", n });
    await waitFor(() => player.of("n").length === 3, "the messages");
    expect(player.listener.pump()).toBe(3);
    expect(log).toEqual([1, 2, 3]);
    expect(player.listener.pump()).toBe(1);
    expect(log).toEqual([1, 2, 3, 99]);
  });

  it("messages are delivered in a later turn of the event loop, never synchronously within send()", async () => {
    const server = localServer();
    const player = await connectPlayer(cleanup, server, "local");
    const seen: IncomingMessage[] = [];
    cleanup.subscription(player.channel.messages$.subscribe((message) => seen.push(message)));
    player.listener.send({ action: "a" });
    player.channel.send({ action: "b" });
    await Promise.resolve();
    expect(seen).toEqual([]);
    expect(player.of("b")).toEqual([]);
    await waitFor(() => seen.length === 1 && player.of("b").length === 1, "both messages");
  });

  it("many messages each way arrive complete and in order", async () => {
    class Echo extends Channel {
      Network_n(message: { n: number }): void {
        this.send({ action: "n", n: message.n });
      }
    }
    const server = localServer({ channelClass: Echo });
    const player = await connectPlayer(cleanup, server, "local");
    for (let n = 0; n < 1000; n++) player.listener.send({ action: "n", n });
    await waitFor(() => player.of("n").length === 1000, "the echoes");
    expect(player.of("n").map((message) => message.n)).toEqual(Array.from({ length: 1000 }, (_, n) => n));
  });
});

describe("in-memory transport: limits", () => {
  it("a message over the server's maxPayload closes the local connection with ERR_PAYLOAD_TOO_LARGE", async () => {
    const { errors, channelClass } = errorRecordingChannel();
    const server = localServer({ channelClass, maxPayload: 64 });
    const player = await connectPlayer(cleanup, server, "local");
    const big = { action: "big", text: "x".repeat(100) };
    const size = encode(big).byteLength - HEADER_SIZE;
    player.listener.send({ action: "small" });
    player.listener.send(big);
    await waitFor(() => server.channels.length === 0, "the channel to close");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ProtocolError);
    expect(errors[0]).toMatchObject({
      code: "ERR_PAYLOAD_TOO_LARGE",
      message: `Frame header announces a ${size}-byte payload, over the 64-byte maxPayload limit`,
    });
    await waitFor(() => player.of("disconnected").length === 1, "the client to see it");
  });

  it("a message of exactly maxPayload bytes is delivered; one byte more is refused", async () => {
    const { errors, channelClass } = errorRecordingChannel();
    const server = localServer({ channelClass, maxPayload: 64 });
    const received: IncomingMessage[] = [];
    cleanup.subscription(server.messages$.subscribe(({ message }) => received.push(message)));
    const player = await connectPlayer(cleanup, server, "local");
    /** A message whose payload is `size` bytes. */
    const sized = (size: number): { action: string; text: string } => {
      const message = { action: "fit", text: "" };
      while (encode(message).byteLength - HEADER_SIZE < size) message.text += "x";
      expect(encode(message).byteLength - HEADER_SIZE).toBe(size);
      return message;
    };
    player.listener.send(sized(64));
    await waitFor(() => received.length === 1, "the message of maxPayload bytes");
    expect(received[0]).toEqual(sized(64));

    player.listener.send(sized(65));
    await waitFor(() => server.channels.length === 0, "the channel to close");
    expect(errors).toEqual([expect.objectContaining({ code: "ERR_PAYLOAD_TOO_LARGE" })]);
    expect(received).toHaveLength(1);
  });

  it("a message over the client's maxPayload ends its connection with an error then disconnected", async () => {
    const server = localServer();
    const { listener, log: received } = loggedListener(cleanup);
    listener.connect(server, { maxPayload: 64 });
    await waitFor(() => server.channels.length === 1 && received.length >= 2, "the connection");
    const big = { action: "big", text: "x".repeat(100) };
    server.channels[0]!.send(big);
    const size = encode(big).byteLength - HEADER_SIZE;
    await waitFor(() => received.some((message) => message.action === "disconnected"), "disconnected");
    expect(received.slice(2)).toEqual([
      {
        action: "error",
        error: `Frame header announces a ${size}-byte payload, over the 64-byte maxPayload limit`,
        code: "ERR_PAYLOAD_TOO_LARGE",
      },
      { action: "disconnected" },
    ]);
  });

  it("maxConnections refuses one local client too many with ERR_SERVER_FULL, like a TCP one, without a channel", async () => {
    const server = cleanup.server(await startServer({ maxConnections: 1 }));
    const first = await connectPlayer(cleanup, server, "local");
    const refused: Record<string, IncomingMessage[]> = {};
    for (const via of ["local", "tcp"] as const) {
      const { listener, log: received } = loggedListener(cleanup);
      if (via === "local") listener.connect(server);
      else listener.connect("127.0.0.1", server.port);
      await waitFor(() => listener.connection!.state === "closed", `the ${via} refusal`);
      refused[via] = received;
    }
    const reason = "Server is full: it already has 1 clients (maxConnections); try again later";
    expect(refused.local).toEqual(refused.tcp);
    expect(refused.local).toContainEqual({ action: "error", error: reason, code: "ERR_SERVER_FULL" });
    expect(server.channels).toEqual([first.channel]);
  });

  it("maxQueuedBytes cuts off a local client that lets too much pile up, not one that takes a burst bigger than the bound", async () => {
    const { errors, channelClass } = errorRecordingChannel();
    const server = localServer({ channelClass, maxQueuedBytes: 1_000 });
    const player = await connectPlayer(cleanup, server, "local");
    // One turn's burst is not a backlog: a client that reads gets all of it.
    let sent = 0;
    for (let i = 0; i < 20; i++) sent += player.channel.send({ action: "flood", text: "y".repeat(100) });
    expect(sent).toBeGreaterThan(20 * 100);
    await waitFor(() => player.of("flood").length === 20, "the whole burst");
    // A client whose rate limit holds what arrives stops reading: what waits from turn to turn grows.
    const stalled = cleanup.listener(new ConnectionListener());
    stalled.connect(server, { rateLimit: { messages: 1, burst: 1 } });
    await waitFor(() => server.channels.length === 2, "the stalled client's channel");
    const channel = server.channels.find((candidate) => candidate !== player.channel)!;
    for (let turn = 0; turn < 200 && channel.isConnected; turn++) {
      channel.send({ action: "flood", text: "y".repeat(100) });
      await delay(1);
    }
    await waitFor(() => server.channels.length === 1, "the stalled channel to be cut off");
    expect(errors).toEqual([expect.objectContaining({ code: "ERR_SEND_QUEUE_FULL" })]);
    expect(server.channels).toEqual([player.channel]);
  });
});

describe("in-memory transport: heartbeats, idle timeout and reconnection", () => {
  it("heartbeats measure the round trip of a local client", async () => {
    const server = localServer({ heartbeat: { interval: 10 } });
    const player = await connectPlayer(cleanup, server, "local");
    const rtts: number[] = [];
    cleanup.subscription(player.channel.rtt$.subscribe((rtt) => rtts.push(rtt)));
    await waitFor(() => rtts.length >= 2, "two round trips");
    expect(rtts.every((rtt) => rtt >= 0)).toBe(true);
  });

  it("idleTimeout cuts off a silent local client with ERR_IDLE_TIMEOUT", async () => {
    const { errors, channelClass } = errorRecordingChannel();
    const server = localServer({ channelClass, idleTimeout: 40 });
    const player = await connectPlayer(cleanup, server, "local");
    await waitFor(() => player.of("disconnected").length === 1, "the cut-off");
    expect(errors).toEqual([expect.objectContaining({ code: "ERR_IDLE_TIMEOUT" })]);
  });

  it("with reconnect, a client connecting before the server accepts local clients gets in once it does", async () => {
    const server = cleanup.server(new Server());
    const { listener, log: received } = loggedListener(cleanup);
    listener.connect(server, { reconnect: { initialDelay: 5, maxDelay: 5, jitter: 0 } });
    await delay(30);
    expect(received).toEqual([]); // attempts that fail while reconnecting report nothing
    server.listenLocal();
    await waitFor(() => server.channels.length === 1, "the reconnection");
    await waitFor(() => received.length === 2, "connected");
    expect(received).toEqual([{ action: "connected" }, { action: "socketConnect" }]);
  });

  it("a server that listens locally keeps accepting local clients while start() binds its port", async () => {
    const server = cleanup.server(new Server({ host: "127.0.0.1", port: 0 }));
    server.listenLocal();
    const started = server.start();
    const player = await connectPlayer(cleanup, server, "local");
    await started;
    expect(player.of("error")).toEqual([]);
    expect(server.channels).toEqual([player.channel]);
  });
});

describe("in-memory transport: messages go through the codec", () => {
  it("a value msgpack cannot encode throws a TypeError on either side, as over TCP", async () => {
    const server = localServer();
    const player = await connectPlayer(cleanup, server, "local");
    expect(() => player.listener.send({ action: "bad", f: () => 1 })).toThrow(TypeError);
    expect(() => player.channel.send({ action: "bad", s: Symbol("s") })).toThrow(
      /^The message cannot be encoded as msgpack/,
    );
    expect(() => player.channel.send(new Map() as never)).toThrow(
      new TypeError('A message must be a plain object such as { action: "chat" }, got an instance of Map'),
    );
  });

  it("the receiver gets a decoded copy: later changes to the sent object do not reach it, undefined fields are left out", async () => {
    const server = localServer();
    const player = await connectPlayer(cleanup, server, "local");
    const seen: IncomingMessage[] = [];
    cleanup.subscription(player.channel.messages$.subscribe((message) => seen.push(message)));
    const message = { action: "move", to: { x: 1, y: 2 }, note: undefined };
    player.listener.send(message);
    message.to.x = 100;
    await waitFor(() => seen.length === 1, "the move");
    expect(seen[0]).toStrictEqual({ action: "move", to: { x: 1, y: 2 } });
  });

  it("a Uint8Array arrives as a plain Uint8Array, locally and over TCP alike", async () => {
    class Echo extends Channel {
      readonly blobs: unknown[] = [];

      Network_blob(message: { data: Uint8Array }): void {
        this.blobs.push(message.data);
        this.send({ action: "blob", data: message.data });
      }
    }
    const server = cleanup.server(await startServer({ channelClass: Echo }));
    for (const via of ["local", "tcp"] as const) {
      const player: Player<Echo> = await connectPlayer(cleanup, server, via);
      player.listener.send({ action: "blob", data: new Uint8Array([0, 1, 254, 255]) });
      await waitFor(() => player.of("blob").length === 1, `the ${via} echo`);
      for (const data of [player.channel.blobs[0], player.of("blob")[0]!.data]) {
        expect((data as object).constructor.name, via).toBe("Uint8Array");
        expect(data).toEqual(new Uint8Array([0, 1, 254, 255]));
      }
    }
  });

  it("lifecycle actions forged by a local peer are dropped, and requests work locally", async () => {
    const seen: IncomingMessage[] = [];
    class Host extends Channel {
      override networkReceived(message: IncomingMessage): void {
        seen.push(message);
      }

      Network_add(message: { a: number; b: number }): number {
        return message.a + message.b;
      }
    }
    const server = localServer({ channelClass: Host });
    const player = await connectPlayer(cleanup, server, "local");
    player.listener.send({ action: "disconnected" });
    player.listener.send({ action: "other" });
    let sum: number | undefined;
    cleanup.subscription(
      player.listener.request<number>({ action: "add", a: 2, b: 3 }).subscribe((value) => (sum = value)),
    );
    await pumpUntil(player.listener, () => sum !== undefined, "the reply");
    expect(sum).toBe(5);
    expect(seen).toEqual([{ action: "other" }]);
    expect(player.of(REPLY_ACTION)).toHaveLength(1);
  });
});

describe("in-memory transport: rooms", () => {
  it("local channels join rooms, receive room broadcasts with except, and leave their rooms when they close", async () => {
    const server = localServer();
    const [a, b, c] = [
      await connectPlayer(cleanup, server, "local"),
      await connectPlayer(cleanup, server, "local"),
      await connectPlayer(cleanup, server, "local"),
    ];
    a.channel.join("t");
    b.channel.join("t");
    expect(server.room("t").sendToAll({ action: "deal" }, { except: a.channel })).toBe(1);
    await waitFor(() => b.of("deal").length === 1, "the deal");
    await delay(10);
    expect([a.of("deal").length, c.of("deal").length]).toEqual([0, 0]);

    a.listener.close();
    await waitFor(() => server.room("t").size === 1, "a to leave");
    expect([...server.room("t").channels]).toEqual([b.channel]);
  });
});

describe("a whole game: two local players and one TCP player at one table", () => {
  /** Messages from the table to its players. */
  interface TableMessage {
    action: string;
    [key: string]: unknown;
  }

  const TURNS_EACH = 3;

  /**
   * The server side of a turn-based table: players sit (a request answered with their seat), the
   * table starts once three are seated, each move is checked and broadcast to the table except
   * its author, and the next player is told it is their turn.
   */
  class Seat extends Channel<TableServer> {
    Network_sit(message: { table: string }): number {
      this.join(message.table);
      return this.server.seat(this, message.table);
    }

    Network_move(message: { n: number }): void {
      this.server.move(this, message.n);
    }
  }

  class TableServer extends Server<Seat> {
    readonly order: Seat[] = [];
    readonly tableLog: string[] = [];
    turn = 0;

    seat(channel: Seat, table: string): number {
      if (table !== "table-1") return -1;
      this.order.push(channel);
      const seat = this.order.length - 1;
      if (this.order.length === 3) {
        this.room("table-1").sendToAll({ action: "start", seats: this.order.map((seated) => seated.id) });
        this.order[0]!.send({ action: "yourTurn", turn: 0 });
      }
      return seat;
    }

    move(channel: Seat, n: number): void {
      const expected = this.order[this.turn % 3];
      if (channel !== expected) {
        channel.send({ action: "notYourTurn" });
        return;
      }
      this.tableLog.push(`${channel.id}:${n}`);
      this.room("table-1").sendToAll({ action: "moved", by: channel.id, n, turn: this.turn }, { except: channel });
      this.turn++;
      if (this.turn === TURNS_EACH * 3) {
        this.room("table-1").sendToAll({ action: "gameOver", turns: this.turn });
        return;
      }
      this.order[this.turn % 3]!.send({ action: "yourTurn", turn: this.turn });
    }
  }

  /** A player: sits on connect, plays on its turn, remembers the others' moves. */
  class Gamer extends ConnectionListener {
    seat: number | undefined;
    readonly movesSeen: TableMessage[] = [];
    readonly log: string[] = [];
    over = false;

    constructor(private readonly table: string) {
      super();
    }

    Network_socketConnect(): void {
      this.request<number>({ action: "sit", table: this.table }).subscribe((seat) => (this.seat = seat));
    }

    Network_start(): void {
      this.log.push("start");
    }

    Network_yourTurn(message: { turn: number }): void {
      this.log.push(`turn ${message.turn}`);
      this.send({ action: "move", n: message.turn * 10 + (this.seat ?? -1) });
    }

    Network_moved(message: TableMessage): void {
      this.movesSeen.push(message);
    }

    Network_notYourTurn(): void {
      this.log.push("notYourTurn");
    }

    Network_gameOver(): void {
      this.over = true;
    }
  }

  it("plays every turn over the in-memory transport and TCP together, the server pumped by a fixed-tick loop", async () => {
    const server = cleanup.server(
      new TableServer({ host: "127.0.0.1", port: 0, dispatch: "pump", channelClass: Seat }),
    );
    await server.start();
    const ana = new Gamer("table-1");
    const bo = new Gamer("table-1");
    const cy = new Gamer("table-1");
    const bystander = new Gamer("table-2"); // another table in the same server: hears nothing of this one
    const players = [ana, bo, cy, bystander];
    for (const player of players) cleanup.listener(player);

    // The fixed-tick loop a game server runs: every tick, the server simulates what arrived, and
    // each in-process player runs its frame. The TCP player pumps in the same loop for brevity.
    const loop = setInterval(() => {
      server.pump();
      for (const player of players) player.pump();
    }, 2);
    cleanup.add(() => clearInterval(loop));

    ana.connect(server);
    await waitFor(() => ana.seat !== undefined, "ana's seat");
    bo.connect("127.0.0.1", server.port); // the remote player
    await waitFor(() => bo.seat !== undefined, "bo's seat");
    cy.connect(server);
    bystander.connect(server);
    await waitFor(
      () => [ana, bo, cy].every((player) => player.over) && bystander.seat !== undefined,
      "the game to end",
      10_000,
    );

    expect([ana.seat, bo.seat, cy.seat, bystander.seat]).toEqual([0, 1, 2, -1]);
    const [idA, idB, idC] = server.order.map((channel) => channel.id);
    expect(server.order.map((channel) => channel.addr.host)).toEqual(["local", "127.0.0.1", "local"]);
    expect(server.tableLog).toEqual([
      `${idA}:0`,
      `${idB}:11`,
      `${idC}:22`,
      `${idA}:30`,
      `${idB}:41`,
      `${idC}:52`,
      `${idA}:60`,
      `${idB}:71`,
      `${idC}:82`,
    ]);
    // Every player saw every move but its own, in order, and played exactly its own turns.
    const moves = server.tableLog.map((entry, turn) => ({
      action: "moved",
      by: Number(entry.split(":")[0]),
      n: Number(entry.split(":")[1]),
      turn,
    }));
    expect(ana.movesSeen).toEqual(moves.filter((move) => move.by !== idA));
    expect(bo.movesSeen).toEqual(moves.filter((move) => move.by !== idB));
    expect(cy.movesSeen).toEqual(moves.filter((move) => move.by !== idC));
    expect(ana.log).toEqual(["start", "turn 0", "turn 3", "turn 6"]);
    expect(bo.log).toEqual(["start", "turn 1", "turn 4", "turn 7"]);
    expect(cy.log).toEqual(["start", "turn 2", "turn 5", "turn 8"]);
    expect(bystander.movesSeen).toEqual([]);
    expect(bystander.log).toEqual([]);
    expect(bystander.over).toBe(false);
    expect([...server.roomNames].sort()).toEqual(["table-1", "table-2"]);

    // The remote player leaves: the table loses it, the others stay seated.
    bo.close();
    await waitFor(() => server.room("table-1").size === 2, "bo to leave the table");
    expect([...server.room("table-1").channels].map((channel) => channel.id)).toEqual([idA, idC]);
  });
});
