import {
  FRAGMENT_SLOT_CHARGE,
  MODE_ORDERED_RELIABLE,
  MODE_TICK_BUFFERED,
  MODE_UNORDERED_RELIABLE,
  RELIABLE_WINDOW,
} from './wire.js';

/** A fragmented message being reassembled. Its memory is charged against `maxPendingBytes`. */
export class Partial {
  /** Length of every non-final fragment once one has been seen (0 = unknown). */
  fragLen = 0;
  /** Length of the final fragment once seen (0 = unknown). */
  lastLen = 0;
  received = 0;
  bytes = 0;
  readonly slots: (Uint8Array | undefined)[];

  constructor(
    readonly id: number,
    readonly count: number,
  ) {
    this.slots = new Array<Uint8Array | undefined>(count).fill(undefined);
  }

  get charge(): number {
    return this.bytes + this.count * FRAGMENT_SLOT_CHARGE;
  }

  /** Store one (validated, new) fragment; returns true when the message is complete. */
  add(index: number, data: Uint8Array): boolean {
    this.slots[index] = data;
    this.received++;
    this.bytes += data.length;
    if (index === this.count - 1) this.lastLen = data.length;
    else this.fragLen = data.length;
    return this.received === this.count;
  }

  assemble(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let pos = 0;
    for (const slot of this.slots) {
      out.set(slot!, pos);
      pos += slot!.length;
    }
    return out;
  }
}

/** Receive side of one channel. Which fields are used depends on the mode. */
export class RecvChannel {
  /** Sequenced modes: newest id delivered, -1 before the first. */
  newest = -1;
  /** Reliable windowed modes: lowest id not yet received (ordered: next id to deliver). */
  base = 0;
  /** Unordered / tick-buffered: 1 at `id % RELIABLE_WINDOW` when id in [base, base + window) was received. */
  readonly received: Uint8Array;
  /** Ordered: complete messages waiting for a gap before them, at `id % RELIABLE_WINDOW`. */
  readonly buffered: (Uint8Array | undefined)[];
  /** Unordered / ordered / tick-buffered: reassemblies in progress by message id. */
  readonly partials = new Map<number, Partial>();
  /** Sequenced-reliable: the one reassembly worth finishing (the newest seen). */
  seqPartial: Partial | undefined = undefined;
  /** Receive pass in which a sequenced-reliable partial was already counted as freed. */
  freedStamp = 0;

  constructor(readonly mode: number) {
    const unordered = mode === MODE_UNORDERED_RELIABLE || mode === MODE_TICK_BUFFERED;
    this.received = new Uint8Array(unordered ? RELIABLE_WINDOW : 0);
    this.buffered = new Array<Uint8Array | undefined>(
      mode === MODE_ORDERED_RELIABLE ? RELIABLE_WINDOW : 0,
    ).fill(undefined);
  }
}
