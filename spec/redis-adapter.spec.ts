import { build } from "esbuild";
import path from "node:path";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ConnectionListener, RepodError, Server, type IncomingMessage } from "../lib/index.js";
import { redisAdapter, type RedisClientLike } from "../lib/redis.js";
import { ROOT } from "./helpers/browser-bundle.js";
import { FixtureProcess, type FixtureEvent } from "./helpers/fixture-process.js";
import { closedPort, delay } from "./helpers/net.js";
import { RedisServer } from "./helpers/redis-server.js";
import { until } from "./helpers/until.js";

const newClient = (url: string) => createClient({ url });
type RedisClient = ReturnType<typeof newClient>;

const FIXTURE = "spec/fixtures/redis-game-server.ts";
const PREFIX = "spec-game";

/** Runs `work` with a fresh node-redis client of `redis` (closed after). */
async function query<T>(redis: RedisServer, work: (client: RedisClient) => Promise<T>): Promise<T> {
  const client = newClient(redis.url);
  client.on("error", () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    client.destroy();
  }
}

/** How many servers subscribe to `channel` (PUBSUB NUMSUB). */
function numsub(redis: RedisServer, channel: string): Promise<number> {
  return query(redis, async (client) => Number((await client.pubSubNumSub(channel))[channel] ?? 0));
}

/**
 * One `spec/fixtures/redis-game-server.ts` child process, driven over IPC; its `ready` event
 * carries its adapter's `serverId`.
 */
type GameServerProcess = FixtureProcess;

/** The id of the server's adapter, from its `ready` event. */
const serverId = (server: GameServerProcess): string => server.ready.serverId as string;

/** The adapter's state as last reported. */
const stateOf = (server: GameServerProcess): string | undefined => server.of("state").at(-1)?.state;

/** The lines the server's logger wrote at `level`. */
const logs = (server: GameServerProcess, level: string): FixtureEvent[] =>
  server.of("log").filter((event) => event.level === level);

/** A repod-rx client connected to one of the servers, recording what it receives, live. */
class Player {
  readonly received: IncomingMessage[] = [];
  readonly listener = new ConnectionListener();

  constructor(
    readonly label: string,
    readonly server: GameServerProcess,
  ) {}

  async connect(): Promise<this> {
    this.listener.connect("127.0.0.1", this.server.port);
    this.listener.connection!.messages$.subscribe((message) => this.received.push(message));
    // "connected" only says the TCP connection is open; "welcome" comes once the server has the channel.
    await until(() => this.received.some((message) => message.action === "welcome"), `${this.label} to be welcomed`);
    return this;
  }

  /** The `seq` numbers of the ticks tagged `tag` that came from `from`, in arrival order. */
  ticks(tag: string, from: string): number[] {
    return this.received
      .filter((message) => message.action === "tick" && message.tag === tag && message.from === from)
      .map((message) => message.seq as number);
  }

  count(tag: string): number {
    return this.received.filter((message) => message.action === "tick" && message.tag === tag).length;
  }

  async join(room: string): Promise<void> {
    const before = this.received.length;
    this.listener.send({ action: "join", room });
    await until(
      () => this.received.slice(before).some((message) => message.action === "joined" && message.room === room),
      `${this.label} to join ${room}`,
    );
  }

  async leave(room: string): Promise<void> {
    const before = this.received.length;
    this.listener.send({ action: "leave", room });
    await until(
      () => this.received.slice(before).some((message) => message.action === "left" && message.room === room),
      `${this.label} to leave ${room}`,
    );
  }

  close(): void {
    this.listener.close();
  }
}

const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);

