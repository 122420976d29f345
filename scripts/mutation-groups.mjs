// What `npm run mutate` measures, in groups: each group mutates some files of lib/ and runs, against
// each of its mutants, only the specs that pin those files down (and only the tests among them
// that reached the mutant's line). Scoping the specs is what makes a run fit in minutes rather
// than hours: a line of Connection is reached by almost every socket test of the suite, and a
// mutant that survives runs every test that reached it. The price is that a mutant killed only by
// a spec outside its group counts as a survivor here: the score says how well a folder's own specs
// pin it down, which is the stricter question.
//
// Only in-process specs: a mutant is active in the test runner's process, never in a child
// process, a browser or Redis. Every spec named here must pass on its own.

/** @typedef {{ name: string, mutate: string[], specs: string[] }} MutationGroup */

/** @type {MutationGroup[]} */
export const GROUPS = [
  {
    name: "protocol",
    mutate: ["lib/protocol/**/*.ts"],
    specs: [
      "codec",
      "control-ids",
      "decode-budget",
      "frame-decoder",
      "frame-timeout",
      "hostile-invalid-input",
      "ws-transport",
      "ws-frame-tracker",
    ],
  },
  {
    name: "dispatch",
    mutate: ["lib/dispatch/**/*.ts"],
    specs: [
      "dispatch",
      "requests",
      "pending-answers",
      "subclassing",
      "connection-listener",
      "channel",
      "validation-replies",
    ],
  },
  {
    name: "scheduling",
    mutate: ["lib/scheduling/**/*.ts"],
    specs: ["pump-scheduler", "connection-listener"],
  },
  {
    name: "options",
    mutate: ["lib/connections/connection-options.ts"],
    specs: ["connection-options", "limits"],
  },
  {
    name: "rate-limit",
    mutate: ["lib/connections/rate-limiter.ts"],
    specs: ["rate-limit", "rate-limit-pacing"],
  },
  {
    name: "outbox",
    mutate: ["lib/connections/outbox.ts"],
    specs: ["outbox", "limits", "session-pacing"],
  },
  {
    name: "connection",
    mutate: ["lib/connections/connection.ts", "lib/connections/invalid-input.ts", "lib/connections/read-message.ts"],
    // outbox, rate-limit and session-pacing reach volatile sends, held messages and pacing, which
    // the first measurement (without them) left unreached.
    specs: [
      "connection",
      "limits",
      "heartbeat",
      "invalid-input",
      "hostile-invalid-input",
      "frame-timeout",
      "logging",
      "outbox",
      "rate-limit",
      "session-pacing",
    ],
  },
  {
    name: "client",
    mutate: [
      "lib/connections/client.ts",
      "lib/connections/reconnect-policy.ts",
      "lib/connections/connection-listener.ts",
      // Not browser-connection-listener.ts nor node-connection-listener.ts: they only bind the
      // listener to a connector, with nothing Stryker mutates.
    ],
    // The session specs reach the client's handshake, resume and login code, which the first
    // measurement (without them) left unreached.
    specs: [
      "client",
      "connection-listener",
      "reconnect",
      "reconnect-options",
      "client-states",
      "memory-transport",
      "subclassing",
      "heartbeat",
      "requests",
      "authentication",
      "session-resume",
      "session-resume-closes",
      "session-resume-failures",
      "client-session-hostile",
      // What the client's schema validation replies to a request it refuses, and its onInvalid: "close".
      "validation-replies",
      "validation-errors",
    ],
  },
  {
    name: "channel",
    mutate: ["lib/connections/channel.ts", "lib/connections/channel-link.ts"],
    specs: ["channel", "server", "room", "graceful-shutdown", "requests", "heartbeat"],
  },
  {
    name: "sessions",
    mutate: ["lib/sessions/**/*.ts"],
    // client-states reaches the client's side of resume (client-resume.ts), which lived in client.ts.
    specs: [
      "client-states",
      "session-options",
      "session-resume",
      "session-resume-closes",
      "session-resume-failures",
      "session-pacing",
      "session-ws-reset",
      "authentication",
      "session-stream",
      "session-registry",
      "session-server",
      "client-session-hostile",
    ],
  },
  {
    name: "validation",
    mutate: ["lib/validation/**/*.ts"],
    specs: ["validation", "validation-replies", "validation-errors"],
  },
];
