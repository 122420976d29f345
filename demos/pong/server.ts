// The pong game: `npx tsx demos/pong/server.ts [--web-port 8082] [--port 5073]`, then open the
// printed address in two browser tabs (alone, a bot joins you) and play with the arrow keys or
// W/S. Add `?lag=150` to a page's address to play it 150 ms away from the server. Runs until Ctrl+C.

import { readSettings, toNumber, toPort } from "../shared/cli.js";
import { untilSignal } from "../shared/signals.js";
import { startPongDemo } from "./pong-demo.js";

const { values } = readSettings("npx tsx demos/pong/server.ts [options]", {
  host: { env: "DEMO_HOST", default: "127.0.0.1", help: "interface to listen on" },
  "web-port": {
    env: "PONG_WEB_PORT",
    default: "8082",
    help: "port of the page and its WebSocket (0 picks a free one)",
  },
  port: { env: "PONG_TCP_PORT", default: "5073", help: "TCP port for bots (0 picks a free one)" },
  "bot-delay": {
    env: "PONG_BOT_DELAY",
    default: "1500",
    help: "milliseconds a player waits alone before a bot joins (none: no bots)",
  },
});

const botDelay = values["bot-delay"] === "none" ? null : toNumber(values["bot-delay"], "bot-delay");
const demo = await startPongDemo({
  host: values.host,
  webPort: toPort(values["web-port"], "web-port"),
  tcpPort: toPort(values.port, "port"),
  botDelay,
});
console.log(`pong: open ${demo.url} in two browser tabs (${demo.url}?lag=150 to feel 150 ms of lag)`);
console.log(
  `      arrow keys or W/S; bots over TCP: npx tsx demos/pong/bot.ts --port ${demo.server.port}; Ctrl+C to stop`,
);
await untilSignal();
await demo.stop();
console.log("pong stopped");
