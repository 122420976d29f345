import { BenchChild, type ChildRole } from "./bench-child.js";
import type { BenchConfig } from "./config.js";

/**
 * What a scenario gets from the harness: its configuration, its share of the time budget, child
 * processes that are stopped when it ends (however it ends), and a place to report progress
 * (stderr, so stdout keeps only the table).
 */
export class ScenarioContext {
  private readonly children: BenchChild[] = [];
  private closed = false;
  private readonly softDeadline: number;
  private readonly deadline: number;
  private roundStarted = 0;
  private longestRound = 0;
  /** Remarks for the report, such as rounds skipped for lack of time. */
  readonly notes: string[] = [];

  /**
   * @param budgetMs time the scenario should take: no round starts that would likely end after it.
   * @param timeoutMs time after which the harness abandons the scenario and kills its processes.
   */
  constructor(
    readonly config: BenchConfig,
    budgetMs: number,
    readonly timeoutMs: number,
  ) {
    this.softDeadline = Date.now() + budgetMs;
    this.deadline = Date.now() + timeoutMs;
  }

  /**
   * Called before each round: whether round `round` (0-based) of `total` should run. The first
   * always runs; a later one runs if a round as long as the longest so far still fits the budget.
   */
  startRound(round: number, total: number, what: string): boolean {
    const now = Date.now();
    if (round > 0) this.longestRound = Math.max(this.longestRound, now - this.roundStarted);
    if (round > 0 && now + this.longestRound > this.softDeadline) {
      this.notes.push(`${what}: ${round} of ${total} rounds ran; the others did not fit the time budget (--budget)`);
      this.progress(`${what}: stopping after ${round} of ${total} rounds (time budget)`);
      return false;
    }
    this.roundStarted = now;
    this.progress(`${what} round ${round + 1}/${total}`);
    return true;
  }

  /** Starts a child process for this scenario; it lives at most until the scenario's deadline. */
  async spawn(role: ChildRole): Promise<BenchChild> {
    if (this.closed) throw new Error("the scenario is over; no more child processes");
    const child = await BenchChild.start(role, Math.max(1_000, this.deadline - Date.now()) + 10_000);
    this.children.push(child);
    if (this.closed) child.kill();
    return child;
  }

  /** Stops one child before the scenario ends (a fresh server per round). */
  async retire(child: BenchChild): Promise<void> {
    await child.stop();
  }

  progress(message: string): void {
    process.stderr.write(`  ${message}\n`);
  }

  /** Stops every child of the scenario: politely first, killed if they do not exit. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.children.map((child) => child.stop()));
  }
}
