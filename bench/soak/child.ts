/**
 * Entry point of the soak's child processes: `node --import tsx bench/soak/child.ts ROLE [ARG]`,
 * started by bench/soak.ts with an IPC channel (bench/harness/role-child.ts).
 */
import { churnRole } from "./churn.js";
import { fuzzRole } from "./fuzzer.js";
import { goodClientRole } from "./good-client.js";
import { floodRole, slowRole } from "./pressure.js";
import { serverRole } from "./server.js";

const [role, arg] = process.argv.slice(2);
switch (role) {
  case "server":
    serverRole(arg === undefined || arg === "none" ? null : arg);
    break;
  case "good":
    goodClientRole();
    break;
  case "churn":
    churnRole();
    break;
  case "flood":
    floodRole();
    break;
  case "slow":
    slowRole();
    break;
  case "fuzz":
    fuzzRole(Number(arg ?? 1));
    break;
  default:
    console.error(`bench/soak/child.ts: unknown role ${JSON.stringify(role)}`);
    process.exit(2);
}
