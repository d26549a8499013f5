/**
 * The shared {@link Registry}: backends in Redis, so several proxies (and the backends
 * themselves) see one pool. A backend registered through any instance is seen by every other;
 * a health change made anywhere (a proxy marking a dead backend 'down', a re-probe bringing it
 * back 'up', a sweep) is stored atomically and published, and every instance re-emits it on
 * its own `events` — the health view proxies share.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  type BackendHealth,
  type BackendRecord,
  type BackendRegistration,
  type BackendUpdate,
  canTakePlayers,
  compareLoad,
  type PickOptions,
  type Registry,
  type RegistryEvents,
} from '../proxy/registry.js';
import { wallClock } from '../session/trust/clock.js';
import { rawPublicKey } from '../session/trust/ed25519.js';
import type { Clock } from '../util/Clock.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import { checkRegistration } from './checkRegistration.js';
import { prefixOf, RedisHandle, type RedisStoreOptions } from './redisConnection.js';
import { REGISTER, REMOVE, SWEEP_ONE, UPDATE } from './redisRegistryScripts.js';

/** Options of {@link RedisRegistry}. */
export interface RedisRegistryOptions extends RedisStoreOptions {
  /** Wall clock for `lastSeen` (every instance should be NTP-synced). Default {@link wallClock}. */
  clock?: Clock;
  /** `sweep()` marks backends not seen for this long as 'down'. Default 15 000 ms. */
  staleAfterMs?: number;
}

/** Counters of a {@link RedisRegistry}. */
export interface RedisRegistryStats {
  /** Events received from other instances and re-emitted. */
  remoteEvents: number;
  /** Published messages that did not parse (another version, or not ours): dropped. */
  badEvents: number;
}

const HEALTH: readonly BackendHealth[] = ['up', 'down', 'draining'];

type Flat = string[];

interface RegistryCommands {
  batonRegister(hash: string, set: string, channel: string, ...argv: string[]): Promise<[string, Flat]>;
  batonUpdate(hash: string, channel: string, ...argv: string[]): Promise<[string, Flat] | null>;
  batonRemove(hash: string, set: string, channel: string, origin: string, id: string): Promise<Flat | null>;
  batonSweepOne(
    hash: string,
    channel: string,
    origin: string,
    now: string,
    stale: string,
  ): Promise<[string, Flat] | null>;
}

/** A registry in Redis, shared by every proxy and backend that uses the same Redis and prefix. */
export class RedisRegistry implements Registry {
  readonly events = new TypedEmitter<RegistryEvents>();
  readonly stats: RedisRegistryStats = { remoteEvents: 0, badEvents: 0 };
  private readonly handle: RedisHandle;
  private readonly subscriber: Redis;
  private readonly redis: Redis & RegistryCommands;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly origin = randomUUID();
  private readonly clock: Clock;
  private readonly staleAfterMs: number;
  private readonly ready: Promise<void>;
  private closed = false;

