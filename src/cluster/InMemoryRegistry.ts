/**
 * The in-memory {@link Registry}: the default for one machine (`baton demo`, tests). A Redis
 * implementation satisfies the same contract for several proxies and backends.
 */
import {
  type BackendAddress,
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

/** Options of {@link InMemoryRegistry}. */
export interface InMemoryRegistryOptions {
  /** Wall clock for `lastSeen`. Default {@link wallClock}. */
  clock?: Clock;
  /** `sweep()` marks backends not seen for this long as 'down'. Default 15 000 ms. */
  staleAfterMs?: number;
}

/** A registry in this process's memory: one proxy, `baton demo`, tests. */
export class InMemoryRegistry implements Registry {
  readonly events = new TypedEmitter<RegistryEvents>();
  private readonly backends = new Map<string, BackendRecord>();
  /** Backends `sweep()` marked down for silence: the next sign of life (an update) brings them back. */
  private readonly staleDown = new Set<string>();
  private readonly clock: Clock;
  private readonly staleAfterMs: number;

  constructor(options: InMemoryRegistryOptions = {}) {
    this.clock = options.clock ?? wallClock;
    this.staleAfterMs = options.staleAfterMs ?? 15_000;
  }

  async register(registration: BackendRegistration): Promise<BackendRecord> {
    checkRegistration(registration);
    if (registration.id.length === 0) throw new RangeError('backend id must not be empty');
    const previous = this.backends.get(registration.id);
    this.staleDown.delete(registration.id);
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
    this.backends.set(record.id, record);
    this.events.emit('registered', snapshot(record));
    if (previous?.health !== record.health) this.events.emit('health', snapshot(record), previous?.health);
    return snapshot(record);
  }

  async update(id: string, update: BackendUpdate): Promise<BackendRecord | undefined> {
    const previous = this.backends.get(id);
    if (!previous) return undefined;
    checkRegistration(update);
    // a backend swept down for silence that reports again is alive again (an explicit health wins)
    const revived = this.staleDown.delete(id) && update.health === undefined;
    const record: BackendRecord = {
      ...previous,
      pool: update.pool ?? previous.pool,
      address: update.address ? { host: update.address.host, port: update.address.port } : previous.address,
      capacity: update.capacity ?? previous.capacity,
      load: update.load ?? previous.load,
      publicKey: update.publicKey !== undefined ? rawPublicKey(update.publicKey) : previous.publicKey,
      health: update.health ?? (revived ? 'up' : previous.health),
      lastSeen: this.clock.now(),
    };
    this.backends.set(id, record);
    if (record.health !== previous.health) this.events.emit('health', snapshot(record), previous.health);
    return snapshot(record);
  }

  async remove(id: string): Promise<boolean> {
    const record = this.backends.get(id);
    if (!record) return false;
    this.backends.delete(id);
    this.staleDown.delete(id);
    this.events.emit('removed', snapshot(record));
    if (record.health !== 'down')
      this.events.emit('health', { ...snapshot(record), health: 'down' }, record.health);
    return true;
  }

  async get(id: string): Promise<BackendRecord | undefined> {
    const record = this.backends.get(id);
    return record && snapshot(record);
  }

  async list(pool?: string): Promise<BackendRecord[]> {
    return [...this.backends.values()]
      .filter((r) => pool === undefined || r.pool === pool)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(snapshot);
  }

  async pickLeastLoaded(pool: string, options: PickOptions = {}): Promise<BackendRecord | undefined> {
    const exclude = new Set(options.exclude ?? []);
    let best: BackendRecord | undefined;
    for (const record of this.backends.values()) {
      if (record.pool !== pool || exclude.has(record.id) || !canTakePlayers(record)) continue;
      if (!best || compareLoad(record, best) < 0) best = record;
    }
    return best && snapshot(best);
  }

  /**
   * Mark every backend not seen for `staleAfterMs` as 'down' (a missed heartbeat), emitting
   * `health` for each. Returns the ids marked. Call it on a timer. A backend marked down this
   * way comes back `up` with its next `update` that does not set `health` (it reports again).
   */
  async sweep(): Promise<string[]> {
    const now = this.clock.now();
    const marked: string[] = [];
    for (const record of this.backends.values()) {
      if (record.health === 'down' || now - record.lastSeen < this.staleAfterMs) continue;
      const down: BackendRecord = { ...record, health: 'down' };
      this.backends.set(record.id, down);
      this.staleDown.add(record.id);
      marked.push(record.id);
      this.events.emit('health', snapshot(down), record.health);
    }
    return marked.sort();
  }
}

function checkRegistration(r: { capacity?: number; load?: number; address?: BackendAddress }): void {
  if (r.capacity !== undefined && !(Number.isInteger(r.capacity) && r.capacity >= 0)) {
    throw new RangeError(`capacity must be a non-negative integer, got ${r.capacity}`);
  }
  if (r.load !== undefined && !(Number.isInteger(r.load) && r.load >= 0)) {
    throw new RangeError(`load must be a non-negative integer, got ${r.load}`);
  }
  if (
    r.address !== undefined &&
    !(Number.isInteger(r.address.port) && r.address.port > 0 && r.address.port < 65536)
  ) {
    throw new RangeError(`port must be 1..65535, got ${r.address.port}`);
  }
}

function snapshot(record: BackendRecord): BackendRecord {
  return { ...record, address: { ...record.address }, publicKey: record.publicKey.slice() };
}
