import type { WorldFramePipe } from '../session/SessionPipe.js';

import type { Clock } from '../util/Clock.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import type { AuthOp } from './AuthChannel.js';
import { type AnyComponentDef, type ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import { type CarriedEntity, decodeCarried, encodeCarried, MAX_CARRIED_ENTITIES } from './carried.js';
import {
  type AuthorityOp,
  ComponentInstance,
  Entity,
  type EntityWorld,
  notHolderError,
  type ReplicationConfig,
  SERVER_HOLDER,
} from './Entity.js';
import { AuthorityError, type AuthorityResult, WorldError } from './errors.js';
import { AuthWire, type DecodedComponent, type RefWire } from './frame.js';
import { type HostEntityChannel, removeViewer } from './HostEngine.js';
import { type GlobalEntity, GlobalEntityAllocator, type GlobalEntityAllocatorOptions } from './ids.js';
import { Room } from './Room.js';
import { SpatialGrid } from './SpatialGrid.js';
import { UpdateCache } from './UpdateCache.js';
import { WorldConnection, type WorldConnectionOptions, type WorldSink } from './WorldConnection.js';

/** Which component and fields give an entity's position (for the view radius). */
export interface PositionSource {
  component: AnyComponentDef;
  x: string;
  y: string;
  z?: string;
  /**
   * Side of a cell of the spatial index that narrows view-radius scopes (x/y units). Default:
   * the first view radius set. About the typical radius is right; it only affects speed.
   */
  cellSize?: number;
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
  /**
   * Encode each changed component once per step and share the bits across users (default
   * true). The bytes are the same either way; false exists to measure and test that.
   */
  sharedEncoding?: boolean;
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
  /** A client changed its entity's publicity: `mode` 'public' (published) or 'private' (unpublished). */
  publish: (entity: Entity, mode: ReplicationConfig) => void;
  /** A client made its entity private (fires together with `publish(entity, 'private')`). */
  unpublish: (entity: Entity) => void;
  /** An entity became delegated (a client's entity migrated to the server, or the server's own). */
  delegate: (entity: Entity) => void;
  /** Delegation of an entity was turned off. */
  undelegate: (entity: Entity) => void;
  /** `user` now holds authority over `entity`. */
  authGranted: (entity: Entity, user: K) => void;
  /** `user` asked for authority over `entity` while someone else held it. */
  authDenied: (entity: Entity, user: K) => void;
  /** Authority over `entity` is available again (released, reset, holder out of scope or gone). */
  authReset: (entity: Entity) => void;
};

interface UserState<K> {
  key: K;
  conn: WorldConnection;
  rooms: Set<Room<K>>;
  include: Set<GlobalEntity>;
  exclude: Set<GlobalEntity>;
  viewRadius: number | null;
  viewCenter: ViewCenter | null;
  /**
   * Re-evaluate every entity of the user's rooms at the next step (joined/left a room, radius
   * or centre set, centre moved); otherwise only entities whose inputs changed are looked at.
   */
  fullScope: boolean;
  /** Entities whose include/exclude for this user changed since the last step. */
  touched: Entity[];
  /** Entities this user delegated and still holds: in its scope whatever the rules say. */
  kept: Set<Entity>;
  /** The view centre the scope was last computed for (a moved centre means a full pass). */
  centreValid: boolean;
  cx: number;
  cy: number;
  cz: number;
}

/** More per-user include/exclude changes than this in one step: recompute that user's scope in full. */
const TOUCHED_LIMIT = 1024;

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
  /** Instances changed since the last step (first {@link dirtyCount} entries; the array is reused). */
  private dirty: ComponentInstance[] = [];
  private dirtyCount = 0;
  private changed: ComponentInstance[] = [];
  private stepNo = 0;
  /**
   * Entities whose scope inputs changed for everyone (room membership, publicity, position
   * component added or removed, scope exit policy) since the last step: every user re-evaluates
   * just these. Deduplicated by {@link Entity.touchedRound}.
   */
  private readonly touchedEntities: Entity[] = [];
  private touchRound = 1;
  /** Rooms whose `moved` list has entries this step. */
  private readonly movedRooms: Room<K>[] = [];
  /** Scratch: candidates of a full view-radius scope pass (reused). */
  private readonly candidates: Entity[] = [];
  private cellSize: number;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private stamp = 0;
  private readonly allowClientEntities: boolean;
  private readonly position: { kind: ComponentKind; x: number; y: number; z: number } | null;
  private readonly sink: WorldSink;
  /** Update bodies shared by every user's frames within one step. */
  private readonly updateCache: UpdateCache | undefined;
  /** The entity table as a lookup for connections' id maps (one closure for all of them). */
  private readonly entityOf = (id: GlobalEntity): Entity | undefined => this.entityMap.get(id);

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
      kind.spatial = true;
    } else this.position = null;
    const cs = options.position?.cellSize;
    if (cs !== undefined && !(Number.isFinite(cs) && cs > 0))
      throw new Error('cellSize must be finite and > 0');
    this.cellSize = cs ?? 0;
    this.sink = this.makeSink();
    this.updateCache = options.sharedEncoding === false ? undefined : new UpdateCache(this.registry.kindBits);
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
      this.entityOf,
    );
    this.users.set(key, {
      key,
      conn,
      rooms: new Set(),
      include: new Set(),
      exclude: new Set(),
      viewRadius: null,
      viewCenter: null,
      fullScope: true,
      touched: [],
      kept: new Set(),
      centreValid: false,
      cx: 0,
      cy: 0,
      cz: 0,
    });
    return conn;
  }

  /** The user left: authority it held is released, its client-authored entities despawn, it leaves every room. */
  removeUser(key: K): void {
    const u = this.users.get(key);
    if (!u) return;
    const host = u.conn.host;
    // authority it held (collected first: setHolder sends commands; only the few held ones are copied)
    const holding: Entity[] = [];
    for (const ch of host.channels.values()) if (ch.entity.authHolder === key) holding.push(ch.entity);
    for (const e of holding) this.setHolder(e, null);
    for (const room of [...u.rooms]) room.removeUser(key);
    // (removing viewers leaves the channel table as it is: no copy needed to iterate it; each
    // channel knows its place in its entity's viewer list, so this is O(channels), not O(channels × users))
    for (const ch of host.channels.values()) removeViewer(ch.entity, ch);
    this.users.delete(key);
    // the user's own entities, collected first (despawning changes the entity map); copying
    // only those, not every entity of the world, keeps a leave cheap in a big world
    const owned: Entity[] = [];
    for (const e of this.entityMap.values()) if (e.ownerKey === key) owned.push(e);
    for (const e of owned) this.despawnRemote(e, key);
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
        const u = this.users.get(key);
        if (!u) return;
        u.rooms.add(r);
        u.fullScope = true;
      },
      userLeft: (r, key) => {
        const u = this.users.get(key);
        if (!u) return;
        u.rooms.delete(r);
        u.fullScope = true;
      },
      entityAdded: (r, e) => {
        r.grid?.add(e);
        this.touchEntity(e);
      },
      entityRemoved: (r, e) => {
        r.grid?.remove(e);
        this.touchEntity(e);
      },
    });
    this.roomSet.add(room);
    return room;
  }

  destroyRoom(room: Room<K>): void {
    for (const key of [...room.users]) room.removeUser(key);
    for (const e of [...room.entities]) room.removeEntity(e);
    room.destroyed = true;
    room.grid = null;
    this.roomSet.delete(room);
  }

  /** Force an entity into `key`'s scope (it must still share a room); undoes exclude. */
  include(key: K, e: Entity): void {
    const u = this.userOrThrow(key);
    u.exclude.delete(e.id);
    u.include.add(e.id);
    this.touchForUser(u, e);
  }

  /** Keep an entity out of `key`'s scope; undoes include. */
  exclude(key: K, e: Entity): void {
    const u = this.userOrThrow(key);
    u.include.delete(e.id);
    u.exclude.add(e.id);
    this.touchForUser(u, e);
  }

  /** Back to the default rule (rooms + radius) for this entity and user. */
  resetScope(key: K, e: Entity): void {
    const u = this.userOrThrow(key);
    u.include.delete(e.id);
    u.exclude.delete(e.id);
    this.touchForUser(u, e);
  }

  /** Spatial interest: only entities (with a position) within `radius` of `center`; null turns it off. */
  setViewRadius(key: K, radius: number | null, center?: ViewCenter | null): void {
    const u = this.userOrThrow(key);
    u.viewRadius = radius;
    if (center !== undefined) u.viewCenter = center;
    u.fullScope = true;
    if (this.cellSize === 0 && radius !== null && Number.isFinite(radius) && radius !== 0)
      this.cellSize = Math.abs(radius);
  }

  setViewCenter(key: K, center: ViewCenter | null): void {
    const u = this.userOrThrow(key);
    u.viewCenter = center;
    u.fullScope = true;
  }

  /** Whether `e` is in `key`'s scope by the current rules (what the next step will replicate). */
  inScope(key: K, e: Entity): boolean {
    const u = this.users.get(key);
    if (!u || !e.alive) return false;
    if (e.keepFor === key) return true;
    if (!e.rooms) return false;
    let shares = false;
    for (const r of e.rooms) if ((r as Room<K>).users.has(key)) shares = true;
    return shares && this.passes(u, e);
  }

  private passes(u: UserState<K>, e: Entity): boolean {
    if (!e.alive) return false;
    if (e.ownerKey !== null && (e.ownerKey === u.key || e.replication !== 'public')) return false;
    if (u.exclude.size > 0 && u.exclude.has(e.id)) return false;
    if (u.include.size > 0 && u.include.has(e.id)) return true;
    return this.withinRadius(u, e);
  }

  private sharesRoom(u: UserState<K>, e: Entity): boolean {
    if (!e.rooms) return false;
    for (const r of e.rooms) if (u.rooms.has(r as Room<K>)) return true;
    return false;
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
    const count = this.dirtyCount;
    this.dirty = this.changed;
    this.dirtyCount = 0;
    const changed = dirty;
    const p = this.position;
    const posMask = p === null ? 0 : (1 << p.x) | (1 << p.y) | (p.z >= 0 ? 1 << p.z : 0);
    let n = 0;
    for (let i = 0; i < count; i++) {
      const inst = dirty[i];
      inst.queued = false;
      if (!inst.alive || inst.dirty === 0) {
        inst.dirty = 0;
        continue;
      }
      if (p !== null && inst.kind === p.kind && (inst.dirty & posMask) !== 0) this.moved(inst.entity);
      // positions are tracked on unviewed entities too (see ComponentKind.spatial): nothing to send
      if (inst.entity.viewers.length > 0) changed[n++] = inst;
      else inst.dirty = 0;
    }
    this.updateCache?.begin();
    for (const u of this.users.values()) {
      u.conn.absorb(changed, n);
      this.updateScope(u);
      u.conn.flush(this.stepNo, this.updateCache);
      u.conn.maintain();
    }
    for (let i = 0; i < n; i++) changed[i].dirty = 0;
    // a count, not length = 0: keeps the array's storage for the next step
    for (let i = 0; i < count; i++) dirty[i] = undefined as unknown as ComponentInstance;
    this.changed = changed;
    // (setting length is a runtime call even on an empty array: skipped when there is nothing)
    if (this.touchedEntities.length !== 0) {
      for (const e of this.touchedEntities) e.touchedRound = 0;
      this.touchedEntities.length = 0;
    }
    this.touchRound++;
    if (this.movedRooms.length !== 0) {
      for (const r of this.movedRooms) r.moved.length = 0;
      this.movedRooms.length = 0;
    }
  }

  /** An entity's position changed: re-file it in its rooms' grids, note it for radius scopes. */
  private moved(e: Entity): void {
    if (!e.rooms) return;
    for (const r of e.rooms) {
      const room = r as Room<K>;
      if (room.grid === null) continue;
      room.grid.update(e);
      if (room.moved.length === 0) this.movedRooms.push(room);
      room.moved.push(e);
    }
  }

  /** Every user re-evaluates `e` at the next step. */
  private touchEntity(e: Entity): void {
    if (e.touchedRound === this.touchRound) return;
    e.touchedRound = this.touchRound;
    this.touchedEntities.push(e);
  }

  private touchForUser(u: UserState<K>, e: Entity): void {
    if (u.fullScope) return;
    if (u.touched.length >= TOUCHED_LIMIT) {
      u.fullScope = true;
      u.touched.length = 0;
    } else u.touched.push(e);
  }

  private ensureGrid(room: Room<K>): SpatialGrid {
    if (room.grid !== null) return room.grid;
    const p = this.position!;
    const grid = new SpatialGrid(this.cellSize > 0 ? this.cellSize : 64, p.kind.index, p.x, p.y);
    for (const e of room.entities) grid.add(e);
    room.grid = grid;
    return grid;
  }

  /**
   * Bring `u`'s hosted entities in line with its scope. In full (every entity of its rooms, or
   * with a view radius the grid cells around the centre) when the user's own inputs changed;
   * otherwise only the entities whose inputs changed: touched ones, and with a view radius the
   * moved ones of its rooms. Invariant after each call: an entity is in scope ⇔ its channel is live,
   * except an entity whose previous exit the client has not acknowledged yet: it re-enters once
   * that Despawn is acknowledged (never two live copies on the client).
   */
  private updateScope(u: UserState<K>): void {
    const p = this.position;
    const radius = p !== null && u.viewRadius !== null && u.viewCenter !== null;
    if (radius) {
      // where the centre is now; it moving means a full pass
      const c = u.viewCenter!;
      let valid = true;
      let cx = 0;
      let cy = 0;
      let cz = 0;
      if (c instanceof Entity) {
        const ci = c.components[p.kind.index];
        if (!ci || !c.alive) valid = false;
        else {
          cx = ci.values[p.x] as number;
          cy = ci.values[p.y] as number;
          if (p.z >= 0) cz = ci.values[p.z] as number;
        }
      } else {
        cx = c.x;
        cy = c.y;
        cz = c.z ?? 0;
      }
      if (valid !== u.centreValid || !Object.is(cx, u.cx) || !Object.is(cy, u.cy) || !Object.is(cz, u.cz)) {
        u.centreValid = valid;
        u.cx = cx;
        u.cy = cy;
        u.cz = cz;
        u.fullScope = true;
      }
    }
    // entities whose earlier exit the client has now applied: their re-entry was held back
    const left = u.conn.host.takeLeft();
    for (let i = 0; i < left.length; i++) this.evaluate(u, left[i]);
    if (u.fullScope) {
      u.fullScope = false;
      if (u.touched.length !== 0) u.touched.length = 0;
      this.fullScope(u, radius);
      return;
    }
    for (const e of this.touchedEntities) this.evaluate(u, e);
    if (u.touched.length !== 0) {
      for (const e of u.touched) this.evaluate(u, e);
      u.touched.length = 0;
    }
    if (!radius) return;
    const r2 = u.viewRadius! * u.viewRadius!;
    // only the distance changed for a moved entity: when its answer agrees with the channel's
    // state, nothing else can have changed (touched entities were evaluated above)
    const live = u.conn.host.liveBySlot;
    for (const room of u.rooms) {
      for (const e of room.moved) {
        const inNow = e.slot >= 0 && live[e.slot] === 1;
        if (inNow !== this.withinCentre(u, e, r2)) this.evaluate(u, e);
      }
    }
  }

  /** {@link withinRadius} against the centre recorded this step (the same answer, cheaper). */
  private withinCentre(u: UserState<K>, e: Entity, r2: number): boolean {
    const p = this.position!;
    const inst = e.components[p.kind.index];
    if (inst === undefined || !u.centreValid) return true;
    const v = inst.values;
    const dx = (v[p.x] as number) - u.cx;
    const dy = (v[p.y] as number) - u.cy;
    const dz = p.z >= 0 ? (v[p.z] as number) - u.cz : 0;
    return dx * dx + dy * dy + dz * dz <= r2;
  }

  /** Apply the scope rule to one entity for one user. */
  private evaluate(u: UserState<K>, e: Entity): void {
    const host = u.conn.host;
    const ch = host.channels.of(e);
    if (e.alive && (e.keepFor === u.key || (this.sharesRoom(u, e) && this.passes(u, e)))) {
      // (not while its previous copy may still be live there: it comes back once that is gone)
      if (!ch) {
        if (!host.isLeaving(e)) host.spawn(e);
      } else if (ch.state === 'frozen') host.thaw(e);
    } else if (ch) this.leave(u, ch);
  }

  private leave(u: UserState<K>, ch: HostEntityChannel): void {
    // losing scope ends a holder's authority, for everyone
    if (ch.entity.authHolder === u.key) this.setHolder(ch.entity, null);
    if (ch.entity.alive && ch.entity.scopeExitPolicy === 'keep') u.conn.host.freeze(ch.entity);
    else u.conn.host.despawn(ch.entity);
  }

  private fullScope(u: UserState<K>, radius: boolean): void {
    const stamp = ++this.stamp;
    const host = u.conn.host;
    let inScope = 0;
    const take = (e: Entity) => {
      if (e.keepFor !== u.key && !this.passes(u, e)) return;
      const ch = host.channels.of(e);
      if (!ch) {
        if (host.isLeaving(e)) return;
        host.spawn(e).scopeStamp = stamp;
      } else {
        if (ch.state === 'frozen') host.thaw(e);
        ch.scopeStamp = stamp;
      }
      inScope++;
    };
    if (radius) for (const room of u.rooms) this.ensureGrid(room);
    if (radius && u.centreValid) {
      // the grid narrows the candidates to the cells around the centre; included entities may be anywhere
      const out = this.candidates;
      let n = 0;
      for (const room of u.rooms) n = room.grid!.collect(u.cx, u.cy, u.viewRadius!, stamp, out, n);
      for (const id of u.include) {
        const e = this.entityMap.get(id);
        if (e && e.visitStamp !== stamp && this.sharesRoom(u, e)) {
          e.visitStamp = stamp;
          out[n++] = e;
        }
      }
      for (let i = 0; i < n; i++) take(out[i]);
      out.fill(undefined as unknown as Entity, 0, n);
    } else {
      for (const room of u.rooms) {
        for (const e of room.entities) {
          if (e.visitStamp === stamp) continue;
          e.visitStamp = stamp;
          take(e);
        }
      }
    }
    // what it delegated and still holds, wherever it is
    for (const e of u.kept) {
      if (e.visitStamp === stamp) continue;
      e.visitStamp = stamp;
      take(e);
    }
    // every channel in scope was stamped: only when some were not is there anything to leave
    if (inScope === host.channels.size) return;
    for (const ch of host.channels.toArray()) if (ch.scopeStamp !== stamp) this.leave(u, ch);
  }

  // ---- EntityWorld hooks ---------------------------------------------------------------------

  markDirty(inst: ComponentInstance): void {
    this.dirty[this.dirtyCount++] = inst;
  }

  checkAuthoring(e: Entity, despawn = false): void {
    if (e.ownerKey !== null)
      throw new Error(`entity ${e.id} is authored by a client; the server cannot change it`);
    // a client holds authority: the server takes it first (a despawn ends the entity for all)
    if (e.writeLocked && !despawn) throw notHolderError(e);
  }

  componentInserted(e: Entity, inst: ComponentInstance): void {
    for (const ch of [...e.viewers]) (ch.owner as WorldConnection).host.insert(e, inst.kind);
    if (this.position !== null && inst.kind === this.position.kind) this.positionPresenceChanged(e);
  }

  componentRemoved(e: Entity, inst: ComponentInstance): void {
    for (const ch of [...e.viewers]) (ch.owner as WorldConnection).host.remove(e, inst.kind);
    if (this.position !== null && inst.kind === this.position.kind) this.positionPresenceChanged(e);
  }

  /** A position was inserted, replaced or removed: re-file the entity and re-evaluate it. */
  private positionPresenceChanged(e: Entity): void {
    if (e.rooms) for (const r of e.rooms) (r as Room<K>).grid?.update(e);
    this.touchEntity(e);
  }

  scopeExitPolicyChanged(e: Entity): void {
    this.touchEntity(e);
  }

  entityDespawned(e: Entity): void {
    if (e.keepFor !== null) this.unkeep(e);
    for (const ch of [...e.viewers]) (ch.owner as WorldConnection).host.despawn(e);
    for (const inst of e.components) if (inst) inst.alive = false;
    if (e.rooms) for (const r of [...e.rooms]) (r as Room<K>).removeEntity(e);
    this.entityMap.delete(e.id);
    if (e.slot >= 0) {
      this.freeSlots.push(e.slot);
      e.slot = -1;
    }
    for (const u of this.users.values()) {
      u.include.delete(e.id);
      u.exclude.delete(e.id);
    }
  }

  /**
   * Server side of `configureReplication`: a client's entity may only be delegated (migrated,
   * published first if private); the server's own may be delegated or not ('public'/'private'
   * both mean "not delegated": server entities are replicated by scope alone).
   */
  configureReplication(e: Entity, mode: ReplicationConfig): void {
    if (e.ownerKey !== null) {
      if (mode !== 'delegated')
        throw new Error(`entity ${e.id} is authored by a client; the server cannot change it`);
      this.delegateClientEntity(e);
      return;
    }
    if (mode === 'delegated') {
      if (e.replication === 'delegated') return;
      e.replication = 'delegated';
      setAuthHolder(e, null);
      for (const ch of e.viewers) {
        const host = (ch.owner as WorldConnection).host;
        host.delegation(e, true);
        host.authority(e, AuthWire.Available);
      }
      this.emit('delegate', e);
      return;
    }
    if (e.replication === 'delegated') {
      // delegation off: authority ends (a holding client is resynced first), then everyone is told
      this.setHolder(e, null);
      for (const ch of e.viewers) (ch.owner as WorldConnection).host.delegation(e, false);
      e.replication = mode;
      this.emit('undelegate', e);
      return;
    }
    e.replication = mode;
  }

  authorityOp(e: Entity, op: AuthorityOp, user?: unknown): AuthorityResult {
    if (!e.alive) return fail('despawned', `entity ${e.id} is despawned`);
    if (e.replication !== 'delegated' || e.ownerKey !== null)
      return fail('not-delegated', `entity ${e.id} is not delegated`);
    switch (op) {
      case 'give': {
        const ch = this.users.get(user as K)?.conn.host.channels.of(e);
        if (ch?.state !== 'live')
          return fail('not-in-scope', `entity ${e.id} is not in ${String(user)}'s scope`);
        this.setHolder(e, user as K);
        return OK;
      }
      case 'take':
        this.setHolder(e, SERVER_HOLDER);
        return OK;
      case 'release':
        this.setHolder(e, null);
        return OK;
      default:
        return fail('not-allowed', 'the server gives, takes or releases authority; clients request it');
    }
  }

  /**
   * Move authority over `e` to `holder` (a user key, {@link SERVER_HOLDER}, or null: available)
   * and tell every user in scope its status: granted to the holder, denied to the others,
   * available to all when nobody holds it. A former client holder gets its status with a resync.
   */
  private setHolder(e: Entity, holder: unknown): void {
    const prev = e.authHolder;
    if (prev === holder) return;
    setAuthHolder(e, holder);
    if (e.keepFor !== null && e.keepFor !== holder) this.unkeep(e);
    for (const ch of [...e.viewers]) {
      const conn = ch.owner as WorldConnection;
      const key = conn.key;
      const status =
        holder === null ? AuthWire.Available : holder === key ? AuthWire.Granted : AuthWire.Denied;
      if (prev === key) conn.host.releaseByPeer(e, status);
      else if (holder === key) conn.host.holdByPeer(e, true);
      else conn.host.authority(e, status);
    }
    if (holder !== null && holder !== SERVER_HOLDER) this.emit('authGranted', e, holder as K);
    if (holder === null) this.emit('authReset', e);
  }

  /**
   * A client's published entity becomes delegated: it migrates from that client's remote engine
   * to our host engine (see WorldConnection.migrateToHost), becomes server-owned, and its former
   * owner — if it has the entity in scope — holds authority; everyone else in scope is denied.
   * Nobody sees it despawn or respawn: the same Entity lives on, other users' channels untouched.
   */
  private delegateClientEntity(e: Entity): void {
    const owner = e.ownerKey as K;
    const u = this.users.get(owner);
    if (!u || e.replication === 'delegated') return;
    if (e.replication === 'private') {
      e.replication = 'public';
      this.emit('publish', e, 'public');
    }
    const hostCh = u.conn.migrateToHost(e);
    if (!hostCh) return;
    e.ownerKey = null;
    e.replication = 'delegated';
    this.touchEntity(e);
    for (const ch of e.viewers) if (ch !== hostCh) (ch.owner as WorldConnection).host.delegation(e, true);
    this.emit('delegate', e);
    // the owner holds authority (MigrateResponse means granted) and keeps the entity in its scope
    // for as long as it does, wherever its rooms and view are: its client shows `granted`, and
    // the server agrees
    e.keepFor = owner;
    u.kept.add(e);
    setAuthHolder(e, owner);
    u.conn.host.holdByPeer(e, false);
    for (const ch of e.viewers)
      if (ch !== hostCh) (ch.owner as WorldConnection).host.authority(e, AuthWire.Denied);
    this.emit('authGranted', e, owner);
  }

  /** The former owner of `e` no longer holds it: it stays in that user's scope only by the rules. */
  private unkeep(e: Entity): void {
    if (e.keepFor === null) return;
    this.users.get(e.keepFor as K)?.kept.delete(e);
    e.keepFor = null;
    this.touchEntity(e);
  }

  // ---- seamless migration: carried entities (DESIGN §5) ----------------------------------------

  /**
   * Source backend, at Handoff: serialise the entities `ids` that carry over with `key` — its own
   * client-owned ones and server entities (delegated ones included) — with their component state
   * and the wire id the player's client knows each by. Entity references are written as this
   * connection names them, so the target resolves them through its redirects. Nothing changes
   * here (a rollback keeps everything). Other clients' entities are skipped.
   */
  exportCarried(key: K, ids: readonly GlobalEntity[]): Uint8Array {
    const u = this.users.get(key);
    const out: CarriedEntity[] = [];
    const seen = new Set<GlobalEntity>();
    if (u) {
      for (const id of ids) {
        const e = this.entityMap.get(id);
        if (!e?.alive || seen.has(id) || out.length >= MAX_CARRIED_ENTITIES) continue;
        seen.add(id);
        const clientOwned = e.ownerKey === key;
        if (e.ownerKey !== null && !clientOwned) continue;
        const wireId = clientOwned ? u.conn.map.remoteOf(id) : u.conn.map.hostOf(id);
        const components: DecodedComponent[] = [];
        for (const inst of e.components) {
          if (!inst) continue;
          const kind = inst.kind;
          const values = inst.values.slice();
          for (const i of kind.refProps) values[i] = u.conn.refWireOf(values[i]);
          components.push({ kind, values });
        }
        out.push({
          wireId: wireId ?? 0,
          known: wireId !== undefined,
          clientOwned,
          delegated: e.replication === 'delegated' && !clientOwned,
          held: e.authHolder === key,
          components,
        });
      }
    }
    return encodeCarried(this.registry, out);
  }

  /**
   * Target backend, at Restore: re-create the carried entities of `key` (from
   * {@link exportCarried} on the source). Server entities become this world's (in every room of
   * the user, delegated again when they were, authority given back to the player when it held
   * it) and are put in the user's connection now, so their ids here are known: `pairs` maps each
   * id the client knew (the source's) to this connection's, and those prior ids redirect here for
   * 60 s. Client-owned entities are not re-created: the client re-announces them itself, under
   * the same ids. References between carried entities resolve through the new ids.
   * Malformed bytes → DecodeError (nothing created).
   */
  importCarried(key: K, bytes: Uint8Array): { pairs: { from: number; to: number }[]; entities: Entity[] } {
    const u = this.userOrThrow(key);
    const list = decodeCarried(bytes, this.registry);
    const made: { c: CarriedEntity; e: Entity }[] = [];
    const byPrior = new Map<number, Entity>();
    for (const c of list) {
      if (c.clientOwned) continue;
      const e = this.spawn();
      made.push({ c, e });
      if (c.known) byPrior.set(c.wireId, e);
    }
    const resolve = (ref: RefWire | null): GlobalEntity | null => {
      if (ref === null) return null;
      // hosted by the source: one of the carried ones (or gone); the client's own keep their ids
      if (ref.hostedBySender) return byPrior.get(ref.id)?.id ?? null;
      return u.conn.map.globalOfRemote(ref.id) ?? null;
    };
    for (const { c, e } of made) {
      for (const comp of c.components) {
        const kind = comp.kind;
        const values = comp.values.slice();
        for (const i of kind.refProps) values[i] = resolve(values[i] as RefWire | null);
        const inst = new ComponentInstance(kind, e, values);
        e.components[kind.index] = inst;
        this.componentInserted(e, inst);
      }
      if (c.delegated) e.configureReplication('delegated');
      for (const room of u.rooms) room.addEntity(e);
    }
    const pairs: { from: number; to: number }[] = [];
    for (const { c, e } of made) {
      // into the user's connection now (as its scope would next step), so its id here is known
      if (this.sharesRoom(u, e) && this.passes(u, e) && u.conn.host.channels.of(e) === undefined)
        u.conn.host.spawn(e);
      if (c.held && u.conn.host.channels.of(e)?.state === 'live') this.setHolder(e, key);
      const to = u.conn.map.hostOf(e.id);
      if (!c.known || to === undefined) continue;
      pairs.push({ from: c.wireId, to });
      u.conn.map.installPriorRedirect(c.wireId, 'host', to);
    }
    return { pairs, entities: made.map((m) => m.e) };
  }

  /**
   * The entity an id of `key`'s *previous* backend session names (seamless migration: a carried
   * entity, through its redirect, for 60 s after the move), e.g. an id in input the client sent
   * before it switched backends.
   */
  entityByPriorId(key: K, priorId: number): Entity | undefined {
    const g = this.users.get(key)?.conn.map.globalOfPrior(priorId);
    return g === undefined ? undefined : this.entityMap.get(g);
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
        if (op !== 'publish' && op !== 'unpublish') return;
        if (e.ownerKey === null) return; // migrated: publicity is the server's now
        const mode = op === 'publish' ? 'public' : 'private';
        if (e.replication === mode) return;
        e.replication = mode;
        self.touchEntity(e);
        // 'publish' reports every publicity change with its mode (as it always has);
        // 'unpublish' is the dedicated event of the public → private transition
        self.emit('publish', e, mode);
        if (mode === 'private') self.emit('unpublish', e);
      },
      remoteMigrated() {
        // clients migrate host → remote; a server never receives MigrateResponse
      },
      remoteAdopt() {
        // only clients take carried entities over from a previous backend's session
      },
      delegateRequested(conn, e) {
        if (e.ownerKey === conn.key) self.delegateClientEntity(e);
      },
      canWrite(conn, e) {
        return e.authHolder === conn.key;
      },
      authorityRequest(conn, e, release) {
        if (e.replication !== 'delegated' || e.ownerKey !== null) return;
        const key = conn.key as K;
        const ch = conn.host.channels.of(e);
        if (release) {
          if (e.authHolder === key) self.setHolder(e, null);
          // a cancelled or stale request: answer with the current status so the client settles
          else conn.host.authority(e, e.authHolder === null ? AuthWire.Available : AuthWire.Denied);
          return;
        }
        if (e.authHolder === key) return;
        // first request wins; only users with the entity in scope take part
        if (e.authHolder === null && ch?.state === 'live') self.setHolder(e, key);
        else {
          conn.host.authority(e, e.authHolder === null ? AuthWire.Available : AuthWire.Denied);
          if (e.authHolder !== null) self.emit('authDenied', e, key);
        }
      },
      heldDespawn(conn, e) {
        self.despawnRemote(e, conn.key as K);
      },
      remoteUpdated(_conn, e, kind, changed) {
        if (self.listenerCount('update') > 0) self.emit('update', e, kind.def, kind.keysOf(changed));
      },
    };
  }

  /** Current step number (increments at the start of each step). */
  get currentStep(): number {
    return this.stepNo;
  }
}

const OK: AuthorityResult = { ok: true };

/** Who holds authority over `e`; while a client does, the server's own writes are refused. */
function setAuthHolder(e: Entity, holder: unknown): void {
  e.authHolder = holder;
  e.writeLocked = holder !== null && holder !== SERVER_HOLDER;
}

function fail(code: AuthorityError['code'], message: string): AuthorityResult {
  return { ok: false, error: new AuthorityError(code, message) };
}