  constructor(options: RedisRegistryOptions) {
    this.handle = new RedisHandle(options.redis);
    this.prefix = prefixOf(options);
    this.channel = `${this.prefix}registry`;
    this.clock = options.clock ?? wallClock;
    this.staleAfterMs = options.staleAfterMs ?? 15_000;
    const redis = this.handle.client;
    // scripts are defined per client; a shared client may already have them
    if (!('batonRegister' in redis)) {
      redis.defineCommand('batonRegister', { numberOfKeys: 3, lua: REGISTER });
      redis.defineCommand('batonUpdate', { numberOfKeys: 2, lua: UPDATE });
      redis.defineCommand('batonRemove', { numberOfKeys: 3, lua: REMOVE });
      redis.defineCommand('batonSweepOne', { numberOfKeys: 2, lua: SWEEP_ONE });
    }
    this.redis = redis as Redis & RegistryCommands;
    // a subscribed connection can do nothing else: always a second connection, always ours
    this.subscriber = redis.duplicate();
    this.subscriber.on('error', () => {});
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.received(message);
    });
    this.ready = this.subscriber.subscribe(this.channel).then(() => undefined);
    // the constructor cannot await: a failed subscription surfaces on the first call instead
    this.ready.catch(() => {});
  }

  async register(registration: BackendRegistration): Promise<BackendRecord> {
    checkRegistration(registration);
    if (registration.id.length === 0) throw new RangeError('backend id must not be empty');
    const record: BackendRecord = {
      id: registration.id,
      pool: registration.pool,
      address: { host: registration.address.host, port: registration.address.port },
      capacity: registration.capacity,
      load: registration.load ?? 0,
      publicKey: rawPublicKey(registration.publicKey),
      health: registration.health ?? 'up',
      lastSeen: this.clock.now(),
    };
    await this.ready;
    const [previous, flat] = await this.redis.batonRegister(
      this.hashOf(record.id),
      this.setKey(),
      this.channel,
      this.origin,
      record.id,
      ...encode(record),
    );
    const stored = decode(flat);
    this.emit('registered', stored, healthOf(previous));
    return stored;
  }

  async update(id: string, update: BackendUpdate): Promise<BackendRecord | undefined> {
    checkRegistration(update);
    const fields: string[] = [];
    if (update.pool !== undefined) fields.push('pool', update.pool);
    if (update.address) fields.push('host', update.address.host, 'port', String(update.address.port));
    if (update.capacity !== undefined) fields.push('capacity', String(update.capacity));
    if (update.load !== undefined) fields.push('load', String(update.load));
    if (update.publicKey !== undefined) {
      fields.push('publicKey', Buffer.from(rawPublicKey(update.publicKey)).toString('base64'));
    }
    if (update.health !== undefined) fields.push('health', checkHealth(update.health));
    fields.push('lastSeen', String(this.clock.now()));
    await this.ready;
    const reply = await this.redis.batonUpdate(this.hashOf(id), this.channel, this.origin, ...fields);
    if (!reply) return undefined;
    const record = decode(reply[1]);
    const previous = healthOf(reply[0]);
    if (record.health !== previous) this.emit('health', record, previous);
    return record;
  }

  async remove(id: string): Promise<boolean> {
    await this.ready;
    const flat = await this.redis.batonRemove(this.hashOf(id), this.setKey(), this.channel, this.origin, id);
    if (!flat) return false;
    this.emit('removed', decode(flat), undefined);
    return true;
  }

  async get(id: string): Promise<BackendRecord | undefined> {
    const flat = await this.handle.client.hgetall(this.hashOf(id));
    return Object.keys(flat).length === 0 ? undefined : fromHash(flat);
  }

  async list(pool?: string): Promise<BackendRecord[]> {
    const ids = await this.handle.client.smembers(this.setKey());
    if (ids.length === 0) return [];
    const pipeline = this.handle.client.pipeline();
    for (const id of ids) pipeline.hgetall(this.hashOf(id));
    const replies = (await pipeline.exec()) ?? [];
    const records: BackendRecord[] = [];
    for (const [error, hash] of replies) {
      if (error) throw error;
      const fields = hash as Record<string, string>;
      // removed between SMEMBERS and HGETALL
      if (Object.keys(fields).length === 0) continue;
      const record = fromHash(fields);
      if (pool === undefined || record.pool === pool) records.push(record);
    }
    return records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async pickLeastLoaded(pool: string, options: PickOptions = {}): Promise<BackendRecord | undefined> {
    const exclude = new Set(options.exclude ?? []);
    let best: BackendRecord | undefined;
    for (const record of await this.list(pool)) {
      if (exclude.has(record.id) || !canTakePlayers(record)) continue;
      if (!best || compareLoad(record, best) < 0) best = record;
    }
    return best;
  }

  /**
   * Mark every backend not seen for `staleAfterMs` as 'down' (a missed heartbeat), emitting
   * `health` for each, here and on every other instance. Several proxies may sweep at once:
   * each backend is marked by exactly one. Returns the ids this call marked.
   */
  async sweep(): Promise<string[]> {
    await this.ready;
    const now = String(this.clock.now());
    const marked: string[] = [];
    for (const id of await this.handle.client.smembers(this.setKey())) {
      const reply = await this.redis.batonSweepOne(
        this.hashOf(id),
        this.channel,
        this.origin,
        now,
        String(this.staleAfterMs),
      );
      if (!reply) continue;
      marked.push(id);
      this.emit('health', decode(reply[1]), healthOf(reply[0]));
    }
    return marked.sort();
  }

  /** Stop listening for other instances' events and close the connections this registry opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ready.catch(() => {});
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
    await this.handle.close();
  }

  private hashOf(id: string): string {
    return `${this.prefix}backend:${id}`;
  }

  private setKey(): string {
    return `${this.prefix}backends`;
  }

  /** Emit locally what an own change published (others get it through the channel). */
  private emit(
    type: 'registered' | 'removed' | 'health',
    record: BackendRecord,
    previous: BackendHealth | undefined,
  ) {
    if (type === 'registered') {
      this.events.emit('registered', snapshot(record));
      if (previous !== record.health) this.events.emit('health', snapshot(record), previous);
    } else if (type === 'removed') {
      this.events.emit('removed', snapshot(record));
      if (record.health !== 'down')
        this.events.emit('health', { ...snapshot(record), health: 'down' }, record.health);
    } else {
      this.events.emit('health', snapshot(record), previous);
    }
  }

  private received(message: string): void {
    let parsed: { t?: unknown; o?: unknown; p?: unknown; r?: unknown };
    let record: BackendRecord;
    try {
      parsed = JSON.parse(message);
      if (!Array.isArray(parsed.r) || !parsed.r.every((x) => typeof x === 'string'))
        throw new TypeError('record');
      record = decode(parsed.r as string[]);
    } catch {
      this.stats.badEvents++;
      return;
    }
    if (parsed.o === this.origin) return; // ours: emitted when the call returned
    const type = parsed.t;
    if (type !== 'registered' && type !== 'removed' && type !== 'health') {
      this.stats.badEvents++;
      return;
    }
    this.stats.remoteEvents++;
    this.emit(type, record, typeof parsed.p === 'string' ? healthOf(parsed.p) : undefined);
  }
}

