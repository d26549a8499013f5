/**
 * A map from small non-negative integer ids to values, stored in an array indexed by id: the
 * subset of `Map`'s API the per-connection id tables use. For host ids, which the
 * {@link HostIdAllocator} hands out densely from 0 (and recycles): a join creates one entry per
 * entity in scope, and growing an array is much cheaper than a hash table's rehashing.
 * Ids must be integers in [0, 2³²); values must not be `undefined`.
 */
export class DenseIdMap<V> {
  private readonly items: (V | undefined)[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): V | undefined {
    return this.items[id];
  }

  has(id: number): boolean {
    return this.items[id] !== undefined;
  }

  set(id: number, value: V): this {
    const items = this.items;
    // fill holes first, so the array stays packed (no dictionary mode for a far id)
    while (items.length < id) items.push(undefined);
    if (items[id] === undefined) this.count++;
    items[id] = value;
    return this;
  }

  delete(id: number): boolean {
    if (this.items[id] === undefined) return false;
    this.items[id] = undefined;
    this.count--;
    return true;
  }

  *values(): IterableIterator<V> {
    for (const v of this.items) if (v !== undefined) yield v;
  }
}
