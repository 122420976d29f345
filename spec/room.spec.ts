import { Encoder } from "@msgpack/msgpack";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Channel, encode, Room, type IncomingMessage, type Server } from "../lib/index.js";
import * as codec from "../lib/protocol/codec.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, startServer, waitFor } from "./helpers/net.js";
import { connectPlayer, connectRaw, type Player } from "./helpers/players.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A table game's channel: the client picks its table. */
class TableChannel extends Channel {
  Network_sit(message: { table: string }): void {
    this.join(message.table);
  }

  Network_stand(message: { table: string }): void {
    this.leave(message.table);
  }
}

async function players<C extends Channel>(server: Server<C>, count: number): Promise<Player<C>[]> {
  const result: Player<C>[] = [];
  for (let i = 0; i < count; i++) result.push(await connectPlayer(cleanup, server, "tcp"));
  return result;
}

/** The messages of `action` each player received, after giving the network time to deliver them. */
async function inboxes(
  all: readonly Player<Channel<any>>[],
  action: string,
  expected: number,
): Promise<IncomingMessage[][]> {
  await waitFor(
    () => all.reduce((sum, player) => sum + player.of(action).length, 0) >= expected,
    `${expected} "${action}" messages`,
  );
  await delay(20); // anything that should not have arrived would have by now
  return all.map((player) => player.of(action));
}

describe("room membership", () => {
  it("a channel joins any number of rooms; channel.rooms, room.channels, room.size and roomNames follow", async () => {
    const server = cleanup.server(await startServer());
    const [a, b] = await players(server, 2);
    a!.channel.join("lobby");
    a!.channel.join("table-1");
    b!.channel.join("lobby");

    expect([...a!.channel.rooms]).toEqual(["lobby", "table-1"]);
    expect([...b!.channel.rooms]).toEqual(["lobby"]);
    expect([...server.room("lobby").channels]).toEqual([a!.channel, b!.channel]);
    expect(server.room("lobby").size).toBe(2);
    expect(server.room("table-1").size).toBe(1);
    expect(server.roomNames).toEqual(["lobby", "table-1"]);
    expect(server.room("lobby")).toBeInstanceOf(Room);
    expect(server.room("lobby").name).toBe("lobby");
  });

  it("joining a room twice does nothing; leaving a room one is not in does nothing", async () => {
    const server = cleanup.server(await startServer());
    const [a] = await players(server, 1);
    const joins: Channel[] = [];
    const leaves: Channel[] = [];
    cleanup.subscription(server.room("lobby").joins$.subscribe((channel) => joins.push(channel)));
    cleanup.subscription(server.room("lobby").leaves$.subscribe((channel) => leaves.push(channel)));

    a!.channel.join("lobby");
    a!.channel.join("lobby");
    a!.channel.leave("elsewhere");
    expect(server.room("lobby").size).toBe(1);
    expect(joins).toEqual([a!.channel]);

    a!.channel.leave("lobby");
    a!.channel.leave("lobby");
    expect(leaves).toEqual([a!.channel]);
  });

  it("an empty room disappears by itself, and a view taken before it existed sees it once it has members", async () => {
    const server = cleanup.server(await startServer());
    const [a, b] = await players(server, 2);
    const view = server.room("table-1");
    expect(view.size).toBe(0);
    expect([...view.channels]).toEqual([]);
    expect(server.roomNames).toEqual([]);

    a!.channel.join("table-1");
    b!.channel.join("table-1");
    expect(view.size).toBe(2);
    a!.channel.leave("table-1");
    expect(server.roomNames).toEqual(["table-1"]);
    b!.channel.leave("table-1");
    expect(server.roomNames).toEqual([]);
    expect(view.size).toBe(0);
    expect(view.sendToAll({ action: "anyone" })).toBe(0);

    a!.channel.join("table-1");
    expect([...view.channels]).toEqual([a!.channel]);
  });

  it("a channel leaves every room when its client disconnects, each leave streamed, and cannot join again", async () => {
    const server = cleanup.server(await startServer());
    const [a, b] = await players(server, 2);
    a!.channel.join("lobby");
    a!.channel.join("table-1");
    b!.channel.join("lobby");
    const leaves: string[] = [];
    cleanup.subscription(server.room("lobby").leaves$.subscribe((channel) => leaves.push(`lobby:${channel.id}`)));
    cleanup.subscription(server.room("table-1").leaves$.subscribe((channel) => leaves.push(`table-1:${channel.id}`)));
    let roomsInOnClose: string[] | undefined;
    a!.channel.onClose = function (this: Channel) {
      roomsInOnClose = [...this.rooms];
    };

    a!.listener.close();
    await waitFor(() => !server.channels.includes(a!.channel), "the server to see the disconnection");

    expect(leaves.sort()).toEqual([`lobby:${a!.channel.id}`, `table-1:${a!.channel.id}`]);
    expect(roomsInOnClose).toEqual([]);
    expect([...a!.channel.rooms]).toEqual([]);
    expect(server.roomNames).toEqual(["lobby"]);
    expect([...server.room("lobby").channels]).toEqual([b!.channel]);

    a!.channel.join("lobby");
    expect(server.room("lobby").size).toBe(1);
    expect([...a!.channel.rooms]).toEqual([]);
  });

  it("a channel the server closes leaves its rooms too", async () => {
    const server = cleanup.server(await startServer());
    const [a] = await players(server, 1);
    a!.channel.join("table-1");
    a!.channel.close();
    await waitFor(() => server.channels.length === 0, "the channel to close");
    expect(server.roomNames).toEqual([]);
    expect(a!.channel.rooms.size).toBe(0);
  });

  it("server.stop() empties every room", async () => {
    const server = cleanup.server(await startServer());
    const all = await players(server, 3);
    for (const player of all) player.channel.join("lobby");
    await server.stop();
    expect(server.roomNames).toEqual([]);
    expect(server.room("lobby").size).toBe(0);
  });

  it("a room name must be a non-empty string", async () => {
    const server = cleanup.server(await startServer());
    const [a] = await players(server, 1);
    expect(() => server.room("")).toThrow(new TypeError('A room name must be a non-empty string, got ""'));
    expect(() => server.room(7 as unknown as string)).toThrow(TypeError);
    expect(() => a!.channel.join("")).toThrow(new TypeError('A room name must be a non-empty string, got ""'));
    expect(a!.channel.rooms.size).toBe(0);
  });

  it("a channel without a server can be asked to join and leave, and stays in no room", () => {
    const channel = new Channel();
    channel.join("lobby");
    channel.leave("lobby");
    expect(channel.rooms.size).toBe(0);
  });
});