function checkHealth(health: string): BackendHealth {
  if (!HEALTH.includes(health as BackendHealth)) throw new RangeError(`unknown health '${health}'`);
  return health as BackendHealth;
}

function healthOf(value: string): BackendHealth | undefined {
  return HEALTH.includes(value as BackendHealth) ? (value as BackendHealth) : undefined;
}

function encode(record: BackendRecord): string[] {
  return [
    'id',
    record.id,
    'pool',
    record.pool,
    'host',
    record.address.host,
    'port',
    String(record.address.port),
    'capacity',
    String(record.capacity),
    'load',
    String(record.load),
    'publicKey',
    Buffer.from(record.publicKey).toString('base64'),
    'health',
    checkHealth(record.health),
    'lastSeen',
    String(record.lastSeen),
  ];
}

function decode(flat: Flat): BackendRecord {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  return fromHash(fields);
}

/** A record from its Redis hash; throws a TypeError on a hash this code did not write. */
function fromHash(f: Record<string, string>): BackendRecord {
  const health = healthOf(f.health ?? '');
  const publicKey = new Uint8Array(Buffer.from(f.publicKey ?? '', 'base64'));
  const numbers = [f.port, f.capacity, f.load, f.lastSeen].map(Number);
  if (f.id === undefined || f.pool === undefined || f.host === undefined || !health) {
    throw new TypeError(`registry record ${f.id ?? '?'} is incomplete`);
  }
  if (publicKey.length !== 32 || !numbers.every(Number.isFinite)) {
    throw new TypeError(`registry record ${f.id} is malformed`);
  }
  const [port, capacity, load, lastSeen] = numbers;
  return {
    id: f.id,
    pool: f.pool,
    address: { host: f.host, port },
    capacity,
    load,
    publicKey,
    health,
    lastSeen,
  };
}

function snapshot(record: BackendRecord): BackendRecord {
  return { ...record, address: { ...record.address }, publicKey: record.publicKey.slice() };
}
