// The tag game: `npx tsx demos/tag/server.ts [--web-port 8081] [--port 5072] [--room-size 4]`,
// then open the printed address in two browser tabs and play with the arrow keys or WASD.
// Runs until Ctrl+C.

import { readSettings, toNumber, toPort } from "../shared/cli.js";
import { untilSignal } from "../shared/signals.js";
import { startTagDemo } from "./tag-demo.js";

const { values } = readSettings("npx tsx demos/tag/server.ts [options]", {
  host: { env: "DEMO_HOST", default: "127.0.0.1", help: "interface to listen on" },
  "web-port": { env: "TAG_WEB_PORT", default: "8081", help: "port of the page and its WebSocket (0 picks a free one)" },
  port: {
    env: "TAG_TCP_PORT",
    default: "5072",
    help: "TCP port for bots and other native clients (0 picks a free one)",
  },
  "room-size": {
    env: "TAG_ROOM_SIZE",
    default: "4",
    help: "players per game; more players start more games side by side",
  },
  "tick-rate": { env: "TAG_TICK_RATE", default: "30", help: "simulation ticks per second" },
});

const demo = await startTagDemo({
  host: values.host,
  webPort: toPort(values["web-port"], "web-port"),
  tcpPort: toPort(values.port, "port"),
  roomSize: Math.max(1, Math.round(toNumber(values["room-size"], "room-size"))),
  tickRate: toNumber(values["tick-rate"], "tick-rate"),
});
console.log(`tag: open ${demo.url} in two browser tabs; arrow keys or WASD to move`);
console.log(`     bots over TCP: npx tsx demos/tag/bot.ts --port ${demo.server.port} --count 3; Ctrl+C to stop`);
await untilSignal();
await demo.stop();
console.log("tag stopped");
