import * as v8 from "node:v8";
import * as vm from "node:vm";
import { ignoreElements, map, Observable, throwError, timer, switchMap } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import {
  Channel,
  ConnectionListener,
  REPLY_ACTION,
  REPLY_ID_KEY,
  REQUEST_ID_KEY,
  RequestError,
  type Server,
} from "../lib/index.js";
import { PendingAnswers } from "../lib/dispatch/pending-answers.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, startServer, waitFor } from "./helpers/net.js";
import { connectPlayer, connectRaw, pythonFrame, rawPeer } from "./helpers/players.js";
import { rawServer } from "./helpers/raw.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Teardowns of the answers that never emit, counted across the file's servers. */
let endedAnswers = 0;

/** Promises a game keeps forever (in a cache, a queue...): they must not keep channels alive. */
const keptForever: Promise<unknown>[] = [];

class Stuck extends Channel {
  readonly calls: string[] = [];

  Network_never(): Observable<never> {
    this.calls.push("never");
    return new Observable<never>(() => () => endedAnswers++);
  }

  Network_later(message: { value: number }): Promise<number> {
    return new Promise((resolve) => setTimeout(() => resolve(message.value), 5));
  }

  Network_forever(): Promise<never> {
    const promise = new Promise<never>(() => {});
    keptForever.push(promise);
    return promise;
  }

  Network_add(message: { a: number; b: number }): number {
    return message.a + message.b;
  }

  Network_soon(message: { value: number }): Observable<number> {
    return timer(5).pipe(map(() => message.value));
  }

  Network_soonFails(): Observable<never> {
    return timer(5).pipe(switchMap(() => throwError(() => new Error("no seat left"))));
  }

  Network_soonEmpty(): Observable<never> {
    return timer(5).pipe(ignoreElements());
  }

  Network_throwsOdd(): never {
    // A value String() cannot print: an object without a prototype has no toString.
    throw Object.create(null) as Error;
  }
}

function replies(messages: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  return messages.filter((message) => message.action === REPLY_ACTION);
}

describe("maxPendingAnswers on the server", () => {
  it("answers a request beyond the bound at once with ERR_TOO_MANY_REQUESTS and runs no handler", async () => {
    const server = cleanup.server(await startServer({ channelClass: Stuck, maxPendingAnswers: 3 }));
    const { peer, channel } = await connectRaw(cleanup, server);
    for (let id = 1; id <= 5; id++) peer.send({ action: "never", [REQUEST_ID_KEY]: id });
    peer.send({ action: "add", a: 2, b: 3, [REQUEST_ID_KEY]: 6 });
    await waitFor(() => replies(peer.messages).length === 3, "three refusals");
    const refusal = {
      action: REPLY_ACTION,
      code: "ERR_TOO_MANY_REQUESTS",
      error:
        "Too many requests in progress: 3 answers are still being computed for this connection (maxPendingAnswers); try again later",
    };
    expect(replies(peer.messages)).toEqual([
      { ...refusal, [REPLY_ID_KEY]: 4 },
      { ...refusal, [REPLY_ID_KEY]: 5 },
      { ...refusal, [REPLY_ID_KEY]: 6 },
    ]);
    expect((channel as Stuck).calls).toEqual(["never", "never", "never"]);
  });

  it("ends the answers in progress when their channel closes", async () => {
    endedAnswers = 0;
    const server = cleanup.server(await startServer({ channelClass: Stuck }));
    const { peer, channel } = await connectRaw(cleanup, server);
    for (let id = 1; id <= 50; id++) peer.send({ action: "never", [REQUEST_ID_KEY]: id });
    await delay(50);
    expect(endedAnswers).toBe(0);
    peer.socket.destroy();
    await waitFor(() => !server.channels.includes(channel), "the channel to close");
    expect(endedAnswers).toBe(50);
  });

  it("frees a slot once its answer is given", async () => {
    const server = cleanup.server(await startServer({ channelClass: Stuck, maxPendingAnswers: 1 }));
    const player = await connectPlayer(cleanup, server, "tcp");
    const pumping = setInterval(() => player.listener.pump(), 5);
    cleanup.add(() => clearInterval(pumping));
    for (let value = 0; value < 5; value++) {
      const answer = await new Promise((resolve, reject) =>
        player.listener.request({ action: "later", value }).subscribe({ next: resolve, error: reject }),
      );
      expect(answer).toBe(value);
    }
  });

  it("frees a slot once an Observable answer emits, errors or completes without a value", async () => {
    const server = cleanup.server(await startServer({ channelClass: Stuck, maxPendingAnswers: 1 }));
    const { peer } = await connectRaw(cleanup, server);
    const pumping = setInterval(() => server.pump(), 2);
    cleanup.add(() => clearInterval(pumping));
    peer.send({ action: "soon", value: 7, [REQUEST_ID_KEY]: 1 });
    await waitFor(() => replies(peer.messages).length === 1, "the first answer");
    peer.send({ action: "soonFails", [REQUEST_ID_KEY]: 2 });
    await waitFor(() => replies(peer.messages).length === 2, "the second answer");
    peer.send({ action: "soonEmpty", [REQUEST_ID_KEY]: 3 });
    // An Observable that completes empty sends nothing: the slot must be free all the same.
    await delay(50);
    peer.send({ action: "add", a: 2, b: 3, [REQUEST_ID_KEY]: 4 });
    await waitFor(() => replies(peer.messages).length === 3, "the last answer");
    expect(replies(peer.messages)).toEqual([
      { action: REPLY_ACTION, [REPLY_ID_KEY]: 1, result: 7 },
      { action: REPLY_ACTION, [REPLY_ID_KEY]: 2, error: "no seat left" },
      { action: REPLY_ACTION, [REPLY_ID_KEY]: 4, result: 5 },
    ]);
  });

  it("answers a handler that throws a value String() cannot print with a plain error reply", async () => {
    const server = cleanup.server(await startServer({ channelClass: Stuck }));
    const { peer } = await connectRaw(cleanup, server);
    peer.send({ action: "throwsOdd", [REQUEST_ID_KEY]: 1 });
    await waitFor(() => {
      server.pump();
      return replies(peer.messages).length === 1;
    }, "the error reply");
    expect(replies(peer.messages)).toEqual([{ action: REPLY_ACTION, [REPLY_ID_KEY]: 1, error: "the handler failed" }]);
  });

  it("lets the requester read the refusal as a RequestError coded ERR_TOO_MANY_REQUESTS", async () => {
    const server = cleanup.server(await startServer({ channelClass: Stuck, maxPendingAnswers: 1 }));
    const player = await connectPlayer(cleanup, server, "tcp");
    const pumping = setInterval(() => player.listener.pump(), 5);
    cleanup.add(() => clearInterval(pumping));
    cleanup.subscription(player.listener.request({ action: "never" }).subscribe({ error: () => {} }));
    const refused = await new Promise<unknown>((resolve) =>
      player.listener.request({ action: "never" }).subscribe({ next: resolve, error: resolve }),
    );
    expect(refused).toBeInstanceOf(RequestError);
    expect((refused as RequestError).code).toBe("ERR_TOO_MANY_REQUESTS");
  });

  it("keeps no channel alive through a Promise answer that never settles after the client left", async () => {
    const gc = exposeGc();
    const server = cleanup.server(await startServer({ channelClass: Stuck }));
    const released = await leaveWithAnswersKeptForever(server);
    // Finalisation needs a few turns and collections.
    for (let round = 0; round < 20 && released.deref() !== undefined; round++) {
      await delay(10);
      gc();
    }
    expect(released.deref()).toBeUndefined();
  });
});

