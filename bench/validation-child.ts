/**
 * The child processes of the validation row (bench/validation.ts):
 * `node --import tsx bench/validation-child.ts server|client`, driven over IPC (see
 * bench/harness/role-child.ts).
 *
 * The server role runs three repod-rx TCP echo servers (bench/harness/echo-server-role.ts): one
 * without validation, one with a valibot schema of `move`, one with the same schema in zod. The
 * client role drives one repod-rx client at a time through the pipelined echo
 * (bench/harness/echo-client-role.ts), with or without the same schema checking the echoes it
 * receives. Neither side has a rate limit.
 */
import * as v from "valibot";
import { z } from "zod";
import { schemaValidation } from "../lib/index.js";
import { echoClientCommands, openEchoLink, type EchoOpenArgs } from "./harness/echo-client-role.js";
import { serveEchoRole } from "./harness/echo-role-main.js";
import { echoServerCommands } from "./harness/echo-server-role.js";

/** Which schema library checks `move`, or none. */
export type SchemaKind = "none" | "valibot" | "zod";

/** Where the server role's servers listen, by schema library. */
export type ValidationPorts = Record<SchemaKind, number>;

/** What `echo.open` names: the server's port, and the schema library checking the echoes. */
export interface ValidationOpenArgs extends EchoOpenArgs {
  readonly port: number;
  readonly client: SchemaKind;
}

/** The echo's `move` (bench/impls/bench-messages.ts), as a game would declare it. */
const MOVE = {
  valibot: { move: v.object({ id: v.number(), x: v.number(), y: v.number(), seq: v.number() }) },
  zod: { move: z.object({ id: z.number(), x: z.number(), y: z.number(), seq: z.number() }) },
};

/** The `validation` option of a server or client checking with `kind`, none for `"none"`. */
function validationOption(kind: SchemaKind): { validation?: ReturnType<typeof schemaValidation> } {
  return kind === "none" ? {} : { validation: schemaValidation(MOVE[kind]) };
}

const serverCommands = () =>
  echoServerCommands<ValidationPorts>(async (start) => ({
    none: (await start(validationOption("none"))).port,
    valibot: (await start(validationOption("valibot"))).port,
    zod: (await start(validationOption("zod"))).port,
  }));

const clientCommands = () =>
  echoClientCommands<ValidationOpenArgs>(({ port, client }) =>
    openEchoLink({
      connect: (listener) => listener.connect("127.0.0.1", port, { rateLimit: false, ...validationOption(client) }),
      what: `repod-rx connect to 127.0.0.1:${port}`,
    }),
  );

serveEchoRole("validation", "bench/validation-child.ts", { server: serverCommands, client: clientCommands });
