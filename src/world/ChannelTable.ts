import type { Entity } from './Entity.js';
import type { GlobalEntity } from './ids.js';

/** What the table needs of a channel: its entity and a slot for its position in the order. */
interface Entry {
  readonly entity: Entity;
  /** @internal position in the table's insertion order (-1 when not in a table). */
  tablePos: number;
}

/**
 * A host engine's current channel per entity: the subset of `Map<GlobalEntity, V>`'s API the
 * world uses, in the same (insertion) iteration order, but keyed through the entity.
 *
 * Why: a user joining a server world opens one channel per entity in scope, and a hash-map
 * insert per entity (plus rehashing as it grows) was a visible share of a join. Server entities
 * have a dense, recycled world slot, so their channels live in an array indexed by it; entities
 * without a slot (a client's) fall back to a Map. Iteration order matters (a scope pass
 * despawns in it, so it decides command ids): entries also sit in an insertion-ordered list
 * with holes for deletions, compacted when the holes outnumber the entries.
 */
export class ChannelTable<V extends Entry> {
  private readonly bySlot: (V | undefined)[] = [];
  private readonly byId = new Map<GlobalEntity, V>();
  private order: (V | undefined)[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The channel of `e`, if any (the fast path: no hashing for an entity with a slot). */
  of(e: Entity): V | undefined {
    if (e.slot >= 0) {
      const v = this.bySlot[e.slot];
      return v !== undefined && v.entity === e ? v : undefined;
    }
    return this.byId.get(e.id);
  }

  /** The channel of the entity with id `id` (a scan over slotted entries: diagnostics and tests). */
  get(id: GlobalEntity): V | undefined {
    const v = this.byId.get(id);
    if (v !== undefined) return v;
    for (const x of this.bySlot) if (x !== undefined && x.entity.id === id) return x;
    return undefined;
  }

  has(id: GlobalEntity): boolean {
    return this.get(id) !== undefined;
  }

  /** Set `v` as the channel of its entity (replacing one in place keeps its position, like a Map). */
  set(v: V): void {
    const e = v.entity;
    const old = this.of(e);
    if (old === v) return;
    if (old !== undefined) {
      this.order[old.tablePos] = v;
      v.tablePos = old.tablePos;
      old.tablePos = -1;
    } else {
      if (this.order.length >= 32 && this.order.length >= 2 * this.count) this.compact();
      v.tablePos = this.order.length;
      this.order.push(v);
      this.count++;
    }
    if (e.slot >= 0) {
      const slots = this.bySlot;
      // fill holes first, so the array stays packed (no dictionary mode for a far slot)
      while (slots.length < e.slot) slots.push(undefined);
      slots[e.slot] = v;
    } else this.byId.set(e.id, v);
  }

  /** Remove `e`'s channel; true when there was one. */
  delete(e: Entity): boolean {
    const v = this.of(e);
    if (v === undefined) return false;
    if (e.slot >= 0) this.bySlot[e.slot] = undefined;
    else this.byId.delete(e.id);
    this.order[v.tablePos] = undefined;
    v.tablePos = -1;
    this.count--;
    return true;
  }

  /** The channels in insertion order (deletions while iterating are fine, like a Map's). */
  *values(): IterableIterator<V> {
    const order = this.order;
    for (let i = 0; i < order.length; i++) {
      const v = order[i];
      if (v !== undefined) yield v;
    }
  }

  /** The channels in insertion order, as a new array (safe to mutate the table while using it). */
  toArray(): V[] {
    const out: V[] = [];
    for (const v of this.order) if (v !== undefined) out.push(v);
    return out;
  }

  private compact(): void {
    const next: (V | undefined)[] = [];
    for (const v of this.order) {
      if (v === undefined) continue;
      v.tablePos = next.length;
      next.push(v);
    }
    this.order = next;
  }
}
