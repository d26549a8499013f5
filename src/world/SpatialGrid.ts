import type { Entity } from './Entity.js';

/** Cell coordinates are kept within ±2²⁴ so a cell key (two of them) is an exact number. */
const OFFSET = 2 ** 24;
const SPAN = 2 ** 25;

/**
 * A uniform grid over (x, y) of one room's entities, so a view-radius scope looks at the
 * entities near the view instead of every entity of the room.
 *
 * It only narrows the candidates: the caller still applies the exact rule (distance, z,
 * include/exclude) to each. Entities without a position, or whose position is not finite or
 * too far out for a cell key, are "loose": always candidates (a radius never excludes an entity
 * without a position, and NaN/∞ must get the exact rule's answer, whatever it is).
 */
export class SpatialGrid {
  private readonly cells = new Map<number, Set<Entity>>();
  /** Each entity's cell key, or -1 when loose. */
  private readonly where = new Map<Entity, number>();
  private readonly loose = new Set<Entity>();

  constructor(
    readonly cellSize: number,
    /** Component kind index holding the position, and the property indices of x and y. */
    private readonly kindIndex: number,
    private readonly xProp: number,
    private readonly yProp: number,
  ) {}

  /** Entities in the grid (loose ones included). */
  get size(): number {
    return this.where.size;
  }

  private keyOf(e: Entity): number {
    const inst = e.components[this.kindIndex];
    if (inst === undefined) return -1;
    const cx = Math.floor((inst.values[this.xProp] as number) / this.cellSize);
    const cy = Math.floor((inst.values[this.yProp] as number) / this.cellSize);
    // written so NaN fails too
    if (!(cx >= -OFFSET && cx < OFFSET && cy >= -OFFSET && cy < OFFSET)) return -1;
    return (cx + OFFSET) * SPAN + (cy + OFFSET);
  }

  private place(e: Entity, key: number): void {
    this.where.set(e, key);
    if (key < 0) {
      this.loose.add(e);
      return;
    }
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = new Set();
      this.cells.set(key, cell);
    }
    cell.add(e);
  }

  private unplace(e: Entity, key: number): void {
    if (key < 0) {
      this.loose.delete(e);
      return;
    }
    const cell = this.cells.get(key);
    if (cell === undefined) return;
    cell.delete(e);
    if (cell.size === 0) this.cells.delete(key);
  }

  /** Add an entity, or re-file it if present. */
  add(e: Entity): void {
    this.update(e);
  }

  remove(e: Entity): void {
    const key = this.where.get(e);
    if (key === undefined) return;
    this.where.delete(e);
    this.unplace(e, key);
  }

  /** Re-file an entity after its position (or whether it has one) changed. */
  update(e: Entity): void {
    const key = this.keyOf(e);
    const old = this.where.get(e);
    if (old === key) return;
    if (old !== undefined) this.unplace(e, old);
    this.place(e, key);
  }

  /**
   * Append to `out` (from index `n`) every entity that may lie within `r` of (x, y), skipping
   * and marking entities whose `visitStamp` is already / becomes `stamp`. Returns the new count.
   */
  collect(x: number, y: number, r: number, stamp: number, out: Entity[], n: number): number {
    const rr = Math.abs(r);
    const cs = this.cellSize;
    let x0 = -OFFSET;
    let x1 = OFFSET - 1;
    let y0 = -OFFSET;
    let y1 = OFFSET - 1;
    if (Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(rr)) {
      // one cell of margin each side: floating-point rounding at a cell edge never loses one
      x0 = Math.max(x0, Math.floor((x - rr) / cs) - 1);
      x1 = Math.min(x1, Math.floor((x + rr) / cs) + 1);
      y0 = Math.max(y0, Math.floor((y - rr) / cs) - 1);
      y1 = Math.min(y1, Math.floor((y + rr) / cs) + 1);
    }
    if ((x1 - x0 + 1) * (y1 - y0 + 1) <= this.cells.size) {
      for (let cx = x0; cx <= x1; cx++) {
        const base = (cx + OFFSET) * SPAN + OFFSET;
        for (let cy = y0; cy <= y1; cy++) {
          const cell = this.cells.get(base + cy);
          if (cell !== undefined) n = push(cell, stamp, out, n);
        }
      }
    } else {
      // the area spans more cells than are occupied: walk the occupied ones instead
      for (const [key, cell] of this.cells) {
        const cx = Math.floor(key / SPAN) - OFFSET;
        const cy = (key % SPAN) - OFFSET;
        if (cx >= x0 && cx <= x1 && cy >= y0 && cy <= y1) n = push(cell, stamp, out, n);
      }
    }
    return push(this.loose, stamp, out, n);
  }
}

function push(set: Set<Entity>, stamp: number, out: Entity[], n: number): number {
  for (const e of set) {
    if (e.visitStamp === stamp) continue;
    e.visitStamp = stamp;
    out[n++] = e;
  }
  return n;
}
