import * as net from "node:net";
import { delay as rxDelay, EMPTY, firstValueFrom, NEVER, of, throwError, timer, map, Observable } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import {
  Channel,
  ConnectionError,
  ConnectionListener,
  DEFAULT_REQUEST_TIMEOUT,
  REPLY_ACTION,
  REPLY_ID_KEY,
  RepodError,
  REQUEST_ID_KEY,
  RequestError,
  type IncomingMessage,
  type Server,
} from "../lib/index.js";
import { PendingRequests } from "../lib/dispatch/requests.js";
import { Cleanup } from "./helpers/cleanup.js";
import { delay, pumpUntil, startServer, waitFor } from "./helpers/net.js";
import { connectPlayer, connectRaw, rawPeer, type Player, type RawPeer } from "./helpers/players.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Handlers answering in every way a handler can, and some that do not answer. */
class Dealer extends Channel {
  readonly calls: string[] = [];

  Network_add(message: { a: number; b: number }): number {
    return message.a + message.b;
  }

  Network_later(message: { value: string }): Promise<string> {
    return new Promise((resolve) => setTimeout(() => resolve(message.value), 5));
  }

  Network_stream(): Observable<string> {
    return timer(5).pipe(map(() => "first")); // only the first value answers
  }

  Network_many(): Observable<number> {
    return of(1, 2, 3);
  }

  Network_thrown(): never {
    throw new Error("no such table");
  }

  Network_rejected(): Promise<never> {
    return Promise.reject(new Error("the table is full"));
  }

  Network_erroring(): Observable<never> {
    return throwError(() => new Error("the dealer left"));
  }

  Network_notAnError(): Promise<never> {
    return Promise.reject("just a string");
  }

  Network_silent(): void {
    this.calls.push("silent");
  }

  Network_emptyObservable(): Observable<never> {
    this.calls.push("emptyObservable");
    return EMPTY;
  }

  Network_promiseOfNothing(): Promise<void> {
    this.calls.push("promiseOfNothing");
    return Promise.resolve();
  }

  Network_slow(message: { ms: number }): Observable<string> {
    return of("late").pipe(rxDelay(message.ms));
  }

  Network_unencodable(): unknown {
    return { f: () => 1 };
  }

  Network_nothingEver(): Observable<never> {
    return NEVER;
  }

  /** An answer that never comes, and says when it is abandoned. */
  abandoned = false;
  Network_forever(): Observable<never> {
    return new Observable<never>(() => () => (this.abandoned = true));
  }
}

/** Timers alive in this process: a forgotten one keeps it from exiting. */
function timers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length;
}

type Outcome = { value?: unknown; error?: unknown; completed?: boolean };

/** Subscribes and records what the Observable does; `done` once it errors or completes. */
function observe<T>(source: Observable<T>): { outcome: Outcome; done: () => boolean; unsubscribe: () => void } {
  const outcome: Outcome = {};
  const subscription = cleanup.subscription(
    source.subscribe({
      next: (value) => (outcome.value = value),
      error: (error: unknown) => (outcome.error = error),
      complete: () => (outcome.completed = true),
    }),
  );
  return {
    outcome,
    done: () => "error" in outcome || outcome.completed === true,
    unsubscribe: () => subscription.unsubscribe(),
  };
}

/** Sends a request from `player`, pumps its listener until the Observable ends, returns what it did. */
async function ask(
  player: Player<Dealer>,
  message: { action: string; [key: string]: unknown },
  timeout?: number,
): Promise<Outcome> {
  const request = observe(player.listener.request(message, timeout === undefined ? undefined : { timeout }));
  await pumpUntil(player.listener, request.done, `the reply to ${message.action}`);
  return request.outcome;
}

async function dealerServer(options: { dispatch?: "live" | "pump" } = {}): Promise<Server<Dealer>> {
  return cleanup.server(await startServer({ channelClass: Dealer, ...options }));
}

