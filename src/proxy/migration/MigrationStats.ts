/** Counters of seamless migration at one proxy. */
export interface MigrationStats {
  started: number;
  completed: number;
  /** Failed before cutover: the player stayed on its backend, nothing lost. */
  rolledBack: number;
  /** The new backend failed after cutover (before the client was live there, or in the overlap window) and the player moved back to its source seamlessly. */
  movedBack: number;
  /** Failed after cutover: referral to a healthy backend, or a disconnect with a reason. */
  fallbacks: number;
  /** Transfers done by referral because the pool cannot migrate seamlessly. */
  referralTransfers: number;
  /** Failures by reason (rolled back and fallbacks). */
  failuresByReason: Record<string, number>;
  /** Migrations under way. */
  inFlight: number;
  /** Client input held (freeze → buffered input released to the new backend), ms. */
  freezeMs: { p50: number; p99: number; max: number; samples: number };
  /** Whole migration (Prepare → client acknowledged the cutover), ms. */
  totalMs: { p50: number; p99: number; max: number; samples: number };
  /** Client frames that were buffered during freezes, and the largest proxy-wide buffer, bytes. */
  bufferedFrames: number;
  peakBufferedBytes: number;
}

/** A bounded window of samples with percentiles. */
export class Samples {
  private readonly values: number[] = [];
  constructor(private readonly max = 4096) {}

  add(v: number): void {
    this.values.push(v);
    if (this.values.length > this.max) this.values.shift();
  }

  summary(): { p50: number; p99: number; max: number; samples: number } {
    const v = [...this.values].sort((a, b) => a - b);
    const at = (q: number) => (v.length === 0 ? 0 : v[Math.min(v.length - 1, Math.floor(q * v.length))]);
    return {
      p50: round(at(0.5)),
      p99: round(at(0.99)),
      max: round(v[v.length - 1] ?? 0),
      samples: v.length,
    };
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
