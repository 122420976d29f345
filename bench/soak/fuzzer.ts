/**
 * The soak's hostile inputs: a few workers that each open a connection (TCP three times in four,
 * WebSocket otherwise), send it a run of hostile payloads of random kinds, and end it, often with
 * something hostile at the connection level (garbage where a frame header should be, a header over
 * maxPayload, a frame cut short, a WebSocket text message or an odd close code). The payloads: the
 * named poisons of spec/helpers/poisons.ts, random bytes, random msgpack values, random messages
 * with any action (the server's own, reserved `@` ones, lifecycle ones) and any fields, valid
 * messages with bytes flipped, and payloads far past the decode budget. Random values come from
 * fast-check, seeded, so a run can be replayed with the same `--seed`.
 */
import fc from "fast-check";
import { encode as msgpackEncode } from "@msgpack/msgpack";
import { tcpLink, wsLink, type RawLink } from "../../spec/helpers/hostile.js";
import { POISONS, sendPoison } from "../../spec/helpers/poisons.js";
import { serveRole } from "../harness/role-child.js";
import { header, openTcp, openWs, randomInt } from "./raw-peers.js";
import { ACTIONS, bump, sleep, type AttackerStats, type Counts, type SoakPorts } from "./shared.js";

const WORKERS = 3;

/** Values drawn from a fast-check arbitrary, a batch at a time, each batch with the next seed. */
class Pool<T> {
  #values: T[] = [];
  #batch = 0;

  constructor(
    private readonly arbitrary: fc.Arbitrary<T>,
    private readonly seed: number,
  ) {}

  next(): T {
    if (this.#values.length === 0) {
      this.#values = fc.sample(this.arbitrary, { numRuns: 256, seed: this.seed + this.#batch++ * 7_919 });
    }
    return this.#values.pop()!;
  }
}

const RESERVED_ACTIONS = [
  "@hello",
  "@session",
  "@resumed",
  "@resume-failed",
  "@ack",
  "@bye",
  "@ping",
  "@pong",
  "@reply",
  "@refused",
  "connected",
  "socketConnect",
  "disconnected",
  "error",
  "dropped",
  "resumed",
];

/** msgpack of any value, bigints as 64-bit integers; `null` for what msgpack cannot hold. */
function msgpack(value: unknown): Uint8Array | null {
  try {
    return msgpackEncode(value, { useBigInt64: true });
  } catch {
    return null;
  }
}

/** `{ action: "echo", data: [ {} × n ] }`: 512 KiB of empty maps, 8 times the default maxPayloadItems. */
function emptyMapsBomb(): Uint8Array {
  const n = 512 * 1024;
  const head = msgpackEncode({ action: ACTIONS.echo, data: [] });
  // The map's last value, an empty array (0x90), becomes an array 32 of n empty maps (0x80).
  const out = new Uint8Array(head.byteLength - 1 + 5 + n).fill(0x80);
  out.set(head.subarray(0, head.byteLength - 1));
  const at = head.byteLength - 1;
  out[at] = 0xdd;
  new DataView(out.buffer).setUint32(at + 1, n);
  return out;
}

interface PayloadKind {
  readonly name: string;
  readonly weight: number;
  send(link: RawLink, extra: Counts): void;
}

interface EndingKind {
  readonly name: string;
  readonly wire: "tcp" | "ws";
  end(link: RawLink): Promise<void>;
}

function payloadKinds(seed: number): PayloadKind[] {
  const anything = fc.anything({ maxDepth: 3, maxKeys: 6, withBigInt: true, withDate: true, withTypedArray: true });
  const bytes = new Pool(fc.uint8Array({ maxLength: 512 }), seed);
  const values = new Pool(anything, seed + 1);
  const fields = fc.dictionary(fc.string({ maxLength: 12 }), anything, { maxKeys: 5 });
  const messages = new Pool(
    fc.record({
      action: fc.oneof(fc.constantFrom(...Object.values(ACTIONS)), fc.string({ maxLength: 20 })),
      fields,
    }),
    seed + 2,
  );
  const reserved = new Pool(fc.record({ action: fc.constantFrom(...RESERVED_ACTIONS), fields }), seed + 3);
  const flips = new Pool(
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
    seed + 4,
  );
  const bomb = emptyMapsBomb();
  const valid = msgpackEncode({ action: ACTIONS.echo, n: 7, s: "state", a: [1, 2.5, "x", null, true], m: { k: -1 } });
  let poison = 0;
  const message = (action: string, extra: Record<string, unknown>): Uint8Array | null => msgpack({ ...extra, action });
  return [
    {
      name: "named poisons (spec/helpers/poisons.ts)",
      weight: 4,
      send(link, counts) {
        const chosen = POISONS[poison++ % POISONS.length]!;
        bump(counts, `poison: ${chosen.name}`);
        sendPoison(link, chosen, 1);
      },
    },
    { name: "random bytes as a payload", weight: 3, send: (link) => link.send(bytes.next()) },
    {
      name: "random msgpack values",
      weight: 3,
      send(link) {
        const payload = msgpack(values.next());
        if (payload !== null) link.send(payload);
      },
    },
    {
      name: "random messages (any action, any fields)",
      weight: 4,
      send(link) {
        const { action, fields: extra } = messages.next();
        const payload = message(action, extra);
        if (payload !== null) link.send(payload);
      },
    },
    {
      name: "reserved and lifecycle actions, random fields",
      weight: 3,
      send(link) {
        const { action, fields: extra } = reserved.next();
        const payload = message(action, extra);
        if (payload !== null) link.send(payload);
      },
    },
    {
      name: "valid messages with bytes flipped",
      weight: 3,
      send(link) {
        const mutated = Uint8Array.from(valid);
        for (const [at, xor] of flips.next()) mutated[at % mutated.byteLength]! ^= xor;
        link.send(mutated);
      },
    },
    { name: "512 KiB of empty maps (past the decode budget)", weight: 0.05, send: (link) => link.send(bomb) },
  ];
}

