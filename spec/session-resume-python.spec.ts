import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { Server } from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, waitFor } from "./helpers/net.js";
import { tcpProxy } from "./helpers/proxy.js";
import { newChannel, openPlayer, range, RecordingPlayer, RecordingSeat, sessionGranted } from "./helpers/sessions.js";
import { PROVISION_ADVICE, PYTHON } from "./helpers/system-tools.js";

// Debian's python3 with python3-msgpack: a Python repod client (spec/fixtures/python-peer.py), as
// in python-interop.spec.ts, playing beside resumable repod-rx clients.
const PEER = fileURLToPath(new URL("./fixtures/python-peer.py", import.meta.url));

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A seat in the lobby that echoes chat: the game both kinds of players play. */
class LobbySeat extends RecordingSeat {
  override onConnect(): void {
    super.onConnect();
    this.join("lobby");
  }

  Network_chat(message: { text: string }): void {
    this.send({ action: "chat", text: `echo: ${message.text}` });
  }
}

/** The Python peer as a child process: every frame it received, as parsed JSON lines. */
function pythonPeer(port: number) {
  const child = spawn(PYTHON, [PEER, "127.0.0.1", String(port)]);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  cleanup.add(async () => {
    child.kill("SIGKILL");
    await exited;
  });
  const received: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on("line", (line) =>
    received.push(JSON.parse(line) as Record<string, unknown>),
  );
  return {
    received,
    exited,
    stderr: () => stderr,
    send: (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`),
  };
}

describe("a Python repod peer on a server with resume on", () => {
  it("is greeted at once, plays beside a resumable client that drops and resumes, and never receives an @ message", async () => {
    expect(existsSync(PYTHON), `${PYTHON} is missing: ${PROVISION_ADVICE}`).toBe(true);
    const server = new Server<LobbySeat>({
      host: "127.0.0.1",
      port: 0,
      channelClass: LobbySeat,
      resume: { window: 5_000, helloWindow: 1_000 },
    });
    await server.start();
    cleanup.server(server);
    const proxy = await tcpProxy(cleanup, server.port);
    const player = openPlayer(cleanup, new RecordingPlayer(), proxy.port, { resume: true });
    const playerSeat = await newChannel(server, [], "the resumable player's seat");
    await sessionGranted(player.listener);

    const started = Date.now();
    const python = pythonPeer(server.port);
    await waitFor(() => python.received.length >= 1, "the Python peer's greeting");
    // At once, not after the hello window in which a repod-rx client would say hello.
    expect(Date.now() - started).toBeLessThan(800);
    expect(python.received[0], `python peer stderr: ${python.stderr()}`).toEqual({ action: "connected" });

    // More messages than the server acknowledges at once, were this a session.
    for (const n of range(40)) python.send({ action: "chat", text: `hi ${n}` });
    const pythonSeat = await newChannel(server, [playerSeat], "the Python peer's seat");
    await waitFor(() => python.received.length >= 41, "40 echoes");

    // Broadcasts to everyone and to the lobby, some while the resumable player is away.
    server.sendToAll({ action: "tick", n: 0 });
    proxy.cut();
    await waitFor(() => playerSeat.drops === 1, "the resumable player's drop");
    server.sendToAll({ action: "tick", n: 1 });
    server.room("lobby").sendToAll({ action: "lobby", n: 2 });
    await waitFor(() => player.listener.events.includes("resumed"), "the resume");
    server.room("lobby").sendToAll({ action: "lobby", n: 3 });
    await waitFor(() => python.received.length >= 45, "the broadcasts on the Python peer");
    await waitFor(() => player.listener.other.length >= 4, "the broadcasts on the resumable player");
    // Longer than the delay after which a session would acknowledge what it received.
    await delay(400);

    const reserved = python.received.filter((message) => String(message.action).startsWith("@"));
    expect(reserved).toEqual([]);
    expect(python.received).toEqual([
      { action: "connected" },
      ...range(40).map((n) => ({ action: "chat", text: `echo: hi ${n}` })),
      { action: "tick", n: 0 },
      { action: "tick", n: 1 },
      { action: "lobby", n: 2 },
      { action: "lobby", n: 3 },
    ]);
    expect(player.listener.other).toEqual([
      { action: "tick", n: 0 },
      { action: "tick", n: 1 },
      { action: "lobby", n: 2 },
      { action: "lobby", n: 3 },
    ]);
    expect([...server.room("lobby").channels]).toEqual([playerSeat, pythonSeat]);
    expect([pythonSeat.drops, pythonSeat.closes]).toEqual([0, 0]);

    // A Python client's close ends its seat at once: it has no session to hold.
    python.send({ $close: true });
    expect(await python.exited).toBe(0);
    await waitFor(() => pythonSeat.closes === 1, "the Python peer's seat to end");
    expect(pythonSeat.drops).toBe(0);
  });
});
