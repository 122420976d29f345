// `npm start`: the whiteboard, the tag game and pong side by side on 127.0.0.1, until Ctrl+C.
//
//   whiteboard  page + WebSocket http://127.0.0.1:8080/   TCP 5071
//   tag         page + WebSocket http://127.0.0.1:8081/   TCP 5072
//   pong        page + WebSocket http://127.0.0.1:8082/   TCP 5073
//
// Every port can be changed with an environment variable (0 picks a free one):
// WHITEBOARD_WEB_PORT, WHITEBOARD_TCP_PORT, TAG_WEB_PORT, TAG_TCP_PORT, PONG_WEB_PORT,
// PONG_TCP_PORT; DEMO_HOST sets the interface.

import { toPort } from "./shared/cli.js";
import { untilSignal } from "./shared/signals.js";
import { startPongDemo, type PongDemo } from "./pong/pong-demo.js";
import { startTagDemo, type TagDemo } from "./tag/tag-demo.js";
import { startWhiteboardDemo, type WhiteboardDemo } from "./whiteboard/whiteboard-demo.js";

const env = (name: string, fallback: string): string => process.env[name] || fallback;
const host = env("DEMO_HOST", "127.0.0.1");
const running: (WhiteboardDemo | TagDemo | PongDemo)[] = [];

try {
  const whiteboard = await startWhiteboardDemo({
    host,
    webPort: toPort(env("WHITEBOARD_WEB_PORT", "8080"), "WHITEBOARD_WEB_PORT"),
    tcpPort: toPort(env("WHITEBOARD_TCP_PORT", "5071"), "WHITEBOARD_TCP_PORT"),
  });
  running.push(whiteboard);
  const tag = await startTagDemo({
    host,
    webPort: toPort(env("TAG_WEB_PORT", "8081"), "TAG_WEB_PORT"),
    tcpPort: toPort(env("TAG_TCP_PORT", "5072"), "TAG_TCP_PORT"),
  });
  running.push(tag);
  const pong = await startPongDemo({
    host,
    webPort: toPort(env("PONG_WEB_PORT", "8082"), "PONG_WEB_PORT"),
    tcpPort: toPort(env("PONG_TCP_PORT", "5073"), "PONG_TCP_PORT"),
  });
  running.push(pong);

  console.log("repod-rx demos are running. Open each address in two browser tabs:");
  console.log("");
  console.log(`  whiteboard  ${whiteboard.url}   draw with the mouse (TCP clients: ${host}:${whiteboard.server.port})`);
  console.log(
    `  tag         ${tag.url}   arrow keys or WASD (TCP bots: npx tsx demos/tag/bot.ts --port ${tag.server.port})`,
  );
  console.log(`  pong        ${pong.url}   arrow keys or W/S; alone, a bot plays you (?lag=150 adds lag)`);
  console.log("");
  console.log("Ctrl+C to stop.");
  await untilSignal();
  console.log("\nstopping…");
} catch (error) {
  console.error(`Could not start the demos: ${(error as Error).message}`);
  console.error(
    "Choose other ports with WHITEBOARD_WEB_PORT, WHITEBOARD_TCP_PORT, TAG_WEB_PORT, TAG_TCP_PORT, PONG_WEB_PORT and PONG_TCP_PORT (0 picks a free one).",
  );
  process.exitCode = 1;
} finally {
  for (const demo of running.reverse()) await demo.stop();
  if (running.length > 0) console.log("stopped");
}
