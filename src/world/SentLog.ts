import type { HostComponentRecord } from './HostEngine.js';

/**
 * The (record, mask) pairs every sent world frame carried, in one growable ring shared by all
 * frames of a connection (a frame owns the range [start, end) of monotonic positions). Avoids
 * two arrays per frame on the hot path; grows when unresolved frames would be overwritten.
 */
export class SentLog {
  private recs: (HostComponentRecord | undefined)[];
  private masks: Int32Array;
  private cap: number;
  /** Next position to write (monotonic). */
  head = 0;

  constructor(initialCapacity = 4096) {
    this.cap = initialCapacity;
    this.recs = new Array(initialCapacity);
    this.masks = new Int32Array(initialCapacity);
  }

  /** Append one pair; `oldestLive` is the start of the oldest frame still needing its entries. */
  push(rec: HostComponentRecord, mask: number, oldestLive: number): void {
    if (this.head - oldestLive >= this.cap) this.grow(oldestLive);
    const i = this.head & (this.cap - 1);
    this.recs[i] = rec;
    this.masks[i] = mask;
    this.head++;
  }

  rec(pos: number): HostComponentRecord {
    return this.recs[pos & (this.cap - 1)]!;
  }

  mask(pos: number): number {
    return this.masks[pos & (this.cap - 1)];
  }

  private grow(oldestLive: number): void {
    const cap = this.cap * 2;
    const recs: (HostComponentRecord | undefined)[] = new Array(cap);
    const masks = new Int32Array(cap);
    for (let p = oldestLive; p < this.head; p++) {
      recs[p & (cap - 1)] = this.recs[p & (this.cap - 1)];
      masks[p & (cap - 1)] = this.masks[p & (this.cap - 1)];
    }
    this.recs = recs;
    this.masks = masks;
    this.cap = cap;
  }
}
