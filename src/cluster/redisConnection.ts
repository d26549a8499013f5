/** How the Redis-backed stores get their connection, and who closes it. */
import { Redis } from 'ioredis';

/** Where a Redis store connects: a `redis://…` URL (the store opens and closes its own connection) or a client you own. */
export type RedisSource = string | Redis;

/** Options every Redis-backed store shares. */
export interface RedisStoreOptions {
  /** A `redis://host:port/db` URL, or an ioredis client (left open by `close()`). */
  redis: RedisSource;
  /**
   * Prefix of every key and channel, so several clusters can share one Redis.
   * Default `'baton:'`. Every proxy and backend of one cluster must use the same.
   */
  prefix?: string;
}

/** A connection and whether closing it is ours to do. */
export class RedisHandle {
  readonly client: Redis;
  private readonly owned: boolean;

  constructor(source: RedisSource) {
    if (typeof source === 'string') {
      // Commands fail after a few retries instead of queueing forever while Redis is away:
      // callers decide (the nonce store refuses, the proxy keeps its last view).
      this.client = new Redis(source, { maxRetriesPerRequest: 3, lazyConnect: false });
      this.owned = true;
    } else {
      this.client = source;
      this.owned = false;
    }
    // ioredis emits 'error' on every failed reconnect; an unhandled 'error' would crash the process
    this.client.on('error', () => {});
  }

  /** Close the connection if this store opened it. */
  async close(): Promise<void> {
    if (!this.owned || this.client.status === 'end') return;
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

export function prefixOf(options: RedisStoreOptions): string {
  return options.prefix ?? 'baton:';
}