describe("request–reply: success", () => {
  it("a handler's return value is the reply: the Observable emits it once and completes", async () => {
    const server = await dealerServer();
    const player = await connectPlayer(cleanup, server, "tcp");
    expect(await ask(player, { action: "add", a: 2, b: 40 })).toEqual({ value: 42, completed: true });
  });

  it("a Promise's value is the reply", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    expect(await ask(player, { action: "later", value: "ok" })).toEqual({ value: "ok", completed: true });
  });

  it("an Observable's first value is the reply", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    expect(await ask(player, { action: "stream" })).toEqual({ value: "first", completed: true });
    expect(await ask(player, { action: "many" })).toEqual({ value: 1, completed: true });
  });

  it("the request Observable is cold: each subscription sends its own request", async () => {
    const server = await dealerServer();
    const player = await connectPlayer(cleanup, server, "tcp");
    const requests: unknown[] = [];
    cleanup.subscription(server.messages$.subscribe(({ message }) => requests.push(message[REQUEST_ID_KEY])));
    const request = player.listener.request<number>({ action: "add", a: 1, b: 1 });
    await delay(20);
    expect(requests).toEqual([]);

    const first = observe(request);
    const second = observe(request);
    await pumpUntil(player.listener, () => first.done() && second.done(), "both replies");
    expect([first.outcome.value, second.outcome.value]).toEqual([2, 2]);
    expect(requests).toHaveLength(2);
    expect(new Set(requests).size).toBe(2);
  });

  it("several requests in flight are each answered with their own reply", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    const slow = observe(player.listener.request({ action: "slow", ms: 30 }));
    const fast = observe(player.listener.request({ action: "add", a: 1, b: 2 }));
    await pumpUntil(player.listener, () => slow.done() && fast.done(), "both replies");
    expect(slow.outcome).toEqual({ value: "late", completed: true });
    expect(fast.outcome).toEqual({ value: 3, completed: true });
  });

  it("works through firstValueFrom while a loop pumps", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    const loop = setInterval(() => player.listener.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    await expect(firstValueFrom(player.listener.request<number>({ action: "add", a: 20, b: 1 }))).resolves.toBe(21);
  });

  it("a request sent while the connection opens is queued and answered", async () => {
    const server = await dealerServer();
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", server.port);
    const request = observe(listener.request({ action: "add", a: 3, b: 4 }));
    await pumpUntil(listener, request.done, "the reply");
    expect(request.outcome).toEqual({ value: 7, completed: true });
  });
});

describe("request–reply: errors", () => {
  it("a request gets no reply within its timeout: ERR_REQUEST_TIMEOUT, and the default timeout is 10 s", async () => {
    const server = await dealerServer();
    const player = await connectPlayer(cleanup, server, "tcp");
    const started = Date.now();
    const { error } = await ask(player, { action: "silent" }, 60);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(error).toBeInstanceOf(RepodError);
    expect(error).toMatchObject({
      code: "ERR_REQUEST_TIMEOUT",
      message: "No reply to the request silent within 60 ms",
    });
    expect(server.channels[0]!.calls).toEqual(["silent"]);
    expect(DEFAULT_REQUEST_TIMEOUT).toBe(10_000);
  });

  it("a thrown error answers with an error reply: RequestError with the server's message", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    const { error } = await ask(player, { action: "thrown" });
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toBeInstanceOf(RepodError);
    expect(error).toMatchObject({ name: "RequestError", code: "ERR_REQUEST_FAILED", message: "no such table" });
  });

  it("a rejected Promise answers with an error reply", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    const { error } = await ask(player, { action: "rejected" });
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({ code: "ERR_REQUEST_FAILED", message: "the table is full" });
    const { error: other } = await ask(player, { action: "notAnError" });
    expect(other).toMatchObject({ code: "ERR_REQUEST_FAILED", message: "just a string" });
  });

  it("an erroring Observable answers with an error reply", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    const { error } = await ask(player, { action: "erroring" });
    expect(error).toBeInstanceOf(RequestError);
    expect(error).toMatchObject({ code: "ERR_REQUEST_FAILED", message: "the dealer left" });
  });

  it("a result msgpack cannot encode answers with an error reply instead of leaving the requester waiting", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    const { error } = await ask(player, { action: "unencodable" }, 2_000);
    expect(error).toBeInstanceOf(RequestError);
    expect((error as Error).message).toMatch(/^The message cannot be encoded as msgpack/);
  });

  it("a request that cannot be sent errors with ERR_NOT_CONNECTED", () => {
    const listener = new ConnectionListener();
    const request = observe(listener.request({ action: "add", a: 1, b: 1 }));
    expect(request.outcome.error).toBeInstanceOf(ConnectionError);
    expect(request.outcome.error).toMatchObject({
      code: "ERR_NOT_CONNECTED",
      message: "Cannot send the request add: not connected",
    });
  });

  it("bad arguments throw at once: a non-object message, a timeout that is not a positive integer", () => {
    const listener = new ConnectionListener();
    expect(() => listener.request([] as never)).toThrow(
      new TypeError('A request must be a plain object such as { action: "getScore" }'),
    );
    expect(() => listener.request({ action: "x" }, { timeout: 0 })).toThrow(
      new RangeError("options.timeout must be a positive integer of milliseconds, got 0"),
    );
    expect(() => listener.request({ action: "x" }, { timeout: 1.5 })).toThrow(RangeError);
  });
});

