/**
 * Calls `step` at a fixed rate on real timers (browser-safe). Drift-corrected: each tick is
 * scheduled from the ideal timeline, and after a stall it catches up at most `maxCatchUp`
 * ticks at once instead of spinning through every missed one.
 */
export class Ticker {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private next = 0;
  private running = false;

  constructor(
    private readonly intervalMs: number,
    private readonly step: () => void,
    private readonly onError: (error: unknown) => void,
    private readonly maxCatchUp = 5,
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.next = performance.now();
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (!this.running) return;
    const delay = Math.max(0, this.next - performance.now());
    this.timer = setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    this.timer = undefined;
    let runs = 0;
    while (this.running && performance.now() >= this.next && runs < this.maxCatchUp) {
      try {
        this.step();
      } catch (error) {
        this.onError(error);
      }
      this.next += this.intervalMs;
      runs++;
    }
    // after a long stall, rejoin the timeline instead of replaying it
    if (performance.now() - this.next > this.intervalMs * this.maxCatchUp) this.next = performance.now();
    this.schedule();
  }
}
