/**
 * Single-use nonces with a time to live: the replay guard of migration tickets and referral
 * tokens. The in-memory store serves one process (`baton demo`, tests); a deployment with
 * several backends sharing tickets uses a shared implementation (Redis `SET key 1 NX PXAT`).
 */
import type { Clock } from '../../util/Clock.js';
import { wallClock } from './clock.js';
import { toHex } from './uuid.js';

/** Remembers nonces until they expire; each is accepted once. */
export interface NonceStore {
  /**
   * `true` exactly once per nonce while it has not expired (`clock.now() < expiresAt`), and
   * remembers it until `expiresAt`; `false` for a nonce already consumed, or when the store
   * refuses to remember it (already expired, beyond its retention limit, or full — a store
   * fails closed). `expiresAt` is wall-clock ms since the epoch.
   */
  consume(nonce: string | Uint8Array, expiresAt: number): Promise<boolean>;
}

/** Options of {@link InMemoryNonceStore}. */
export interface InMemoryNonceStoreOptions {
  /** Wall-clock time source. Default {@link wallClock}. */
  clock?: Clock;
  /** Most nonces remembered at once; beyond it `consume` refuses (returns false). Default 1 000 000. */
  maxEntries?: number;
  /** Furthest `expiresAt` accepted, relative to now; later ones are refused. Default 300 000 ms. */
  maxRetentionMs?: number;
}

/** Counters of an {@link InMemoryNonceStore}. */
export interface NonceStoreStats {
  accepted: number;
  replayed: number;
  /** Refused because `expiresAt` had already passed. */
  refusedExpired: number;
  /** Refused because `expiresAt` was further away than `maxRetentionMs`. */
  refusedRetention: number;
  /** Refused because the store held `maxEntries` live nonces. */
  refusedFull: number;
  /** Expired entries dropped. */
  purged: number;
}

interface Entry {
  key: string;
  expiresAt: number;
}

/**
 * Nonces in a map, with a min-heap on expiry so expired entries are dropped in O(log n) each,
 * on every call: memory is bounded by the nonces live at once (and by `maxEntries`).
 */
export class InMemoryNonceStore implements NonceStore {
  readonly stats: NonceStoreStats = {
    accepted: 0,
    replayed: 0,
    refusedExpired: 0,
    refusedRetention: 0,
    refusedFull: 0,
    purged: 0,
  };
  private readonly clock: Clock;
  private readonly maxEntries: number;
  private readonly maxRetentionMs: number;
  private readonly live = new Map<string, number>();
  private readonly heap: Entry[] = [];

  constructor(options: InMemoryNonceStoreOptions = {}) {
    this.clock = options.clock ?? wallClock;
    this.maxEntries = options.maxEntries ?? 1_000_000;
    this.maxRetentionMs = options.maxRetentionMs ?? 300_000;
  }

  /** Nonces currently remembered (after dropping expired ones). */
  get size(): number {
    this.purge();
    return this.live.size;
  }

  async consume(nonce: string | Uint8Array, expiresAt: number): Promise<boolean> {
    return this.consumeSync(nonce, expiresAt);
  }

  /** The synchronous form of {@link consume}. */
  consumeSync(nonce: string | Uint8Array, expiresAt: number): boolean {
    const now = this.clock.now();
    this.purge(now);
    const key = typeof nonce === 'string' ? nonce : toHex(nonce);
    if (this.live.has(key)) {
      this.stats.replayed++;
      return false;
    }
    if (!(expiresAt > now)) {
      this.stats.refusedExpired++;
      return false;
    }
    if (expiresAt - now > this.maxRetentionMs) {
      this.stats.refusedRetention++;
      return false;
    }
    if (this.live.size >= this.maxEntries) {
      this.stats.refusedFull++;
      return false;
    }
    this.live.set(key, expiresAt);
    this.push({ key, expiresAt });
    this.stats.accepted++;
    return true;
  }

  /** Drop every entry expired at `now`; returns how many. Called by every `consume`. */
  purge(now = this.clock.now()): number {
    let dropped = 0;
    while (this.heap.length > 0 && this.heap[0].expiresAt <= now) {
      const entry = this.pop();
      if (this.live.get(entry.key) === entry.expiresAt) {
        this.live.delete(entry.key);
        dropped++;
      }
    }
    this.stats.purged += dropped;
    return dropped;
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].expiresAt <= entry.expiresAt) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Entry {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && heap[right].expiresAt < heap[left].expiresAt ? right : left;
        if (heap[child].expiresAt >= last.expiresAt) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
