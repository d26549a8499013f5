/**
 * Entity ids.
 *
 * - `GlobalEntity`: the id of an entity in one process's world, never reused while the process
 *   lives. In a cluster the high bits carry a backend id so ids are unique across backends
 *   (a JavaScript number holds 53 bits exactly).
 * - `HostEntity`: a compact per-connection id allocated by the side that authors (hosts) the
 *   entity on that connection. `RemoteEntity`: the same number as seen by the peer.
 * Wire ids stay small (varuint) because host ids are recycled — but only once every command of
 * the previous holder has been acknowledged, so no late message can hit the new holder.
 */
export type GlobalEntity = number;
export type HostEntity = number;
export type RemoteEntity = number;

/** Largest host id a peer may send (keeps maps bounded and ids 32-bit). */
export const MAX_WIRE_ENTITY = 0xffff_ffff;

/** Options of {@link GlobalEntityAllocator}. */
export interface GlobalEntityAllocatorOptions {
  /** Backend id stored in the high bits (default 0). */
  backendId?: number;
  /** Bits reserved for the backend id (default 16); the counter gets 53 - backendBits. */
  backendBits?: number;
}

/** Allocates process-unique {@link GlobalEntity} ids: `backendId * 2^(53-backendBits) + counter`. */
export class GlobalEntityAllocator {
  private next = 1;
  private readonly base: number;
  private readonly limit: number;

  constructor(opts: GlobalEntityAllocatorOptions = {}) {
    const backendBits = opts.backendBits ?? 16;
    const backendId = opts.backendId ?? 0;
    if (!Number.isInteger(backendBits) || backendBits < 0 || backendBits > 32) {
      throw new RangeError('backendBits must be 0..32');
    }
    if (!Number.isInteger(backendId) || backendId < 0 || backendId >= 2 ** backendBits) {
      throw new RangeError(`backendId must fit in ${backendBits} bits`);
    }
    const counterBits = 53 - backendBits;
    this.base = backendId * 2 ** counterBits;
    this.limit = 2 ** counterBits;
  }

  allocate(): GlobalEntity {
    if (this.next >= this.limit) throw new RangeError('global entity ids exhausted');
    return this.base + this.next++;
  }

  /** The backend id a global entity carries (for the allocator's own layout). */
  static backendOf(id: GlobalEntity, backendBits = 16): number {
    return Math.floor(id / 2 ** (53 - backendBits));
  }
}

/** Compact per-connection ids with a free list (the caller decides when an id may be reused). */
export class HostIdAllocator {
  private next = 0;
  private readonly free: number[] = [];

  allocate(): HostEntity {
    const id = this.free.pop();
    if (id !== undefined) return id;
    if (this.next > MAX_WIRE_ENTITY) throw new RangeError('host entity ids exhausted');
    return this.next++;
  }

  /**
   * Take exactly `id` (a fresh connection re-announcing entities under the ids the peer already
   * knows them by). False when it is in use.
   */
  allocateExact(id: HostEntity): boolean {
    if (!Number.isInteger(id) || id < 0 || id > MAX_WIRE_ENTITY) return false;
    if (id >= this.next) {
      for (let i = this.next; i < id; i++) this.free.push(i);
      this.next = id + 1;
      return true;
    }
    const at = this.free.indexOf(id);
    if (at < 0) return false;
    this.free.splice(at, 1);
    return true;
  }

  release(id: HostEntity): void {
    this.free.push(id);
  }

  /** Ids handed out and not released. */
  get inUse(): number {
    return this.next - this.free.length;
  }
}