describe("maxPendingAnswers on the client", () => {
  it("refuses the server's requests beyond the bound, and ends the answers in progress with the connection", async () => {
    endedAnswers = 0;
    const received: Record<string, unknown>[] = [];
    let server!: ReturnType<typeof rawPeer>;
    const port = await rawServer(cleanup, (socket) => {
      server = rawPeer(socket);
      socket.write(pythonFrame({ action: "connected" }));
    });
    class Busy extends ConnectionListener {
      Network_never(): Observable<never> {
        return new Observable<never>(() => () => endedAnswers++);
      }
    }
    const listener = cleanup.listener(new Busy());
    listener.connect("127.0.0.1", port, { maxPendingAnswers: 2 });
    const pumping = setInterval(() => listener.pump(), 5);
    cleanup.add(() => clearInterval(pumping));
    await waitFor(() => server !== undefined && listener.connection?.isConnected === true, "the connection");
    for (let id = 1; id <= 4; id++) server.socket.write(pythonFrame({ action: "never", [REQUEST_ID_KEY]: id }));
    await waitFor(() => replies(server.messages).length === 2, "two refusals");
    received.push(...replies(server.messages));
    expect(received.map((reply) => [reply[REPLY_ID_KEY], reply.code])).toEqual([
      [3, "ERR_TOO_MANY_REQUESTS"],
      [4, "ERR_TOO_MANY_REQUESTS"],
    ]);
    expect(endedAnswers).toBe(0);
    server.socket.destroy();
    await waitFor(() => endedAnswers === 2, "the two answers in progress to end");
  });
});

/**
 * A raw client sends 10 requests whose answers are Promises the game keeps forever, then leaves;
 * returns a weak reference to its channel. A function of its own, so that no frame of the test
 * holds the channel.
 */
async function leaveWithAnswersKeptForever(server: Server<Stuck>): Promise<WeakRef<Channel>> {
  const { peer, channel } = await connectRaw(cleanup, server);
  const released = new WeakRef<Channel>(channel);
  const before = keptForever.length;
  for (let id = 1; id <= 10; id++) peer.send({ action: "forever", [REQUEST_ID_KEY]: id });
  await waitFor(() => keptForever.length === before + 10, "the handlers to run");
  peer.socket.destroy();
  await waitFor(() => server.channels.length === 0, "the channel to close");
  return released;
}

/** `gc()` without starting Node with `--expose-gc`. */
function exposeGc(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

describe("the answers of one connection, once it has ended", () => {
  it("run no handler for a request that arrives after close(), and hold nothing", () => {
    const sent: object[] = [];
    const answers = new PendingAnswers((message) => sent.push(message), 4);
    answers.answer(1, () => new Observable<never>());
    answers.answer(2, () => new Promise<never>(() => {}));
    expect(answers.size).toBe(2);
    answers.close();
    expect(answers.size).toBe(0);
    let ran = false;
    answers.answer(3, () => {
      ran = true;
      return 42;
    });
    expect(ran).toBe(false);
    expect(sent).toEqual([]);
  });

  it("say why when a result cannot be sent, even if the failure carries no error", () => {
    const sent: object[] = [];
    const answers = new PendingAnswers((message) => {
      // A sender that fails on the result with nothing to show for it, and sends the error reply.
      if ("result" in message) throw undefined;
      return sent.push(message);
    }, 4);
    answers.answer(1, () => "a result");
    expect(sent).toEqual([{ action: REPLY_ACTION, [REPLY_ID_KEY]: 1, error: "encoding failed" }]);
  });
});
