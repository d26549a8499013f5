import type { WorldFramePipe } from '../session/SessionPipe.js';

import type { Clock } from '../util/Clock.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import type { AuthOp } from './AuthChannel.js';
import { type AnyComponentDef, type ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import {
  type AuthorityOp,
  type AuthorityStatus,
  ComponentInstance,
  Entity,
  type EntityWorld,
  type ReplicationConfig,
} from './Entity.js';
import { AuthorityError, type AuthorityResult, type WorldError } from './errors.js';
import { AuthWire } from './frame.js';
import { type GlobalEntity, GlobalEntityAllocator, type RemoteEntity } from './ids.js';
import { WorldConnection, type WorldConnectionOptions, type WorldSink } from './WorldConnection.js';

export interface ClientWorldOptions {
  components: readonly AnyComponentDef[];
  clock: Clock;
  pipe: WorldFramePipe;
  /** Let game code spawn its own entities (the server must allow them too). Default false. */
  allowClientEntities?: boolean;
  connection?: WorldConnectionOptions;
}

/** Client world events (entities the server replicates to this client, and our own). */
export type ClientWorldEvents = {
  /** An entity the server replicates entered this client's scope (its components follow as `insert`s). */
  spawn: (entity: Entity) => void;
  /** A replicated entity was despawned or left this client's scope. */
  despawn: (entity: Entity) => void;
  insert: (entity: Entity, component: AnyComponentDef) => void;
  remove: (entity: Entity, component: AnyComponentDef) => void;
  /** Properties of a replicated component changed (the values are already set). */
  update: (entity: Entity, component: AnyComponentDef, changedKeys: string[]) => void;
  /** One of our entities became public (`configureReplication('public' | 'delegated')`). */
  publish: (entity: Entity) => void;
  /** One of our entities became private. */
  unpublish: (entity: Entity) => void;
  /** An entity became delegated here: a server entity the server delegated, or ours once migrated. */
  delegate: (entity: Entity) => void;
  /** Delegation of an entity was turned off by the server. */
  undelegate: (entity: Entity) => void;
  /** This client now holds authority over the entity. */
  authGranted: (entity: Entity) => void;
  /** Someone else (another client or the server) holds authority. */
  authDenied: (entity: Entity) => void;
  /** Authority over the entity is available again (or delegation ended) after being held/requested/denied. */
  authReset: (entity: Entity) => void;
};

/** Key of the server connection (owner key of every entity the server replicates here). */
export const SERVER_KEY = 'server';

const HOLDING: ReadonlySet<AuthorityStatus | null> = new Set(['granted', 'releasing']);

/**
 * The client side of replication: a mirror of the server's entities in this client's scope,
 * plus (when allowed) entities this client authors and hosts to the server. Browser-safe.
 * Compose it into a Client by feeding {@link receiveFrame} every world frame from the session
 * pipe and calling {@link step} once per client tick.
 */
export class ClientWorld extends TypedEmitter<ClientWorldEvents> implements EntityWorld {
  readonly registry: ComponentRegistry;
  /** The connection to the current backend (replaced by {@link migrate}). */
  connection: WorldConnection;
  private readonly ids = new GlobalEntityAllocator();
  private readonly entityMap = new Map<GlobalEntity, Entity>();
  private dirty: ComponentInstance[] = [];
  private unspawned: Entity[] = [];
  /** Entities whose release waits for our writes to be acknowledged. */
  private readonly releasing = new Set<Entity>();
  /** Entities whose authority request we cancelled (a grant for it is answered by the cancel). */
  private readonly cancelled = new Set<Entity>();
  private stepNo = 0;
  private readonly allowClientEntities: boolean;
  /**
   * Carried entities this client held authority over: their grant on the new backend's
   * connection restarts our writes there (no event: the status never changed).
   */
  private readonly regrant = new Set<Entity>();
  private readonly sink: WorldSink;

  constructor(private readonly options: ClientWorldOptions) {
    super();
    this.registry = new ComponentRegistry(options.components);
    this.allowClientEntities = options.allowClientEntities ?? false;
    this.sink = this.makeSink();
    this.connection = this.newConnection(options.pipe);
  }

  private newConnection(pipe: WorldFramePipe): WorldConnection {
    const o = this.options;
    return new WorldConnection(SERVER_KEY, pipe, this.registry, o.clock, this.sink, true, o.connection);
  }

  /**
   * Seamless migration cutover (DESIGN §5 step 6), in one call: the world continues on a new
   * backend's connection (`pipe`), with nothing left of the old one's reliability state.
   *
   * - Entities of the old backend that carry over (`carried`: the old backend's id → the new
   *   one's) keep their `Entity` object and values, re-keyed: they resolve under the new id at
   *   once, the old id redirects to it for 60 s (`entityByPriorId`), and the new backend's Spawn
   *   of them is applied as an update — no despawn, no spawn event.
   * - Every other entity of the old backend leaves (`despawn` events).
   * - This client's own entities are re-announced to the new backend (Spawn with every
   *   component, their publicity, under the ids the old backend knew them by) — no local event.
   *   Anything written since is in those Spawns: nothing the client authored is lost.
   * - Carried entities this client held authority over stay `granted` here; the new backend's
   *   grant restarts the writes (a snapshot of our values), without an event.
   */
  migrate(
    pipe: WorldFramePipe,
    carried: readonly { readonly from: number; readonly to: number }[],
  ): { left: Entity[]; carried: Entity[]; own: Entity[] } {
    const old = this.connection;
    const conn = this.newConnection(pipe);
    const to = new Map<number, number>();
    for (const p of carried) to.set(p.from, p.to);
    const left: Entity[] = [];
    const kept: Entity[] = [];
    const own: Entity[] = [];
    const fresh = new Set(this.unspawned);
    for (const e of this.entityMap.values()) {
      // the old connection's channels: nothing is sent there any more
      e.viewers.length = 0;
      if (e.ownerKey === null) {
        own.push(e);
        continue;
      }
      const prior = old.map.remoteOf(e.id);
      const id = prior === undefined ? undefined : to.get(prior);
      if (prior === undefined || id === undefined) {
        left.push(e);
        continue;
      }
      conn.expectCarried(id, e, prior);
      kept.push(e);
      if (HOLDING.has(e.authority)) this.regrant.add(e);
    }
    // lowest ids first, so each can keep the id the old backend knew it by
    const hostId = (e: Entity) => old.map.hostOf(e.id) ?? Number.MAX_SAFE_INTEGER;
    own.sort((a, b) => hostId(a) - hostId(b));
    this.connection = conn;
    for (const e of own) if (!fresh.has(e)) conn.host.spawn(e, old.map.hostOf(e.id));
    for (const e of left) {
      this.releasing.delete(e);
      this.cancelled.delete(e);
      this.regrant.delete(e);
      e.alive = false;
      for (const inst of e.components) if (inst) inst.alive = false;
      this.entityMap.delete(e.id);
      this.emit('despawn', e);
    }
    return { left, carried: kept, own };
  }

  /** An entity by the id the previous backend's session gave it (a carried one, within 60 s of the move). */
  entityByPriorId(id: number): Entity | undefined {
    const g = this.connection.map.globalOfPrior(id);
    return g === undefined ? undefined : this.entityMap.get(g);
  }

  /** A world frame from the server. Returns null, or a WorldError (fatal: disconnect). */
  receiveFrame(bytes: Uint8Array): WorldError | null {
    return this.connection.receive(bytes);
  }

  /** Once per client tick: send own entities' commands and changes, and acks. */
  step(): void {
    this.stepNo++;
    const dirty = this.dirty;
    this.dirty = [];
    for (const inst of dirty) {
      inst.queued = false;
      const bits = inst.dirty;
      inst.dirty = 0;
      if (!inst.alive || bits === 0) continue;
      for (const ch of inst.entity.viewers) ch.owner.markChanged(ch, inst.kind.index, bits);
    }
    // spawn what game code created since the last step, each with all its components at once
    const fresh = this.unspawned;
    this.unspawned = [];
    for (const e of fresh) if (e.alive) this.connection.host.spawn(e);
    // a release goes out once everything we wrote as holder is acknowledged, so no write of
    // ours can reach the server after it (and be refused)
    for (const e of this.releasing) {
      if (e.authority !== 'releasing' || !e.alive) this.releasing.delete(e);
      else if (this.connection.heldClean(e)) {
        this.connection.host.authorityRequest(e, true);
        this.releasing.delete(e);
      }
    }
    this.connection.flush(this.stepNo);
    this.connection.maintain();
  }

  /** Spawn an entity this client authors (needs allowClientEntities here and on the server). */
  spawn(): Entity {
    if (!this.allowClientEntities) throw new Error('client-authored entities are disabled');
    const e = new Entity(this.ids.allocate(), this);
    this.entityMap.set(e.id, e);
    this.unspawned.push(e);
    return e;
  }

  entity(id: GlobalEntity): Entity | undefined {
    return this.entityMap.get(id);
  }

  entities(): IterableIterator<Entity> {
    return this.entityMap.values();
  }

  /** The local entity for the server's wire id (diagnostics/tests). */
  entityByRemoteId(id: RemoteEntity): Entity | undefined {
    const g = this.connection.map.globalOfRemote(id);
    return g === undefined ? undefined : this.entityMap.get(g);
  }

  // ---- EntityWorld hooks ---------------------------------------------------------------------

  markDirty(inst: ComponentInstance): void {
    this.dirty.push(inst);
  }

  checkAuthoring(e: Entity): void {
    if (e.ownerKey === null) return;
    if (e.replication === 'delegated') {
      if (HOLDING.has(e.authority)) return;
      throw new AuthorityError(
        'not-holder',
        `entity ${e.id} is delegated and this client does not hold authority`,
      );
    }
    throw new Error(`entity ${e.id} is replicated from the server; only the server changes it`);
  }

  componentInserted(e: Entity, inst: ComponentInstance): void {
    this.connection.host.insert(e, inst.kind);
  }

  componentRemoved(e: Entity, inst: ComponentInstance): void {
    this.connection.host.remove(e, inst.kind);
  }

  entityDespawned(e: Entity): void {
    this.connection.host.despawn(e);
    for (const inst of e.components) if (inst) inst.alive = false;
    this.entityMap.delete(e.id);
  }

  configureReplication(e: Entity, mode: ReplicationConfig): void {
    if (e.ownerKey !== null) {
      throw new AuthorityError(
        'not-allowed',
        `entity ${e.id} is the server's; only the server configures it`,
      );
    }
    if (e.replication === 'delegated') {
      throw new AuthorityError(
        'not-allowed',
        `entity ${e.id} is being delegated; the server configures it now`,
      );
    }
    if (mode === e.replication) return;
    const host = this.connection.host;
    if (mode === 'delegated') {
      // a private entity is published first: the server delegates only public ones
      if (e.replication === 'private') {
        e.replication = 'public';
        host.publish(e, true);
        this.emit('publish', e);
      }
      e.replication = 'delegated';
      host.delegation(e, true);
      return;
    }
    e.replication = mode;
    host.publish(e, mode === 'public');
    this.emit(mode === 'public' ? 'publish' : 'unpublish', e);
  }

  authorityOp(e: Entity, op: AuthorityOp): AuthorityResult {
    if (!e.alive) return fail('despawned', `entity ${e.id} is despawned`);
    if (op === 'give' || op === 'take')
      return fail('not-allowed', 'only the server gives or takes authority');
    if (e.replication !== 'delegated' || e.ownerKey === null || e.authority === null) {
      return fail('not-delegated', `entity ${e.id} is not delegated`);
    }
    const s = e.authority;
    if (op === 'request') {
      if (s === 'available' || s === 'denied') {
        this.cancelled.delete(e);
        this.setStatus(e, 'requested');
        this.connection.host.authorityRequest(e, false);
      }
      return OK;
    }
    if (s === 'requested') {
      // cancel: the server may already have granted it, so tell it too
      this.cancelled.add(e);
      this.setStatus(e, 'available');
      this.connection.host.authorityRequest(e, true);
    } else if (s === 'granted') {
      this.setStatus(e, 'releasing');
      this.releasing.add(e);
    }
    return OK;
  }

  /** Move `e` to authority status `s`, with exactly one event per real transition. */
  private setStatus(e: Entity, s: AuthorityStatus | null, migrated = false): void {
    const prev = e.authority;
    if (prev === s) return;
    e.authority = s;
    const holding = HOLDING.has(s);
    const wasHolding = HOLDING.has(prev);
    e.holding = holding;
    e.writeLocked = s !== null && !holding;
    if (holding && !wasHolding && !migrated) this.connection.beginHolding(e);
    if (!holding && wasHolding) this.connection.endHolding(e);
    if (s === 'granted' && prev !== 'releasing') this.emit('authGranted', e);
    else if (s === 'denied') this.emit('authDenied', e);
    else if ((s === 'available' || s === null) && prev !== null && prev !== 'available')
      this.emit('authReset', e);
  }

  private makeSink(): WorldSink {
    const self = this;
    return {
      remoteSpawn(_conn, comps) {
        const e = new Entity(self.ids.allocate(), self);
        e.ownerKey = SERVER_KEY;
        e.replication = 'public';
        for (const c of comps) e.components[c.kind.index] = new ComponentInstance(c.kind, e, c.values);
        self.entityMap.set(e.id, e);
        self.emit('spawn', e);
        for (const c of comps) self.emit('insert', e, c.kind.def);
        return e;
      },
      remoteDespawn(_conn, e) {
        self.regrant.delete(e);
        self.releasing.delete(e);
        self.cancelled.delete(e);
        // a holder that despawned the entity itself has already taken it out
        if (!e.alive) return;
        e.alive = false;
        for (const inst of e.components) if (inst) inst.alive = false;
        self.entityMap.delete(e.id);
        self.emit('despawn', e);
      },
      remoteInsert(_conn, e, kind, values) {
        const old = e.components[kind.index];
        if (old) old.alive = false;
        e.components[kind.index] = new ComponentInstance(kind, e, values);
        self.emit('insert', e, kind.def);
      },
      remoteRemove(_conn, e, kind) {
        const inst = e.components[kind.index];
        if (!inst) return;
        inst.alive = false;
        e.components[kind.index] = undefined;
        self.emit('remove', e, kind.def);
      },
      remotePublicity(_conn, e, op, arg, comps) {
        if (op === 'resync') {
          // a former holder's resync that arrived after delegation ended: the structure still counts
          if (comps && e.alive) self.resync(e, comps);
        } else if (op === 'enableDelegation') {
          if (e.replication === 'delegated') return;
          e.replication = 'delegated';
          self.emit('delegate', e);
          self.setStatus(e, 'available');
        } else if (op === 'disableDelegation') {
          if (e.replication !== 'delegated') return;
          e.replication = 'public';
          self.releasing.delete(e);
          self.cancelled.delete(e);
          self.setStatus(e, null);
          self.emit('undelegate', e);
        } else if (op === 'setAuthority') {
          const wasHolding = HOLDING.has(e.authority);
          const status: AuthorityStatus =
            arg === AuthWire.Granted ? 'granted' : arg === AuthWire.Denied ? 'denied' : 'available';
          if (self.regrant.has(e)) {
            // carried over while we held it: the new backend re-creates it (available), then grants it
            if (status === 'available') return;
            self.regrant.delete(e);
            if (status === 'granted' && HOLDING.has(e.authority)) {
              self.connection.beginHolding(e);
              return;
            }
          }
          // a grant repeated while we are releasing does not undo the release
          if (status === 'granted' && e.authority === 'releasing') return;
          // a grant answering a request we cancelled: the cancel (sent after it) releases it
          if (self.cancelled.has(e)) {
            if (status === 'granted') return;
            self.cancelled.delete(e);
          }
          self.setStatus(e, status);
          // a former holder is brought back to the server's structure (values follow as updates)
          if (wasHolding && comps && e.alive) self.resync(e, comps);
        }
      },
      remoteAdopt(_conn, e, comps) {
        // a carried entity, spawned again by the new backend: its values, as changes
        e.replication = e.replication === 'delegated' ? 'delegated' : 'public';
        const want = new Set<number>();
        for (const c of comps) {
          want.add(c.kind.index);
          const inst = e.components[c.kind.index];
          if (!inst) {
            e.components[c.kind.index] = new ComponentInstance(c.kind, e, c.values);
            self.emit('insert', e, c.kind.def);
            continue;
          }
          if (e.holding) continue; // our own values lead while we hold it
          let changed = 0;
          for (let i = 0; i < c.kind.propCount; i++) {
            if (c.kind.types[i].equals(inst.values[i], c.values[i])) continue;
            inst.values[i] = c.values[i];
            changed |= 1 << i;
          }
          if (changed !== 0 && self.listenerCount('update') > 0)
            self.emit('update', e, c.kind.def, c.kind.keysOf(changed));
        }
        if (e.holding) return;
        for (const inst of e.components) {
          if (!inst || want.has(inst.kind.index)) continue;
          inst.alive = false;
          e.components[inst.kind.index] = undefined;
          self.emit('remove', e, inst.kind.def);
        }
      },
      remoteMigrated(_conn, e) {
        e.ownerKey = SERVER_KEY;
        e.replication = 'delegated';
        self.emit('delegate', e);
        self.setStatus(e, 'granted', true);
      },
      remoteUpdated(_conn, e, kind, changed) {
        if (self.listenerCount('update') > 0) self.emit('update', e, kind.def, kind.keysOf(changed));
      },
      delegateRequested() {
        // only servers migrate remote entities
      },
      canWrite() {
        return false;
      },
      authorityRequest() {
        // only servers arbitrate authority
      },
      heldDespawn() {
        // only servers host entities others hold
      },
      heldDespawnRefused() {
        // only servers refuse holders' writes
      },
    };
  }

  /**
   * Make `e` exactly the server's (after losing authority): its component kinds and their values,
   * from the resync itself — a component the server kept is inserted with the server's values,
   * never with defaults the server never held.
   */
  private resync(e: Entity, comps: readonly { kind: ComponentKind; values: unknown[] | null }[]): void {
    const want = new Set(comps.map((c) => c.kind.index));
    for (const inst of e.components) {
      if (!inst || want.has(inst.kind.index)) continue;
      inst.alive = false;
      e.components[inst.kind.index] = undefined;
      this.emit('remove', e, inst.kind.def);
    }
    for (const { kind, values } of comps) {
      // (null: a newer Insert decided this component; it stays as it is)
      if (values === null) continue;
      const inst = e.components[kind.index];
      if (!inst) {
        e.components[kind.index] = new ComponentInstance(kind, e, values);
        this.emit('insert', e, kind.def);
        continue;
      }
      let changed = 0;
      for (let i = 0; i < kind.propCount; i++) {
        if (kind.types[i].equals(inst.values[i], values[i])) continue;
        inst.values[i] = values[i];
        changed |= 1 << i;
      }
      if (changed !== 0 && this.listenerCount('update') > 0)
        this.emit('update', e, kind.def, kind.keysOf(changed));
    }
  }
}

const OK: AuthorityResult = { ok: true };

function fail(code: AuthorityError['code'], message: string): AuthorityResult {
  return { ok: false, error: new AuthorityError(code, message) };
}
