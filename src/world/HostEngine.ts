import { ChannelTable } from './ChannelTable.js';
import type { ComponentKind } from './ComponentRegistry.js';
import { DenseIdMap } from './DenseIdMap.js';
import type { ComponentInstance, Entity } from './Entity.js';
import { AuthWire, CmdType, varUintBits } from './frame.js';
import { type HostEntity, HostIdAllocator } from './ids.js';
import type { LocalEntityMap } from './LocalEntityMap.js';

/**
 * The sending side of replication on one connection: the entities this side authors *for this
 * peer* (a server hosts its entities to each user; a client hosts its own to the server).
 *
 * Commands go on one unordered reliable stream: each gets the next command id (an exact
 * integer here, 16 bits on the wire), stays in {@link HostEngine.queue} until a world frame
 * carrying it is acknowledged, and is resent on a timer until then. Per-entity bookkeeping
 * (which commands are unacked, which components the peer is known to have) lives in
 * {@link HostEntityChannel}.
 */

/** Largest distance between the oldest unacknowledged command and the newest sent one. */
export const COMMAND_WINDOW = 16384;

/** One reliable command in flight. */
export interface OutCommand {
  /** Exact command id (the wire carries the low 16 bits). */
  readonly id: number;
  /** Rewritten (same id) when the entity migrates: e.g. Insert → HeldInsert, Publish → Noop. */
  type: CmdType;
  /** Rewritten when the entity migrates (the id written is always the channel's current one). */
  channel: HostEntityChannel;
  /** Spawn: kinds the entity is born with; Authority: the kinds of a resync (values read at send time). */
  readonly kinds?: readonly ComponentKind[];
  /** Insert/Remove: the kind. */
  readonly kind?: ComponentKind;
  /**
   * Spawn: the instances it was made with (parallel to `kinds`); Insert: the instance. A resend
   * reads its values from them, so it carries the values the command was made with (kept up to
   * date while the instance lives, frozen once it is removed or its entity gone) — never a
   * default the sender never held.
   */
  readonly insts?: readonly ComponentInstance[];
  readonly inst?: ComponentInstance;
  /** Delegation: 1 on; Authority: status; AuthorityRequest: 1 release; MigrateResponse: old id. */
  readonly arg?: number;
  lastSentAt: number;
  sends: number;
  acked: boolean;
}

/** Establishes records the peer already has (no command creates them). */
const ALREADY_THERE: OutCommand = {
  id: -1,
  type: CmdType.Noop,
  channel: undefined as unknown as HostEntityChannel,
  lastSentAt: 0,
  sends: 0,
  acked: true,
};

/**
 * Per (entity, component) state of one connection: the diff mask (properties changed since the
 * peer last got them) and whether the peer is known to have the component.
 */
export class HostComponentRecord {
  // Field order is layout order: what the per-step hot path reads (absorb, then the update
  // writer) comes first so it shares as few cache lines as possible. At 100 users × 1000
  // entities the records do not fit in cache and each line touched is a miss.
  /** Properties changed since the peer last got them (one bit each). */
  mask = 0;
  /** In the connection's dirty list. */
  queued = false;
  /** The peer has applied the command that created this instance (updates may flow). */
  delivered = false;
  alive = true;
  /**
   * Copies of the channel's `state === 'live'` and entity (kept in step by the channel's
   * `state` setter): the update hot path reads only the record, not the channel.
   */
  live: boolean;
  readonly kind: ComponentKind;
  readonly entity: Entity;
  /**
   * An update's `more` bit and varuint entity id as one value to write in a single call
   * (ids below 2²¹, three varuint groups at most), or -1 for larger ids; {@link headBits} is its
   * length either way (1 + the varuint's bits).
   */
  readonly head: number;
  readonly headBits: number;
  /** Step at which updates for it last went out (staleness = priority). */
  lastSentStep = 0;
  readonly channel: HostEntityChannel;
  /** The command that created the instance on the peer (spawn, insert, or a migration/resync). */
  establishedBy: OutCommand;

