import type { WorldFramePipe } from '../session/SessionPipe.js';

import type { Clock } from '../util/Clock.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import type { AuthOp } from './AuthChannel.js';
import { type AnyComponentDef, type ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import { ComponentInstance, Entity, type EntityWorld, type ReplicationConfig } from './Entity.js';
import { WorldError } from './errors.js';
import { type GlobalEntity, GlobalEntityAllocator, type GlobalEntityAllocatorOptions } from './ids.js';
import { Room } from './Room.js';
import { WorldConnection, type WorldConnectionOptions, type WorldSink } from './WorldConnection.js';

/** Which component and fields give an entity's position (for the view radius). */
export interface PositionSource {
  component: AnyComponentDef;
  x: string;
  y: string;
  z?: string;
}

export interface ServerWorldOptions {
  components: readonly AnyComponentDef[];
  clock: Clock;
  /** Accept entities that clients author (default false: a client spawn is a fatal protocol error). */
  allowClientEntities?: boolean;
  /** Declare where positions live to enable per-user view radius interest. */
  position?: PositionSource;
  /** Per-connection sending tuning. */
  connection?: WorldConnectionOptions;
  /** Backend id prefix of global entity ids (cluster mode). */
  globalIds?: GlobalEntityAllocatorOptions;
}

/** Where a user's view is centred: an entity (its position) or a point. */
export type ViewCenter = Entity | { x: number; y: number; z?: number };

/** Server world events, for entities clients author (server-authored ones are the game's own). */
export type ServerWorldEvents<K> = {
  spawn: (entity: Entity, user: K) => void;
  despawn: (entity: Entity, user: K) => void;
  insert: (entity: Entity, component: AnyComponentDef) => void;
  remove: (entity: Entity, component: AnyComponentDef) => void;
  update: (entity: Entity, component: AnyComponentDef, changedKeys: string[]) => void;
  /** A client made its entity public or private. */
  publish: (entity: Entity, mode: ReplicationConfig) => void;
};

interface UserState<K> {
  key: K;
  conn: WorldConnection;
  rooms: Set<Room<K>>;
  include: Set<GlobalEntity>;
  exclude: Set<GlobalEntity>;
  viewRadius: number | null;
  viewCenter: ViewCenter | null;
  /** Scope version this user's scope was last computed at (skip when nothing changed). */
  scopeSeen: number;
}

/**
 * The server side of replication, for all users: the authoritative entity store, rooms and
 * scopes, and one {@link WorldConnection} per user. Compose it into a Server by calling
 * {@link addUser} when a session enters the world, {@link receiveFrame} for every world frame
 * from that user, and {@link step} once per tick.
 */
export class ServerWorld<K = unknown> extends TypedEmitter<ServerWorldEvents<K>> implements EntityWorld {
  readonly registry: ComponentRegistry;
  private readonly clock: Clock;
  private readonly ids: GlobalEntityAllocator;
  private readonly entityMap = new Map<GlobalEntity, Entity>();
  private readonly users = new Map<K, UserState<K>>();
  private readonly roomSet = new Set<Room<K>>();
  private nextRoomId = 1;
  private dirty: ComponentInstance[] = [];
  private changed: ComponentInstance[] = [];
  private stepNo = 0;
  /** Bumped by anything that can change who sees what (rooms, include/exclude, views, despawns). */
  private scopeVersion = 0;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private stamp = 0;
  private readonly allowClientEntities: boolean;
  private readonly position: { kind: ComponentKind; x: number; y: number; z: number } | null;
  private readonly sink: WorldSink;

  constructor(private readonly options: ServerWorldOptions) {
    super();
    this.registry = new ComponentRegistry(options.components);
    this.clock = options.clock;
    this.ids = new GlobalEntityAllocator(options.globalIds);
    this.allowClientEntities = options.allowClientEntities ?? false;
    if (options.position) {
      const kind = this.registry.kindOf(options.position.component);
      const idx = (f: string | undefined) => {
        if (f === undefined) return -1;
        const i = kind.keys.indexOf(f);
        if (i < 0) throw new Error(`position field ${f} is not a property of ${kind.name}`);
        return i;
      };
      this.position = {
        kind,
        x: idx(options.position.x),
        y: idx(options.position.y),
        z: idx(options.position.z),
      };
    } else this.position = null;
    this.sink = this.makeSink();
  }

  // ---- users ---------------------------------------------------------------------------------

  /** A user's session entered the world; returns its connection (stats, maps). */
  addUser(key: K, pipe: WorldFramePipe): WorldConnection {
    if (this.users.has(key)) throw new Error('user already added');
    const conn = new WorldConnection(
      key,
      pipe,
      this.registry,
      this.clock,
      this.sink,
      false,
      this.options.connection,
    );
    this.users.set(key, {
      key,
      conn,
      rooms: new Set(),
      include: new Set(),
      exclude: new Set(),
      viewRadius: null,
      viewCenter: null,
      scopeSeen: -1,
    });
    return conn;
  }

  /** The user left: their client-authored entities despawn, they leave every room. */
  removeUser(key: K): void {
    const u = this.users.get(key);
    if (!u) return;
    for (const room of [...u.rooms]) room.removeUser(key);
    for (const ch of [...u.conn.host.channels.values()]) {
      const vi = ch.entity.viewers.indexOf(ch);
      if (vi >= 0) ch.entity.viewers.splice(vi, 1);
    }
    this.users.delete(key);
    this.scopeVersion++;
    for (const e of [...this.entityMap.values()]) if (e.ownerKey === key) this.despawnRemote(e, key);
  }

  hasUser(key: K): boolean {
    return this.users.has(key);
  }

  userKeys(): K[] {
    return [...this.users.keys()];
  }

  connection(key: K): WorldConnection | undefined {
    return this.users.get(key)?.conn;
  }

  /**
   * A world frame from `key`'s pipe. Returns null when applied; a {@link WorldError} otherwise:
   * non-fatal ones were counted and dropped, fatal ones mean "disconnect this user with that reason".
   */
  receiveFrame(key: K, bytes: Uint8Array): WorldError | null {
    const u = this.users.get(key);
    if (!u) return new WorldError('not-allowed', 'frame from an unknown user', false);
    return u.conn.receive(bytes);
  }

  // ---- entities ------------------------------------------------------------------------------

  spawn(): Entity {
    const e = new Entity(this.ids.allocate(), this);
    this.adopt(e);
    return e;
  }

  private adopt(e: Entity): void {
    e.slot = this.freeSlots.pop() ?? this.nextSlot++;
    this.entityMap.set(e.id, e);
  }

  entity(id: GlobalEntity): Entity | undefined {
    return this.entityMap.get(id);
  }

  entities(): IterableIterator<Entity> {
    return this.entityMap.values();
  }

  // ---- rooms and scope -----------------------------------------------------------------------

  createRoom(): Room<K> {
    const room = new Room<K>(this.nextRoomId++, {
      userJoined: (r, key) => {
        this.users.get(key)?.rooms.add(r);
        this.scopeVersion++;
      },
      userLeft: (r, key) => {
        this.users.get(key)?.rooms.delete(r);
        this.scopeVersion++;
      },
      changed: () => {
        this.scopeVersion++;
      },
    });
    this.roomSet.add(room);
    return room;
  }

  destroyRoom(room: Room<K>): void {
    for (const key of [...room.users]) room.removeUser(key);
    for (const e of [...room.entities]) room.removeEntity(e);
    room.destroyed = true;
    this.roomSet.delete(room);
  }

  /** Force an entity into `key`'s scope (it must still share a room); undoes exclude. */
  include(key: K, e: Entity): void {
    const u = this.userOrThrow(key);
    this.scopeVersion++;
    u.exclude.delete(e.id);
    u.include.add(e.id);
  }

  /** Keep an entity out of `key`'s scope; undoes include. */
  exclude(key: K, e: Entity): void {
    const u = this.userOrThrow(key);
    this.scopeVersion++;
    u.include.delete(e.id);
    u.exclude.add(e.id);
  }

  /** Back to the default rule (rooms + radius) for this entity and user. */
  resetScope(key: K, e: Entity): void {
    const u = this.userOrThrow(key);
    this.scopeVersion++;
    u.include.delete(e.id);
    u.exclude.delete(e.id);
  }

  /** Spatial interest: only entities (with a position) within `radius` of `center`; null turns it off. */
  setViewRadius(key: K, radius: number | null, center?: ViewCenter | null): void {
    const u = this.userOrThrow(key);
    this.scopeVersion++;
    u.viewRadius = radius;
    if (center !== undefined) u.viewCenter = center;
  }

  setViewCenter(key: K, center: ViewCenter | null): void {
    this.userOrThrow(key).viewCenter = center;
    this.scopeVersion++;
  }

  /** Whether `e` is in `key`'s scope by the current rules (what the next step will replicate). */
  inScope(key: K, e: Entity): boolean {
    const u = this.users.get(key);
    if (!u || !e.alive || !e.rooms) return false;
    let shares = false;
    for (const r of e.rooms) if ((r as Room<K>).users.has(key)) shares = true;
    return shares && this.passes(u, e);
  }

  private passes(u: UserState<K>, e: Entity): boolean {
    if (!e.alive) return false;
    if (e.ownerKey !== null && (e.ownerKey === u.key || e.replication !== 'public')) return false;
    if (u.exclude.has(e.id)) return false;
    if (u.include.has(e.id)) return true;
    return this.withinRadius(u, e);
  }

  private withinRadius(u: UserState<K>, e: Entity): boolean {
    const p = this.position;
    if (!p || u.viewRadius === null || u.viewCenter === null) return true;
    const inst = e.components[p.kind.index];
    if (!inst) return true;
    let cx: number;
    let cy: number;
    let cz = 0;
    const c = u.viewCenter;
    if (c instanceof Entity) {
      const ci = c.components[p.kind.index];
      if (!ci || !c.alive) return true;
      cx = ci.values[p.x] as number;
      cy = ci.values[p.y] as number;
      if (p.z >= 0) cz = ci.values[p.z] as number;
    } else {
      cx = c.x;
      cy = c.y;
      cz = c.z ?? 0;
    }
    const dx = (inst.values[p.x] as number) - cx;
    const dy = (inst.values[p.y] as number) - cy;
    const dz = p.z >= 0 ? (inst.values[p.z] as number) - cz : 0;
    return dx * dx + dy * dy + dz * dz <= u.viewRadius * u.viewRadius;
  }

  private userOrThrow(key: K): UserState<K> {
    const u = this.users.get(key);
    if (!u) throw new Error('unknown user');
    return u;
  }

  // ---- the tick ------------------------------------------------------------------------------

  /** Once per server tick: propagate changes, recompute scopes, send every user's frames. */
  step(): void {
    this.stepNo++;
    // this step's changed instances, shared by every connection (each ORs them into its own
    // records just before its flush, while they are hot in cache)
    const dirty = this.dirty;
    this.dirty = this.changed;
    const changed = dirty;
    let n = 0;
    for (let i = 0; i < dirty.length; i++) {
      const inst = dirty[i];
      inst.queued = false;
      if (inst.alive && inst.dirty !== 0) changed[n++] = inst;
      else inst.dirty = 0;
    }
    for (const u of this.users.values()) {
      u.conn.absorb(changed, n);
      this.updateScope(u);
      u.conn.flush(this.stepNo);
      u.conn.maintain();
    }
    for (let i = 0; i < n; i++) changed[i].dirty = 0;
    changed.length = 0;
    this.changed = changed;
  }

  private updateScope(u: UserState<K>): void {
    // nothing that decides scope changed and no moving view: the previous answer stands
    if (u.scopeSeen === this.scopeVersion && (u.viewRadius === null || this.position === null)) return;
    u.scopeSeen = this.scopeVersion;
    const stamp = ++this.stamp;
    const host = u.conn.host;
    for (const room of u.rooms) {
      for (const e of room.entities) {
        if (e.visitStamp === stamp) continue;
        e.visitStamp = stamp;
        if (!this.passes(u, e)) continue;
        const ch = host.channels.get(e.id);
        if (!ch) host.spawn(e).scopeStamp = stamp;
        else {
          if (ch.state === 'frozen') host.thaw(e);
          ch.scopeStamp = stamp;
        }
      }
    }
    for (const ch of host.channels.values()) {
      if (ch.scopeStamp === stamp) continue;
      if (ch.entity.alive && ch.entity.scopeExitPolicy === 'keep') host.freeze(ch.entity);
      else host.despawn(ch.entity);
    }
  }

  // ---- EntityWorld hooks ---------------------------------------------------------------------

  markDirty(inst: ComponentInstance): void {
    this.dirty.push(inst);
  }

  checkAuthoring(e: Entity): void {
    if (e.ownerKey !== null)
      throw new Error(`entity ${e.id} is authored by a client; the server cannot change it`);
  }

  componentInserted(e: Entity, inst: ComponentInstance): void {
    for (const ch of [...e.viewers]) (ch.owner as WorldConnection).host.insert(e, inst.kind);
  }

  componentRemoved(e: Entity, inst: ComponentInstance): void {
    for (const ch of [...e.viewers]) (ch.owner as WorldConnection).host.remove(e, inst.kind);
  }

  entityDespawned(e: Entity): void {
    for (const ch of [...e.viewers]) (ch.owner as WorldConnection).host.despawn(e);
    for (const inst of e.components) if (inst) inst.alive = false;
    if (e.rooms) for (const r of [...e.rooms]) (r as Room<K>).removeEntity(e);
    this.entityMap.delete(e.id);
    if (e.slot >= 0) {
      this.freeSlots.push(e.slot);
      e.slot = -1;
    }
    this.scopeVersion++;
    for (const u of this.users.values()) {
      u.include.delete(e.id);
      u.exclude.delete(e.id);
    }
  }

  replicationConfigured(): void {
    // server-authored entities are replicated by scope alone
  }

  // ---- client-authored entities --------------------------------------------------------------

  private despawnRemote(e: Entity, key: K): void {
    if (!e.alive) return;
    e.alive = false;
    this.entityDespawned(e);
    this.emit('despawn', e, key);
  }

  private makeSink(): WorldSink {
    const self = this;
    const changedKeys = (kind: ComponentKind, bits: number) => kind.keys.filter((_, i) => bits & (1 << i));
    return {
      remoteSpawn(conn, comps) {
        if (!self.allowClientEntities)
          throw new WorldError('not-allowed', 'client-authored entities are disabled', true);
        const e = new Entity(self.ids.allocate(), self);
        e.ownerKey = conn.key;
        for (const c of comps) e.components[c.kind.index] = new ComponentInstance(c.kind, e, c.values);
        self.adopt(e);
        self.emit('spawn', e, conn.key as K);
        for (const c of comps) self.emit('insert', e, c.kind.def);
        return e;
      },
      remoteDespawn(conn, e) {
        self.despawnRemote(e, conn.key as K);
      },
      remoteInsert(_conn, e, kind, values) {
        const old = e.components[kind.index];
        if (old) old.alive = false;
        const inst = new ComponentInstance(kind, e, values);
        e.components[kind.index] = inst;
        self.componentInserted(e, inst);
        self.emit('insert', e, kind.def);
      },
      remoteRemove(_conn, e, kind) {
        const inst = e.components[kind.index];
        if (!inst) return;
        e.components[kind.index] = undefined;
        inst.alive = false;
        self.componentRemoved(e, inst);
        self.emit('remove', e, kind.def);
      },
      remotePublicity(_conn, e, op: AuthOp) {
        e.replication = op === 'publish' ? 'public' : 'private';
        self.scopeVersion++;
        self.emit('publish', e, e.replication);
      },
      remoteUpdated(_conn, e, kind, changed) {
        if (self.listenerCount('update') > 0) self.emit('update', e, kind.def, changedKeys(kind, changed));
      },
    };
  }

  /** Current step number (increments at the start of each step). */
  get currentStep(): number {
    return this.stepNo;
  }
}
