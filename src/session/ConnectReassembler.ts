import type { ConnectFragment } from './packets/connectionless.js';

/** Bounds of the {@link ConnectReassembler}'s one global table. */
export interface ReassemblerLimits {
  /** Most partial Connects held at once (default 64). */
  maxEntries?: number;
  /** Most payload bytes held across all partial Connects (default 256 KiB). */
  maxBytes?: number;
  /** A partial Connect not completed within this many ms is forgotten (default 2000). */
  ttlMs?: number;
}

interface Entry {
  readonly key: string;
  readonly nonce: number;
  readonly count: number;
  readonly totalLength: number;
  readonly fragmentSize: number;
  readonly createdAt: number;
  readonly parts: (Uint8Array | undefined)[];
  received: number;
}

/**
 * Reassembles fragmented `Connect` packets in one bounded table shared by all peers, so that
 * nothing per peer is allocated for input that has not yet decoded as a well-formed Connect.
 *
 * Bounds: entry count, total bytes (each entry is charged its full declared length up front),
 * one entry per peer, and a short TTL. When full, the oldest entry is evicted: a real client
 * sends all its fragments back to back and completes within one round trip, so a flood has to
 * outpace that to push it out, and a legitimate client's periodic resend recovers anyway.
 */
export class ConnectReassembler {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly ttlMs: number;
  private heldBytes = 0;
  /** Entries evicted for room or expired: for stats. */
  evicted = 0;

  constructor(limits: ReassemblerLimits = {}) {
    this.maxEntries = limits.maxEntries ?? 64;
    this.maxBytes = limits.maxBytes ?? 256 * 1024;
    this.ttlMs = limits.ttlMs ?? 2000;
  }

  /** Partial Connects held now. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes reserved by partial Connects now. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Add one fragment from `peerKey`. Returns the whole Connect bytes once every fragment is
   * present; undefined otherwise. Single-fragment Connects never touch the table.
   */
  add(peerKey: string, f: ConnectFragment, now: number): Uint8Array | undefined {
    if (f.count === 1) return f.bytes;
    this.expire(now);
    let e = this.entries.get(peerKey);
    if (e && (e.nonce !== f.nonce || e.totalLength !== f.totalLength || e.count !== f.count)) {
      // a new attempt (or an inconsistent one) from the same peer replaces the old
      this.remove(e);
      e = undefined;
    }
    if (!e) {
      if (f.totalLength > this.maxBytes) return undefined;
      while (this.entries.size >= this.maxEntries || this.heldBytes + f.totalLength > this.maxBytes) {
        const oldest = this.entries.values().next().value as Entry;
        this.remove(oldest);
        this.evicted++;
      }
      e = {
        key: peerKey,
        nonce: f.nonce,
        count: f.count,
        totalLength: f.totalLength,
        fragmentSize: f.fragmentSize,
        createdAt: now,
        parts: new Array(f.count).fill(undefined),
        received: 0,
      };
      this.entries.set(peerKey, e);
      this.heldBytes += f.totalLength;
    }
    if (e.parts[f.index]) return undefined; // duplicate
    e.parts[f.index] = f.bytes;
    e.received++;
    if (e.received < e.count) return undefined;
    const out = new Uint8Array(e.totalLength);
    for (let i = 0; i < e.count; i++) out.set(e.parts[i]!, i * e.fragmentSize);
    this.remove(e);
    return out;
  }

  /** Forget entries older than the TTL. */
  expire(now: number): void {
    for (const e of this.entries.values()) {
      // insertion order is age order (entries are never refreshed)
      if (now - e.createdAt < this.ttlMs) break;
      this.remove(e);
      this.evicted++;
    }
  }

  clear(): void {
    this.entries.clear();
    this.heldBytes = 0;
  }

  private remove(e: Entry): void {
    if (this.entries.get(e.key) === e) {
      this.entries.delete(e.key);
      this.heldBytes -= e.totalLength;
    }
  }
}