describe("redisAdapter: one game over three server processes and a real redis-server", () => {
  const redis = new RedisServer();
  let A: GameServerProcess, B: GameServerProcess, C: GameServerProcess;
  let servers: GameServerProcess[] = [];
  let players: Player[] = [];
  const on = (server: GameServerProcess): Player[] => players.filter((player) => player.server === server);
  const player = (label: string): Player => players.find((candidate) => candidate.label === label)!;

  /** Waits until every player of `servers` got `count` ticks tagged `tag` from each origin in `origins`. */
  async function delivered(tag: string, targets: Player[], origins: GameServerProcess[], count: number): Promise<void> {
    const complete = (): boolean =>
      targets.every((target) => origins.every((origin) => target.ticks(tag, origin.name).length >= count));
    await until(
      complete,
      `${count} "${tag}" ticks from ${origins.map((origin) => origin.name).join(", ")} at ${targets.length} players`,
      10_000,
    ).catch((error: Error) => {
      const got = targets.map(
        (target) =>
          `${target.label}: ${origins.map((origin) => `${origin.name}=${target.ticks(tag, origin.name).length}`).join(" ")}`,
      );
      throw new Error(`${error.message}; received ${got.join(", ")}`);
    });
    for (const target of targets) {
      for (const origin of origins)
        expect(target.ticks(tag, origin.name), `${target.label} from ${origin.name}`).toEqual(range(count));
    }
  }

  beforeAll(async () => {
    await redis.start();
    [A, B, C] = await FixtureProcess.startAll(
      ["A", "B", "C"],
      FIXTURE,
      { REDIS_URL: redis.url, REDIS_PREFIX: PREFIX },
      40_000,
    );
    servers = [A, B, C];
    players = servers.flatMap((server) =>
      range(3).map((index) => new Player(`${server.name.toLowerCase()}${index}`, server)),
    );
    await Promise.all(players.map((candidate) => candidate.connect()));
  }, 60_000);

  afterAll(async () => {
    for (const candidate of players) candidate.close();
    await Promise.all(servers.map((server) => server.stop()));
    await redis.dispose();
    for (const server of servers) expect(server.of("fatal"), `${server.name} crashed`).toEqual([]);
  }, 20_000);

  it("relays a broadcast made on any server to every client of every server, in the order it was sent", async () => {
    await Promise.all(servers.map((server) => server.request("broadcast", { count: 300, tag: "all" })));
    await delivered("all", players, servers, 300);
  });

  it("routes room messages only to the servers that have members, and to every member on them", async () => {
    const members = [player("a0"), player("a1"), player("b0")];
    for (const member of members) await member.join("table");
    await until(
      async () => (await numsub(redis, `${PREFIX}#room#table`)) === 2,
      "A and B (not C) to subscribe to the room",
    );
    expect(await query(redis, (client) => client.pubSubChannels(`${PREFIX}#room#*`))).toEqual([`${PREFIX}#room#table`]);

    // C has no member: its room broadcast still reaches the members on A and B.
    await Promise.all([
      C.request("broadcast", { count: 100, room: "table", tag: "room" }),
      A.request("broadcast", { count: 100, room: "table", tag: "room" }),
    ]);
    await delivered("room", members, [A, C], 100);
    // A fence after the room traffic from both origins: whoever has the fence would have had the room messages.
    await Promise.all([
      A.request("broadcast", { count: 1, tag: "fence-1" }),
      C.request("broadcast", { count: 1, tag: "fence-1" }),
    ]);
    await delivered("fence-1", players, [A, C], 1);
    for (const other of players.filter((candidate) => !members.includes(candidate)))
      expect(other.count("room"), other.label).toBe(0);

    // The last member on B leaves: B unsubscribes.
    await player("b0").leave("table");
    await until(
      async () => (await numsub(redis, `${PREFIX}#room#table`)) === 1,
      "B to unsubscribe from the emptied room",
    );
  });

  it("counts a room's channels across servers with roomSize()", async () => {
    expect(await C.request("roomSize", { room: "table" })).toBe(2);
    await player("b0").join("table");
    await player("c0").join("table");
    await until(async () => (await numsub(redis, `${PREFIX}#room#table`)) === 3, "all three servers to subscribe");
    for (const server of servers) expect(await server.request("roomSize", { room: "table" }), server.name).toBe(4);
    expect(await A.request("roomSize", { room: "nobody" })).toBe(0);
    await player("c0").leave("table");
  });

  it("leaves out only the sender with except: players on other servers still get it", async () => {
    player("a0").listener.send({ action: "shout", text: "hi" });
    const others = players.filter((candidate) => candidate.label !== "a0");
    await until(
      () => others.every((other) => other.received.some((message) => message.action === "shout")),
      "the shout everywhere",
    );
    await A.request("broadcast", { count: 1, tag: "fence-2" });
    await delivered("fence-2", [player("a0")], [A], 1);
    expect(player("a0").received.some((message) => message.action === "shout")).toBe(false);
  });

  it("lets servers message one another, all at once or one by id", async () => {
    expect(await A.request("sendToServers", { message: { action: "match", room: "table", seats: 2 } })).toBe(true);
    expect(await B.request("sendToServer", { to: serverId(C), message: { action: "seat", for: "a0" } })).toBe(true);
    await until(() => B.of("serverMessage").length === 1 && C.of("serverMessage").length === 2, "the server messages");
    expect(B.of("serverMessage")).toEqual([
      { event: "serverMessage", from: serverId(A), message: { action: "match", room: "table", seats: 2 } },
    ]);
    expect(C.of("serverMessage")).toContainEqual({
      event: "serverMessage",
      from: serverId(B),
      message: { action: "seat", for: "a0" },
    });
    expect(await A.request("serverCount")).toBe(3);
    await delay(50);
    expect(A.of("serverMessage")).toEqual([]); // a server does not hear its own sendToServers
  });

  it("writes a relayed broadcast with one deliverRemote (one frame) per server, however many channels it has", async () => {
    const origin = new Server({ port: 0, adapter: redisAdapter({ url: redis.url, prefix: "spec-once" }) });
    const relay = new Server({ port: 0, adapter: redisAdapter({ url: redis.url, prefix: "spec-once" }) });
    const listeners = range(5).map(() => new ConnectionListener());
    try {
      await origin.start();
      await relay.start();
      const deliveries = vi.spyOn(relay, "deliverRemote");
      const received = listeners.map((listener) => {
        const messages: IncomingMessage[] = [];
        listener.connect("127.0.0.1", relay.port);
        listener.connection!.messages$.subscribe((message) => messages.push(message));
        return messages;
      });
      await until(() => relay.channels.length === 5, "5 channels on the relay");
      for (let seq = 0; seq < 10; seq++) origin.sendToAll({ action: "once", seq });
      await until(
        () => received.every((messages) => messages.filter((message) => message.action === "once").length === 10),
        "10 relayed messages at 5 clients",
      );
      expect(deliveries).toHaveBeenCalledTimes(10);
    } finally {
      for (const listener of listeners) listener.close();
      await origin.stop();
      await relay.stop();
    }
  });

  it("carries on when a server process is killed with SIGKILL", async () => {
    C.child.kill("SIGKILL");
    await C.exited;
    await until(
      () =>
        on(C).every((lost) =>
          lost.received.some((message) => message.action === "disconnected" || message.action === "error"),
        ),
      "C's players to notice",
    );
    await until(async () => (await A.request("serverCount")) === 2, "Redis to drop C's subscriptions");

    await Promise.all([
      A.request("broadcast", { count: 200, tag: "after-kill" }),
      B.request("broadcast", { count: 200, tag: "after-kill" }),
    ]);
    await delivered("after-kill", [...on(A), ...on(B)], [A, B], 200);
    expect(await B.request("roomSize", { room: "table" })).toBe(3);
    expect(A.alive && B.alive).toBe(true);
  });

  it("keeps local delivery through a Redis outage and resumes cross-server delivery after it", async () => {
    const survivors = [A, B];
    await redis.stop();
    // The state and the log line travel separately from each child process: wait for both.
    const noticed = (server: (typeof survivors)[number]): boolean =>
      stateOf(server) === "reconnecting" &&
      logs(server, "warn").some((log) => log.message.startsWith("redis connection lost"));
    await until(() => survivors.every(noticed), "A and B to notice the outage");
    for (const server of survivors)
      expect(
        logs(server, "warn").some((log) => log.message.startsWith("redis connection lost")),
        server.name,
      ).toBe(true);

    // During the outage: A's own players get A's broadcasts, in order; nothing crosses over.
    await A.request("broadcast", { count: 100, tag: "outage" });
    await delivered("outage", on(A), [A], 100);
    await expect(A.request("roomSize", { room: "table" })).rejects.toMatchObject({ code: "ERR_NOT_CONNECTED" });
    expect(await A.request("sendToServers", { message: { action: "lost" } })).toBe(false);
    await player("b1").join("late-room"); // B must subscribe to it once Redis is back
    await delay(100);
    for (const remote of on(B)) expect(remote.count("outage"), remote.label).toBe(0);

    await redis.start();
    await until(() => survivors.every((server) => stateOf(server) === "connected"), "A and B to reconnect", 10_000);
    for (const server of survivors)
      expect(
        logs(server, "info").some((log) => log.message.startsWith("redis reconnected")),
        server.name,
      ).toBe(true);
    expect(((await A.request("status")) as { dropped: number }).dropped).toBeGreaterThanOrEqual(101);

    await Promise.all([
      A.request("broadcast", { count: 100, tag: "resumed" }),
      B.request("broadcast", { count: 100, tag: "resumed" }),
    ]);
    await delivered("resumed", [...on(A), ...on(B)], [A, B], 100);
    await A.request("broadcast", { count: 50, room: "late-room", tag: "late" });
    await delivered("late", [player("b1")], [A], 50);
    for (const remote of on(B)) expect(remote.count("outage"), remote.label).toBe(0); // lost, not replayed
    expect(await A.request("roomSize", { room: "table" })).toBe(3);
  }, 20_000);
});

