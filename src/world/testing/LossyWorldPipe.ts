import type { WorldFramePipe } from '../../session/SessionPipe.js';
import type { ManualClock } from '../../util/Clock.js';
import type { SeededRandom } from '../../util/SeededRandom.js';

/** Link conditions of a {@link LossyWorldPipe}. */
export interface LinkConditions {
  /** Probability a frame is lost (0..1). */
  loss: number;
  /** Probability a frame is delivered twice. */
  duplicate: number;
  /** One-way latency in ms. */
  latencyMs: number;
  /** Extra random delay in [0, jitterMs] per copy (this is what reorders frames). */
  jitterMs: number;
  /** Probability a frame is held back an extra 2..5 × latency (forced reordering). */
  reorder?: number;
}

export const PERFECT_LINK: LinkConditions = { loss: 0, duplicate: 0, latencyMs: 0, jitterMs: 0 };

interface InFlight {
  at: number;
  seq: number;
  bytes: Uint8Array;
}

/**
 * A one-way, in-test world frame pipe: seeded loss, duplication, reordering and latency on a
 * {@link ManualClock}. Frames are delivered by {@link pump} (call it after advancing the clock).
 * Deterministic for a given seed and call sequence.
 */
export class LossyWorldPipe implements WorldFramePipe {
  readonly maxWorldFrameBytes: number;
  conditions: LinkConditions;
  /** Test hook: frames for which this returns true are lost (on top of random loss). */
  dropIf: ((frame: Uint8Array) => boolean) | null = null;
  private queue: InFlight[] = [];
  private seq = 0;
  sent = 0;
  delivered = 0;
  dropped = 0;
  bytes = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly random: SeededRandom,
    private readonly deliver: (frame: Uint8Array) => void,
    conditions: LinkConditions = PERFECT_LINK,
    maxWorldFrameBytes = 1200,
  ) {
    this.conditions = conditions;
    this.maxWorldFrameBytes = maxWorldFrameBytes;
  }

  /** Twice the configured latency plus mean jitter (what a link layer would estimate). */
  get rttMs(): number {
    return 2 * this.conditions.latencyMs + this.conditions.jitterMs;
  }

  sendWorldFrame(frame: Uint8Array): void {
    if (frame.length > this.maxWorldFrameBytes) {
      throw new RangeError(`world frame of ${frame.length} bytes exceeds ${this.maxWorldFrameBytes}`);
    }
    this.sent++;
    this.bytes += frame.length;
    const c = this.conditions;
    if (this.dropIf?.(frame) || this.random.chance(c.loss)) {
      this.dropped++;
      return;
    }
    const copies = this.random.chance(c.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay = c.latencyMs + this.random.next() * c.jitterMs;
      if (c.reorder && this.random.chance(c.reorder)) delay += c.latencyMs * this.random.int(2, 5);
      this.queue.push({ at: this.clock.now() + delay, seq: this.seq++, bytes: frame.slice() });
    }
  }

  /** Deliver every frame due by now, in due-time order. */
  pump(): number {
    const now = this.clock.now();
    const due = this.queue.filter((f) => f.at <= now);
    if (due.length === 0) return 0;
    this.queue = this.queue.filter((f) => f.at > now);
    due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const f of due) {
      this.delivered++;
      this.deliver(f.bytes);
    }
    return due.length;
  }

  /** Frames still in flight. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** Drop everything in flight (a link cut). */
  clear(): void {
    this.queue = [];
  }
}
