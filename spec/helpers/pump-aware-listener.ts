// Bundled into the browser page fixtures (spec/fixtures/browser-*.ts): browser-only imports.
import { ConnectionListener } from "../../lib/browser.js";

/**
 * A browser `ConnectionListener` that knows whether `pump()` is running, so that a page can record
 * with each message whether its handler ran inside `pump()`, as the library promises.
 */
export class PumpAwareListener extends ConnectionListener {
  #pumping = false;

  /** Whether `pump()` is running: true inside the handlers it dispatches to. */
  get pumping(): boolean {
    return this.#pumping;
  }

  override pump(): number {
    this.#pumping = true;
    try {
      return super.pump();
    } finally {
      this.#pumping = false;
    }
  }
}