describe("request–reply: handlers that answer nothing", () => {
  it("a handler that returns nothing (or a Promise of nothing, or an empty Observable) sends no reply, and an ordinary message gets none even from a handler that returns a value", async () => {
    const server = await dealerServer();
    const { peer, channel } = await connectRaw(cleanup, server);
    peer.send({ action: "silent", [REQUEST_ID_KEY]: 1 });
    peer.send({ action: "emptyObservable", [REQUEST_ID_KEY]: 2 });
    peer.send({ action: "promiseOfNothing", [REQUEST_ID_KEY]: 3 });
    peer.send({ action: "add", a: 1, b: 2 }); // no "@req": an existing handler keeps working as before
    peer.send({ action: "add", a: 5, b: 5, [REQUEST_ID_KEY]: 4 });
    await waitFor(() => peer.messages.length >= 2, "a reply");
    await delay(20);
    expect(peer.messages).toEqual([{ action: "connected" }, { action: REPLY_ACTION, [REPLY_ID_KEY]: 4, result: 10 }]);
    expect(channel.calls).toEqual(["silent", "emptyObservable", "promiseOfNothing"]);
  });

  it("a request for an action without a handler goes to networkReceived, which answers like a handler: nothing, no reply", async () => {
    const received: IncomingMessage[] = [];
    class Quiet extends Channel {
      override networkReceived(message: IncomingMessage): unknown {
        received.push(message);
        return message.action === "echo" ? "echoed" : undefined;
      }
    }
    const server = cleanup.server(await startServer({ channelClass: Quiet }));
    const { peer } = await connectRaw(cleanup, server);
    peer.send({ action: "unknown", [REQUEST_ID_KEY]: 9 });
    peer.send({ action: "echo", [REQUEST_ID_KEY]: 10 });
    await waitFor(() => received.length === 2 && peer.messages.length === 2, "networkReceived and one reply");
    await delay(20);
    expect(received).toEqual([
      { action: "unknown", [REQUEST_ID_KEY]: 9 },
      { action: "echo", [REQUEST_ID_KEY]: 10 },
    ]);
    expect(peer.messages).toEqual([
      { action: "connected" },
      { action: REPLY_ACTION, [REPLY_ID_KEY]: 10, result: "echoed" },
    ]);
  });
});

