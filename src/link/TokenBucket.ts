/** Byte budget: refills at `ratePerSecond`, holds at most `capacity`. May go negative (acks, heartbeats). */
export class TokenBucket {
  private tokensNow: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
    now: number,
  ) {
    this.tokensNow = capacity;
    this.last = now;
  }

  get tokens(): number {
    return this.tokensNow;
  }

  refill(now: number): void {
    const elapsed = now - this.last;
    this.last = now;
    if (elapsed <= 0) return;
    this.tokensNow = Math.min(this.capacity, this.tokensNow + (elapsed * this.ratePerSecond) / 1000);
  }

  consume(bytes: number): void {
    this.tokensNow -= bytes;
  }
}
