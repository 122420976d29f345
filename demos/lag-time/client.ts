// The lag-time client: `npx tsx demos/lag-time/client.ts [--port 5071] [--count 50] [--answer pump|live]`.
// Answers the server's pings; the server prints the statistics. Stops after --count pings, or on Ctrl+C.

import { interval, takeWhile } from "rxjs";
import { readSettings, toNumber, toPort } from "../shared/cli.js";
import { LagTimeClient } from "./lag-time-client.js";

const { values } = readSettings("npx tsx demos/lag-time/client.ts [options]", {
  host: { env: "LAG_HOST", default: "127.0.0.1", help: "lag-time server host" },
  port: { env: "LAG_PORT", default: "5071", help: "lag-time server TCP port" },
  count: { default: "50", help: "pings to answer before leaving (0: until Ctrl+C)" },
  answer: { default: "pump", help: 'answer inside pump() at 60 fps ("pump") or as pings arrive ("live")' },
  fps: { default: "60", help: "frames per second of the pump loop" },
});
if (values.answer !== "pump" && values.answer !== "live") {
  console.error(`--answer must be "pump" or "live", got ${JSON.stringify(values.answer)}`);
  process.exit(2);
}

const count = toNumber(values.count, "count");
const client = new LagTimeClient({
  answer: values.answer,
  maxPings: count === 0 ? Infinity : count,
  print: console.log,
});
client.connect(values.host, toPort(values.port, "port"));
const frame = 1000 / Math.max(1, toNumber(values.fps, "fps"));
// The game loop runs until the client's handlers have seen the end of the connection.
client.autoPump(interval(frame).pipe(takeWhile(() => !client.ended, true)));
client.on("error").subscribe(() => (process.exitCode = 1));
process.once("SIGINT", () => client.close());
