// Computer players for the pong demo, over TCP: `npx tsx demos/pong/bot.ts [--port 5073] [--count 1]`.
// Each plays until Ctrl+C, seated like a person (the server gives a bot's seat to the next person).

import { interval, takeWhile } from "rxjs";
import { readSettings, toNumber, toPort } from "../shared/cli.js";
import { PongBot } from "./pong-bot.js";
import { TICK_RATE } from "./protocol.js";

const { values } = readSettings("npx tsx demos/pong/bot.ts [options]", {
  host: { env: "DEMO_HOST", default: "127.0.0.1", help: "pong server host" },
  port: { env: "PONG_TCP_PORT", default: "5073", help: "pong server TCP port" },
  count: { default: "1", help: "how many bots to run" },
});

const port = toPort(values.port, "port");
const count = Math.max(1, Math.round(toNumber(values.count, "count")));
const bots = Array.from({ length: count }, (_, index) => new PongBot(`bot ${index + 1}`));
for (const bot of bots) {
  bot.on("welcome").subscribe((message) => console.log(`${bot.name} plays ${message.side} in ${message.match}`));
  bot.connect(values.host, port);
  // Each bot's loop at the server's tick rate; it ends once the bot has seen its connection end.
  interval(1000 / TICK_RATE)
    .pipe(takeWhile(() => !bot.ended, true))
    .subscribe(() => {
      bot.pump();
      bot.play();
    });
}
process.once("SIGINT", () => {
  for (const bot of bots) bot.close();
});
