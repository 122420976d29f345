// Crash tests of a server: a repod-rx Server (TCP and WebSocket, default limits) runs in a child
// process (spec/fixtures/hostile-target-server.ts) and the test plays hostile clients over raw TCP
// and WebSocket connections. Whatever a client sends, the server process stays up, the connection
// the poison came on keeps working (every poison here is one the library must drop, not a reason to
// hang up), and the good clients beside it lose nothing. A failure names the poison and prints the
// server's fatal stack.
import { afterEach, describe, expect, it } from "vitest";
import { Cleanup } from "./helpers/cleanup.js";
import {
  rawLinkTo,
  rawMessage,
  rawValue,
  spawnVictim,
  type RawLink,
  type Victim,
  type Wire,
} from "./helpers/hostile.js";
import { count, nil, POISONS, sendPoison, toStringTrap } from "./helpers/poisons.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A raw client of `victim` that has been greeted and named itself; `channel` is its channel's id. */
async function namedLink(victim: Victim, via: Wire, name: string): Promise<{ link: RawLink; channel: number }> {
  const ports = victim.events.find((event) => event.ev === "ready")!;
  const link = await rawLinkTo(cleanup, via, Number(via === "tcp" ? ports.tcp : ports.ws));
  await link.next((message) => message.action === "connected", "the greeting");
  link.sendMessage({ action: "hello", name });
  const hello = await link.next((message) => message.action === "hello", "the answer to hello");
  return { link, channel: Number(hello.channel) };
}

/** A good client's ping-pong and echo still work on its connection. */
async function stillWorks(link: RawLink, tag: string): Promise<void> {
  link.sendMessage({ action: "@ping", id: 4242 });
  link.sendMessage({ action: "echo", tag });
  await link.next((message) => message.action === "@pong" && message.id === 4242, `${tag}'s pong`);
  await link.next((message) => message.action === "echo" && message.tag === tag, `${tag}'s echo`);
}

