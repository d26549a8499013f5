import type { WorldFramePipe } from '../session/SessionPipe.js';

import type { Clock } from '../util/Clock.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import { type AnyComponentDef, type ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import { ComponentInstance, Entity, type EntityWorld, type ReplicationConfig } from './Entity.js';
import type { WorldError } from './errors.js';
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

/** Client world events (entities the server replicates to this client). */
export type ClientWorldEvents = {
  spawn: (entity: Entity) => void;
  despawn: (entity: Entity) => void;
  insert: (entity: Entity, component: AnyComponentDef) => void;
  remove: (entity: Entity, component: AnyComponentDef) => void;
  update: (entity: Entity, component: AnyComponentDef, changedKeys: string[]) => void;
};

/** Key of the server connection (owner key of every entity the server replicates here). */
export const SERVER_KEY = 'server';

/**
 * The client side of replication: a mirror of the server's entities in this client's scope,
 * plus (when allowed) entities this client authors and hosts to the server. Browser-safe.
 * Compose it into a Client by feeding {@link receiveFrame} every world frame from the session
 * pipe and calling {@link step} once per client tick.
 */
export class ClientWorld extends TypedEmitter<ClientWorldEvents> implements EntityWorld {
  readonly registry: ComponentRegistry;
  readonly connection: WorldConnection;
  private readonly ids = new GlobalEntityAllocator();
  private readonly entityMap = new Map<GlobalEntity, Entity>();
  private dirty: ComponentInstance[] = [];
  private unspawned: Entity[] = [];
  private stepNo = 0;
  private readonly allowClientEntities: boolean;

  constructor(options: ClientWorldOptions) {
    super();
    this.registry = new ComponentRegistry(options.components);
    this.allowClientEntities = options.allowClientEntities ?? false;
    this.connection = new WorldConnection(
      SERVER_KEY,
      options.pipe,
      this.registry,
      options.clock,
      this.makeSink(),
      true,
      options.connection,
    );
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
    if (e.ownerKey !== null)
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

  replicationConfigured(e: Entity, mode: ReplicationConfig): void {
    this.connection.host.publish(e, mode === 'public');
  }

  private makeSink(): WorldSink {
    const self = this;
    const changedKeys = (kind: ComponentKind, bits: number) => kind.keys.filter((_, i) => bits & (1 << i));
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
      remotePublicity() {
        // the server does not send publicity to clients
      },
      remoteUpdated(_conn, e, kind, changed) {
        if (self.listenerCount('update') > 0) self.emit('update', e, kind.def, changedKeys(kind, changed));
      },
    };
  }
}
