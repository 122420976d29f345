// Waiting for Ctrl+C in the demos' entry points, which then shut everything down in order.

/**
 * Resolves with the signal's name on the first SIGINT (Ctrl+C) or SIGTERM. While it waits, those
 * signals no longer kill the process, so the caller can stop its servers cleanly; a second Ctrl+C
 * during a slow shutdown exits at once.
 */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      process.once("SIGINT", () => process.exit(130));
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