describe("room broadcasts", () => {
  it("room.sendToAll reaches every member and no one else, and returns how many it was queued for", async () => {
    const server = cleanup.server(await startServer());
    const all = await players(server, 3);
    all[0]!.channel.join("table-1");
    all[1]!.channel.join("table-1");

    expect(server.room("table-1").sendToAll({ action: "deal", cards: [1, 2] })).toBe(2);
    const got = await inboxes(all, "deal", 2);
    expect(got).toEqual([[{ action: "deal", cards: [1, 2] }], [{ action: "deal", cards: [1, 2] }], []]);
  });

  it("except leaves out one channel (the sender)", async () => {
    const server = cleanup.server(await startServer());
    const all = await players(server, 3);
    for (const player of all) player.channel.join("table-1");

    expect(server.room("table-1").sendToAll({ action: "moved" }, { except: all[1]!.channel })).toBe(2);
    expect((await inboxes(all, "moved", 2)).map((inbox) => inbox.length)).toEqual([1, 0, 1]);
  });

  it("except leaves out several channels, given as an array or a Set", async () => {
    const server = cleanup.server(await startServer());
    const all = await players(server, 4);
    for (const player of all) player.channel.join("table-1");
    const room = server.room("table-1");

    expect(room.sendToAll({ action: "a" }, { except: [all[0]!.channel, all[2]!.channel] })).toBe(2);
    expect(room.sendToAll({ action: "b" }, { except: new Set([all[3]!.channel]) })).toBe(3);
    expect(room.sendToAll({ action: "c" }, { except: room.channels })).toBe(0);
    expect(room.sendToAll({ action: "d" }, { except: null })).toBe(4);
    expect(room.sendToAll({ action: "e" }, { except: [] })).toBe(4);

    expect((await inboxes(all, "a", 2)).map((inbox) => inbox.length)).toEqual([0, 1, 0, 1]);
    expect((await inboxes(all, "b", 3)).map((inbox) => inbox.length)).toEqual([1, 1, 1, 0]);
    expect((await inboxes(all, "d", 4)).map((inbox) => inbox.length)).toEqual([1, 1, 1, 1]);
    expect((await inboxes(all, "e", 4)).map((inbox) => inbox.length)).toEqual([1, 1, 1, 1]);
    expect(all.every((player) => player.of("c").length === 0)).toBe(true);
  });

  it("a broadcast from a handler reaches the room's other members in the order sent", async () => {
    class EchoTable extends TableChannel {
      Network_move(message: { n: number }): void {
        this.server.room("t").sendToAll({ action: "moved", n: message.n, by: this.id }, { except: this });
      }
    }
    const server = cleanup.server(await startServer({ channelClass: EchoTable }));
    const all = await players(server, 3);
    for (const player of all) player.listener.send({ action: "sit", table: "t" });
    await waitFor(() => server.room("t").size === 3, "everyone seated");

    for (let n = 1; n <= 5; n++) all[0]!.listener.send({ action: "move", n });
    const got = await inboxes(all, "moved", 10);
    const moves = [1, 2, 3, 4, 5].map((n) => ({ action: "moved", n, by: all[0]!.channel.id }));
    expect(got).toEqual([[], moves, moves]);
  });

  it("server.sendToAll reaches every channel but except, one or several, rooms or not", async () => {
    const server = cleanup.server(await startServer());
    const all = await players(server, 3);
    all[0]!.channel.join("table-1");

    expect(server.sendToAll({ action: "all" })).toBe(3);
    expect(server.sendToAll({ action: "one" }, { except: all[0]!.channel })).toBe(2);
    expect(server.sendToAll({ action: "two" }, { except: [all[0]!.channel, all[2]!.channel] })).toBe(1);

    expect((await inboxes(all, "all", 3)).map((inbox) => inbox.length)).toEqual([1, 1, 1]);
    expect((await inboxes(all, "one", 2)).map((inbox) => inbox.length)).toEqual([0, 1, 1]);
    expect((await inboxes(all, "two", 1)).map((inbox) => inbox.length)).toEqual([0, 1, 0]);
  });

  it("a broadcast of a value that cannot be encoded throws a TypeError and sends nothing", async () => {
    const server = cleanup.server(await startServer());
    const all = await players(server, 2);
    for (const player of all) player.channel.join("t");
    expect(() => server.room("t").sendToAll({ action: "bad", f: Symbol("x") })).toThrow(TypeError);
    expect(() => server.sendToAll([] as unknown as object)).toThrow(
      new TypeError('A message must be a plain object such as { action: "chat" }, got an array'),
    );
    server.room("t").sendToAll({ action: "good" });
    const got = await inboxes(all, "good", 2);
    expect(got.map((inbox) => inbox.length)).toEqual([1, 1]);
    expect(all.every((player) => player.of("bad").length === 0)).toBe(true);
  });
});

