/**
 * The child processes of the session resume row (bench/session-resume.ts):
 * `node --import tsx bench/session-resume-child.ts server|client`, driven over IPC (see
 * bench/harness/role-child.ts).
 *
 * The server role runs two repod-rx echo servers (bench/harness/echo-server-role.ts), each on TCP
 * and WebSocket: one plain, one with `resume: true`. The client role drives one repod-rx client at
 * a time through the pipelined echo (bench/harness/echo-client-role.ts), with or without
 * `resume: true`. Neither side has a rate limit.
 */
import type { ConnectionListener } from "../lib/index.js";
import { echoClientCommands, openEchoLink, type EchoOpenArgs } from "./harness/echo-client-role.js";
import { serveEchoRole } from "./harness/echo-role-main.js";
import { echoServerCommands } from "./harness/echo-server-role.js";

export type ResumeTransport = "tcp" | "ws";

/** Where the server role's servers listen: `ports[resume ? "resume" : "plain"][transport]`. */
export type ResumePorts = Record<"plain" | "resume", Record<ResumeTransport, number>>;

/** What `echo.open` names: the server's transport and port, and whether the client asks to resume. */
export interface ResumeOpenArgs extends EchoOpenArgs {
  readonly transport: ResumeTransport;
  readonly port: number;
  readonly resume: boolean;
}

/**
 * Whether the server granted the client a resumable session. The public API does not say (a
 * server without `resume` ignores the request); read from the client so that a row labelled
 * "resume" can never quietly measure a plain connection.
 */
function hasSession(listener: ConnectionListener): boolean {
  return (listener.connection as unknown as { resume: { session: unknown } | null } | null)?.resume?.session != null;
}

async function checkSession(listener: ConnectionListener, resume: boolean): Promise<void> {
  if (!resume) {
    if (hasSession(listener)) throw new Error("a plain client got a session");
    return;
  }
  // The server greets at once and grants the session once it has read the client's hello: a
  // round trip later, with no message of its own to the handlers.
  const deadline = Date.now() + 5_000;
  while (!hasSession(listener)) {
    if (Date.now() > deadline) throw new Error("the server granted no session within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

const serverCommands = () =>
  echoServerCommands<ResumePorts>(async (start) => {
    const ports = async (resume: boolean): Promise<Record<ResumeTransport, number>> => {
      const server = await start({ ws: { port: 0 }, resume });
      return { tcp: server.port, ws: server.wsPort! };
    };
    return { plain: await ports(false), resume: await ports(true) };
  });

const clientCommands = () =>
  echoClientCommands<ResumeOpenArgs>(({ transport, port, resume }) =>
    openEchoLink({
      connect: (listener) => {
        const options = { resume, rateLimit: false } as const;
        if (transport === "ws") listener.connect(`ws://127.0.0.1:${port}`, options);
        else listener.connect("127.0.0.1", port, options);
      },
      what: `repod-rx ${transport} connect to 127.0.0.1:${port}`,
      afterConnect: (listener) => checkSession(listener, resume),
    }),
  );

serveEchoRole("session resume", "bench/session-resume-child.ts", { server: serverCommands, client: clientCommands });
