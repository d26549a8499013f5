/**
 * The backend registry (DESIGN.md §6): which backends exist, in which pool, where, how loaded,
 * with which ticket key, and whether they are healthy. Every method is async so a shared
 * implementation (Redis) satisfies the same interface; {@link InMemoryRegistry} is the default.
 */
import type { Clock } from '../util/Clock.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import { wallClock } from './clock.js';
import { type PublicKeyInput, rawPublicKey } from './ed25519.js';

/** `up`: takes players. `draining`: keeps its players, takes no new ones. `down`: gone or unreachable. */
export type BackendHealth = 'up' | 'down' | 'draining';

/** Where the proxy reaches a backend's stream listener. */
export interface BackendAddress {
  readonly host: string;
  readonly port: number;
}

/** One backend as the registry knows it (a snapshot: mutating it changes nothing). */
export interface BackendRecord {
  readonly id: string;
  readonly pool: string;
  readonly address: BackendAddress;
  /** Most players it takes. */
  readonly capacity: number;
  /** Players it has now. */
  readonly load: number;
  /** Its ticket-signing Ed25519 public key, **raw 32 bytes** (PEM/KeyObject are converted on the way in). */
  readonly publicKey: Uint8Array;
  readonly health: BackendHealth;
  /** Wall-clock ms of its last registration or update (its heartbeat). */
  readonly lastSeen: number;
}

/** What a backend announces when it registers. */
export interface BackendRegistration {
  id: string;
  pool: string;
  address: BackendAddress;
  capacity: number;
  /** Default 0. */
  load?: number;
  /** Raw 32 bytes, PEM or KeyObject. */
  publicKey: PublicKeyInput;
  /** Default 'up'. */
  health?: BackendHealth;
}

/** Fields an update may change; any update also refreshes `lastSeen`. */
export interface BackendUpdate {
  pool?: string;
  address?: BackendAddress;
  capacity?: number;
  load?: number;
  publicKey?: PublicKeyInput;
  health?: BackendHealth;
}

/** Registry events. `health` fires on every health change, including registration and removal. */
export type RegistryEvents = {
  registered: (record: BackendRecord) => void;
  removed: (record: BackendRecord) => void;
  /** `previous` is undefined for a new backend; `record.health` is 'down' for a removed one. */
  health: (record: BackendRecord, previous: BackendHealth | undefined) => void;
};

/** Options of {@link Registry.pickLeastLoaded}. */
export interface PickOptions {
  /** Backend ids not to choose (e.g. the one the player is leaving). */
  exclude?: Iterable<string>;
}

/** Shared knowledge about backends. */
export interface Registry {
  readonly events: TypedEmitter<RegistryEvents>;
  /** Add a backend, or replace it entirely if the id exists (a restarted backend). */
  register(registration: BackendRegistration): Promise<BackendRecord>;
  /** Change some fields and refresh `lastSeen`; undefined if the id is unknown. */
  update(id: string, update: BackendUpdate): Promise<BackendRecord | undefined>;
  /** Forget a backend; false if it was unknown. */
  remove(id: string): Promise<boolean>;
  get(id: string): Promise<BackendRecord | undefined>;
  /** Every backend, or those of one pool, ordered by id. */
  list(pool?: string): Promise<BackendRecord[]>;
  /**
   * The backend of `pool` to send a new player to: health 'up', `load < capacity`, lowest
   * `load / capacity`, then lowest `load`, then smallest id (so ties resolve the same way on
   * every proxy). Undefined when none qualifies.
   */
  pickLeastLoaded(pool: string, options?: PickOptions): Promise<BackendRecord | undefined>;
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

/** Ordering of {@link Registry.pickLeastLoaded}; negative when `a` is the better choice. */
export function compareLoad(a: BackendRecord, b: BackendRecord): number {
  // cross-multiplied so no division rounding decides a tie
  const byRatio = a.load * b.capacity - b.load * a.capacity;
  if (byRatio !== 0) return byRatio;
  if (a.load !== b.load) return a.load - b.load;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Whether a backend may take a new player. */
export function canTakePlayers(record: BackendRecord): boolean {
  return record.health === 'up' && record.load < record.capacity;
}

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
    const record: BackendRecord = {
      ...previous,
      pool: update.pool ?? previous.pool,
      address: update.address ? { host: update.address.host, port: update.address.port } : previous.address,
      capacity: update.capacity ?? previous.capacity,
      load: update.load ?? previous.load,
      publicKey: update.publicKey !== undefined ? rawPublicKey(update.publicKey) : previous.publicKey,
      health: update.health ?? previous.health,
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
   * `health` for each. Returns the ids marked. Call it on a timer.
   */
  async sweep(): Promise<string[]> {
    const now = this.clock.now();
    const marked: string[] = [];
    for (const record of this.backends.values()) {
      if (record.health === 'down' || now - record.lastSeen < this.staleAfterMs) continue;
      const down: BackendRecord = { ...record, health: 'down' };
      this.backends.set(record.id, down);
      marked.push(record.id);
      this.events.emit('health', snapshot(down), record.health);
    }
    return marked.sort();
  }
}
