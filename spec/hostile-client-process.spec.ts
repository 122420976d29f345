// Crash tests of a Node client: a ConnectionListener runs in a child process
// (spec/fixtures/hostile-victim-client.ts), pumping like a game loop, connected to a hostile server
// the test runs (a bare TCP server writing frames, a bare `ws` server sending binary messages).
// Whatever the server sends, the client process stays up, keeps pumping and keeps its connection
// (every poison here is one the library must drop, not a reason to hang up). A failure names the
// poison and prints the client's fatal stack.
import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "./helpers/cleanup.js";
import { hostileServer, rawMessage, spawnVictim, type RawMessage, type Wire } from "./helpers/hostile.js";
import { count, nil, POISONS, sendPoison, toStringTrap, type Poison } from "./helpers/poisons.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe.each<Wire>(["tcp", "ws"])("a Node client process whose server attacks it over %s", (wire) => {
  it("survives every poison, keeps pumping and keeps its connection", async () => {
    const server = await hostileServer(cleanup, wire);
    // With reconnection, so that a poison that costs the connection is reported and the next
    // poisons still get tried on a new one.
    const victim = await spawnVictim(cleanup, "hostile-victim-client.ts", [server.url, "reconnect"]);
    let links = 0;
    let link = await server.link(links++);
    /** Greets the client on `link` and returns the ids of the 4 requests it then sends. */
    const greet = async (): Promise<number[]> => {
      link.sendMessage({ action: "connected" });
      const requests: RawMessage[] = [];
      await link.next((message) => message.action === "hello" && message.n === 4, "the client's 4 requests");
      for (const message of link.received) if (message.action === "hello") requests.push(message);
      return requests.map((message) => Number(message["@req"]));
    };
    // The poisoned replies answer these, one each.
    let pendingIds = await greet();
    expect(pendingIds).toEqual([1, 2, 3, 4]);

    const failures: string[] = [];
    let marker = 0;
    for (const poison of [
      ...POISONS,
      {
        name: "@refused whose reason is nil",
        payloads: () => [rawMessage("@refused", { reason: nil })],
      } satisfies Poison,
    ]) {
      if (victim.alive() && link.closed) {
        try {
          link = await server.link(links++, 3_000);
          pendingIds = await greet();
        } catch (error) {
          failures.push(`${poison.name}: not sent, the client did not reconnect: ${(error as Error).message}`);
          break;
        }
      }
      if (!victim.alive()) {
        failures.push(`${poison.name}: not sent, the client process had died`);
        continue;
      }
      const pongs = count(link.received, "@pong");
      const replies = count(link.received, "@reply");
      const handled = victim.events.filter((event) => event.ev === "handled").length;
      sendPoison(link, poison, poison.needsRequest ? pendingIds.shift()! : 0);
      const n = ++marker;
      link.sendMessage({ action: "marker", n });
      try {
        await victim.event((event) => event.ev === "marker" && event.n === n, `marker ${n}`, 3_000);
      } catch (error) {
        failures.push(
          `${poison.name}: ${
            !victim.alive()
              ? `the client process died: ${victim.describe()}`
              : link.closed
                ? "the client closed the connection"
                : (error as Error).message
          }`,
        );
        continue;
      }
      await victim.sync();
      if (poison.forbidden === "pong" && count(link.received, "@pong") > pongs) {
        failures.push(`${poison.name}: answered with a @pong`);
      }
      if (poison.forbidden === "reply") {
        if (count(link.received, "@reply") > replies) failures.push(`${poison.name}: answered with a @reply`);
        if (victim.events.filter((event) => event.ev === "handled").length > handled) {
          failures.push(`${poison.name}: the request handler ran`);
        }
      }
    }

    expect(failures).toEqual([]);
    expect(victim.alive(), `the client process ${victim.describe()}`).toBe(true);
    // The connection still works both ways: a ping is answered, a request is answered.
    link.sendMessage({ action: "@ping", id: 7 });
    link.sendMessage({ action: "ask", "@req": 99 });
    link.sendMessage({ action: "marker", n: 0 });
    await link.next((message) => message.action === "@pong" && message.id === 7, "the pong to a good ping");
    await link.next((message) => message.action === "@reply" && message["@re"] === 99, "the reply to a good request");
    await victim.event((event) => event.ev === "marker" && event.n === 0, "the last marker");
    await victim.sync();
    // One connection, never lost; the only errors are the server's refusals it reported.
    expect(victim.events.filter((event) => event.ev === "connected")).toHaveLength(1);
    expect(victim.events.filter((event) => event.ev === "disconnected")).toEqual([]);
    expect(
      victim.events.filter((event) => event.ev === "error" && event.code !== "ERR_SERVER_FULL").map((e) => e.text),
    ).toEqual([]);
    expect(victim.events.filter((event) => event.ev === "fatal")).toEqual([]);
    expect(victim.events.filter((event) => event.ev === "log" && event.level === "error")).toEqual([]);
  });

  it("cuts off a server after 1,000 invalid messages with ERR_TOO_MANY_INVALID, in fewer than 20 log lines", async () => {
    const server = await hostileServer(cleanup, wire);
    const victim = await spawnVictim(cleanup, "hostile-victim-client.ts", [server.url]);
    const link = await server.link(0);
    link.sendMessage({ action: "connected" });
    await victim.event((event) => event.ev === "connected", "the client to be connected");
    const before = victim.events.filter((event) => event.ev === "log").length;

    for (let n = 0; n < 1_000; n++) link.send(n % 2 === 0 ? nil : rawMessage("@ping", { id: toStringTrap }));
    await link.whenClosed(3_000);
    await victim.event((event) => event.ev === "disconnected", "the client to report the disconnection");
    await victim.sync();

    expect(victim.alive(), `the client process ${victim.describe()}`).toBe(true);
    expect(victim.events.filter((event) => event.ev === "error").map((event) => event.code)).toEqual([
      "ERR_TOO_MANY_INVALID",
    ]);
    const lines = victim.events.filter((event) => event.ev === "log").slice(before);
    expect(lines.length).toBeLessThan(20);
    expect(lines.filter((event) => event.code === "ERR_NOT_A_MAP").length).toBeGreaterThan(0);
    expect(lines.filter((event) => event.code === "ERR_INVALID_CONTROL").length).toBeGreaterThan(0);
  });
});
