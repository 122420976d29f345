// The chat server: `npx tsx demos/chat/server.ts [--host 127.0.0.1] [--port 5071]`.
// Runs until Ctrl+C. With `--port 0` it picks a free port and prints it.

import { readSettings, toPort } from "../shared/cli.js";
import { untilSignal } from "../shared/signals.js";
import { ChatServer } from "./chat-server.js";

const { values } = readSettings("npx tsx demos/chat/server.ts [options]", {
  host: { env: "CHAT_HOST", default: "127.0.0.1", help: "interface to listen on" },
  port: { env: "CHAT_PORT", default: "5071", help: "TCP port (0 picks a free one)" },
});

const server = new ChatServer({ host: values.host, port: toPort(values.port, "port") });
await server.start();
console.log(`chat server listening on ${server.host}:${server.port}; Ctrl+C to stop`);
console.log(`join it with: npx tsx demos/chat/client.ts <your name> --port ${server.port}`);
await untilSignal();
await server.stop();
console.log("chat server stopped");