describe("room streams", () => {
  it("joins$ and leaves$ stream the joins and leaves of their own room only", async () => {
    const server = cleanup.server(await startServer());
    const [a, b] = await players(server, 2);
    const events: string[] = [];
    const lobby = server.room("lobby");
    cleanup.subscription(lobby.joins$.subscribe((channel) => events.push(`join ${channel.id}`)));
    cleanup.subscription(lobby.leaves$.subscribe((channel) => events.push(`leave ${channel.id}`)));

    a!.channel.join("lobby");
    b!.channel.join("table-1");
    b!.channel.join("lobby");
    a!.channel.leave("lobby");
    b!.channel.leave("table-1");
    b!.channel.close();
    await waitFor(() => server.channels.length === 1, "b to close");

    const [ia, ib] = [a!.channel.id, b!.channel.id];
    expect(events).toEqual([`join ${ia}`, `join ${ib}`, `leave ${ia}`, `leave ${ib}`]);
  });

  it("a join streamed from joins$ sees the channel already in the room", async () => {
    const server = cleanup.server(await startServer());
    const [a] = await players(server, 1);
    const seen: number[] = [];
    cleanup.subscription(
      server.room("lobby").joins$.subscribe((channel) => seen.push(server.room("lobby").size, channel.rooms.size)),
    );
    a!.channel.join("lobby");
    expect(seen).toEqual([1, 1]);
  });
});

