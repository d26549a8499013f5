import type { ComponentKind } from './ComponentRegistry.js';
import type { Entity } from './Entity.js';
import { CmdType } from './frame.js';
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
  mask = 0;
  /** The peer has applied the command that created this instance (updates may flow). */
  delivered = false;
  /** In the connection's dirty list. */
  queued = false;
  alive = true;
  /** Step at which updates for it last went out (staleness = priority). */
  lastSentStep = 0;

  constructor(
    readonly channel: HostEntityChannel,
    readonly kind: ComponentKind,
    /** The spawn or insert command that created the instance on the peer. */
    readonly establishedBy: OutCommand,
  ) {}
}

/** Sending-side state of one entity on one connection. */
export class HostEntityChannel {
  /** live: updates flow. frozen: kept on the peer out of scope (commands flow, updates wait). dying: despawn sent. */
  state: 'live' | 'frozen' | 'dying' = 'live';
  readonly components: (HostComponentRecord | undefined)[] = [];
  /** This channel's unacknowledged commands, in id order. */
  readonly unacked: OutCommand[] = [];
  /** Scope computation stamp (server). */
  scopeStamp = 0;

  constructor(
    readonly hostId: HostEntity,
    readonly entity: Entity,
    /** The connection this channel belongs to. */
    readonly owner: HostEngineOwner,
  ) {}
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
  /** Unacknowledged commands in id order; acked ones are dropped from the front. */
  queue: OutCommand[] = [];
  private nextId = 0;
  private readonly ids = new HostIdAllocator();

  constructor(
    private readonly map: LocalEntityMap,
    private readonly owner: HostEngineOwner,
    /** Whether this side tells the peer about publicity (a client hosting to the server). */
    private readonly sendsPublicity: boolean,
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
    const ch = new HostEntityChannel(this.ids.allocate(), e, this.owner);
    this.channels.set(e.id, ch);
    if (e.slot >= 0) this.bySlot[e.slot] = ch;
    this.byHostId.set(ch.hostId, ch);
    this.map.insertHost(e.id, ch.hostId);
    const kinds: ComponentKind[] = [];
    for (const inst of e.components) if (inst) kinds.push(inst.kind);
    const cmd = this.push(CmdType.Spawn, ch, kinds, undefined);
    for (const k of kinds) ch.components[k.index] = new HostComponentRecord(ch, k, cmd);
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
    if (e.slot >= 0 && this.bySlot[e.slot] === ch) this.bySlot[e.slot] = undefined;
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
    ch.components[kind.index] = new HostComponentRecord(ch, kind, cmd);
  }

  remove(e: Entity, kind: ComponentKind): void {
    const ch = this.channels.get(e.id);
    if (!ch) return;
    const rec = ch.components[kind.index];
    if (!rec) return;
    rec.alive = false;
    ch.components[kind.index] = undefined;
    this.push(CmdType.Remove, ch, undefined, kind);
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
