// Computer players for the tag demo, over TCP: `npx tsx demos/tag/bot.ts [--port 5072] [--count 3]`.
// They play until Ctrl+C, so one browser tab is enough to try the game.

import { interval, takeWhile } from "rxjs";
import { readSettings, toNumber, toPort } from "../shared/cli.js";
import { TagBot } from "./tag-bot.js";

const { values } = readSettings("npx tsx demos/tag/bot.ts [options]", {
  host: { env: "DEMO_HOST", default: "127.0.0.1", help: "tag server host" },
  port: { env: "TAG_TCP_PORT", default: "5072", help: "tag server TCP port" },
  count: { default: "3", help: "how many bots to run" },
});

const port = toPort(values.port, "port");
const bots = Array.from(
  { length: Math.max(1, Math.round(toNumber(values.count, "count"))) },
  () => new TagBot(console.log),
);
for (const bot of bots) {
  bot.connect(values.host, port);
  // Each bot's game loop; it ends once the bot's handlers have seen its connection end.
  bot.autoPump(interval(16).pipe(takeWhile(() => !bot.ended, true)));
}
process.once("SIGINT", () => {
  for (const bot of bots) bot.close();
});