describe.each<Wire>(["tcp", "ws"])("a server process attacked over %s", (wire) => {
  it("survives every poison; each poisoned connection keeps working; good clients lose nothing", async () => {
    const victim = await spawnVictim(cleanup, "hostile-target-server.ts");
    const goodTcp = await namedLink(victim, "tcp", "good tcp");
    const goodWs = await namedLink(victim, "ws", "good ws");

    const failures: string[] = [];
    const forbiddenChannels: [string, number][] = [];
    for (const poison of POISONS) {
      if (!victim.alive()) {
        failures.push(`${poison.name}: not sent, the server process had died`);
        continue;
      }
      let named: { link: RawLink; channel: number };
      try {
        named = await namedLink(victim, wire, poison.name);
      } catch (error) {
        failures.push(
          `${poison.name}: could not connect: ${(error as Error).message}; the server ${victim.describe()}`,
        );
        continue;
      }
      const { link, channel } = named;
      let pendingId = 0;
      if (poison.needsRequest) {
        link.sendMessage({ action: "askMe" });
        try {
          const request = await link.next((message) => message.action === "whoAreYou", "the server's request");
          pendingId = Number(request["@req"]);
        } catch (error) {
          failures.push(`${poison.name}: not sent: ${(error as Error).message}; the server ${victim.describe()}`);
          continue;
        }
      }
      sendPoison(link, poison, pendingId);
      link.sendMessage({ action: "echo", probe: poison.name });
      try {
        await link.next((message) => message.action === "echo" && message.probe === poison.name, "the probe's echo");
      } catch (error) {
        failures.push(
          `${poison.name}: ${victim.alive() ? (error as Error).message : `the server process died: ${victim.describe()}`}`,
        );
        continue;
      }
      if (poison.forbidden === "pong" && count(link.received, "@pong") > 0) {
        failures.push(`${poison.name}: answered with a @pong`);
      }
      if (poison.forbidden === "reply") {
        if (count(link.received, "@reply") > 0) failures.push(`${poison.name}: answered with a @reply`);
        forbiddenChannels.push([poison.name, channel]);
      }
      link.destroy();
    }

    if (victim.alive()) await victim.sync();
    for (const [name, channel] of forbiddenChannels) {
      if (victim.events.some((event) => event.ev === "handled" && event.channel === channel)) {
        failures.push(`${name}: the request handler ran`);
      }
    }
    expect(failures).toEqual([]);
    expect(victim.alive(), `the server process ${victim.describe()}`).toBe(true);

    // The good clients: still connected, ping-pong and echo work, their channels saw no error.
    await stillWorks(goodTcp.link, "good tcp");
    await stillWorks(goodWs.link, "good ws");
    await victim.sync();
    const goodChannels = [goodTcp.channel, goodWs.channel];
    expect(
      victim.events.filter(
        (event) =>
          (event.ev === "close" || event.ev === "channelError") && goodChannels.includes(Number(event.channel)),
      ),
    ).toEqual([]);
    // Nothing reached the process, and no connection was ended by a failure of the library.
    expect(victim.events.filter((event) => event.ev === "fatal")).toEqual([]);
    expect(victim.events.filter((event) => event.ev === "log" && event.level === "error")).toEqual([]);
  });

  it("cuts off a peer after 1,000 invalid messages with ERR_TOO_MANY_INVALID, in fewer than 20 log lines", async () => {
    const victim = await spawnVictim(cleanup, "hostile-target-server.ts");
    const good = await namedLink(victim, wire, "good");
    const hostile = await namedLink(victim, wire, "flooder");
    const peer = victim.events.find((event) => event.ev === "connect" && event.channel === hostile.channel)!.peer;

    for (let n = 0; n < 1_000; n++) hostile.link.send(n % 2 === 0 ? nil : rawMessage("@ping", { id: toStringTrap }));
    await hostile.link.whenClosed(3_000);
    await victim.event(
      (event) => event.ev === "close" && event.channel === hostile.channel,
      "the flooder's channel to close",
    );
    await victim.sync();

    expect(victim.alive(), `the server process ${victim.describe()}`).toBe(true);
    const errors = victim.events.filter((event) => event.ev === "channelError" && event.channel === hostile.channel);
    expect(errors.map((event) => event.code)).toEqual(["ERR_TOO_MANY_INVALID"]);
    const lines = victim.events.filter((event) => event.ev === "log" && event.peer === peer);
    expect(lines.length).toBeLessThan(20);
    expect(lines.filter((event) => event.code === "ERR_NOT_A_MAP").length).toBeGreaterThan(0);
    expect(lines.filter((event) => event.code === "ERR_INVALID_CONTROL").length).toBeGreaterThan(0);
    await stillWorks(good.link, "good");
  });
});

describe("a server process", () => {
  it("keeps no memory for the long action names a peer sends (64 distinct 1 MiB actions)", async () => {
    // The handler lookup caches "Network_" + action per action seen; a peer choosing long, distinct
    // actions must not make the process keep them once they are handled.
    const victim = await spawnVictim(cleanup, "hostile-target-server.ts", [], ["--expose-gc"]);
    const { link } = await namedLink(victim, "tcp", "long actions");
    victim.command("heap");
    const before = await victim.event((event) => event.ev === "heap", "the heap before");
    expect(before.collected).toBe(true);

    const size = 1 << 20;
    for (let n = 0; n < 64; n++) {
      // Half of them dotted, which are also looked up with "_" for ".".
      const action = `${n % 2 === 0 ? "a." : "b"}${String(n).padStart(4, "0")}`.padEnd(size, "x");
      link.send(rawMessage(action, { n: rawValue(n) }));
    }
    link.sendMessage({ action: "echo", probe: "last" });
    await link.next((message) => message.action === "echo", "the probe's echo", 10_000);
    link.destroy();
    await link.whenClosed();
    await victim.sync();
    victim.command("heap");
    const after = await victim.event((event) => event !== before && event.ev === "heap", "the heap after");

    const retainedMiB = (Number(after.used) - Number(before.used)) / 2 ** 20;
    expect(retainedMiB, `${retainedMiB.toFixed(1)} MiB retained after 64 MiB of actions`).toBeLessThan(16);
  });
});
