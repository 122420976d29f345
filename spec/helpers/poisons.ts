// Poisons: what a hostile peer sends to a repod-rx process, server or client. Reserved `@` actions
// and keys, and lifecycle actions, carrying values the library cannot use, each a msgpack payload
// built by hand. Every one of them must be dropped (or, for a reply, settled): none may crash the
// process or end the connection it came on.
import {
  rawMap,
  rawMessage,
  rawNestedArrays,
  rawNestedMaps,
  rawStr,
  rawValue,
  type RawLink,
  type RawMessage,
} from "./hostile.js";

export const nil = Uint8Array.of(0xc0);
/** A map whose `toString` is not a function: `String()` of it throws. */
export const toStringTrap = rawMap([["toString", rawValue(1)]]);
/** Neither `toString` nor `valueOf` callable. */
const bothTraps = rawMap([
  ["valueOf", rawValue(1)],
  ["toString", rawValue(1)],
]);
/** `[{ toString: 1 }]`: `String()` of the array throws in `join`. */
const trapInArray = Uint8Array.from([0x91, ...toStringTrap]);
/** 101 arrays deep: one level more than the msgpack encoder writes, so it cannot be echoed. */
const deepArrays = rawNestedArrays(101);
const deepMaps = rawNestedMaps(101);
/** Deep, but inside the default decode budget (the top map plus 60 arrays is 61 levels). */
const deepWithinBudget = rawNestedArrays(60);
const hugeString = rawStr("x".repeat(100_000));
const binary = Uint8Array.from([0xc4, 3, 1, 2, 3]);
const nan = Uint8Array.from([0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]);
const infinity = Uint8Array.from([0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0]);
const minusZero = Uint8Array.from([0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0]);
const uint64Max = Uint8Array.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const int64Min = Uint8Array.from([0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]);
const extType5 = Uint8Array.from([0xd4, 5, 0x2a]);
const badTimestamp = Uint8Array.from([0xd4, 0xff, 0x2a]);
const protoKey = rawMap([["__proto__", rawMap([["polluted", rawValue(true)]])]]);

/** What the victim must not do in answer to a poison. */
export type Forbidden = "pong" | "reply";

export interface Poison {
  readonly name: string;
  /** The payloads, given the id of a request the victim waits on (for poisoned replies). */
  readonly payloads: (pendingId: number) => Uint8Array[];
  /** Needs a request of the victim to be pending (a poisoned `@reply`). */
  readonly needsRequest?: boolean;
  /** No `@pong` may come back (an unusable ping id); no `@reply` and no handler run (an unusable request id). */
  readonly forbidden?: Forbidden;
  /** Sent as a WebSocket text message (on TCP, as a frame of the same bytes). */
  readonly text?: string;
}

const pingIds: [string, Uint8Array][] = [
  ["101 nested arrays (the WebSocket message that killed the server)", deepArrays],
  ["101 nested maps", deepMaps],
  ["60 nested arrays (inside the decode budget)", deepWithinBudget],
  ["[1, 2]", rawValue([1, 2])],
  ["{ toString: 1 }", toStringTrap],
  ["a string of 100,000 characters", hugeString],
  ["binary", binary],
  ["true", rawValue(true)],
  ["nil", nil],
];

const requestIds: [string, Uint8Array][] = [
  ["101 nested arrays", deepArrays],
  ["101 nested maps", deepMaps],
  ["60 nested arrays", deepWithinBudget],
  ["[1]", rawValue([1])],
  ["{ toString: 1 }", toStringTrap],
  ["a string of 100,000 characters", hugeString],
  ["binary", binary],
  ["true", rawValue(true)],
  ["nil", nil],
];

const replyErrors: [string, Uint8Array][] = [
  ["{ toString: 1 }", toStringTrap],
  ["{ valueOf: 1, toString: 1 }", bothTraps],
  ["[{ toString: 1 }]", trapInArray],
  ["60 nested arrays", deepWithinBudget],
];

