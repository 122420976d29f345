import { delay } from "./net.js";

/**
 * Polls `condition`, which may be async (a query to another process), until it holds.
 * @throws {Error} `Timed out waiting for <what>` after `timeout` ms.
 */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}
