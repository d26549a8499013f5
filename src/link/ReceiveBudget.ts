/** A link that holds bytes against a {@link ReceiveBudget} and can be made to give them all up. */
export interface BudgetHolder {
  /** Drop every buffered byte and stop receiving: the budget chose this link to evict. */
  evictForBudget(): void;
}

/** Counters of a {@link ReceiveBudget}. */
export interface ReceiveBudgetStats {
  /** Bytes held now by every link sharing the budget. */
  heldBytes: number;
  /** Most bytes ever held at once. */
  peakBytes: number;
  /** Links evicted to make room (each one is closed by its owner with a reason). */
  evictions: number;
  /** Bytes those evictions released. */
  evictedBytes: number;
}

/**
 * One memory budget for the receive-side buffers (fragments being reassembled, messages held for
 * order) of many links: each link is bounded by its own `maxPendingBytes`, but a process with
 * thousands of links needs a bound on the sum, or peers that withhold one fragment each pin
 * `links × maxPendingBytes`.
 *
 * When a packet would take the sum over the limit, the link holding the most is evicted first
 * (possibly the receiving one): it frees everything it holds and is closed by its owner. Never
 * dropping single fragments is deliberate: the link acknowledged them, so the sender would not
 * resend them and a reliable message would be lost without anyone knowing.
 */
export class ReceiveBudget {
  readonly stats: ReceiveBudgetStats = { heldBytes: 0, peakBytes: 0, evictions: 0, evictedBytes: 0 };
  private readonly held = new Map<BudgetHolder, number>();

  /** `limitBytes`: most bytes all links together may hold. */
  constructor(readonly limitBytes: number) {
    if (!(limitBytes > 0)) throw new RangeError('ReceiveBudget: limitBytes must be positive');
  }

  /** Bytes `link` holds now. */
  heldBy(link: BudgetHolder): number {
    return this.held.get(link) ?? 0;
  }

  /**
   * Make room for `link` to hold `extra` more bytes, evicting the largest holders while the sum
   * would exceed the limit. Returns false when `link` itself was evicted.
   */
  reserve(link: BudgetHolder, extra: number): boolean {
    while (this.stats.heldBytes + extra > this.limitBytes) {
      // the receiving link counts with what it is about to add, and loses ties
      let largest = link;
      let most = this.heldBy(link) + extra;
      for (const [holder, bytes] of this.held) {
        if (bytes > most) {
          most = bytes;
          largest = holder;
        }
      }
      this.evict(largest);
      if (largest === link) return false;
    }
    return true;
  }

  /** Record that `link` now holds `bytes` (0 forgets it). */
  set(link: BudgetHolder, bytes: number): void {
    const before = this.held.get(link) ?? 0;
    if (bytes > 0) this.held.set(link, bytes);
    else this.held.delete(link);
    this.stats.heldBytes += bytes - before;
    if (this.stats.heldBytes > this.stats.peakBytes) this.stats.peakBytes = this.stats.heldBytes;
  }

  private evict(link: BudgetHolder): void {
    const bytes = this.held.get(link) ?? 0;
    this.set(link, 0);
    this.stats.evictions++;
    this.stats.evictedBytes += bytes;
    link.evictForBudget();
  }
}

/** Default process-wide budget: 64 MiB across every link of the process (16 links at their 4 MiB bound). */
export const DEFAULT_RECEIVE_BUDGET_BYTES = 64 * 1024 * 1024;

let processBudget: ReceiveBudget | undefined;

/** The budget every link shares unless given its own (`LinkOptions.receiveBudget`). */
export function processReceiveBudget(): ReceiveBudget {
  processBudget ??= new ReceiveBudget(DEFAULT_RECEIVE_BUDGET_BYTES);
  return processBudget;
}