describe("PendingRequests: what a request leaves behind once it is settled", () => {
  /** A request on `requests`, subscribed, with what it emitted; `send` accepts everything. */
  function pending(requests: PendingRequests, options?: { timeout: number }) {
    const outcome: Outcome = {};
    const sent: Record<string, unknown>[] = [];
    const subscription = requests
      .request((message) => sent.push(message as Record<string, unknown>), { action: "getScore" }, options)
      .subscribe({
        next: (value) => (outcome.value = value),
        error: (error: unknown) => (outcome.error = error),
        complete: () => (outcome.completed = true),
      });
    cleanup.subscription(subscription);
    return { outcome, id: sent[0]![REQUEST_ID_KEY] as number };
  }

  it("a reply settles it: no entry, no timer left", () => {
    const requests = new PendingRequests();
    const before = timers();
    const { outcome, id } = pending(requests);
    requests.settle({ action: REPLY_ACTION, [REPLY_ID_KEY]: id, result: 7 });
    expect(outcome).toEqual({ value: 7, completed: true });
    expect(requests.size).toBe(0);
    expect(timers()).toBe(before);
  });

  it("an error reply that is not text raises a RequestError with a message of its own", () => {
    const requests = new PendingRequests();
    const { outcome, id } = pending(requests);
    requests.settle({ action: REPLY_ACTION, [REPLY_ID_KEY]: id, error: { reason: 1 } });
    expect(outcome.error).toBeInstanceOf(RequestError);
    expect(outcome.error).toMatchObject({ code: "ERR_REQUEST_FAILED", message: "The peer answered with an error" });
    expect(requests.size).toBe(0);
  });

  it("an error reply keeps the peer's code when it is one a requester can act on, ERR_REQUEST_FAILED otherwise", () => {
    const requests = new PendingRequests();
    const codes: unknown[] = [];
    for (const code of ["ERR_TOO_MANY_REQUESTS", "ERR_INVALID_MESSAGE", "ERR_SOMETHING_ELSE", undefined]) {
      const { outcome, id } = pending(requests);
      requests.settle({ action: REPLY_ACTION, [REPLY_ID_KEY]: id, error: "no", code });
      expect(outcome.error).toBeInstanceOf(RequestError);
      codes.push((outcome.error as RequestError).code);
    }
    expect(codes).toEqual(["ERR_TOO_MANY_REQUESTS", "ERR_INVALID_MESSAGE", "ERR_REQUEST_FAILED", "ERR_REQUEST_FAILED"]);
  });

  it("a timeout settles it: no entry left, a late reply changes nothing", async () => {
    const requests = new PendingRequests();
    const before = timers();
    const { outcome, id } = pending(requests, { timeout: 1 });
    await waitFor(() => "error" in outcome, "the timeout");
    expect(outcome.error).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    expect(requests.size).toBe(0);
    // At most as many: a timer an earlier test left (waitFor's polling) may have ended meanwhile.
    expect(timers()).toBeLessThanOrEqual(before);
    requests.settle({ action: REPLY_ACTION, [REPLY_ID_KEY]: id, result: 7 });
    expect(outcome.value).toBeUndefined();
  });

  it("drops a reply that arrives after the timeout, before the deferred timeout error is delivered", async () => {
    const deferred: (() => void)[] = [];
    const requests = new PendingRequests((deliver) => deferred.push(deliver));
    const { outcome, id } = pending(requests, { timeout: 1 });
    await waitFor(() => deferred.length === 1, "the timeout");
    requests.settle({ action: REPLY_ACTION, [REPLY_ID_KEY]: id, result: 7 });
    expect(outcome).toEqual({});
    deferred[0]!();
    expect(outcome.error).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    expect(requests.size).toBe(0);
  });

  it("failAll() fails the requests sent before the given id, leaving neither entries nor timers for them", () => {
    const requests = new PendingRequests();
    const before = timers();
    const first = pending(requests);
    const second = pending(requests);
    const third = pending(requests);
    requests.failAll("the connection is gone", third.id);
    expect(first.outcome.error).toMatchObject({ code: "ERR_CONNECTION_LOST", message: "the connection is gone" });
    expect(second.outcome.error).toMatchObject({ code: "ERR_CONNECTION_LOST" });
    expect(third.outcome).toEqual({});
    expect(requests.size).toBe(1);
    expect(timers()).toBe(before + 1);
    requests.failAll("gone too");
    expect(third.outcome.error).toMatchObject({ code: "ERR_CONNECTION_LOST", message: "gone too" });
    expect(requests.size).toBe(0);
    expect(timers()).toBe(before);
  });

  it("refuses at the call a message that is not a plain object, and takes any timeout of 1 ms or more", () => {
    const requests = new PendingRequests();
    const send = (): number => 1;
    for (const message of [null, 5, "getScore", [{ action: "getScore" }]]) {
      expect(() => requests.request(send, message as object)).toThrow(
        new TypeError('A request must be a plain object such as { action: "getScore" }'),
      );
    }
    expect(() => requests.request(send, { action: "getScore" }, { timeout: 0 })).toThrow(
      new RangeError("options.timeout must be a positive integer of milliseconds, got 0"),
    );
    expect(() => requests.request(send, { action: "getScore" }, { timeout: 1 })).not.toThrow();
  });
});

