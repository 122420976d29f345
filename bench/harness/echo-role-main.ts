/**
 * The entry of an echo row's child file: `node --import tsx FILE server|client` answers the
 * harness with the commands of the role its first argument names (./role-child.ts `serveRole`).
 */
import type { CommandTable } from "./ipc.js";
import { serveRole } from "./role-child.js";

/**
 * Serves the role named by `process.argv[2]`; any other value prints a usage error and exits 2.
 * @param label names the child in messages, e.g. `validation` gives `validation server child`.
 * @param file the child file, named in the usage error.
 */
export function serveEchoRole(
  label: string,
  file: string,
  roles: { readonly server: () => CommandTable; readonly client: () => CommandTable },
): void {
  const role = process.argv[2];
  if (role !== "server" && role !== "client") {
    console.error(`${file}: unknown role ${JSON.stringify(role)}; expected server or client`);
    process.exit(2);
  }
  serveRole(`${label} ${role} child`, roles[role]());
}
