// The chat client: `npx tsx demos/chat/client.ts <name> [--host 127.0.0.1] [--port 5071]`.
// Every line typed goes to everyone in the room; /join, /nick, /who, /quit; Ctrl+D or Ctrl+C quits.

import * as readline from "node:readline";
import { filter, interval } from "rxjs";
import { ofAction } from "../../lib/operators.js";
import { readSettings, toPort } from "../shared/cli.js";
import { ChatClient } from "./chat-client.js";

const usage = "npx tsx demos/chat/client.ts <name> [options]";
const { values, positionals } = readSettings(usage, {
  host: { env: "CHAT_HOST", default: "127.0.0.1", help: "chat server host" },
  port: { env: "CHAT_PORT", default: "5071", help: "chat server TCP port" },
});
const name = positionals.join(" ").trim();
if (name === "") {
  console.error(`usage: ${usage}\nA name is required, e.g. npx tsx demos/chat/client.ts alice`);
  process.exit(2);
}

const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
const input = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: tty });
input.setPrompt("> ");

/** Prints a line above the one being typed, then redraws the prompt with what was typed so far. */
function print(line: string): void {
  if (tty) {
    readline.cursorTo(process.stdout, 0);
    readline.clearLine(process.stdout, 0);
  }
  process.stdout.write(`${line}\n`);
  if (tty) input.prompt(true);
}

const client = new ChatClient(name, {
  print,
  onEnd: (reason) => {
    gameLoop.unsubscribe();
    input.close();
    if (reason === "error") process.exitCode = 1;
  },
});

input.on("line", (line) => {
  // The server echoes each line with the sender's name: remove the raw one so it shows once.
  if (tty) {
    readline.moveCursor(process.stdout, 0, -1);
    readline.clearLine(process.stdout, 0);
  }
  client.say(line);
});
// Ctrl+D (end of input) or Ctrl+C: leave gracefully; what was typed before is still delivered.
input.on("close", () => client.close());
input.on("SIGINT", () => input.close());

// The reactive side, beside the handlers: a line from someone else that says your name rings the
// terminal's bell. `ofAction` narrows the stream, so `message.text` is typed.
const mentioned = new RegExp(`\\b${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "i");
client.messages$
  .pipe(
    ofAction("message"),
    filter((message) => message.nickname !== name && mentioned.test(message.text)),
  )
  .subscribe(() => {
    if (tty) process.stdout.write("\x07");
  });

client.start(values.host, toPort(values.port, "port"));
// The classic game loop: the handlers run inside pump(), 60 times a second.
const gameLoop = client.autoPump(interval(16));
