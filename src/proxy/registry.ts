/**
 * The backend registry (DESIGN.md §6): which backends exist, in which pool, where, how loaded,
 * with which ticket key, and whether they are healthy. Every method is async so a shared
 * implementation (Redis) satisfies the same interface; `src/cluster` holds the in-memory default.
 */

import type { PublicKeyInput } from '../session/trust/ed25519.js';
import type { TypedEmitter } from '../util/TypedEmitter.js';

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
