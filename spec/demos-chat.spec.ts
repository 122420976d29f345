import { interval } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { ChatClient } from "../demos/chat/chat-client.js";
import { ChatServer } from "../demos/chat/chat-server.js";
import { Cleanup } from "./helpers/cleanup.js";
import { DemoProcess } from "./helpers/demo-process.js";
import { waitFor } from "./helpers/net.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A scripted chat user: a ChatClient whose printed lines are recorded, pumped like a game loop. */
function user(name: string, port: number): { client: ChatClient; lines: string[]; ended: () => boolean } {
  const lines: string[] = [];
  let ended = false;
  const client = new ChatClient(name, { print: (line) => lines.push(line), onEnd: () => (ended = true) });
  client.start("127.0.0.1", port);
  const loop = client.autoPump(interval(5));
  cleanup.add(async () => {
    client.close();
    await waitFor(() => ended, `${name} to end`);
    loop.unsubscribe();
  });
  return { client, lines, ended: () => ended };
}

describe("the chat demo", () => {
  it("broadcasts every line with its sender's name, announces joins and leaves, and keeps rooms apart", async () => {
    const log: string[] = [];
    const server = new ChatServer({ port: 0, log: (line) => log.push(line) });
    await server.start();
    cleanup.add(() => server.stop());

    const alice = user("alice", server.port);
    await waitFor(() => alice.lines.includes("* alice joined #lobby"), "alice to join");
    const bob = user("bob", server.port);
    await waitFor(
      () => alice.lines.includes("* bob joined #lobby") && bob.lines.includes("* bob joined #lobby"),
      "bob's join to be announced",
    );
    await waitFor(() => alice.client.players.length === 2, "the player list");
    expect(alice.client.players).toEqual(["alice", "bob"]);

    alice.client.say("hello bob");
    bob.client.say("hi alice");
    await waitFor(
      () => bob.lines.includes("alice: hello bob") && alice.lines.includes("bob: hi alice"),
      "the lines to cross",
    );
    // Everyone sees every line once, in the server's order, the sender's own echo included.
    const chat = (lines: string[]): string[] => lines.filter((line) => /^(alice|bob): /.test(line));
    await waitFor(() => chat(alice.lines).length === 2 && chat(bob.lines).length === 2, "both echoes");
    expect(chat(alice.lines)).toEqual(chat(bob.lines));

    // A room of its own: bob's lines there do not reach the lobby.
    bob.client.say("/join games");
    await waitFor(
      () => alice.lines.includes("* bob went to #games") && bob.lines.includes("* bob joined #games"),
      "bob to move",
    );
    bob.client.say("anyone here?");
    await waitFor(() => bob.lines.includes("bob: anyone here?"), "bob's echo in #games");
    bob.client.say("/join lobby");
    await waitFor(() => alice.lines.filter((line) => line === "* bob joined #lobby").length === 2, "bob to return");
    expect(alice.lines).not.toContain("bob: anyone here?");

    bob.client.say("/quit");
    await waitFor(() => bob.ended(), "bob to leave");
    await waitFor(() => alice.lines.includes("* bob left the chat"), "bob's leave to be announced");
    expect(bob.lines.at(-1)).toBe("disconnected");
    expect(log).toEqual(
      expect.arrayContaining([
        "[#lobby] alice: hello bob",
        "[#games] bob: anyone here?",
        "[#lobby] * bob left the chat",
      ]),
    );
  });

  it("runs as commands: a server and two terminal clients typing lines, then Ctrl+D and Ctrl+C", async () => {
    const server = new DemoProcess("demos/chat/server.ts", ["--port", "0"]);
    cleanup.add(() => server.kill());
    const port = (await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]!;

    const alice = new DemoProcess("demos/chat/client.ts", ["alice", "--port", port]);
    cleanup.add(() => alice.kill());
    await alice.waitFor(/\* alice joined #lobby/);
    const bob = new DemoProcess("demos/chat/client.ts", ["bob", "--port", port]);
    cleanup.add(() => bob.kill());
    await bob.waitFor(/\* bob joined #lobby/);
    await alice.waitFor(/\* bob joined #lobby/);

    alice.type("hello from the terminal");
    await bob.waitFor(/^alice: hello from the terminal$/m);
    bob.type("/who");
    await bob.waitFor(/^in #lobby: alice, bob$/m);

    // Ctrl+D: bob's input ends, bob leaves gracefully and exits 0.
    bob.child.stdin.end();
    expect(await bob.exited).toBe(0);
    expect(bob.lines.at(-1)).toBe("disconnected");
    await alice.waitFor(/\* bob left the chat/);

    // Ctrl+C on the server: it stops, every client is disconnected, everyone exits 0.
    server.child.kill("SIGINT");
    expect(await server.exited).toBe(0);
    expect(await alice.exited).toBe(0);
    expect(server.lines).toEqual(
      expect.arrayContaining(["[#lobby] alice: hello from the terminal", "chat server stopped"]),
    );
    expect(alice.lines.at(-1)).toBe("disconnected");
  }, 60_000);

  it("refuses to start a client without a name", async () => {
    const client = new DemoProcess("demos/chat/client.ts", []);
    cleanup.add(() => client.kill());
    expect(await client.exited).toBe(2);
  }, 40_000);
});
