/**
 * The messages every scenario sends, built the same way for every implementation so that only
 * the transport and the library around it differ.
 */

/** The echo and latency message, as in issue 6. */
export type MoveMessage = {
  action: "move";
  id: number;
  x: number;
  y: number;
  seq: number;
};

/** A decoded message as the benchmark sees it on either side. */
export interface AppMessage {
  action?: unknown;
  [field: string]: unknown;
}

export function moveMessage(seq: number): MoveMessage {
  return { action: "move", id: 42, x: 123.5, y: -7.25, seq };
}

/**
 * A game state snapshot of about 200 bytes once encoded with msgpack: a tick number and eight
 * players' positions. Positions vary per tick so nothing can be cached between ticks.
 */
export function stateMessage(tick: number): AppMessage {
  const players: { id: number; x: number; y: number }[] = [];
  for (let id = 1; id <= 7; id++) {
    players.push({ id, x: 100.5 + id * tick * 0.25, y: -50.25 - id * tick * 0.125 });
  }
  return { action: "state", tick, players };
}

/** The four actions of the pump scenario, in a fixed pseudo-random order (not round-robin). */
export const PUMP_ACTIONS = ["move", "chat", "fire", "hit"] as const;

/** Message `i` of the pump scenario's mixed queue. */
export function mixedMessage(i: number): AppMessage {
  // A small linear congruential step keeps the order deterministic but irregular, so branch
  // prediction in the switch loop does not get an unrealistic free ride.
  const pick = ((i * 1103515245 + 12345) >>> 16) & 3;
  switch (PUMP_ACTIONS[pick]) {
    case "move":
      return { action: "move", id: i & 63, x: i * 0.5, y: -i * 0.25, seq: i };
    case "chat":
      return { action: "chat", from: i & 63, text: "gg wp" };
    case "fire":
      return { action: "fire", id: i & 63, angle: (i % 360) * 0.5 };
    default:
      return { action: "hit", id: i & 63, damage: i % 17 };
  }
}
