import type { Clock } from '../../util/Clock.js';
import { SeededRandom } from '../../util/SeededRandom.js';

/**
 * A seeded, in-test datagram pipe between two link endpoints: one-way latency with jitter,
 * loss, duplication and reordering, driven by a manual clock. Deliberately independent of
 * src/transport so the link's tests stand alone. Same seed + same traffic = same run.
 */
export interface LossyPipeOptions {
  seed: number;
  /** One-way base latency in ms (default 0). */
  latencyMs?: number;
  /** Extra uniform delay in [0, jitterMs] per datagram (default 0); also reorders. */
  jitterMs?: number;
  /** Probability a datagram is dropped (default 0). */
  loss?: number;
  /** Probability a datagram is delivered twice (default 0). */
  duplicate?: number;
  /** Probability a datagram is held back by an extra [0, reorderDelayMs] ms (default 0). */
  reorder?: number;
  /** Default: 2 × latency + 20 ms. */
  reorderDelayMs?: number;
}

export interface PacketReceiver {
  receive(packet: Uint8Array): void;
}

interface InFlight {
  at: number;
  order: number;
  to: 0 | 1;
  data: Uint8Array;
}

export class LossyPipe {
  readonly stats = { sent: 0, lost: 0, duplicated: 0, delivered: 0 };
  private queue: InFlight[] = [];
  private order = 0;
  private readonly rng: SeededRandom;
  private ends: [PacketReceiver | undefined, PacketReceiver | undefined] = [undefined, undefined];
  private options: LossyPipeOptions;

  constructor(
    private readonly clock: Clock,
    options: LossyPipeOptions,
  ) {
    this.options = { ...options };
    this.rng = new SeededRandom(options.seed);
  }

  /** Endpoints that receive what the other side sends: `a` gets b's packets and vice versa. */
  attach(a: PacketReceiver, b: PacketReceiver): void {
    this.ends = [a, b];
  }

  /** Change conditions mid-run (a blackout: `{ loss: 1 }`). */
  configure(options: Partial<Omit<LossyPipeOptions, 'seed'>>): void {
    this.options = { ...this.options, ...options };
  }

  /** The send function for datagrams leaving side `from`. */
  sender(from: 'a' | 'b'): (packet: Uint8Array) => void {
    const to: 0 | 1 = from === 'a' ? 1 : 0;
    return (packet) => this.enqueue(to, packet);
  }

  get inFlight(): number {
    return this.queue.length;
  }

  private enqueue(to: 0 | 1, packet: Uint8Array): void {
    const o = this.options;
    const rng = this.rng;
    this.stats.sent++;
    if (rng.chance(o.loss ?? 0)) {
      this.stats.lost++;
      return;
    }
    const copies = rng.chance(o.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const latency = o.latencyMs ?? 0;
    for (let c = 0; c < copies; c++) {
      let delay = latency + (o.jitterMs ? rng.next() * o.jitterMs : 0);
      if (rng.chance(o.reorder ?? 0)) delay += rng.next() * (o.reorderDelayMs ?? 2 * latency + 20);
      this.queue.push({ at: this.clock.now() + delay, order: this.order++, to, data: packet });
    }
  }

  /** Deliver every datagram due by now, in (due time, send order) order. Returns how many. */
  deliverDue(): number {
    const now = this.clock.now();
    const due: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const item of this.queue) (item.at <= now ? due : rest).push(item);
    if (due.length === 0) return 0;
    this.queue = rest;
    due.sort((x, y) => x.at - y.at || x.order - y.order);
    for (const item of due) {
      this.stats.delivered++;
      // each delivery gets its own copy: a receiver must not depend on the sender's buffer
      this.ends[item.to]?.receive(item.data.slice());
    }
    return due.length;
  }
}
