import { EncodeError } from '../serde/DecodeError.js';
import type { ComponentDef } from '../serde/definitions.js';
import type { Infer, Schema } from '../serde/Schema.js';
import type { AnyComponentDef, ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import { measureBits, WriteCode } from './ComponentRegistry.js';
import { AuthorityError, type AuthorityResult } from './errors.js';
import type { HostEntityChannel } from './HostEngine.js';
import type { GlobalEntity } from './ids.js';

/** The largest finite f32. */
const F32_MAX = 3.4028234663852886e38;

/**
 * Publicity of an entity: `private` (server only), `public` (others in scope too), `delegated`
 * (server-owned; any client in scope may request authority to write it). DESIGN §4.
 */
export type ReplicationConfig = 'private' | 'public' | 'delegated';
/** A client's view of authority over a delegated entity. */
export type AuthorityStatus = 'available' | 'requested' | 'granted' | 'releasing' | 'denied';
/** Authority operations an entity forwards to its world. */
export type AuthorityOp = 'request' | 'release' | 'give' | 'take';
/** {@link Entity.authHolder} when the server itself holds authority. */
export const SERVER_HOLDER: unique symbol = Symbol('server');
/** What happens on a client when an entity leaves its scope. */
export type ScopeExitPolicy = 'despawn' | 'keep';

/** The world an entity lives in: the hooks entity operations call (ServerWorld, ClientWorld). */
export interface EntityWorld {
  readonly registry: ComponentRegistry;
  /** A property changed on an instance with viewers: queue it for the next step. */
  markDirty(inst: ComponentInstance): void;
  /**
   * Throws when local code may not change this entity's structure (e.g. the server on a client's
   * entity, or on an entity a client holds authority over: `despawn` is allowed there).
   */
  checkAuthoring(e: Entity, despawn?: boolean): void;
  componentInserted(e: Entity, inst: ComponentInstance, replaced: ComponentInstance | undefined): void;
  componentRemoved(e: Entity, inst: ComponentInstance): void;
  entityDespawned(e: Entity): void;
  /** Validate and apply a publicity change (the world sets {@link Entity.replication}). */
  configureReplication(e: Entity, mode: ReplicationConfig): void;
  /** Request/release (client), give/take/release (server) authority over a delegated entity. */
  authorityOp(e: Entity, op: AuthorityOp, user?: unknown): AuthorityResult;
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
    if (this.entity.writeLocked) throw notHolder(this.entity);
    const kind = this.kind;
    const code = kind.writeCodes[i];
    if (code === WriteCode.F32 || code === WriteCode.F64 || code === WriteCode.Bool) {
      // what the general path does for these types (equals is Object.is, clone the identity),
      // without its three calls through the type: the setter is game code's hot path. Floats are
      // checked inline (a number; f32 within its range), as their encoder would refuse them.
      if (code !== WriteCode.Bool) {
        if (typeof v !== 'number')
          throw new EncodeError(`${kind.name}.${kind.keys[i]}: expected a number, got ${typeof v}`);
        if (code === WriteCode.F32 && Math.abs(v) > F32_MAX && Number.isFinite(v))
          throw new EncodeError(`${kind.name}.${kind.keys[i]}: ${v} is outside the f32 range`);
      }
      if (Object.is(this.values[i], v)) return;
      this.values[i] = v;
      this.touch(1 << i);
      return;
    }
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
  /**
   * Client: this client's authority status over a delegated entity (null when not delegated).
   * Server: always null (see {@link authHolder}).
   */
  authority: AuthorityStatus | null = null;
  /** Server: who holds authority over a delegated entity — a user key, {@link SERVER_HOLDER}, or null (available). */
  authHolder: unknown = null;
  /**
   * @internal server: the user that delegated this entity (its former owner) while it still holds
   * authority over it — the entity stays in that user's scope until then (DESIGN §4).
   */
  keepFor: unknown = null;
  /**
   * @internal delegated and authority is held elsewhere — local writes throw `not-holder`
   * (client: it does not hold authority; server: a client holds it).
   */
  writeLocked = false;
  /** @internal client: this client holds authority (server updates for it are not applied). */
  holding = false;

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
    this.world.checkAuthoring(this, true);
    this.alive = false;
    this.world.entityDespawned(this);
  }

  /**
   * 'private' (server only), 'public' (others in scope too) or 'delegated' (handed to the server;
   * any client in scope may then request authority). The owning client may set all three on its
   * own entities (delegating a private one publishes it first); the server may delegate a
   * client's entity, and delegate or undelegate its own.
   */
  configureReplication(mode: ReplicationConfig): this {
    this.checkAlive();
    if (mode !== 'private' && mode !== 'public' && mode !== 'delegated')
      throw new Error(`unknown replication mode ${mode}`);
    this.world.configureReplication(this, mode);
    return this;
  }

  /** Client: ask the server for authority over this delegated entity (`authority` becomes 'requested'). */
  requestAuthority(): AuthorityResult {
    return this.world.authorityOp(this, 'request');
  }

  /** Client: give up (or cancel a request for) authority. Server: make authority available to all. */
  releaseAuthority(): AuthorityResult {
    return this.world.authorityOp(this, 'release');
  }

  /** Server: hand authority to `user` (who must have the entity in scope). */
  giveAuthority(user: unknown): AuthorityResult {
    return this.world.authorityOp(this, 'give', user);
  }

  /** Server: hold authority itself; every client is denied. */
  takeAuthority(): AuthorityResult {
    return this.world.authorityOp(this, 'take');
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

function notHolder(e: Entity): AuthorityError {
  // a server-side entity is local there: a client holds it, and the server must take it first
  return new AuthorityError(
    'not-holder',
    e.isLocal
      ? `entity ${e.id} is delegated and a client holds authority over it: takeAuthority() first`
      : `entity ${e.id} is delegated and this client does not hold authority`,
  );
}

/** The error a write by a side that does not hold authority over `e` gets. */
export function notHolderError(e: Entity): AuthorityError {
  return notHolder(e);
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
