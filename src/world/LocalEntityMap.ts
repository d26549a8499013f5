import type { Clock } from '../util/Clock.js';
import { DenseIdMap } from './DenseIdMap.js';
import type { GlobalEntity, HostEntity, RemoteEntity } from './ids.js';

/** How long a redirect (old local id → new local id) is honoured. */
export const REDIRECT_TTL_MS = 60_000;

/** Which id space a local id belongs to: one the local side hosts, or one the peer hosts. */
export type LocalIdSide = 'host' | 'remote';

interface Redirect {
  to: number;
  toSide: LocalIdSide;
  at: number;
}

/**
 * Per-connection map between the world's {@link GlobalEntity} ids and the compact wire ids
 * of that connection, in both directions, plus **redirects**: when an entity changes id space
 * (authority migration, DESIGN §4) the old wire id keeps resolving to the new one for
 * {@link REDIRECT_TTL_MS}, so messages already in flight still find their entity.
 */
export class LocalEntityMap {
  private readonly globalToHost = new Map<GlobalEntity, HostEntity>();
  /** Host ids are ours, dense from 0: an array, not a hash table (a join fills one entry per entity). */
  private readonly hostToGlobal = new DenseIdMap<GlobalEntity>();
  private readonly globalToRemote = new Map<GlobalEntity, RemoteEntity>();
  private readonly remoteToGlobal = new Map<RemoteEntity, GlobalEntity>();
  private readonly hostRedirects = new Map<HostEntity, Redirect>();
  private readonly remoteRedirects = new Map<RemoteEntity, Redirect>();
  /**
   * Redirects of the *previous backend's session* (seamless migration, DESIGN §5): the ids a
   * player's former backend used on its connection (its host ids) → this connection's ids of
   * the entities that carried over. A separate table: those ids share their number space with
   * this connection's own, so they are looked up only where an id is known to be the old session's.
   */
  private readonly priorRedirects = new Map<number, Redirect>();

  /**
   * @param hostLookup where the owner already knows global → host (a server connection: its
   *   host engine's channel of the world's entity), so this map keeps no hash table of its own
   *   for that direction — a join would otherwise insert into one per entity in scope. It must
   *   answer exactly what {@link insertHost}/{@link removeHost} would have recorded.
   */
  constructor(
    private readonly clock: Clock,
    private readonly hostLookup?: (global: GlobalEntity) => HostEntity | undefined,
  ) {}

  insertHost(global: GlobalEntity, host: HostEntity): void {
    if (this.hostLookup === undefined) this.globalToHost.set(global, host);
    this.hostToGlobal.set(host, global);
  }

  insertRemote(global: GlobalEntity, remote: RemoteEntity): void {
    this.globalToRemote.set(global, remote);
    this.remoteToGlobal.set(remote, global);
  }

  removeHost(host: HostEntity): void {
    const g = this.hostToGlobal.get(host);
    this.hostToGlobal.delete(host);
    if (g !== undefined && this.globalToHost.get(g) === host) this.globalToHost.delete(g);
  }

  removeRemote(remote: RemoteEntity): void {
    const g = this.remoteToGlobal.get(remote);
    this.remoteToGlobal.delete(remote);
    if (g !== undefined && this.globalToRemote.get(g) === remote) this.globalToRemote.delete(g);
  }

  hostOf(global: GlobalEntity): HostEntity | undefined {
    if (this.hostLookup !== undefined) return this.hostLookup(global);
    return this.globalToHost.get(global);
  }

  remoteOf(global: GlobalEntity): RemoteEntity | undefined {
    return this.globalToRemote.get(global);
  }

  /** The global entity a host id names, following a live redirect if the id moved. */
  globalOfHost(host: HostEntity): GlobalEntity | undefined {
    const g = this.hostToGlobal.get(host);
    if (g !== undefined) return g;
    const r = this.liveRedirect(this.hostRedirects, host);
    if (!r) return undefined;
    return r.toSide === 'host' ? this.hostToGlobal.get(r.to) : this.remoteToGlobal.get(r.to);
  }

  /** The global entity a remote id names, following a live redirect if the id moved. */
  globalOfRemote(remote: RemoteEntity): GlobalEntity | undefined {
    const g = this.remoteToGlobal.get(remote);
    if (g !== undefined) return g;
    const r = this.liveRedirect(this.remoteRedirects, remote);
    if (!r) return undefined;
    return r.toSide === 'host' ? this.hostToGlobal.get(r.to) : this.remoteToGlobal.get(r.to);
  }

  /** Record that `fromSide` id `from` is now `toSide` id `to` (stamped with the clock). */
  installRedirect(fromSide: LocalIdSide, from: number, toSide: LocalIdSide, to: number): void {
    const table = fromSide === 'host' ? this.hostRedirects : this.remoteRedirects;
    table.set(from, { to, toSide, at: this.clock.now() });
  }

  /** Where a moved id now points, if the redirect is younger than {@link REDIRECT_TTL_MS}. */
  resolveRedirect(fromSide: LocalIdSide, from: number): { side: LocalIdSide; id: number } | undefined {
    const r = this.liveRedirect(fromSide === 'host' ? this.hostRedirects : this.remoteRedirects, from);
    return r ? { side: r.toSide, id: r.to } : undefined;
  }

  /**
   * Seamless migration: `prior` — an id the previous backend's session used for an entity that
   * carried over — now names `toSide` id `to` on this connection (stamped; expires like any redirect).
   */
  installPriorRedirect(prior: number, toSide: LocalIdSide, to: number): void {
    this.priorRedirects.set(prior, { to, toSide, at: this.clock.now() });
  }

  /** Where an id of the previous backend's session points now, while the redirect lives. */
  resolvePrior(prior: number): { side: LocalIdSide; id: number } | undefined {
    const r = this.liveRedirect(this.priorRedirects, prior);
    return r ? { side: r.toSide, id: r.to } : undefined;
  }

  /** The global entity an id of the previous backend's session names (through its redirect). */
  globalOfPrior(prior: number): GlobalEntity | undefined {
    const r = this.liveRedirect(this.priorRedirects, prior);
    if (!r) return undefined;
    return r.toSide === 'host' ? this.hostToGlobal.get(r.to) : this.remoteToGlobal.get(r.to);
  }

  /** Drop expired redirects; returns how many were dropped. Call now and then (the worlds do, each step). */
  cleanupRedirects(): number {
    // called per connection per step: nothing to allocate or scan in the common case
    if (this.hostRedirects.size === 0 && this.remoteRedirects.size === 0 && this.priorRedirects.size === 0)
      return 0;
    const now = this.clock.now();
    let n = 0;
    for (const table of [this.hostRedirects, this.remoteRedirects, this.priorRedirects]) {
      for (const [k, r] of table) {
        if (now - r.at >= REDIRECT_TTL_MS) {
          table.delete(k);
          n++;
        }
      }
    }
    return n;
  }

  get redirectCount(): number {
    return this.hostRedirects.size + this.remoteRedirects.size + this.priorRedirects.size;
  }

  get hostCount(): number {
    return this.hostToGlobal.size;
  }

  get remoteCount(): number {
    return this.remoteToGlobal.size;
  }

  private liveRedirect(table: Map<number, Redirect>, from: number): Redirect | undefined {
    const r = table.get(from);
    if (!r) return undefined;
    if (this.clock.now() - r.at >= REDIRECT_TTL_MS) {
      table.delete(from);
      return undefined;
    }
    return r;
  }
}
