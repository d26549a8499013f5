/**
 * Smoothed round-trip time, RFC 6298 style (α = 1/8, β = 1/4), from per-packet ack samples.
 * Packets are never retransmitted verbatim, so every sample is unambiguous (no Karn problem).
 */
export class RttEstimator {
  private srtt: number;
  private rttvar: number;
  private sampled = false;

  constructor(
    initialMs = 100,
    /** Floor for the loss delay: below this, reordering alone would trigger resends. */
    private readonly minLossDelayMs = 5,
  ) {
    this.srtt = initialMs;
    this.rttvar = initialMs / 2;
  }

  get rttMs(): number {
    return this.srtt;
  }

  get rttVarMs(): number {
    return this.rttvar;
  }

  get hasSample(): boolean {
    return this.sampled;
  }

  sample(ms: number): void {
    const r = Math.max(ms, 0);
    if (!this.sampled) {
      this.sampled = true;
      this.srtt = r;
      this.rttvar = r / 2;
      return;
    }
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
    this.srtt = 0.875 * this.srtt + 0.125 * r;
  }

  /** How long an unacknowledged packet may be outstanding before it is judged lost. */
  get lossDelayMs(): number {
    return Math.max(1.5 * this.srtt, this.srtt + 4 * this.rttvar, this.minLossDelayMs);
  }
}