describe("rooms in pump dispatch mode", () => {
  it("joins made by handlers happen inside server.pump(), in arrival order, and broadcasts go out at once", async () => {
    const server = cleanup.server(await startServer({ dispatch: "pump", channelClass: TableChannel }));
    const all = await players(server, 3);
    for (const player of all) player.listener.send({ action: "sit", table: "table-1" });
    all[2]!.listener.send({ action: "stand", table: "table-1" });
    const arrived = (): number => server.scheduler.size;
    await waitFor(() => arrived() === 4, "the four messages to be queued");
    expect(server.roomNames).toEqual([]);

    expect(server.pump()).toBe(4);
    expect([...server.room("table-1").channels]).toEqual([all[0]!.channel, all[1]!.channel]);

    expect(server.room("table-1").sendToAll({ action: "deal" }, { except: all[0]!.channel })).toBe(1);
    expect((await inboxes(all, "deal", 1)).map((inbox) => inbox.length)).toEqual([0, 1, 0]);
  });

  it("a channel joined in onConnect is in the room once pumped, and leaves it when it closes, before onClose runs in the next pump", async () => {
    const log: string[] = [];
    class Lobby extends Channel {
      override onConnect(): void {
        this.join("lobby");
        log.push(`connect ${this.server.room("lobby").size}`);
      }

      override onClose(): void {
        log.push(`close rooms=${this.rooms.size}`);
      }
    }
    const server = cleanup.server(await startServer({ dispatch: "pump", channelClass: Lobby }));
    const [a, b] = await players(server, 2); // connectPlayer pumps the server
    expect(log).toEqual(["connect 1", "connect 2"]);
    expect(server.room("lobby").size).toBe(2);

    a!.listener.close();
    await waitFor(() => server.room("lobby").size === 1, "a to leave the lobby");
    expect([...server.room("lobby").channels]).toEqual([b!.channel]);
    expect(log).toEqual(["connect 1", "connect 2"]); // onClose waits for the pump
    server.pump();
    expect(log).toEqual(["connect 1", "connect 2", "close rooms=0"]);
  });
});

describe("a broadcast is encoded once", () => {
  it("room.sendToAll and server.sendToAll encode once for any number of TCP channels", async () => {
    const server = cleanup.server(await startServer());
    const all = await players(server, 4);
    for (const player of all) player.channel.join("table-1");
    const encodeSpy = vi.spyOn(codec, "encode");
    const encoderSpy = vi.spyOn(Encoder.prototype, "encodeSharedRef");
    cleanup.add(() => {
      encodeSpy.mockRestore();
      encoderSpy.mockRestore();
    });

    expect(server.room("table-1").sendToAll({ action: "tick", n: 1 })).toBe(4);
    expect(encodeSpy).toHaveBeenCalledTimes(1);
    expect(encoderSpy).toHaveBeenCalledTimes(1);

    expect(server.room("table-1").sendToAll({ action: "tick", n: 2 }, { except: all[0]!.channel })).toBe(3);
    expect(server.sendToAll({ action: "tick", n: 3 })).toBe(4);
    expect(encodeSpy).toHaveBeenCalledTimes(3);
    expect(encoderSpy).toHaveBeenCalledTimes(3);

    // Sending to each channel in turn, for contrast, encodes once per channel.
    for (const player of all) player.channel.send({ action: "tick", n: 4 });
    expect(encoderSpy).toHaveBeenCalledTimes(7);

    const got = await inboxes(all, "tick", 15);
    expect(got.map((inbox) => inbox.map((message) => message.n))).toEqual([
      [1, 3, 4],
      [1, 2, 3, 4],
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ]);
  });

  it("every raw TCP peer receives byte for byte the same frame, the one encode() makes", async () => {
    const server = cleanup.server(await startServer());
    const peers = [
      await connectRaw(cleanup, server),
      await connectRaw(cleanup, server),
      await connectRaw(cleanup, server),
    ];
    for (const { channel } of peers) channel.join("table-1");
    const message = {
      action: "state",
      players: [{ x: 1.5, y: -2 }],
      names: ["ana", "bo"],
      blob: new Uint8Array([0, 255]),
    };

    server.room("table-1").sendToAll(message);
    await waitFor(() => peers.every(({ peer }) => peer.frames.length === 2), "the broadcast");

    const expected = encode(message);
    for (const { peer } of peers) {
      expect(peer.frames[1]).toEqual(expected);
      expect(peer.messages[1]).toEqual(message);
    }
  });
});
