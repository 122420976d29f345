import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { Channel, type Server } from "../lib/index.js";
import { startServer, waitFor } from "./helpers/net.js";
import { PROVISION_ADVICE, PYTHON } from "./helpers/system-tools.js";

// Debian's python3 with python3-msgpack, as installed by .ci/run: a real Python peer speaking
// the repod wire format (spec/fixtures/python-peer.py).
const PEER = fileURLToPath(new URL("./fixtures/python-peer.py", import.meta.url));

class EchoChannel extends Channel {
  Network_chat(message: { text: string; blob?: Uint8Array }): void {
    this.send({ action: "chat", text: `echo: ${message.text}`, ...(message.blob ? { blob: message.blob } : {}) });
  }
}

describe("a Python msgpack peer", () => {
  let server: Server<EchoChannel> | undefined;
  let peer: ChildProcessWithoutNullStreams | undefined;

  afterEach(async () => {
    peer?.kill("SIGKILL");
    peer = undefined;
    await server?.stop();
    server = undefined;
  });

  it("talks with a repod-rx server in both directions", async () => {
    expect(existsSync(PYTHON), `${PYTHON} is missing: ${PROVISION_ADVICE}`).toBe(true);
    server = await startServer({ channelClass: EchoChannel });
    const child = spawn(PYTHON, [PEER, "127.0.0.1", String(server.port)]);
    peer = child;
    const received: Record<string, unknown>[] = [];
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    createInterface({ input: child.stdout }).on("line", (line) =>
      received.push(JSON.parse(line) as Record<string, unknown>),
    );

    await waitFor(() => received.length >= 1 || child.exitCode !== null, "the greeting");
    expect(received[0], `python peer stderr: ${stderr}`).toEqual({ action: "connected" });

    child.stdin.write(JSON.stringify({ action: "chat", text: "héllo 🎮", blob: { $bytes: "00ff10" } }) + "\n");
    await waitFor(() => received.length >= 2, "the echo");
    expect(received[1]).toEqual({ action: "chat", text: "echo: héllo 🎮", blob: { $bytes: "00ff10" } });

    const channel = server.channels[0]!;
    channel.send({
      action: "state",
      ints: [0, -1, 127, 128, -33, 65535, 2 ** 32, -(2 ** 40)],
      f: 0.25,
      ok: true,
      none: null,
    });
    await waitFor(() => received.length >= 3, "the state");
    expect(received[2]).toEqual({
      action: "state",
      ints: [0, -1, 127, 128, -33, 65535, 2 ** 32, -(2 ** 40)],
      f: 0.25,
      ok: true,
      none: null,
    });

    const exited = new Promise((resolve) => child.once("exit", resolve));
    await server.stop();
    server = undefined;
    expect(await exited).toBe(0);
  });
});
