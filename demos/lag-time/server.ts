// The lag-time server: `npx tsx demos/lag-time/server.ts [--port 5071] [--interval 100]`.
// Pings every client and prints its round-trip statistics every few pings and when it leaves.

import { readSettings, toNumber, toPort } from "../shared/cli.js";
import { untilSignal } from "../shared/signals.js";
import { LagTimeServer } from "./lag-time-server.js";

const { values } = readSettings("npx tsx demos/lag-time/server.ts [options]", {
  host: { env: "LAG_HOST", default: "127.0.0.1", help: "interface to listen on" },
  port: { env: "LAG_PORT", default: "5071", help: "TCP port (0 picks a free one)" },
  interval: { default: "100", help: "milliseconds between an answer and the next ping" },
  every: { default: "10", help: "print a client's statistics every this many pings" },
});

const server = new LagTimeServer({
  host: values.host,
  port: toPort(values.port, "port"),
  interval: toNumber(values.interval, "interval"),
  reportEvery: Math.max(1, Math.round(toNumber(values.every, "every"))),
});
await server.start();
console.log(`lag-time server listening on ${server.host}:${server.port}; Ctrl+C to stop`);
console.log(`measure a client with: npx tsx demos/lag-time/client.ts --port ${server.port}`);
await untilSignal();
await server.stop();
