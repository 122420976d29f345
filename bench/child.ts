/**
 * Entry point of the benchmark's child processes: `node --import tsx bench/child.ts server|client`,
 * started by the harness with an IPC channel. A child answers requests until told to exit, and
 * exits by itself when the harness goes away (the IPC channel disconnects) or its maximum lifetime
 * has passed, so no child outlives a harness that crashed or was killed.
 */
import { CHILD_MAX_LIFETIME_ENV, type CommandTable, type Reply, type Request } from "./harness/ipc.js";

const role = process.argv[2];
if (process.send === undefined) {
  console.error("bench/child.ts is started by the benchmark harness (npm run bench), not by hand");
  process.exit(2);
}
const send = process.send.bind(process);

const maxLifetime = Number(process.env[CHILD_MAX_LIFETIME_ENV] ?? 600_000);
setTimeout(() => {
  console.error(`bench ${role} child ${process.pid}: maximum lifetime of ${maxLifetime} ms reached, exiting`);
  process.exit(3);
}, maxLifetime).unref();
process.on("disconnect", () => process.exit(0));

let commands: CommandTable;
if (role === "server") commands = (await import("./server/server-role.js")).serverCommands;
else if (role === "client") commands = (await import("./client/client-role.js")).clientCommands;
else {
  console.error(`bench/child.ts: unknown role ${JSON.stringify(role)}; expected server or client`);
  process.exit(2);
}

process.on("message", (request: Request) => {
  void answer(request);
});

async function answer(request: Request): Promise<void> {
  let reply: Reply;
  try {
    const handler = commands[request.cmd];
    if (handler === undefined) throw new Error(`unknown command ${request.cmd} for the ${role} role`);
    reply = { id: request.id, ok: true, result: (await handler(request.args)) ?? null };
  } catch (error) {
    reply = {
      id: request.id,
      ok: false,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    };
  }
  if (process.connected) send(reply);
  if (request.cmd === "exit") setImmediate(() => process.exit(0));
}

send({ ready: true, pid: process.pid });