describe("redisAdapter in one process", () => {
  it("checks its options with the right error class", () => {
    expect(() => redisAdapter({ url: "http://x" })).toThrow(
      new TypeError('options.url must be a redis:// or rediss:// URL, got "http://x"'),
    );
    expect(() => redisAdapter({ prefix: "" })).toThrow(
      new TypeError('options.prefix must be a non-empty string, got ""'),
    );
    expect(() => redisAdapter({ requestTimeout: 0 })).toThrow(
      new RangeError("options.requestTimeout must be between 1 and 2147483647, got 0"),
    );
    expect(() => redisAdapter({ reconnect: { maxDelay: 1.5 } })).toThrow(
      new TypeError("options.reconnect.maxDelay must be an integer, got 1.5"),
    );
    expect(() => redisAdapter({ createClient: 3 as never })).toThrow(TypeError);
  });

  it("fails server.start() with ERR_CONNECT_FAILED when Redis cannot be reached, leaving the server stopped", async () => {
    const port = await closedPort();
    const server = new Server({
      port: 0,
      adapter: redisAdapter({
        url: `redis://127.0.0.1:${port}`,
        connectTimeout: 300,
        reconnect: { initialDelay: 20, maxDelay: 50 },
      }),
    });
    const failure = await server.start().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RepodError);
    expect(failure).toMatchObject({ code: "ERR_CONNECT_FAILED" });
    expect((failure as Error).message).toMatch(
      new RegExp(`^Cannot reach Redis at redis://127\\.0\\.0\\.1:${port} within 300 ms`),
    );
    expect(server.isListening).toBe(false);
    expect((server.adapter as ReturnType<typeof redisAdapter>).state).toBe("idle");
  });

  it("fails roomSize() with ERR_REQUEST_TIMEOUT when a server Redis counted does not answer (injected client)", async () => {
    // A stand-in client: Redis says two servers have the room, and nobody ever answers.
    const fake = (): RedisClientLike => {
      const subscribed = new Map<string, unknown>();
      return {
        isReady: true,
        connect: async () => undefined,
        publish: async () => 2,
        subscribe: async (channels) => void channels.forEach((channel) => subscribed.set(channel, true)),
        unsubscribe: async (channels) => void channels.forEach((channel) => subscribed.delete(channel)),
        getPubSubListeners: () => subscribed,
        pubSubNumSub: async () => ({}),
        on: () => undefined,
        close: async () => undefined,
        destroy: () => undefined,
      };
    };
    const adapter = redisAdapter({ createClient: fake });
    const server = new Server({ port: 0, adapter });
    await server.start();
    try {
      await expect(adapter.roomSize("table", { timeout: 50 })).rejects.toThrow(
        new RepodError("ERR_REQUEST_TIMEOUT", 'roomSize("table"): 0 of 2 servers answered within 50 ms'),
      );
      await expect(adapter.roomSize("")).rejects.toThrow(TypeError);
    } finally {
      await server.stop();
    }
  });

  it("keeps the Redis client out of the core entry point", async () => {
    const result = await build({
      entryPoints: [path.join(ROOT, "lib/index.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      write: false,
      metafile: true,
      packages: "external",
      logLevel: "silent",
    });
    const imports = Object.values(result.metafile.inputs).flatMap((input) =>
      input.imports.map((imported) => imported.path),
    );
    expect(imports.filter((imported) => /(^|\/)(redis|@redis\/)/.test(imported))).toEqual([]);
    expect(Object.keys(result.metafile.inputs).some((input) => input.includes("adapters/"))).toBe(false);
  });
});