  constructor(channel: HostEntityChannel, kind: ComponentKind, establishedBy: OutCommand) {
    this.live = channel.state === 'live' && !channel.heldByPeer;
    this.kind = kind;
    this.entity = channel.entity;
    this.head = channel.head;
    this.headBits = 1 + channel.idBits;
    this.channel = channel;
    this.establishedBy = establishedBy;
  }
}

/** Sending-side state of one entity on one connection. */
export class HostEntityChannel {
  private _state: 'live' | 'frozen' | 'dying' = 'live';
  readonly components: (HostComponentRecord | undefined)[] = [];
  /** This channel's unacknowledged commands, in id order. */
  readonly unacked: OutCommand[] = [];
  /** Scope computation stamp (server). */
  scopeStamp = 0;
  /** Bits of the host id as a varuint (fixed for the channel's life; the update hot path needs it). */
  readonly idBits: number;
  /** See {@link HostComponentRecord.head}. */
  readonly head: number;
  /**
   * Client: the channel is about an entity the *peer* hosts (`hostId` is the peer's id): it
   * carries the authority holder's writes and authority requests (receiver-hosted commands,
   * the held-updates section).
   */
  readonly held: boolean;
  private _heldByPeer = false;
  /**
   * Server: the peer was given authority, and the grant waits until the peer has everything we
   * sent about the entity (see {@link HostEngine.holdByPeer}).
   */
  grantPending = false;
  /** Client: index of the last frame that carried one of this held channel's updates (-1: none). */
  lastUpdateFrame = -1;
  /** Client, held channel: component kinds we ever inserted or removed as holder (lazily made). */
  touched: Set<ComponentKind> | null = null;
  /** @internal position in the engine's {@link ChannelTable} (-1: not in it). */
  tablePos = -1;
  /** @internal position in `entity.viewers` (-1: not a viewer), for O(1) removal. */
  viewerPos = -1;

  constructor(
    readonly hostId: HostEntity,
    readonly entity: Entity,
    /** The connection this channel belongs to. */
    readonly owner: HostEngineOwner,
    /** The engine that hosts it (keeps its per-slot liveness index in step). */
    private readonly engine?: HostEngine,
    held = false,
  ) {
    this.idBits = varUintBits(hostId);
    this.head = updateHead(hostId);
    this.held = held;
  }

  /**
   * Server: the peer holds authority over the entity. It is the writer, so nothing about the
   * entity is sent to it (no updates, no inserts/removes: records are kept silently) until
   * authority leaves it, when a resync brings it back to the server's state.
   */
  get heldByPeer(): boolean {
    return this._heldByPeer;
  }

  set heldByPeer(v: boolean) {
    this._heldByPeer = v;
    for (const rec of this.components) if (rec) rec.live = this._state === 'live' && !v;
  }

  /** live: updates flow. frozen: kept on the peer out of scope (commands flow, updates wait). dying: despawn sent. */
  get state(): 'live' | 'frozen' | 'dying' {
    return this._state;
  }

  set state(s: 'live' | 'frozen' | 'dying') {
    this._state = s;
    for (const rec of this.components) if (rec) rec.live = s === 'live' && !this._heldByPeer;
    const slot = this.entity.slot;
    if (this.engine !== undefined && slot >= 0 && this.engine.bySlot[slot] === this)
      this.engine.setLiveSlot(slot, s === 'live');
  }
}

/** Make `ch` one of `e`'s viewers (no-op when it is). */
export function addViewer(e: Entity, ch: HostEntityChannel): void {
  if (ch.viewerPos >= 0 && e.viewers[ch.viewerPos] === ch) return;
  ch.viewerPos = e.viewers.length;
  e.viewers.push(ch);
}

/**
 * Remove `ch` from `e`'s viewers in O(1): the last viewer takes its place. (Viewer order only
 * decides which connection hears of a change first; each connection's stream is its own.)
 */
export function removeViewer(e: Entity, ch: HostEntityChannel): void {
  const viewers = e.viewers;
  let i = ch.viewerPos;
  // a stale position (the list was cleared behind our back, e.g. a client switching backends)
  if (i < 0 || viewers[i] !== ch) i = viewers.indexOf(ch);
  ch.viewerPos = -1;
  if (i < 0) return;
  const last = viewers.pop()!;
  if (last !== ch) {
    viewers[i] = last;
    last.viewerPos = i;
  }
}