describe("request–reply: cancellation", () => {
  it("unsubscribing before the reply cancels the wait; the late reply is dropped silently", async () => {
    const server = await dealerServer();
    const player = await connectPlayer(cleanup, server, "tcp");
    const unhandled: unknown[] = [];
    cleanup.onUnhandledRxError((error) => unhandled.push(error));
    const networkReceived: IncomingMessage[] = [];
    player.listener.networkReceived = (message) => void networkReceived.push(message);
    const channelErrors: unknown[] = [];
    server.channels[0]!.onError = (error) => void channelErrors.push(error);

    const request = observe(player.listener.request({ action: "slow", ms: 20 }, { timeout: 60 }));
    request.unsubscribe();
    await waitFor(() => player.of(REPLY_ACTION).length === 1, "the late reply to arrive");
    player.listener.pump();
    await delay(80); // past the timeout: a cancelled request must not time out either
    player.listener.pump();

    expect(request.outcome).toEqual({});
    expect(unhandled).toEqual([]);
    expect(networkReceived).toEqual([]);
    expect(channelErrors).toEqual([]);
    expect(await ask(player, { action: "add", a: 1, b: 1 })).toEqual({ value: 2, completed: true });
  });

  it("a cancelled request leaves nothing behind: no entry waits for its reply, no timer keeps the process alive", () => {
    const requests = new PendingRequests();
    const sent: object[] = [];
    const timersBefore = timers();
    const subscription = requests
      .request((message) => sent.push(message), { action: "getScore" })
      .subscribe({ error: () => undefined });
    expect(sent).toEqual([{ action: "getScore", [REQUEST_ID_KEY]: 1 }]);
    expect(requests.size).toBe(1);
    expect(timers()).toBe(timersBefore + 1);

    subscription.unsubscribe();
    expect(requests.size).toBe(0);
    expect(timers()).toBe(timersBefore);
  });

  it("an answer Observable that never emits is abandoned when its channel closes", async () => {
    const server = await dealerServer();
    const player = await connectPlayer(cleanup, server, "tcp");
    const request = observe(player.listener.request({ action: "forever" }, { timeout: 5_000 }));
    const channel = server.channels[0]!;
    await waitFor(() => server.channels.length === 1 && channel.calls.length >= 0, "the request to be handled");
    await delay(30);
    expect(channel.abandoned).toBe(false);
    player.listener.close();
    await waitFor(() => server.channels.length === 0, "the channel to close");
    expect(channel.abandoned).toBe(true);
    await pumpUntil(player.listener, request.done, "the request to fail");
    expect(request.outcome.error).toMatchObject({ code: "ERR_CONNECTION_LOST" });
  });

  it("a listener's timeout, like a reply, reaches the requester inside pump()", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    const request = observe(player.listener.request({ action: "silent" }, { timeout: 20 }));
    await delay(80);
    expect(request.done()).toBe(false);
    player.listener.pump();
    expect(request.done()).toBe(true);
    expect(request.outcome.error).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
  });

  it("a reply to a request that timed out is dropped silently", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    const unhandled: unknown[] = [];
    cleanup.onUnhandledRxError((error) => unhandled.push(error));
    const { error } = await ask(player, { action: "slow", ms: 60 }, 10);
    expect(error).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    await waitFor(() => player.of(REPLY_ACTION).length === 1, "the late reply to arrive");
    expect(() => player.listener.pump()).not.toThrow();
    expect(unhandled).toEqual([]);
  });

  it("a channel request cancelled before the client answers drops the late reply silently", async () => {
    const server = await dealerServer();
    class SlowAnswer extends ConnectionListener {
      Network_name(): Promise<string> {
        return new Promise((resolve) => setTimeout(() => resolve("ana"), 20));
      }
    }
    const player = await connectPlayer(cleanup, server, "tcp", new SlowAnswer());
    const loop = setInterval(() => player.listener.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    const unhandled: unknown[] = [];
    cleanup.onUnhandledRxError((error) => unhandled.push(error));
    const replies: IncomingMessage[] = [];
    cleanup.subscription(server.messages$.subscribe(({ message }) => replies.push(message)));

    const request = observe(player.channel.request({ action: "name" }));
    request.unsubscribe();
    await waitFor(() => replies.length === 1, "the late reply");
    expect(request.outcome).toEqual({});
    expect(unhandled).toEqual([]);
  });
});

