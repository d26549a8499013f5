/**
 * The shared {@link NonceStore}: single-use nonces in Redis, so a ticket or token consumed on one
 * backend or proxy is refused on every other. One atomic `SET key 1 PX ttl NX` per nonce: the
 * first caller gets OK, every later one nil, and Redis drops the key when the nonce expires.
 */

import { wallClock } from '../session/trust/clock.js';
import type { NonceStore } from '../session/trust/NonceStore.js';
import { toHex } from '../session/trust/uuid.js';
import type { Clock } from '../util/Clock.js';
import { prefixOf, RedisHandle, type RedisStoreOptions } from './redisConnection.js';

/** Options of {@link RedisNonceStore}. */
export interface RedisNonceStoreOptions extends RedisStoreOptions {
  /** Wall-clock time source. Default {@link wallClock}. */
  clock?: Clock;
  /** Furthest `expiresAt` accepted, relative to now; later ones are refused. Default 300 000 ms. */
  maxRetentionMs?: number;
}

/** Counters of a {@link RedisNonceStore} (this process's calls only). */
export interface RedisNonceStoreStats {
  accepted: number;
  replayed: number;
  refusedExpired: number;
  refusedRetention: number;
  /** Refused because Redis did not answer: the store fails closed. */
  refusedUnavailable: number;
}

/** Nonces shared by every process using the same Redis and prefix. */
export class RedisNonceStore implements NonceStore {
  readonly stats: RedisNonceStoreStats = {
    accepted: 0,
    replayed: 0,
    refusedExpired: 0,
    refusedRetention: 0,
    refusedUnavailable: 0,
  };
  private readonly handle: RedisHandle;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly maxRetentionMs: number;

  constructor(options: RedisNonceStoreOptions) {
    this.handle = new RedisHandle(options.redis);
    this.prefix = `${prefixOf(options)}nonce:`;
    this.clock = options.clock ?? wallClock;
    this.maxRetentionMs = options.maxRetentionMs ?? 300_000;
  }

  async consume(nonce: string | Uint8Array, expiresAt: number): Promise<boolean> {
    const now = this.clock.now();
    if (!(expiresAt > now)) {
      this.stats.refusedExpired++;
      return false;
    }
    const ttl = Math.ceil(expiresAt - now);
    if (ttl > this.maxRetentionMs) {
      this.stats.refusedRetention++;
      return false;
    }
    const key = this.prefix + (typeof nonce === 'string' ? nonce : toHex(nonce));
    let reply: string | null;
    try {
      reply = await this.handle.client.set(key, '1', 'PX', ttl, 'NX');
    } catch {
      // unknown whether it is fresh: refusing costs one migration, accepting could allow a replay
      this.stats.refusedUnavailable++;
      return false;
    }
    if (reply === 'OK') {
      this.stats.accepted++;
      return true;
    }
    this.stats.replayed++;
    return false;
  }

  /** Close the connection if this store opened it (from a URL). */
  close(): Promise<void> {
    return this.handle.close();
  }
}
