import { afterEach, describe, expect, it, vi } from "vitest";
import {
  Channel,
  configureLogging,
  consoleLogger,
  ConnectionListener,
  encode,
  Server,
  silentLogger,
  type Logger,
} from "../lib/index.js";
import { Cleanup } from "./helpers/cleanup.js";
import { connectTo } from "./helpers/listeners.js";
import { closedPort, collect, rawSocket, startServer, waitFor } from "./helpers/net.js";
import { frameOf } from "./helpers/raw.js";

const cleanup = new Cleanup();
afterEach(async () => {
  await cleanup.run();
  configureLogging("silent");
  vi.restoreAllMocks();
});

/** A logger that records `[level, message, fields]`. */
function recordingLogger(): Logger & { events: [string, string, Record<string, unknown> | undefined][] } {
  const events: [string, string, Record<string, unknown> | undefined][] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void events.push([level, message, fields]);
  return { events, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Replaces console.error for the test and returns the lines it was given. */
function captureConsole(): string[][] {
  const spy = vi.spyOn(console, "error").mockImplementation(() => {});
  return spy.mock.calls as string[][];
}

describe("logging", () => {
  it("is silent by default: a whole connection prints nothing", async () => {
    const lines = captureConsole();
    const server = cleanup.server(await startServer());
    const { listener, channel } = await connectTo(cleanup, server, new ConnectionListener());
    channel.send({ action: "x" });
    listener.close();
    await waitFor(() => server.channels.length === 0, "the disconnection");
    expect(lines).toEqual([]);
  });

  it('configureLogging("info") prints connections and disconnections as one-line key=value events on stderr', async () => {
    const lines = captureConsole();
    configureLogging("info");
    const server = cleanup.server(await startServer());
    const { listener, channel } = await connectTo(cleanup, server, new ConnectionListener());
    listener.close();
    await waitFor(() => server.channels.length === 0, "the disconnection");
    await waitFor(() => lines.length >= 5, "5 lines");
    const port = server.port;
    const peer = `127.0.0.1:${channel.addr.port}`;
    for (const call of lines) {
      expect(call).toHaveLength(1);
      expect(call[0]).not.toContain("\n");
    }
    expect(lines.map(([line]) => line)).toEqual(
      expect.arrayContaining([
        `repod-rx INFO listening host=127.0.0.1 port=${port}`,
        `repod-rx INFO connected channel=${channel.id} peer=${peer}`,
        `repod-rx INFO connected server=127.0.0.1:${port}`,
        `repod-rx INFO disconnected channel=${channel.id} peer=${peer}`,
        `repod-rx INFO disconnected server=127.0.0.1:${port}`,
      ]),
    );
    expect(lines.some(([line]) => line?.includes("DEBUG"))).toBe(false);
  });

  it('configureLogging("info") prints dropped messages as warnings with their code', async () => {
    const lines = captureConsole();
    configureLogging("info");
    const server = cleanup.server(await startServer());
    const socket = cleanup.socket(await rawSocket(server.port));
    socket.write(frameOf("c0"));
    await waitFor(() => lines.some(([line]) => line?.includes("dropped")), "the dropped line");
    expect(lines.map(([line]) => line)).toContain(
      `repod-rx WARN dropped peer=127.0.0.1:${socket.localPort} code=ERR_NOT_A_MAP reason="Dropped a payload that is not a map: nil"`,
    );
  });

  it('configureLogging("debug") also prints every dispatched message', async () => {
    const lines = captureConsole();
    configureLogging("debug");
    const server = cleanup.server(await startServer());
    const { listener, channel } = await connectTo(cleanup, server, new ConnectionListener());
    listener.send({ action: "player.move" });
    await waitFor(() => lines.some(([line]) => line?.includes("dispatched")), "the dispatched line");
    expect(lines.map(([line]) => line)).toContain(`repod-rx DEBUG dispatched channel=${channel.id} action=player.move`);
  });

  it('configureLogging("warn") prints warnings but not connections', async () => {
    const lines = captureConsole();
    configureLogging("warn");
    const port = await closedPort();
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", port);
    await waitFor(() => lines.length > 0, "a line");
    expect(lines).toEqual([
      [`repod-rx WARN connect failed server=127.0.0.1:${port} reason="connect ECONNREFUSED 127.0.0.1:${port}"`],
    ]);
  });

  it("applies to servers and listeners created before configureLogging() was called", async () => {
    const lines = captureConsole();
    const server = cleanup.server(new Server({ port: 0 }));
    configureLogging("info");
    await server.start();
    expect(lines).toEqual([[`repod-rx INFO listening host=127.0.0.1 port=${server.port}`]]);
  });

  it("accepts a Logger object instead of a level", async () => {
    const logger = recordingLogger();
    configureLogging(logger);
    const server = cleanup.server(await startServer());
    expect(logger.events).toEqual([["info", "listening", { host: "127.0.0.1", port: server.port }]]);
  });

  it("rejects an unknown level with a RangeError listing the levels", () => {
    expect(() => configureLogging("loud" as never)).toThrow(
      new RangeError('Unknown log level "loud"; use one of debug, info, warn, error, silent'),
    );
  });

  it("consoleLogger(level) prints that level and above only", () => {
    const lines = captureConsole();
    const logger = consoleLogger("warn");
    logger.debug("a");
    logger.info("b");
    logger.warn("c", { n: 1 });
    logger.error("d", { text: "two words", list: [1, 2] });
    expect(lines).toEqual([["repod-rx WARN c n=1"], ['repod-rx ERROR d text="two words" list=[1,2]']]);
  });

  it("silentLogger prints nothing", () => {
    const lines = captureConsole();
    silentLogger.error("nothing");
    expect(lines).toEqual([]);
  });

  describe("the logger option", () => {
    it("receives the server's connected, disconnected and dropped events, and nothing goes to the console", async () => {
      const lines = captureConsole();
      const logger = recordingLogger();
      const server = cleanup.server(await startServer({ logger }));
      const socket = cleanup.socket(await rawSocket(server.port));
      const peer = `127.0.0.1:${socket.localPort}`;
      socket.write(frameOf("c1"));
      socket.write(encode({ action: "disconnected" }));
      await waitFor(
        () => logger.events.filter(([, message]) => message === "dropped").length === 2,
        "2 dropped events",
      );
      socket.end();
      socket.resume();
      await waitFor(() => logger.events.some(([, message]) => message === "disconnected"), "the disconnection");
      const channelId = logger.events.find(([, message]) => message === "connected")?.[2]?.channel;
      expect(logger.events).toEqual([
        ["info", "listening", { host: "127.0.0.1", port: server.port }],
        ["info", "connected", { channel: channelId, peer }],
        [
          "warn",
          "dropped",
          { peer, code: "ERR_INVALID_PAYLOAD", reason: "Dropped an unreadable msgpack payload of 1 bytes" },
        ],
        [
          "warn",
          "dropped",
          {
            peer,
            code: "ERR_FORGED_LIFECYCLE",
            reason: 'Dropped a "disconnected" message sent by the peer: only the transport produces it',
          },
        ],
        ["info", "disconnected", { channel: channelId, peer }],
      ]);
      expect(lines).toEqual([]);
    });

    it("receives the client's connected, dropped and disconnected events", async () => {
      const logger = recordingLogger();
      const server = cleanup.server(await startServer());
      const listener = cleanup.listener(new ConnectionListener());
      const accepted = collect(server.connections$, 1);
      listener.connect("127.0.0.1", server.port, { logger });
      const [channel] = await accepted;
      channel!.send({ action: "error", error: "forged" });
      await waitFor(() => logger.events.some(([, message]) => message === "dropped"), "the dropped event");
      channel!.close();
      await waitFor(() => logger.events.some(([, message]) => message === "disconnected"), "the disconnection");
      const server$ = `127.0.0.1:${server.port}`;
      expect(logger.events).toEqual([
        ["info", "connected", { server: server$ }],
        [
          "warn",
          "dropped",
          {
            peer: server$,
            code: "ERR_FORGED_LIFECYCLE",
            reason: 'Dropped a "error" message sent by the peer: only the transport produces it',
          },
        ],
        ["info", "disconnected", { server: server$ }],
      ]);
    });

    it("receives a handler's exception from the default onError instead of the console", async () => {
      const lines = captureConsole();
      const logger = recordingLogger();
      class Failing extends Channel {
        Network_fail(): void {
          throw new Error("boom");
        }
      }
      const server = cleanup.server(await startServer({ logger, channelClass: Failing }));
      const { listener, channel } = await connectTo(cleanup, server, new ConnectionListener());
      listener.send({ action: "fail" });
      await waitFor(() => logger.events.some(([level]) => level === "error"), "the error event");
      expect(logger.events.find(([level]) => level === "error")).toEqual([
        "error",
        "channel error",
        { channel: channel.id, peer: `127.0.0.1:${channel.addr.port}`, reason: new Error("boom") },
      ]);
      expect(lines).toEqual([]);
    });
  });
});