/** `1` then the varuint of `id`, LSB first, as one number; -1 when it would pass 25 bits. */
function updateHead(id: number): number {
  if (id >= 1 << 21) return -1;
  let packed = 0;
  let shift = 0;
  let v = id;
  while (v >= 0x80) {
    packed |= ((v & 0x7f) | 0x80) << shift;
    v >>>= 7;
    shift += 8;
  }
  packed |= v << shift;
  return 1 | (packed << 1);
}

/** Callbacks from the engine to its connection. */
export interface HostEngineOwner {
  /** A record became sendable or gained bits: queue it. */
  enqueueRecord(rec: HostComponentRecord): void;
  /** An entity got a host id on this connection (pending references to it can now be encoded). */
  hostChannelOpened(ch: HostEntityChannel): void;
  /** OR changed property bits of component `kindIndex` into the channel's record. */
  markChanged(ch: HostEntityChannel, kindIndex: number, bits: number): void;
}

export class HostEngine {
  /** The current channel per entity (live or frozen). */
  readonly channels = new ChannelTable<HostEntityChannel>();
  /** Every channel holding a host id, dying ones included (ids return to the pool once all acked). */
  readonly byHostId = new DenseIdMap<HostEntityChannel>();
  /** The current channel by the entity's world slot (O(1) lookup on the per-step hot path). */
  readonly bySlot: (HostEntityChannel | undefined)[] = [];
  /**
   * The current channels' component records, flat by `slot × kindCount + kind index`: the
   * per-step hot path (OR-ing each changed component's bits in, for every connection) reaches a
   * record with one load from a dense array instead of chasing channel → component list →
   * record, which at 100 users × 1000 entities is cache misses, not work.
   */
  readonly recordsBySlot: (HostComponentRecord | undefined)[] = [];
  /**
   * 1 where the current channel of the entity in that slot is live, else 0: dense, so a
   * view-radius pass over moved entities reads a byte per entity, not a channel object each.
   */
  liveBySlot = new Uint8Array(64);
  /** Unacknowledged commands in id order; acked ones are dropped from the front. */
  queue: OutCommand[] = [];
  /** Server: channels whose grant waits for the peer to have our latest state ({@link holdByPeer}). */
  pendingGrants: HostEntityChannel[] = [];
  private nextId = 0;
  private readonly ids = new HostIdAllocator();
  /** Host ids of migrated entities, reusable once their redirect has expired. */
  private readonly retired: { id: HostEntity; at: number }[] = [];
  /**
   * Entities that left the peer's scope alive, by their dying channel, until every command of
   * that channel (its Despawn last) is acknowledged: the peer may still hold its copy until then,
   * so the entity does not re-enter (a fresh Spawn could overtake the Despawn and the peer would
   * show two live copies of one entity).
   */
  private readonly leaving = new Map<Entity, HostEntityChannel>();
  /** Entities whose leaving completed since {@link takeLeft} (their scope is due again). */
  private left: Entity[] = [];

  constructor(
    private readonly map: LocalEntityMap,
    private readonly owner: HostEngineOwner,
    /** Whether this side tells the peer about publicity (a client hosting to the server). */
    private readonly sendsPublicity: boolean,
    /** Number of component kinds in the registry (the stride of {@link recordsBySlot}). */
    private readonly kindCount: number,
    firstCommandId = 0,
  ) {
    this.nextId = firstCommandId;
  }

  /** The next command id to be assigned (exact). */
  get nextCommandId(): number {
    return this.nextId;
  }

  /** Oldest unacknowledged command id, or the next id when none. */
  get oldestUnacked(): number {
    this.compact();
    return this.queue.length > 0 ? this.queue[0].id : this.nextId;
  }

  get hostIdsInUse(): number {
    return this.ids.inUse;
  }

  has(e: Entity): boolean {
    return this.channels.of(e) !== undefined;
  }