const ENDINGS: readonly EndingKind[] = [
  {
    name: "unframed garbage bytes, then FIN",
    wire: "tcp",
    async end(link) {
      link.sendRaw(Uint8Array.from({ length: randomInt(1, 2048) }, () => randomInt(0, 255)));
      link.end();
    },
  },
  {
    name: "a length header over maxPayload",
    wire: "tcp",
    async end(link) {
      link.sendRaw(Buffer.concat([header(0xffff_ffff), Buffer.from("x".repeat(64))]));
    },
  },
  {
    name: "a frame cut short, then FIN",
    wire: "tcp",
    async end(link) {
      link.sendRaw(Buffer.concat([header(1000), Buffer.alloc(10, 0x90)]));
      link.end();
    },
  },
  {
    name: "half a header, then silence",
    wire: "tcp",
    async end(link) {
      link.sendRaw(header(1000).subarray(0, 2));
      await sleep(randomInt(0, 300));
      link.destroy();
    },
  },
  {
    name: "a WebSocket text message",
    wire: "ws",
    async end(link) {
      link.sendRaw(`{"action":"${ACTIONS.echo}"}`);
    },
  },
];

export function fuzzRole(seed: number): void {
  const tried: Counts = {};
  const endings: Counts = {};
  const extra: Counts = {};
  let connections = 0;
  let running = false;
  const workers: Promise<void>[] = [];

  async function session(ports: SoakPorts, kinds: readonly PayloadKind[], totalWeight: number): Promise<void> {
    const wire = Math.random() < 0.75 ? "tcp" : "ws";
    const link = wire === "tcp" ? tcpLink(await openTcp(ports.tcp)) : wsLink(await openWs(ports.ws));
    connections++;
    // One session in ten goes on past maxInvalidMessages (100), until the server cuts it off.
    const inputs = Math.random() < 0.1 ? 400 : randomInt(1, 40);
    for (let i = 0; i < inputs && !link.closed && running; i++) {
      let pick = Math.random() * totalWeight;
      const kind = kinds.find((candidate) => (pick -= candidate.weight) < 0) ?? kinds[0]!;
      bump(tried, kind.name);
      kind.send(link, extra);
      if (i % 8 === 7) await sleep(randomInt(0, 3));
    }
    const ending = Math.random() < 0.4 ? ENDINGS.filter((kind) => kind.wire === wire) : [];
    if (ending.length > 0 && !link.closed) {
      const kind = ending[randomInt(0, ending.length - 1)]!;
      bump(tried, kind.name);
      await kind.end(link);
    } else if (Math.random() < 0.5) {
      link.end();
    } else {
      link.destroy();
    }
    bump(endings, link.closed ? "closed by the server" : "ended by the fuzzer");
    await link.whenClosed(2_000).catch(() => link.destroy());
  }

  async function work(ports: SoakPorts, worker: number): Promise<void> {
    const kinds = payloadKinds(seed + worker * 1_000_003);
    const totalWeight = kinds.reduce((sum, kind) => sum + kind.weight, 0);
    while (running) {
      try {
        await session(ports, kinds, totalWeight);
      } catch (error) {
        bump(endings, `failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        await sleep(50);
      }
    }
  }

  serveRole("soak fuzzer", {
    start({ ports }: { ports: SoakPorts }) {
      running = true;
      for (let i = 0; i < WORKERS; i++) workers.push(work(ports, i));
    },

    async stop(): Promise<AttackerStats> {
      running = false;
      await Promise.race([Promise.all(workers), sleep(5_000)]);
      return { tried, connections, endings, extra };
    },
  });
}