describe("request–reply under pump()", () => {
  it("the reply is delivered inside pump(), in arrival order between the messages around it", async () => {
    class Narrator extends Channel {
      Network_ask(): number {
        this.send({ action: "note", n: 1 }); // before the reply
        queueMicrotask(() => this.send({ action: "note", n: 2 })); // after it
        return 42;
      }
    }
    const server = cleanup.server(await startServer({ channelClass: Narrator }));
    const log: string[] = [];
    class Player extends ConnectionListener {
      Network_note(message: { n: number }): void {
        log.push(`note ${message.n}`);
      }
    }
    const player = await connectPlayer(cleanup, server, "tcp", new Player());
    cleanup.subscription(
      player.listener.request<number>({ action: "ask" }).subscribe((value) => log.push(`reply ${value}`)),
    );

    await waitFor(() => player.of("note").length === 2, "both notes and the reply to arrive");
    expect(player.received.slice(-3).map((message) => message.action)).toEqual(["note", REPLY_ACTION, "note"]);
    expect(log).toEqual([]); // arrived, but nothing runs before the game loop pumps

    expect(player.listener.pump()).toBe(3);
    expect(log).toEqual(["note 1", "reply 42", "note 2"]);
  });

  it("a handler's exception in the same pump does not lose the reply queued after it", async () => {
    class Narrator extends Channel {
      Network_ask(): number {
        this.send({ action: "boom" });
        return 7;
      }
    }
    const server = cleanup.server(await startServer({ channelClass: Narrator }));
    class Player extends ConnectionListener {
      Network_boom(): void {
        throw new Error("handler failed");
      }
    }
    const player = await connectPlayer(cleanup, server, "tcp", new Player());
    const request = observe(player.listener.request({ action: "ask" }));
    await waitFor(() => player.of(REPLY_ACTION).length === 1, "the reply to arrive");
    expect(() => player.listener.pump()).toThrow("handler failed");
    expect(request.done()).toBe(false);
    player.listener.pump();
    expect(request.outcome).toEqual({ value: 7, completed: true });
  });

  it("a server in pump mode answers inside server.pump()", async () => {
    const server = await dealerServer({ dispatch: "pump" });
    const player = await connectPlayer(cleanup, server, "tcp");
    const request = observe(player.listener.request({ action: "add", a: 1, b: 2 }));
    await waitFor(() => server.scheduler.size === 1, "the request to be queued");
    await delay(20);
    player.listener.pump();
    expect(request.done()).toBe(false);
    expect(server.pump()).toBe(1);
    await pumpUntil(player.listener, request.done, "the reply");
    expect(request.outcome).toEqual({ value: 3, completed: true });
  });
});

describe("request–reply: connection lost while waiting", () => {
  it("the server closing the channel fails the request with ERR_CONNECTION_LOST", async () => {
    const server = await dealerServer();
    const player = await connectPlayer(cleanup, server, "tcp");
    const request = observe(player.listener.request({ action: "nothingEver" }));
    await waitFor(() => server.channels[0] !== undefined && player.channel.isConnected, "the channel");
    await delay(10);
    player.channel.close();
    await pumpUntil(player.listener, request.done, "the request to fail");
    expect(request.outcome.error).toBeInstanceOf(ConnectionError);
    expect(request.outcome.error).toMatchObject({
      code: "ERR_CONNECTION_LOST",
      message: "The connection ended before the reply",
    });
    const disconnected = player.received.findIndex((message) => message.action === "disconnected");
    expect(disconnected).toBeGreaterThan(0);
  });

  it("the server stopping fails every waiting request", async () => {
    const server = await dealerServer();
    const player = await connectPlayer(cleanup, server, "tcp");
    const requests = [
      observe(player.listener.request({ action: "nothingEver" })),
      observe(player.listener.request({ action: "silent" })),
    ];
    await waitFor(() => server.channels[0]!.calls.length === 1, "the requests to arrive");
    await server.stop();
    await pumpUntil(player.listener, () => requests.every((request) => request.done()), "the requests to fail");
    for (const request of requests) expect(request.outcome.error).toMatchObject({ code: "ERR_CONNECTION_LOST" });
  });

  it("the listener closing fails the waiting request too", async () => {
    const player = await connectPlayer(cleanup, await dealerServer(), "tcp");
    const request = observe(player.listener.request({ action: "nothingEver" }));
    player.listener.close();
    await pumpUntil(player.listener, request.done, "the request to fail");
    expect(request.outcome.error).toMatchObject({ code: "ERR_CONNECTION_LOST" });
  });

  it("with reconnection on, a lost connection fails the requests sent on it; a request on the next connection is answered", async () => {
    const server = await dealerServer();
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", server.port, { reconnect: { initialDelay: 10, jitter: 0 } });
    await pumpUntil(listener, () => server.channels.length === 1, "the channel");
    const lost = observe(listener.request({ action: "nothingEver" }));
    await waitFor(() => server.channels[0]!.isConnected, "the channel");
    await delay(10);
    server.channels[0]!.close();
    await pumpUntil(listener, lost.done, "the request sent on the lost connection to fail", 2_000);
    expect(lost.outcome.error).toBeInstanceOf(ConnectionError);
    expect(lost.outcome.error).toMatchObject({
      code: "ERR_CONNECTION_LOST",
      message: "The connection ended before the reply",
    });

    await pumpUntil(listener, () => listener.connection!.isConnected, "the reconnection");
    const next = observe(listener.request({ action: "add", a: 1, b: 1 }));
    await pumpUntil(listener, next.done, "the reply on the new connection");
    expect(next.outcome).toEqual({ value: 2, completed: true });
  });

  it("connecting elsewhere fails the requests of the old connection only", async () => {
    const first = await dealerServer();
    const second = await dealerServer();
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", first.port);
    const old = observe(listener.request({ action: "nothingEver" }));
    await pumpUntil(
      listener,
      () => first.channels.length === 1 && first.channels[0]!.isConnected,
      "the first connection",
    );
    listener.connect("127.0.0.1", second.port);
    const fresh = observe(listener.request({ action: "slow", ms: 30 }));
    await pumpUntil(listener, () => old.done() && fresh.done(), "both requests to end");
    expect(old.outcome.error).toMatchObject({ code: "ERR_CONNECTION_LOST" });
    expect(fresh.outcome).toEqual({ value: "late", completed: true });
  });

  it("a channel whose client leaves fails the server's request with ERR_CONNECTION_LOST", async () => {
    const server = await dealerServer();
    const player = await connectPlayer(cleanup, server, "tcp");
    const request = observe(player.channel.request({ action: "anything" }));
    player.listener.close();
    await waitFor(request.done, "the request to fail");
    expect(request.outcome.error).toBeInstanceOf(ConnectionError);
    expect(request.outcome.error).toMatchObject({
      code: "ERR_CONNECTION_LOST",
      message: `The channel to ${player.channel.addr.host}:${player.channel.addr.port} closed before the reply`,
    });
  });
});