  /**
   * Start hosting `e` to the peer: a Spawn with every component. `preferredId`: use that host id
   * when it is free (a client re-announcing its own entities to a new backend keeps their ids).
   */
  spawn(e: Entity, preferredId?: HostEntity): HostEntityChannel {
    const id =
      preferredId !== undefined && this.ids.allocateExact(preferredId) ? preferredId : this.ids.allocate();
    const ch = new HostEntityChannel(id, e, this.owner, this);
    this.channels.set(ch);
    if (e.slot >= 0) {
      this.bySlot[e.slot] = ch;
      this.setLiveSlot(e.slot, true);
    }
    this.byHostId.set(ch.hostId, ch);
    this.map.insertHost(e.id, ch.hostId);
    const kinds: ComponentKind[] = [];
    const insts: ComponentInstance[] = [];
    for (const inst of e.components)
      if (inst) {
        kinds.push(inst.kind);
        insts.push(inst);
      }
    const cmd = this.push(CmdType.Spawn, ch, kinds, undefined, undefined, insts);
    for (const k of kinds) this.setRecord(ch, k.index, new HostComponentRecord(ch, k, cmd));
    addViewer(e, ch);
    // publicity is the author's to send (a client's own entities; never relayed ones)
    if (this.sendsPublicity) {
      if (e.isLocal && e.replication !== 'private') this.push(CmdType.Publish, ch, undefined, undefined);
      if (e.isLocal && e.replication === 'delegated')
        this.push(CmdType.Delegation, ch, undefined, undefined, 1);
    } else if (e.replication === 'delegated' && e.ownerKey === null) {
      // a server's delegated entity: the new viewer learns it is delegated and who may write
      this.push(CmdType.Delegation, ch, undefined, undefined, 1);
      const status = e.authHolder === null ? AuthWire.Available : AuthWire.Denied;
      this.push(CmdType.Authority, ch, undefined, undefined, status);
    }
    this.owner.hostChannelOpened(ch);
    return ch;
  }

  /** Stop hosting `e`: the peer despawns it. */
  despawn(e: Entity): void {
    const ch = this.channels.of(e);
    if (!ch) return;
    this.channels.delete(e);
    if (ch.held) {
      // the authority holder despawns the peer's entity: the peer's Despawn will follow
      removeViewer(e, ch);
      for (const rec of ch.components) if (rec) rec.alive = false;
      ch.components.length = 0;
      ch.state = 'dying';
      this.push(CmdType.HeldDespawn, ch, undefined, undefined);
      return;
    }
    if (e.slot >= 0 && this.bySlot[e.slot] === ch) {
      this.bySlot[e.slot] = undefined;
      this.setLiveSlot(e.slot, false);
      const base = e.slot * this.kindCount;
      for (let k = 0; k < this.kindCount; k++) this.recordsBySlot[base + k] = undefined;
    }
    this.map.removeHost(ch.hostId);
    removeViewer(e, ch);
    for (const rec of ch.components) if (rec) rec.alive = false;
    ch.components.length = 0;
    ch.state = 'dying';
    this.push(CmdType.Despawn, ch, undefined, undefined);
    if (e.alive) this.leaving.set(e, ch);
  }

  /**
   * Whether `e` left the peer's scope and the peer may still hold its copy (the Despawn is not
   * acknowledged yet): it may not be spawned again until then.
   */
  isLeaving(e: Entity): boolean {
    return this.leaving.size !== 0 && this.leaving.has(e);
  }

  /** Entities whose leaving completed since the last call (re-evaluate their scope). */
  takeLeft(): Entity[] {
    if (this.left.length === 0) return this.left;
    const out = this.left;
    this.left = [];
    return out;
  }

  insert(e: Entity, kind: ComponentKind): void {
    const ch = this.channels.of(e);
    if (!ch) return;
    if (ch.heldByPeer) {
      // the holder wrote it (or the server did while a client holds): kept silently, resynced later
      const prev = ch.components[kind.index];
      if (prev) prev.alive = false;
      const rec = new HostComponentRecord(ch, kind, ALREADY_THERE);
      rec.delivered = true;
      this.setRecord(ch, kind.index, rec);
      return;
    }
    const old = ch.components[kind.index];
    if (old) {
      // a replacement on the peer is remove + insert, so each stays a legal transition
      old.alive = false;
      this.push(CmdType.Remove, ch, undefined, kind);
    }
    const cmd = this.push(
      CmdType.Insert,
      ch,
      undefined,
      kind,
      undefined,
      undefined,
      e.components[kind.index],
    );
    this.setRecord(ch, kind.index, new HostComponentRecord(ch, kind, cmd));
  }

