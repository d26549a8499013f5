import type { ComponentKind } from './ComponentRegistry.js';
import type { Entity } from './Entity.js';
import { CmdType, varUintBits } from './frame.js';
import { type GlobalEntity, type HostEntity, HostIdAllocator } from './ids.js';
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
  readonly type: CmdType;
  readonly channel: HostEntityChannel;
  /** Spawn: kinds the entity is born with (fixed at creation; values are read at send time). */
  readonly kinds?: readonly ComponentKind[];
  /** Insert/Remove: the kind. */
  readonly kind?: ComponentKind;
  lastSentAt: number;
  sends: number;
  acked: boolean;
}

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
  /** The spawn or insert command that created the instance on the peer. */
  readonly establishedBy: OutCommand;

  constructor(channel: HostEntityChannel, kind: ComponentKind, establishedBy: OutCommand) {
    this.live = channel.state === 'live';
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

  constructor(
    readonly hostId: HostEntity,
    readonly entity: Entity,
    /** The connection this channel belongs to. */
    readonly owner: HostEngineOwner,
    /** The engine that hosts it (keeps its per-slot liveness index in step). */
    private readonly engine?: HostEngine,
  ) {
    this.idBits = varUintBits(hostId);
    this.head = updateHead(hostId);
  }

  /** live: updates flow. frozen: kept on the peer out of scope (commands flow, updates wait). dying: despawn sent. */
  get state(): 'live' | 'frozen' | 'dying' {
    return this._state;
  }

  set state(s: 'live' | 'frozen' | 'dying') {
    this._state = s;
    for (const rec of this.components) if (rec) rec.live = s === 'live';
    const slot = this.entity.slot;
    if (this.engine !== undefined && slot >= 0 && this.engine.bySlot[slot] === this)
      this.engine.setLiveSlot(slot, s === 'live');
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
  readonly channels = new Map<GlobalEntity, HostEntityChannel>();
  /** Every channel holding a host id, dying ones included (ids return to the pool once all acked). */
  readonly byHostId = new Map<HostEntity, HostEntityChannel>();
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
  private nextId = 0;
  private readonly ids = new HostIdAllocator();

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
    return this.channels.has(e.id);
  }

  /** Start hosting `e` to the peer: spawn with every component it has now. */
  spawn(e: Entity): HostEntityChannel {
    const ch = new HostEntityChannel(this.ids.allocate(), e, this.owner, this);
    this.channels.set(e.id, ch);
    if (e.slot >= 0) {
      this.bySlot[e.slot] = ch;
      this.setLiveSlot(e.slot, true);
    }
    this.byHostId.set(ch.hostId, ch);
    this.map.insertHost(e.id, ch.hostId);
    const kinds: ComponentKind[] = [];
    for (const inst of e.components) if (inst) kinds.push(inst.kind);
    const cmd = this.push(CmdType.Spawn, ch, kinds, undefined);
    for (const k of kinds) this.setRecord(ch, k.index, new HostComponentRecord(ch, k, cmd));
    e.viewers.push(ch);
    // publicity is the author's to send (a client's own entities; never relayed ones)
    if (e.isLocal && e.replication === 'public' && this.sendsPublicity) {
      this.push(CmdType.Publish, ch, undefined, undefined);
    }
    this.owner.hostChannelOpened(ch);
    return ch;
  }

  /** Stop hosting `e`: the peer despawns it. */
  despawn(e: Entity): void {
    const ch = this.channels.get(e.id);
    if (!ch) return;
    this.channels.delete(e.id);
    if (e.slot >= 0 && this.bySlot[e.slot] === ch) {
      this.bySlot[e.slot] = undefined;
      this.setLiveSlot(e.slot, false);
      const base = e.slot * this.kindCount;
      for (let k = 0; k < this.kindCount; k++) this.recordsBySlot[base + k] = undefined;
    }
    this.map.removeHost(ch.hostId);
    const vi = e.viewers.indexOf(ch);
    if (vi >= 0) e.viewers.splice(vi, 1);
    for (const rec of ch.components) if (rec) rec.alive = false;
    ch.components.length = 0;
    ch.state = 'dying';
    this.push(CmdType.Despawn, ch, undefined, undefined);
  }

  insert(e: Entity, kind: ComponentKind): void {
    const ch = this.channels.get(e.id);
    if (!ch) return;
    const old = ch.components[kind.index];
    if (old) {
      // a replacement on the peer is remove + insert, so each stays a legal transition
      old.alive = false;
      this.push(CmdType.Remove, ch, undefined, kind);
    }
    const cmd = this.push(CmdType.Insert, ch, undefined, kind);
    this.setRecord(ch, kind.index, new HostComponentRecord(ch, kind, cmd));
  }

  remove(e: Entity, kind: ComponentKind): void {
    const ch = this.channels.get(e.id);
    if (!ch) return;
    const rec = ch.components[kind.index];
    if (!rec) return;
    rec.alive = false;
    this.setRecord(ch, kind.index, undefined);
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
    const ch = this.channels.get(e.id);
    if (!ch) return;
    this.push(on ? CmdType.Publish : CmdType.Unpublish, ch, undefined, undefined);
  }

  /** Keep the entity on the peer but stop its updates (scope exit with policy 'keep'). */
  freeze(e: Entity): void {
    const ch = this.channels.get(e.id);
    if (ch && ch.state === 'live') ch.state = 'frozen';
  }

  /** Back in scope: updates resume with everything that changed meanwhile. */
  thaw(e: Entity): void {
    const ch = this.channels.get(e.id);
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
      if (ch.unacked.length === 0) {
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
  ): OutCommand {
    const cmd: OutCommand = {
      id: this.nextId++,
      type,
      channel,
      kinds,
      kind,
      lastSentAt: Number.NEGATIVE_INFINITY,
      sends: 0,
      acked: false,
    };
    this.queue.push(cmd);
    channel.unacked.push(cmd);
    return cmd;
  }
}