describe("the server asks a client", () => {
  class Answering extends ConnectionListener {
    Network_name(): string {
      return "ana";
    }

    Network_pick(message: { options: number[] }): Promise<number> {
      return Promise.resolve(Math.max(...message.options));
    }

    Network_refuse(): never {
      throw new Error("not my turn");
    }
  }

  async function pumpedPlayer(server: Server<Dealer>): Promise<Player<Dealer, Answering>> {
    const player = await connectPlayer(cleanup, server, "tcp", new Answering());
    const loop = setInterval(() => player.listener.pump(), 2);
    cleanup.add(() => clearInterval(loop));
    return player;
  }

  it("channel.request emits what the listener's handler returns, as a value or a Promise", async () => {
    const server = await dealerServer();
    const player = await pumpedPlayer(server);
    await expect(firstValueFrom(player.channel.request<string>({ action: "name" }))).resolves.toBe("ana");
    await expect(firstValueFrom(player.channel.request<number>({ action: "pick", options: [3, 9, 4] }))).resolves.toBe(
      9,
    );
  });

  it("a listener handler that throws answers with an error reply", async () => {
    const player = await pumpedPlayer(await dealerServer());
    const request = observe(player.channel.request({ action: "refuse" }));
    await waitFor(request.done, "the error reply");
    expect(request.outcome.error).toBeInstanceOf(RequestError);
    expect(request.outcome.error).toMatchObject({ code: "ERR_REQUEST_FAILED", message: "not my turn" });
  });

  it("the client answers only when its game loop pumps", async () => {
    const server = await dealerServer();
    const player = await connectPlayer(cleanup, server, "tcp", new Answering());
    const request = observe(player.channel.request({ action: "name" }));
    await waitFor(() => player.listener.scheduler.size === 1, "the request to be queued on the client");
    await delay(20);
    expect(request.done()).toBe(false);
    player.listener.pump();
    await waitFor(request.done, "the reply");
    expect(request.outcome).toEqual({ value: "ana", completed: true });
  });

  it("channel.request times out with ERR_REQUEST_TIMEOUT when the client does not answer", async () => {
    const server = await dealerServer();
    const player = await pumpedPlayer(server);
    const request = observe(player.channel.request({ action: "unknownToTheClient" }, { timeout: 30 }));
    await waitFor(request.done, "the timeout");
    expect(request.outcome.error).toMatchObject({
      code: "ERR_REQUEST_TIMEOUT",
      message: "No reply to the request unknownToTheClient within 30 ms",
    });
  });

  it("in pump mode the reply reaches the server's Observable inside server.pump()", async () => {
    const server = await dealerServer({ dispatch: "pump" });
    const player = await pumpedPlayer(server);
    const request = observe(player.channel.request({ action: "name" }));
    await waitFor(() => server.scheduler.size === 1, "the reply to be queued");
    expect(request.done()).toBe(false);
    server.pump();
    expect(request.outcome).toEqual({ value: "ana", completed: true });
  });
});