  remove(e: Entity, kind: ComponentKind): void {
    const ch = this.channels.of(e);
    if (!ch) return;
    const rec = ch.components[kind.index];
    if (!rec) return;
    rec.alive = false;
    this.setRecord(ch, kind.index, undefined);
    if (ch.heldByPeer) return;
    this.push(CmdType.Remove, ch, undefined, kind);
  }

  /** @internal keep {@link liveBySlot} in step (the channel's state setter calls this). */
  setLiveSlot(slot: number, live: boolean): void {
    if (slot >= this.liveBySlot.length) {
      let cap = this.liveBySlot.length * 2;
      while (cap <= slot) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.liveBySlot);
      this.liveBySlot = next;
    }
    this.liveBySlot[slot] = live ? 1 : 0;
  }

  /** Set a channel's record of one kind, keeping {@link recordsBySlot} in step. */
  private setRecord(ch: HostEntityChannel, kindIndex: number, rec: HostComponentRecord | undefined): void {
    ch.components[kindIndex] = rec;
    const slot = ch.entity.slot;
    if (slot >= 0 && this.bySlot[slot] === ch) this.recordsBySlot[slot * this.kindCount + kindIndex] = rec;
  }

  publish(e: Entity, on: boolean): void {
    const ch = this.channels.of(e);
    if (!ch) return;
    if (this.retract(ch, on ? CmdType.Unpublish : CmdType.Publish, 0)) return;
    this.push(on ? CmdType.Publish : CmdType.Unpublish, ch, undefined, undefined);
  }

  // ---- delegation and authority (DESIGN §4) ----------------------------------------------------

  /** Tell the peer the entity's delegation was turned on or off. */
  delegation(e: Entity, on: boolean): void {
    const ch = this.channels.of(e);
    if (!ch || ch.held) return;
    if (this.retract(ch, CmdType.Delegation, on ? 0 : 1)) return;
    this.push(CmdType.Delegation, ch, undefined, undefined, on ? 1 : 0);
  }

  /**
   * A publicity change that undoes one not sent yet (delegated → public → delegated, public →
   * private → public… within one step): the unsent opposite command retires as Noop (keeping its
   * id), with the Authority statuses queued behind it, and nothing new is queued — the peer sees
   * the net transition only, not a pair of events that cancel out. Returns whether it retracted.
   */
  private retract(ch: HostEntityChannel, opposite: CmdType, oppositeArg: number): boolean {
    const list = ch.unacked;
    let i = list.length - 1;
    // statuses of the delegation being undone go with it; nothing else may sit in between
    while (
      i >= 0 &&
      list[i].sends === 0 &&
      (list[i].type === CmdType.Authority || list[i].type === CmdType.Noop)
    )
      i--;
    if (i < 0) return false;
    const c = list[i];
    if (
      c.sends !== 0 ||
      c.type !== opposite ||
      (opposite === CmdType.Delegation && (c.arg ?? 0) !== oppositeArg)
    )
      return false;
    for (let j = i; j < list.length; j++) list[j].type = CmdType.Noop;
    return true;
  }

  /** Server: tell the peer its authority status over `e` (an {@link AuthWire} value). */
  authority(e: Entity, status: number): void {
    const ch = this.channels.of(e);
    if (ch) this.push(CmdType.Authority, ch, undefined, undefined, status);
  }

  /** Client: ask for (or give up) authority over an entity the peer hosts as `remoteId`. */
  authorityRequest(e: Entity, release: boolean, remoteId?: HostEntity): void {
    const ch = this.heldChannelFor(e, remoteId);
    if (ch) this.push(CmdType.AuthorityRequest, ch, undefined, undefined, release ? 1 : 0);
  }

  /** Client: the channel that carries writes and requests about the peer's entity `e`. */
  heldChannelFor(e: Entity, remoteId?: HostEntity): HostEntityChannel | undefined {
    const ch = this.channels.of(e);
    if (ch) return ch.held ? ch : undefined;
    const id = remoteId ?? this.map.remoteOf(e.id);
    if (id === undefined) return undefined;
    const held = new HostEntityChannel(id, e, this.owner, undefined, true);
    this.channels.set(held);
    return held;
  }

  /**
   * Client: authority granted — our writes to `e` flow to the peer. The grant opens with a
   * snapshot of our state as commands newer than anything we sent before: a HeldInsert per
   * component we have (the peer updates an existing one in place) and a HeldRemove per kind we
   * wrote earlier and no longer have. A write of an earlier grant still in flight — sent before
   * a resync took it back — is then older, per component, than the snapshot, and loses.
   */
  beginHolding(e: Entity, remoteId?: HostEntity): void {
    const ch = this.heldChannelFor(e, remoteId);
    if (!ch) return;
    for (const inst of e.components) {
      if (!inst) continue;
      const prev = ch.components[inst.kind.index];
      if (prev) prev.alive = false;
      const cmd = this.push(CmdType.Insert, ch, undefined, inst.kind, undefined, undefined, inst);
      ch.components[inst.kind.index] = new HostComponentRecord(ch, inst.kind, cmd);
    }
    for (const k of ch.touched ?? []) {
      if (e.components[k.index]) continue;
      this.push(CmdType.Remove, ch, undefined, k);
    }
    addViewer(e, ch);
  }

  /** Client: authority gone — stop tracking our writes (queued requests still go out). */
  endHolding(e: Entity): void {
    const ch = this.channels.of(e);
    if (!ch?.held) return;
    for (const rec of ch.components) if (rec) rec.alive = false;
    ch.components.length = 0;
    removeViewer(e, ch);
  }

  /**
   * Server, migration step 4/9: host `e` — which the peer authored and still has, with exactly
   * the components `kinds` — under a new host id. No Spawn or Insert is sent: the first command
   * of the channel is MigrateResponse(old id → new id), and the records are established by it
   * (updates may flow once the peer has applied it).
   */
  adoptMigrated(e: Entity, kinds: readonly ComponentKind[], oldRemoteId: number): HostEntityChannel {
    const ch = new HostEntityChannel(this.ids.allocate(), e, this.owner, this);
    this.channels.set(ch);
    if (e.slot >= 0) {
      this.bySlot[e.slot] = ch;
      this.setLiveSlot(e.slot, true);
    }
    this.byHostId.set(ch.hostId, ch);
    this.map.insertHost(e.id, ch.hostId);
    const cmd = this.push(CmdType.MigrateResponse, ch, undefined, undefined, oldRemoteId);
    for (const k of kinds) this.setRecord(ch, k.index, new HostComponentRecord(ch, k, cmd));
    addViewer(e, ch);
    this.owner.hostChannelOpened(ch);
    return ch;
  }

  /**
   * Server: the peer now holds authority. After a migration (`announce` false: MigrateResponse
   * implies the grant, and the peer authored every value) it holds it at once. Otherwise the
   * grant is announced only once the peer has applied everything we sent about the entity (see
   * {@link pendingGrants}): the holder's first act is a snapshot of its values, which must be the
   * server's latest, not one missing an update still in flight.
   */
  holdByPeer(e: Entity, announce: boolean): void {
    const ch = this.channels.of(e);
    if (!ch) return;
    if (!announce) {
      ch.heldByPeer = true;
      return;
    }
    if (ch.grantPending || ch.heldByPeer) return;
    ch.grantPending = true;
    this.pendingGrants.push(ch);
  }

  /** Server: the peer has everything about `ch`'s entity: announce its grant, stop sending it state. */
  completeGrant(ch: HostEntityChannel): void {
    ch.grantPending = false;
    ch.heldByPeer = true;
    this.push(CmdType.Authority, ch, undefined, undefined, AuthWire.Granted);
  }

  /**
   * Server: the peer no longer holds authority. Its status goes with a resync: the kinds the
   * entity has here (the peer aligns its structure) and every property resent once the command
   * is applied — writes of its that arrived too late were refused, and nothing was sent to it
   * while it held authority.
   */
  releaseByPeer(e: Entity, status: number): void {
    const ch = this.channels.of(e);
    if (!ch) return;
    if (ch.grantPending) {
      // never announced: the peer never wrote, and has had our state all along
      ch.grantPending = false;
      this.push(CmdType.Authority, ch, undefined, undefined, status);
      return;
    }
    const kinds: ComponentKind[] = [];
    for (const inst of e.components) if (inst) kinds.push(inst.kind);
    const cmd = this.push(CmdType.Authority, ch, kinds, undefined, status);
    ch.heldByPeer = false;
    for (let k = 0; k < ch.components.length; k++) {
      const rec = ch.components[k];
      if (rec && !e.components[k]) {
        rec.alive = false;
        this.setRecord(ch, k, undefined);
      }
    }
    for (const kind of kinds) {
      let rec = ch.components[kind.index];
      if (!rec?.alive) {
        rec = new HostComponentRecord(ch, kind, cmd);
        this.setRecord(ch, kind.index, rec);
      }
      rec.establishedBy = cmd;
      rec.delivered = false;
      rec.mask = fullMask(kind.propCount);
    }
  }

  /**
   * Client, migration (host → remote, on MigrateResponse): `old` (our channel for the entity)
   * becomes a held channel naming the peer's new id `remoteId`. Component records move with their
   * pending bits (bits of frames still in flight follow through {@link movedRecord}).
   * Commands keep their ids (the stream stays gap-free): sent-but-unacknowledged ones are
   * rewritten to name the new id; unsent ones are taken and replayed as the holder's writes.
   * Either way Insert/Remove/Despawn become HeldInsert/HeldRemove/HeldDespawn, and what has no
   * meaning for a remote entity (Spawn, Publish, Unpublish, Delegation) retires as Noop.
   * `old`'s host id is retired until the redirect expires.
   */
  migrateToHeld(
    old: HostEntityChannel,
    remoteId: HostEntity,
    now: number,
  ): { held: HostEntityChannel; rewritten: number; replayed: number } {
    const e = old.entity;
    const alive = old.state !== 'dying' && e.alive;
    if (this.channels.of(e) === old) this.channels.delete(e);
    if (e.slot >= 0 && this.bySlot[e.slot] === old) this.bySlot[e.slot] = undefined;
    this.byHostId.delete(old.hostId);
    this.retired.push({ id: old.hostId, at: now });
    const held = new HostEntityChannel(remoteId, e, this.owner, undefined, true);
    if (alive) this.channels.set(held);
    else held.state = 'dying';
    for (let k = 0; k < old.components.length; k++) {
      const rec = old.components[k];
      if (!rec) continue;
      rec.alive = false;
      if (!alive) continue;
      const moved = new HostComponentRecord(held, rec.kind, rec.establishedBy);
      moved.mask = rec.mask;
      moved.delivered = rec.delivered;
      moved.lastSentStep = rec.lastSentStep;
      movedRecords.set(rec, moved);
      held.components[k] = moved;
      if (moved.mask !== 0 && moved.delivered) this.owner.enqueueRecord(moved);
    }
    old.components.length = 0;
    removeViewer(e, old);
    if (alive) addViewer(e, held);
    let rewritten = 0;
    let replayed = 0;
    for (const cmd of old.unacked) {
      const sent = cmd.sends > 0;
      cmd.channel = held;
      cmd.type = heldType(cmd.type);
      held.unacked.push(cmd);
      if (cmd.type === CmdType.Noop) continue;
      if (sent) rewritten++;
      else replayed++;
    }
    old.unacked.length = 0;
    // acked() may find a dying channel with nothing left; the old one is simply gone
    old.state = 'dying';
    return { held, rewritten, replayed };
  }

  /** Client: host ids of migrated entities whose redirect (and every copy naming them) is past `before`. */
  releaseRetired(before: number): void {
    while (this.retired.length > 0 && this.retired[0].at <= before)
      this.ids.release(this.retired.shift()!.id);
  }

  /** Keep the entity on the peer but stop its updates (scope exit with policy 'keep'). */
  freeze(e: Entity): void {
    const ch = this.channels.of(e);
    if (ch && ch.state === 'live') ch.state = 'frozen';
  }

  /** Back in scope: updates resume with everything that changed meanwhile. */
  thaw(e: Entity): void {
    const ch = this.channels.of(e);
    if (ch?.state !== 'frozen') return;
    ch.state = 'live';
    for (const rec of ch.components)
      if (rec && rec.mask !== 0 && rec.delivered) this.owner.enqueueRecord(rec);
  }

  /** A frame carrying `cmd` was acknowledged. */
  acked(cmd: OutCommand): void {
    if (cmd.acked) return;
    cmd.acked = true;
    const ch = cmd.channel;
    const i = ch.unacked.indexOf(cmd);
    if (i >= 0) ch.unacked.splice(i, 1);
    if (ch.state === 'dying') {
      if (ch.unacked.length === 0 && this.leaving.get(ch.entity) === ch) {
        // the peer has applied the Despawn: the entity may come back into its scope
        this.leaving.delete(ch.entity);
        this.left.push(ch.entity);
      }
      // a held channel's id is the peer's: nothing of ours to release
      if (ch.unacked.length === 0 && !ch.held && this.byHostId.get(ch.hostId) === ch) {
        this.byHostId.delete(ch.hostId);
        this.ids.release(ch.hostId);
      }
      return;
    }
    // a component's updates may flow once its creating command and every earlier command of the
    // entity are acked: then the peer has applied it (it rebuilds per-entity causal order)
    const oldest = ch.unacked.length > 0 ? ch.unacked[0].id : Number.POSITIVE_INFINITY;
    for (const rec of ch.components) {
      if (rec && !rec.delivered && rec.establishedBy.acked && rec.establishedBy.id < oldest) {
        rec.delivered = true;
        if (rec.mask !== 0 && ch.state === 'live') this.owner.enqueueRecord(rec);
      }
    }
  }

  /** Drop acknowledged commands from the front of the queue. */
  compact(): void {
    let n = 0;
    while (n < this.queue.length && this.queue[n].acked) n++;
    if (n > 0) this.queue.splice(0, n);
  }

  private push(
    type: CmdType,
    channel: HostEntityChannel,
    kinds: readonly ComponentKind[] | undefined,
    kind: ComponentKind | undefined,
    arg?: number,
    insts?: readonly ComponentInstance[],
    inst?: ComponentInstance,
  ): OutCommand {
    // the authority holder's writes name the peer's entity
    if (channel.held) {
      type = heldType(type);
      if (kind && (type === CmdType.HeldInsert || type === CmdType.HeldRemove)) {
        channel.touched ??= new Set();
        channel.touched.add(kind);
      }
    }
    const cmd: OutCommand = {
      id: this.nextId++,
      type,
      channel,
      kinds,
      kind,
      arg,
      insts,
      inst,
      lastSentAt: Number.NEGATIVE_INFINITY,
      sends: 0,
      acked: false,
    };
    this.queue.push(cmd);
    channel.unacked.push(cmd);
    return cmd;
  }
}

