// The tag demo's server checks player input against the valibot schema of demos/tag/protocol.ts:
// a hostile client's input never steers a player, a well-formed one does.
import { afterEach, describe, expect, it } from "vitest";
import { TagServer, type TagChannel } from "../demos/tag/tag-server.js";
import { Cleanup } from "./helpers/cleanup.js";
import { rawLinkTo, rawMessage, rawStr, rawValue } from "./helpers/hostile.js";
import { first, waitFor } from "./helpers/net.js";
import { toStringTrap } from "./helpers/poisons.js";
import { recordingLogger } from "./helpers/ws.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("the tag server's input validation", () => {
  it("drops input that does not fit its schema before it steers anyone, and steers with input that does", async () => {
    const logger = recordingLogger();
    const server = cleanup.server(new TagServer({ host: "127.0.0.1", port: 0, tickRate: 60, log: () => {}, logger }));
    await server.start();
    const joined = first(server.connections$);
    const link = await rawLinkTo(cleanup, "tcp", server.port);
    const welcome = await link.next((message) => message.action === "welcome", "the welcome");
    const channel: TagChannel = await joined;
    const me = (): { x: number; y: number } =>
      server
        .game(channel.game!)!
        .snapshot()
        .players.find((player) => player.id === welcome.id)!;
    const start = { x: me().x, y: me().y };

    // Each would steer right if it reached the game, which rounds any number to -1, 0 or 1.
    link.send(rawMessage("input", { dx: rawValue(5), dy: rawValue(0) }));
    link.send(rawMessage("input", { dx: rawStr("right"), dy: rawValue(0) }));
    link.send(rawMessage("input", { dx: rawValue(0.75), dy: rawValue(0) }));
    link.send(rawMessage("input", { dx: toStringTrap, dy: rawValue(0) }));
    link.send(rawMessage("input", { dx: rawValue(1) }));
    await waitFor(() => channel.rejectedMessages === 5, "the five inputs to be rejected");
    const ticks = server.game(channel.game!)!.snapshot().tick;
    await waitFor(() => server.game(channel.game!)!.snapshot().tick > ticks + 5, "a few ticks");
    expect({ x: me().x, y: me().y }).toEqual(start);
    expect(logger.entries.filter((entry) => entry.fields.code === "ERR_INVALID_MESSAGE")).toHaveLength(5);

    link.sendMessage({ action: "input", dx: 1, dy: 0 });
    await waitFor(() => me().x > start.x, "the player to move right");
    expect(me().y).toBe(start.y);
    expect(channel.rejectedMessages).toBe(5);
  });
});
