/** Array-backed queue with O(1) amortised shift and no per-item allocation. */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item; only valid when size > 0. */
  peek(): T {
    return this.items[this.head] as T;
  }

  /** Item `i` places behind the head; only valid when i < size. */
  at(i: number): T {
    return this.items[this.head + i] as T;
  }

  shift(): T {
    const item = this.items[this.head] as T;
    this.items[this.head++] = undefined;
    // compact once the dead prefix dominates, so memory follows the live size
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