/**
 * Records replaced by one on a migrated channel → their successor: bits of a frame still in flight
 * when the record moved go there if that frame is lost. Off the record itself (a migration is
 * rare; records are the per-step hot path and stay small); weak, so nothing outlives its record.
 */
const movedRecords = new WeakMap<HostComponentRecord, HostComponentRecord>();

/** Where a record replaced by a migration now lives (undefined when it was not moved). */
export function movedRecord(rec: HostComponentRecord): HostComponentRecord | undefined {
  return movedRecords.get(rec);
}

/** Every property bit of a component with `n` properties (n ≤ 32). */
export function fullMask(n: number): number {
  return n >= 32 ? -1 : (1 << n) - 1;
}

/** The receiver-hosted form of a command about an entity the peer hosts (others retire as Noop). */
function heldType(type: CmdType): CmdType {
  switch (type) {
    case CmdType.Insert:
    case CmdType.HeldInsert:
      return CmdType.HeldInsert;
    case CmdType.Remove:
    case CmdType.HeldRemove:
      return CmdType.HeldRemove;
    case CmdType.Despawn:
    case CmdType.HeldDespawn:
      return CmdType.HeldDespawn;
    case CmdType.AuthorityRequest:
      return CmdType.AuthorityRequest;
    default:
      return CmdType.Noop;
  }
}
