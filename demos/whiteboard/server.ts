// The whiteboard: `npx tsx demos/whiteboard/server.ts [--web-port 8080] [--port 5071]`, then open
// the printed address in two browser tabs and draw. Runs until Ctrl+C.

import { readSettings, toPort } from "../shared/cli.js";
import { untilSignal } from "../shared/signals.js";
import { startWhiteboardDemo } from "./whiteboard-demo.js";

const { values } = readSettings("npx tsx demos/whiteboard/server.ts [options]", {
  host: { env: "DEMO_HOST", default: "127.0.0.1", help: "interface to listen on" },
  "web-port": {
    env: "WHITEBOARD_WEB_PORT",
    default: "8080",
    help: "port of the page and its WebSocket (0 picks a free one)",
  },
  port: {
    env: "WHITEBOARD_TCP_PORT",
    default: "5071",
    help: "TCP port for Node and Python clients (0 picks a free one)",
  },
});

const demo = await startWhiteboardDemo({
  host: values.host,
  webPort: toPort(values["web-port"], "web-port"),
  tcpPort: toPort(values.port, "port"),
});
console.log(`whiteboard: open ${demo.url} in two browser tabs (another board: ${demo.url}?board=team-b)`);
console.log(`            TCP clients: ${demo.server.host}:${demo.server.port}; Ctrl+C to stop`);
await untilSignal();
await demo.stop();
console.log("whiteboard stopped");