describe("a Python repod peer answering by hand", () => {
  /** A Python repod server, in effect: greets, then answers getScore by hand with @msgpack/msgpack. */
  async function pythonStyleServer(
    answer: (data: Record<string, unknown>) => object | null,
  ): Promise<{ port: number; peers: RawPeer[] }> {
    const peers: RawPeer[] = [];
    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => {
      accepted.push(socket);
      const peer = rawPeer(socket);
      peers.push(peer);
      peer.send({ action: "connected" });
      // Python repod dispatches each message to Network_<action>(data); getScore answers with
      // self.send({"action": "@reply", "@re": data["@req"], "result": 42}).
      let handled = 0;
      socket.on("data", () => {
        while (handled < peer.messages.length) {
          const reply = answer(peer.messages[handled++]!);
          if (reply !== null) peer.send(reply);
        }
      });
    });
    cleanup.netServer(server, accepted);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { port: (server.address() as net.AddressInfo).port, peers };
  }

  it("a hand-written {action: '@reply', '@re': id, result} answers a repod-rx request", async () => {
    const { port, peers } = await pythonStyleServer((data) =>
      data.action === "getScore" ? { action: "@reply", "@re": data["@req"], result: 42 } : null,
    );
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", port);
    const request = observe(listener.request<number>({ action: "getScore", player: "ana" }));
    await pumpUntil(listener, request.done, "the hand-written reply");
    expect(request.outcome).toEqual({ value: 42, completed: true });
    // What the Python side saw: an ordinary message with one extra key, its "@req" an integer.
    expect(peers[0]!.messages).toEqual([{ action: "getScore", player: "ana", "@req": expect.any(Number) }]);
    expect(Number.isInteger(peers[0]!.messages[0]!["@req"])).toBe(true);
  });

  it("a hand-written error reply raises a RequestError with its text", async () => {
    const { port } = await pythonStyleServer((data) => ({
      action: "@reply",
      "@re": data["@req"],
      error: "unknown player",
    }));
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", port);
    const request = observe(listener.request({ action: "getScore" }));
    await pumpUntil(listener, request.done, "the hand-written error reply");
    expect(request.outcome.error).toBeInstanceOf(RequestError);
    expect(request.outcome.error).toMatchObject({ code: "ERR_REQUEST_FAILED", message: "unknown player" });
  });

  it("a Python peer that ignores the reserved keys just never replies: the request times out and nothing else breaks", async () => {
    const { port, peers } = await pythonStyleServer((data) =>
      data.action === "chat" ? { action: "chat", text: `echo ${String(data.text)}` } : null,
    );
    const listener = cleanup.listener(new ConnectionListener());
    listener.connect("127.0.0.1", port);
    const request = observe(listener.request({ action: "getScore" }, { timeout: 40 }));
    listener.send({ action: "chat", text: "hi" });
    await pumpUntil(listener, request.done, "the timeout");
    expect(request.outcome.error).toMatchObject({ code: "ERR_REQUEST_TIMEOUT" });
    expect(peers[0]!.messages.map((message) => message.action)).toEqual(["getScore", "chat"]);
  });

  it("a raw peer answers a server's channel.request by hand", async () => {
    const server = await dealerServer();
    const { peer, channel } = await connectRaw(cleanup, server);
    const request = observe(channel.request<string>({ action: "whoAreYou" }));
    await waitFor(() => peer.messages.length === 2, "the request");
    const asked = peer.messages[1]!;
    expect(asked).toEqual({ action: "whoAreYou", "@req": expect.any(Number) });
    peer.send({ action: "@reply", "@re": asked["@req"], result: "python" });
    await waitFor(request.done, "the reply");
    expect(request.outcome).toEqual({ value: "python", completed: true });
  });
});
