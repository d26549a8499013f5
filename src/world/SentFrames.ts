import type { OutCommand } from './HostEngine.js';

/** Frames remembered (by index mod this): a frame still unresolved when its slot is reused is lost. */
export const SENT_RING = 1024;
/** Fields per slot in {@link SentFrames.data}. */
const STRIDE = 5;
const F_INDEX = 0;
const F_SENT_AT = 1;
const F_LOG_START = 2;
const F_LOG_END = 3;
const F_FLAGS = 4;
const ACKED = 1;
const RESOLVED = 2;
/** Slots of a new connection's ring; it doubles as frames go out, up to {@link SENT_RING}. */
const INITIAL_SLOTS = 8;

/**
 * The sent frames that carried something, by index mod {@link SENT_RING}, as one flat
 * Float64Array (index, sent time, log range, flags per slot) instead of one object per frame:
 * a server sends a frame per user per step, and an object each was a fixed per-frame cost
 * (allocation and the garbage collection after it). Doubles (not Int32) because frame indices
 * and log positions only grow. Commands are kept aside, only for the frames that carry some.
 *
 * A slot is found by its frame index ({@link find}), so a slot reused by a newer frame never
 * answers for the old one (whose record is gone: it was resolved before its slot was reused).
 */
export class SentFrames {
  private data = new Float64Array(0);
  private cmdLists: (OutCommand[] | undefined)[] = [];
  private slots = 0;
  /**
   * Frames before this index are resolved or were never recorded: loss detection and the
   * searches for unresolved frames start here.
   */
  scan = 0;

  /** The slot recording frame `index`, or -1 (never recorded, or its slot reused since). */
  find(index: number): number {
    if (index < 0) return -1;
    const slot = index % SENT_RING;
    return slot < this.slots && this.data[slot * STRIDE + F_INDEX] === index ? slot : -1;
  }

  /** The unresolved frame that recording `index` would overwrite, or -1. */
  displaced(index: number): number {
    const slot = index % SENT_RING;
    if (slot >= this.slots) return -1;
    const o = slot * STRIDE;
    return this.data[o + F_INDEX] >= 0 && (this.data[o + F_FLAGS] & RESOLVED) === 0 ? slot : -1;
  }

  /** Record frame `index` (unacknowledged, unresolved); its previous slot holder must be resolved. */
  record(index: number, sentAt: number, logStart: number, logEnd: number, cmds: OutCommand[] | null): void {
    const slot = index % SENT_RING;
    if (slot >= this.slots) this.grow(slot + 1);
    const d = this.data;
    const o = slot * STRIDE;
    d[o + F_INDEX] = index;
    d[o + F_SENT_AT] = sentAt;
    d[o + F_LOG_START] = logStart;
    d[o + F_LOG_END] = logEnd;
    d[o + F_FLAGS] = 0;
    if (cmds !== null) {
      while (this.cmdLists.length <= slot) this.cmdLists.push(undefined);
      this.cmdLists[slot] = cmds;
    } else if (slot < this.cmdLists.length && this.cmdLists[slot] !== undefined)
      this.cmdLists[slot] = undefined;
  }

  sentAt(slot: number): number {
    return this.data[slot * STRIDE + F_SENT_AT];
  }

  logStart(slot: number): number {
    return this.data[slot * STRIDE + F_LOG_START];
  }

  logEnd(slot: number): number {
    return this.data[slot * STRIDE + F_LOG_END];
  }

  /** The commands the frame in `slot` carried, if any. */
  cmds(slot: number): OutCommand[] | undefined {
    return slot < this.cmdLists.length ? this.cmdLists[slot] : undefined;
  }

  acked(slot: number): boolean {
    return (this.data[slot * STRIDE + F_FLAGS] & ACKED) !== 0;
  }

  /** Acknowledged or declared lost (its update bits need nothing more). */
  resolved(slot: number): boolean {
    return (this.data[slot * STRIDE + F_FLAGS] & RESOLVED) !== 0;
  }

  /** Acknowledged: also resolved. */
  setAcked(slot: number): void {
    this.data[slot * STRIDE + F_FLAGS] = ACKED | RESOLVED;
  }

  setResolved(slot: number): void {
    const o = slot * STRIDE + F_FLAGS;
    this.data[o] = this.data[o] | RESOLVED;
  }

  /**
   * Move {@link scan} past resolved and unrecorded frames (up to `end`, the next frame index);
   * returns the slot of the first unresolved frame, or -1 when every frame before `end` is resolved.
   */
  firstUnresolved(end: number): number {
    let i = this.scan;
    for (; i < end; i++) {
      const slot = this.find(i);
      if (slot >= 0 && !this.resolved(slot)) break;
    }
    this.scan = i;
    return i < end ? i % SENT_RING : -1;
  }

  private grow(minSlots: number): void {
    let n = Math.max(INITIAL_SLOTS, this.slots * 2);
    while (n < minSlots) n *= 2;
    n = Math.min(n, SENT_RING);
    const d = new Float64Array(n * STRIDE);
    d.set(this.data);
    // empty slots: an index no frame has
    for (let s = this.slots; s < n; s++) d[s * STRIDE + F_INDEX] = -1;
    this.data = d;
    this.slots = n;
  }
}
