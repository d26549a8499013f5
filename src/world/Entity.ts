import { EncodeError } from '../serde/DecodeError.js';
import type { ComponentDef } from '../serde/definitions.js';
import type { Infer, Schema } from '../serde/Schema.js';
import type { AnyComponentDef, ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import { measureBits } from './ComponentRegistry.js';
import type { HostEntityChannel } from './HostEngine.js';
import type { GlobalEntity } from './ids.js';

/** What an entity's replication mode may be set to by its authoring client. */
export type ReplicationConfig = 'private' | 'public';
/** What happens on a client when an entity leaves its scope. */
export type ScopeExitPolicy = 'despawn' | 'keep';

/** The world an entity lives in: the hooks entity operations call (ServerWorld, ClientWorld). */
export interface EntityWorld {
  readonly registry: ComponentRegistry;
  /** A property changed on an instance with viewers: queue it for the next step. */
  markDirty(inst: ComponentInstance): void;
  /** Throws when local code may not change this entity's structure (e.g. the server on a client's entity). */
  checkAuthoring(e: Entity): void;
  componentInserted(e: Entity, inst: ComponentInstance, replaced: ComponentInstance | undefined): void;
  componentRemoved(e: Entity, inst: ComponentInstance): void;
  entityDespawned(e: Entity): void;
  replicationConfigured(e: Entity, mode: ReplicationConfig): void;
  /** The entity's scope exit policy changed (a server re-evaluates its scope). */
  scopeExitPolicyChanged?(e: Entity): void;
}

/**
 * One component on one entity: the values, the bits that changed since the last step, and the
 * tracked view handed to game code. Plain arrays, no per-property objects.
 */
export class ComponentInstance {
  readonly values: unknown[];
  /** Properties changed since the world last collected this instance (one bit each). */
  dirty = 0;
  /** Whether the instance is in the world's dirty list. */
  queued = false;
  /** False once removed from its entity (records that outlive it check this). */
  alive = true;
  /** @internal {@link UpdateCache} entry: generation, first word, length and mask of the shared body. */
  encGen = 0;
  /** @internal */
  encWord = 0;
  /** @internal */
  encBits = 0;
  /** @internal */
  encMask = 0;
  readonly view: Record<string, unknown>;

  constructor(
    readonly kind: ComponentKind,
    readonly entity: Entity,
    values: unknown[],
  ) {
    this.values = values;
    const view = Object.create(kind.viewProto) as Record<string, unknown> & { $: ComponentInstance };
    // `$` is non-enumerable so spreading/iterating a view shows only the properties
    Object.defineProperty(view, '$', { value: this });
    this.view = view;
  }

  /** Set property `i`; validates (EncodeError at the call site, not at send time) and tracks. */
  set(i: number, v: unknown): void {
    const kind = this.kind;
    if (kind.types[i].equals(this.values[i], v)) return;
    if (kind.validate[i]) measureBits(kind.types[i], v);
    else if (kind.isRef[i] && v !== null && !(Number.isInteger(v) && (v as number) >= 0)) {
      throw new EncodeError(`${kind.name}.${kind.keys[i]}: entity reference must be an entity id or null`);
    }
    this.values[i] = kind.types[i].clone(v);
    this.touch(1 << i);
  }

  /** Mark properties changed (bits) without setting them (values already written). */
  touch(bits: number): void {
    // a position is tracked even with nobody viewing it: it decides who will (view radius)
    if (!this.alive || (this.entity.viewers.length === 0 && !this.kind.spatial)) return;
    this.dirty |= bits;
    if (!this.queued) {
      this.queued = true;
      this.entity.world.markDirty(this);
    }
  }
}

/**
 * An entity handle. The same class on server and client; what an operation does on the wire
 * is decided by the world it lives in.
 */
export class Entity {
  /** Components by kind index (sparse). */
  readonly components: (ComponentInstance | undefined)[] = [];
  /** Connection channels that host this entity to a peer (the diff masks to mark). */
  readonly viewers: HostEntityChannel[] = [];
  alive = true;
  /** Publicity chosen by the authoring client (server-authored entities are always replicated). */
  replication: ReplicationConfig = 'private';
  scopeExitPolicy: ScopeExitPolicy = 'despawn';
  /** Server: rooms the entity is in (opaque to the entity). */
  rooms: Set<object> | undefined;
  /** Key of the peer that authors this entity, or null when this process does. */
  ownerKey: unknown = null;
  /** @internal scope computation scratch (server). */
  visitStamp = 0;
  /** @internal scope bookkeeping (server): the round in which it was queued for re-evaluation. */
  touchedRound = 0;
  /** @internal dense index in the world (recycled after despawn), -1 when unused. */
  slot = -1;

  constructor(
    readonly id: GlobalEntity,
    readonly world: EntityWorld,
  ) {}

  /** Whether this process authors (hosts) the entity. */
  get isLocal(): boolean {
    return this.ownerKey === null;
  }

  /** Add (or replace) a component with the given values (missing fields get defaults). */
  insert<S extends Schema>(def: ComponentDef<S>, values?: Partial<Infer<S>>): this {
    this.checkAlive();
    this.world.checkAuthoring(this);
    const kind = this.world.registry.kindOf(def);
    const inst = createInstance(kind, this, values as Record<string, unknown> | undefined);
    const replaced = this.components[kind.index];
    if (replaced) replaced.alive = false;
    this.components[kind.index] = inst;
    this.world.componentInserted(this, inst, replaced);
    return this;
  }

  /** The tracked component: assigning a property replicates it. Throws if absent. */
  get<S extends Schema>(def: ComponentDef<S>): Infer<S> {
    const inst = this.components[this.world.registry.kindOf(def).index];
    if (!inst) throw new Error(`entity ${this.id} has no ${def.name}`);
    return inst.view as Infer<S>;
  }

  tryGet<S extends Schema>(def: ComponentDef<S>): Infer<S> | undefined {
    return this.components[this.world.registry.kindOf(def).index]?.view as Infer<S> | undefined;
  }

  has(def: AnyComponentDef): boolean {
    return this.components[this.world.registry.kindOf(def).index] !== undefined;
  }

  /** The component definitions the entity has now. */
  componentDefs(): AnyComponentDef[] {
    const out: AnyComponentDef[] = [];
    for (const inst of this.components) if (inst) out.push(inst.kind.def);
    return out;
  }

  remove(def: AnyComponentDef): this {
    this.checkAlive();
    this.world.checkAuthoring(this);
    const kind = this.world.registry.kindOf(def);
    const inst = this.components[kind.index];
    if (!inst) return this;
    this.components[kind.index] = undefined;
    inst.alive = false;
    this.world.componentRemoved(this, inst);
    return this;
  }

  despawn(): void {
    if (!this.alive) return;
    this.world.checkAuthoring(this);
    this.alive = false;
    this.world.entityDespawned(this);
  }

  /** Client-authored entities: 'private' (server only) or 'public' (others in scope too). */
  configureReplication(mode: ReplicationConfig): this {
    this.checkAlive();
    this.world.checkAuthoring(this);
    if (mode !== 'private' && mode !== 'public') throw new Error(`unknown replication mode ${mode}`);
    if (this.replication !== mode) {
      this.replication = mode;
      this.world.replicationConfigured(this, mode);
    }
    return this;
  }

  /** Server: what a client does with this entity when it leaves the client's scope. */
  setScopeExitPolicy(policy: ScopeExitPolicy): this {
    if (this.scopeExitPolicy !== policy) {
      this.scopeExitPolicy = policy;
      this.world.scopeExitPolicyChanged?.(this);
    }
    return this;
  }

  private checkAlive(): void {
    if (!this.alive) throw new Error(`entity ${this.id} is despawned`);
  }
}

/** A new instance of `kind` on `e` from plain values (validated; entity refs checked). */
export function createInstance(
  kind: ComponentKind,
  e: Entity,
  given: Record<string, unknown> | undefined,
): ComponentInstance {
  const values: unknown[] = new Array(kind.propCount);
  for (let i = 0; i < kind.propCount; i++) {
    const g = given?.[kind.keys[i]];
    const ty = kind.types[i];
    if (g === undefined) {
      values[i] = ty.clone(ty.default);
      continue;
    }
    if (kind.validate[i]) measureBits(ty, g);
    else if (kind.isRef[i] && g !== null && !(Number.isInteger(g) && (g as number) >= 0)) {
      throw new EncodeError(`${kind.name}.${kind.keys[i]}: entity reference must be an entity id or null`);
    }
    values[i] = ty.clone(g);
  }
  return new ComponentInstance(kind, e, values);
}