/** Poisons that work against both sides; `side`-specific ones are added below. */
export const POISONS: readonly Poison[] = [
  ...pingIds.map(([label, id]): Poison => ({
    name: `@ping whose id is ${label}`,
    payloads: () => [rawMessage("@ping", { id })],
    forbidden: "pong",
  })),
  // Numbers a JavaScript peer would not send; whether they are echoed is not pinned, only survival.
  ...(
    [
      ["NaN", nan],
      ["Infinity", infinity],
      ["-0", minusZero],
      ["2^64 - 1", uint64Max],
      ["-2^63", int64Min],
      ["an extension type", extType5],
      ["a malformed timestamp", badTimestamp],
    ] as const
  ).map(([label, id]): Poison => ({
    name: `@ping whose id is ${label}`,
    payloads: () => [rawMessage("@ping", { id })],
  })),
  ...requestIds.map(([label, id]): Poison => ({
    name: `request (ask) whose @req is ${label}`,
    payloads: () => [rawMessage("ask", { "@req": id })],
    forbidden: "reply",
  })),
  ...replyErrors.map(([label, error]): Poison => ({
    name: `@reply to a pending request whose error is ${label}`,
    payloads: (pendingId) => [rawMessage("@reply", { "@re": rawValue(pendingId), error })],
    needsRequest: true,
  })),
  {
    name: "@reply whose @re is { toString: 1 } and result is 101 nested arrays",
    payloads: () => [rawMessage("@reply", { "@re": toStringTrap, result: deepArrays })],
  },
  {
    name: "@pong whose id is 101 nested arrays, then { toString: 1 }",
    payloads: () => [rawMessage("@pong", { id: deepArrays }), rawMessage("@pong", { id: toStringTrap })],
  },
  {
    name: "@refused whose reason is { toString: 1 }, then 101 nested arrays",
    payloads: () => [rawMessage("@refused", { reason: toStringTrap }), rawMessage("@refused", { reason: deepArrays })],
  },
  ...["connected", "socketConnect", "disconnected", "error"].map((action): Poison => ({
    name: `forged ${action} with { toString: 1 } fields and a 101-deep @req`,
    payloads: () => [
      rawMessage(action, { error: toStringTrap, code: toStringTrap, reason: toStringTrap }),
      rawMessage(action, { "@req": deepArrays }),
    ],
  })),
  {
    name: "a field nested 100,000 deep",
    payloads: () => [rawMessage("echo", { deep: rawNestedArrays(100_000) })],
  },
  {
    name: "an action nested 5,000 deep",
    payloads: () => [rawMap([["action", rawNestedArrays(5_000)]])],
  },
  {
    name: "maps nested 20,000 deep",
    payloads: () => [rawMessage("echo", { deep: rawNestedMaps(20_000) })],
  },
  {
    name: "a __proto__ key",
    payloads: () => [rawMessage("echo", { nested: protoKey }), Uint8Array.from([0x81, ...rawStr("__proto__"), 0xc3])],
  },
  {
    name: "an action that is an int64, an extension type, a map with a toString key",
    payloads: () => [
      rawMap([["action", int64Min]]),
      rawMap([["action", extType5]]),
      rawMap([["action", toStringTrap]]),
    ],
  },
  {
    name: "unreadable msgpack, nil, an array",
    payloads: () => [Uint8Array.of(0xc1), nil, rawValue([1, 2, 3])],
  },
  { name: "a text message", payloads: () => [], text: "\u0082\u00a6action\u00a5@ping\u00a2id\u0091\u00c0" },
];

/** Sends `poison` on `link`: its payloads, or its text. */
export function sendPoison(link: RawLink, poison: Poison, pendingId: number): void {
  if (poison.text !== undefined) {
    if (link.wire === "ws") link.sendRaw(poison.text);
    else link.send(Buffer.from(poison.text));
  }
  for (const payload of poison.payloads(pendingId)) link.send(payload);
}

export const count = (messages: readonly RawMessage[], action: string): number =>
  messages.filter((message) => message.action === action).length;
