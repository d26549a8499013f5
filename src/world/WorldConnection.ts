import { sequenceDiff as seqDiff } from '../link/sequence.js';
import { BitReader } from '../serde/BitReader.js';
import { DecodeError } from '../serde/DecodeError.js';
import type { WorldFramePipe } from '../session/SessionPipe.js';
import type { Clock } from '../util/Clock.js';
import type { AuthOp } from './AuthChannel.js';
import type { ComponentKind, ComponentRegistry } from './ComponentRegistry.js';
import { measureBits } from './ComponentRegistry.js';
import type { ComponentInstance, Entity } from './Entity.js';
import { WorldError } from './errors.js';
import { FrameWriter } from './FrameWriter.js';
import {
  AuthWire,
  CMD_TYPE_BITS,
  CmdType,
  type DecodedComponent,
  decodeFrame,
  FRAME_HEADER_BITS,
  FRAME_TRAILER_BITS,
  type InCommand,
  type RefWire,
  receiverHosted,
  refWireBits,
  varUintBits,
  writeFrameHeaderFields,
  writeRefWire,
} from './frame.js';
import {
  COMMAND_WINDOW,
  fullMask,
  HostComponentRecord,
  HostEngine,
  type HostEngineOwner,
  type HostEntityChannel,
  movedRecord,
  type OutCommand,
} from './HostEngine.js';
import type { GlobalEntity, HostEntity, RemoteEntity } from './ids.js';
import { LocalEntityMap, REDIRECT_TTL_MS } from './LocalEntityMap.js';
import { writeProp } from './propWriter.js';
import {
  type InCmd,
  RemoteComponentChannel,
  RemoteEngine,
  RemoteEntityChannel,
  type RemoteSink,
} from './RemoteEngine.js';
import { SentFrames } from './SentFrames.js';
import { SentLog } from './SentLog.js';
import type { UpdateCache } from './UpdateCache.js';
import { unwrapSeq } from './wrap.js';

/** What a connection does to its world when the peer's entities change. */
export interface WorldSink {
  /** A peer-authored entity appeared (values already resolved). May throw a fatal WorldError. */
  remoteSpawn(conn: WorldConnection, comps: { kind: ComponentKind; values: unknown[] }[]): Entity;
  remoteDespawn(conn: WorldConnection, e: Entity): void;
  remoteInsert(conn: WorldConnection, e: Entity, kind: ComponentKind, values: unknown[]): void;
  remoteRemove(conn: WorldConnection, e: Entity, kind: ComponentKind): void;
  /**
   * The peer's publicity/authority stream applied `op` (`arg`: Authority status; `kinds`: an
   * Authority resync's component kinds). A server never sees `enableDelegation` here: that is
   * {@link delegateRequested}.
   */
  remotePublicity(
    conn: WorldConnection,
    e: Entity,
    op: AuthOp,
    arg: number,
    kinds?: readonly ComponentKind[],
  ): void;
  /** Properties (bits) of a peer-authored component changed (values already set). */
  remoteUpdated(conn: WorldConnection, e: Entity, kind: ComponentKind, changed: number): void;
  /**
   * Client, seamless migration: the new backend spawned `e`, an entity that carried over from
   * the previous one (it keeps its identity: set its components to `comps`, no spawn event).
   */
  remoteAdopt(conn: WorldConnection, e: Entity, comps: { kind: ComponentKind; values: unknown[] }[]): void;
  /** Client: our entity `e` was migrated to the server (it keeps its identity). */
  remoteMigrated(conn: WorldConnection, e: Entity): void;
  /** Server: the owner delegated its entity `e` (migrate it now). */
  delegateRequested(conn: WorldConnection, e: Entity): void;
  /** Server: may this peer write `e` (it holds authority)? Writes of others are refused and counted. */
  canWrite(conn: WorldConnection, e: Entity): boolean;
  /** Server: the peer asks for (or releases) authority over `e`, which we host. */
  authorityRequest(conn: WorldConnection, e: Entity, release: boolean): void;
  /** Server: the authority holder despawned `e`. */
  heldDespawn(conn: WorldConnection, e: Entity): void;
}

/** Tuning of one connection's sending. */
export interface WorldConnectionOptions {
  /** Bytes of world frames one step may send to this peer (default 16 × maxWorldFrameBytes). */
  bytesPerStep?: number;
  /** Floor of the resend / loss timeout in ms (default 10); the timeout is max(floor, 1.5 × RTT). */
  minResendMs?: number;
  /**
   * Exact id of the first command in each direction (default 0). Both peers must use the same
   * value; it exists so tests can run the 16-bit command ids across their wrap point.
   */
  firstCommandId?: number;
}

/** Counters a connection keeps (for metrics and tests). */
export interface WorldConnectionStats {
  framesSent: number;
  bytesSent: number;
  framesReceived: number;
  duplicateFrames: number;
  malformedFrames: number;
  commandsSent: number;
  commandsResent: number;
  duplicateCommands: number;
  updatesSent: number;
  staleUpdates: number;
  framesLost: number;
  oversizedCommands: number;
  refsExpired: number;
  /** Commands and updates that named a migrated entity's old id and were routed by its redirect. */
  redirected: number;
  /** Writes (updates, held commands) from a peer that does not hold authority: dropped. */
  refusedWrites: number;
  /** Entities migrated on this connection (server: remote → host; client: host → remote). */
  migrations: number;
  /** Buffered commands force-applied by a migration. */
  forcedCommands: number;
  /** Client migration: sent-but-unacknowledged commands rewritten to name the new id. */
  rewrittenCommands: number;
  /** Client migration: unsent commands replayed as the authority holder's writes. */
  replayedCommands: number;
}

interface RefWait {
  holder: RemoteEntityChannel;
  entity: Entity;
  kind: ComponentKind;
  prop: number;
  frame: number;
  deadline: number;
}

/**
 * How long a carried entity waits for the new backend to spawn it (seamless migration); after
 * that it is out of the player's scope there and leaves (despawn event).
 */
export const CARRIED_WAIT_MS = 10_000;
/** How long an entity reference waits for its target to arrive (DESIGN: bounded, 60 s). */
export const REF_WAIT_MS = 60_000;
/** Most reference waits one peer may make us hold. */
export const REF_WAIT_LIMIT = 65_536;
// Module-level aliases of imports read on every frame: where modules are compiled to CommonJS
// (tsx, which runs the benchmarks; CJS bundles) each read of an imported binding is a getter
// call that the per-frame path paid several times over; a local const is a plain load.
const HEADER_BITS = FRAME_HEADER_BITS;
const TRAILER_BITS = FRAME_TRAILER_BITS;
const writeHeader = writeFrameHeaderFields;

/**
 * One frame writer for every connection of the process: a frame is written from `reset()` to
 * `take()` (which copies it out) without anything in between that could flush another
 * connection, so no two frames are ever in it at once — and a connection costs no buffer of its
 * own (a join allocates less). Even a pipe that re-enters a flush from `sendWorldFrame` finds it
 * taken already.
 */
const sharedWriter = new FrameWriter(1500);

/**
 * Replication with one peer, either direction: a {@link HostEngine} for what this side
 * authors, a {@link RemoteEngine} for what the peer authors, end-to-end world frame acks, the
 * reliable command stream's resends, diff masks with loss recovery, and a byte budget.
 * The same class serves a server's per-user connection and a client's one connection.
 */
export class WorldConnection implements RemoteSink, HostEngineOwner {
  readonly map: LocalEntityMap;
  readonly host: HostEngine;
  readonly remote: RemoteEngine;
  readonly stats: WorldConnectionStats = {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    duplicateFrames: 0,
    malformedFrames: 0,
    commandsSent: 0,
    commandsResent: 0,
    duplicateCommands: 0,
    updatesSent: 0,
    staleUpdates: 0,
    framesLost: 0,
    oversizedCommands: 0,
    refsExpired: 0,
    redirected: 0,
    refusedWrites: 0,
    migrations: 0,
    forcedCommands: 0,
    rewrittenCommands: 0,
    replayedCommands: 0,
  };
  /**
   * Server: per entity we host whose authority holder is (or was) this peer, the ordering state
   * of the holder's writes (per-component last command id and per-property frame). A migrated
   * entity's drained remote channel lives on here, so writes named with its old id and with its
   * new one are ordered against the same bookkeeping.
   */
  readonly held = new Map<HostEntity, RemoteEntityChannel>();
  /** Client side of the connection (sends publicity; receives MigrateResponse and Authority). */
  private readonly isClient: boolean;
  /** Records with bits to send (delivered, live); others re-enter when they become sendable. */
  private readonly dirty: (HostComponentRecord | undefined)[] = [];
  /**
   * Entries of {@link dirty} in use. A count, not the array's length: emptying an array by
   * `length = 0` drops its backing store, and refilling it every step reallocates it step by step.
   */
  private dirtyCount = 0;
  /** The frame writer (shared, see {@link sharedWriter}). */
  private readonly writer = sharedWriter;
  /** Client: records of entities we hold authority over (the held-updates section). */
  private heldDirty: HostComponentRecord[] = [];
  /** Position in {@link dirty} while a flush writes updates. */
  private cursor = 0;
  /** Scratch list of the commands due in one flush (reused). */
  private readonly due: OutCommand[] = [];
  private readonly log = new SentLog(64);
  // sending frames
  private nextFrame = 0;
  /**
   * Sent frames that carried something (their log ranges, acks, commands), in send order. Starts
   * small and grows as frames go out, so a short-lived connection never allocates the whole ring.
   */
  private readonly sent = new SentFrames();
  // receiving frames
  private anyReceived = false;
  private recvLatest = 0;
  private recvBits = 0;
  private ackDirty = false;
  // entity references
  private readonly unresolved = new Map<GlobalEntity, HostComponentRecord[]>();
  private readonly waits = new Map<RemoteEntity, RefWait[]>();
  private waitCount = 0;
  /** Client: entities carried over from the previous backend, by the new backend's id, until it spawns them. */
  private readonly carriedIn = new Map<RemoteEntity, { entity: Entity; deadline: number }>();
  private readonly opts: Required<WorldConnectionOptions>;
  private srtt: number | null = null;
  private stepInterval = 0;
  private lastFlushAt: number | null = null;

  constructor(
    readonly key: unknown,
    readonly pipe: WorldFramePipe,
    private readonly registry: ComponentRegistry,
    private readonly clock: Clock,
    private readonly sink: WorldSink,
    sendsPublicity: boolean,
    opts: WorldConnectionOptions = {},
    /**
     * The world's entity by id (a server passes its entity table): the id map then answers
     * global → host id from this connection's channels instead of a hash table of its own.
     */
    entityOf?: (id: GlobalEntity) => Entity | undefined,
  ) {
    this.map = new LocalEntityMap(
      clock,
      entityOf === undefined
        ? undefined
        : (g) => {
            const e = entityOf(g);
            const ch = e === undefined ? undefined : this.host.channels.of(e);
            return ch === undefined || ch.held ? undefined : ch.hostId;
          },
    );
    const first = opts.firstCommandId ?? 0;
    this.host = new HostEngine(this.map, this, sendsPublicity, registry.kinds.length, first);
    // server entities are public to a client; a client's own start private on the server
    this.remote = new RemoteEngine(this, first, sendsPublicity ? 'published' : 'unpublished');
    this.isClient = sendsPublicity;
    this.opts = {
      bytesPerStep: opts.bytesPerStep ?? 0,
      minResendMs: opts.minResendMs ?? 10,
      firstCommandId: first,
    };
  }

  // ---- HostEngineOwner -----------------------------------------------------------------------

  enqueueRecord(rec: HostComponentRecord): void {
    if (!rec.queued) {
      rec.queued = true;
      if (rec.channel.held) this.heldDirty.push(rec);
      else this.dirty[this.dirtyCount++] = rec;
    }
  }

  hostChannelOpened(ch: HostEntityChannel): void {
    if (this.unresolved.size === 0) return;
    const waiting = this.unresolved.get(ch.entity.id);
    if (!waiting) return;
    this.unresolved.delete(ch.entity.id);
    for (const rec of waiting) {
      if (!rec.alive) continue;
      rec.mask |= rec.kind.refMask;
      if (rec.delivered && rec.channel.state === 'live') this.enqueueRecord(rec);
    }
  }

  /**
   * Take this step's changed component instances (shared by every connection of a world) and
   * OR their bits into this connection's records, found by entity slot. Done per connection
   * right before its flush so the records are hot in cache.
   *
   * Records of frozen channels are queued too (reading the channel here would be one more cache
   * miss per record): flush drops them with their bits kept, and thaw queues them again.
   */
  absorb(changed: readonly ComponentInstance[], count: number): void {
    const records = this.host.recordsBySlot;
    const stride = this.registry.kinds.length;
    const dirty = this.dirty;
    let n = this.dirtyCount;
    for (let i = 0; i < count; i++) {
      const inst = changed[i];
      const rec = records[inst.entity.slot * stride + inst.kind.index];
      if (rec === undefined) continue;
      rec.mask |= inst.dirty;
      if (!rec.queued && rec.delivered) {
        rec.queued = true;
        dirty[n++] = rec;
      }
    }
    this.dirtyCount = n;
  }

  /** OR a component instance's changed bits into this connection's record for it. */
  markChanged(ch: HostEntityChannel, kindIndex: number, bits: number): void {
    const rec = ch.components[kindIndex];
    if (!rec) return;
    rec.mask |= bits;
    if (rec.delivered && ch.state === 'live') this.enqueueRecord(rec);
  }

  // ---- entity references ---------------------------------------------------------------------

  /** How a local entity id travels to this peer, or null when the peer cannot name it (yet). */
  refWireOf(value: unknown): RefWire | null {
    return this.refWire(value);
  }

  /** How a local entity id travels to this peer, or null when the peer cannot name it (yet). */
  private refWire(value: unknown): RefWire | null {
    if (value === null || value === undefined) return null;
    const g = value as GlobalEntity;
    const h = this.map.hostOf(g);
    if (h !== undefined) return { hostedBySender: true, id: h };
    const r = this.map.remoteOf(g);
    if (r !== undefined) return { hostedBySender: false, id: r };
    return null;
  }

  private noteUnresolved(value: unknown, rec: HostComponentRecord | undefined): void {
    if (!rec || value === null || value === undefined) return;
    const g = value as GlobalEntity;
    let list = this.unresolved.get(g);
    if (!list) {
      list = [];
      this.unresolved.set(g, list);
    }
    if (!list.includes(rec)) list.push(rec);
  }

  /** A received reference → local entity id, or null (and a wait when the target may still come). */
  private resolveRef(ref: RefWire | null): GlobalEntity | null {
    if (ref === null) return null;
    if (ref.hostedBySender) {
      const g = this.map.globalOfRemote(ref.id);
      return g === undefined ? null : g;
    }
    const g = this.map.globalOfHost(ref.id);
    return g === undefined ? null : g;
  }

  private addWait(ref: RefWire | null, w: Omit<RefWait, 'deadline'>): void {
    if (ref === null || !ref.hostedBySender || this.map.globalOfRemote(ref.id) !== undefined) return;
    if (this.waitCount >= REF_WAIT_LIMIT)
      throw new WorldError('limit', 'too many unresolved entity references', true);
    let list = this.waits.get(ref.id);
    if (!list) {
      list = [];
      this.waits.set(ref.id, list);
    }
    list.push({ ...w, deadline: this.clock.now() + REF_WAIT_MS });
    this.waitCount++;
  }

  private fireWaits(remoteId: RemoteEntity, target: Entity): void {
    const list = this.waits.get(remoteId);
    if (!list) return;
    this.waits.delete(remoteId);
    this.waitCount -= list.length;
    for (const w of list) {
      const cc = w.holder.comps.get(w.kind.index);
      if (w.holder.entity !== w.entity || !cc?.inserted || cc.frames[w.prop] !== w.frame) continue;
      const inst = w.entity.components[w.kind.index];
      if (!inst) continue;
      inst.values[w.prop] = target.id;
      inst.touch(1 << w.prop);
      this.sink.remoteUpdated(this, w.entity, w.kind, 1 << w.prop);
    }
  }

  private resolveValues(
    holder: RemoteEntityChannel,
    comp: DecodedComponent,
    frame: number,
    later: Omit<RefWait, 'deadline'>[] | null,
    refs: (RefWire | null)[],
  ): unknown[] {
    const kind = comp.kind;
    if (kind.refProps.length === 0) return comp.values;
    const out = comp.values.slice();
    for (const i of kind.refProps) {
      const ref = comp.values[i] as RefWire | null;
      out[i] = this.resolveRef(ref);
      if (out[i] === null && later) {
        later.push({ holder, entity: null as unknown as Entity, kind, prop: i, frame });
        refs.push(ref);
      }
    }
    return out;
  }

  // ---- RemoteSink: apply the peer's commands ---------------------------------------------------

  spawn(ch: RemoteEntityChannel, comps: DecodedComponent[], frame: number): Entity {
    const later: Omit<RefWait, 'deadline'>[] = [];
    const refs: (RefWire | null)[] = [];
    const resolved = comps.map((c) => ({
      kind: c.kind,
      values: this.resolveValues(ch, c, frame, later, refs),
    }));
    const carried = this.carriedIn.get(ch.remoteId);
    let e: Entity;
    if (carried !== undefined && carried.entity.alive) {
      // an entity that carried over from the previous backend: the same Entity, re-keyed
      this.carriedIn.delete(ch.remoteId);
      e = carried.entity;
      this.sink.remoteAdopt(this, e, resolved);
    } else e = this.sink.remoteSpawn(this, resolved);
    this.map.insertRemote(e.id, ch.remoteId);
    ch.entity = e;
    for (let i = 0; i < later.length; i++) this.addWait(refs[i], { ...later[i], entity: e });
    this.fireWaits(ch.remoteId, e);
    return e;
  }

  despawn(ch: RemoteEntityChannel, e: Entity): void {
    this.map.removeRemote(ch.remoteId);
    // our writes about it are over (queued ones still drain through their commands)
    const held = this.host.channels.of(e);
    if (held?.held) {
      this.host.endHolding(e);
      this.host.channels.delete(e);
    }
    this.sink.remoteDespawn(this, e);
  }

  insert(ch: RemoteEntityChannel, e: Entity, comp: DecodedComponent, frame: number): void {
    const later: Omit<RefWait, 'deadline'>[] = [];
    const refs: (RefWire | null)[] = [];
    const values = this.resolveValues(ch, comp, frame, later, refs);
    this.sink.remoteInsert(this, e, comp.kind, values);
    for (let i = 0; i < later.length; i++) this.addWait(refs[i], { ...later[i], entity: e });
  }

  remove(_ch: RemoteEntityChannel, e: Entity, kind: ComponentKind): void {
    this.sink.remoteRemove(this, e, kind);
  }

  publicity(
    ch: RemoteEntityChannel,
    e: Entity,
    op: AuthOp,
    arg: number,
    id: number,
    kinds?: readonly ComponentKind[],
  ): void {
    // the owner's delegation is a migration, started once the channel's offer returns
    if (!this.isClient && op === 'enableDelegation') return;
    if (kinds && op === 'setAuthority') {
      // a resync after holding authority: the server's structure, ordered at this command's id
      const want = new Set(kinds.map((k) => k.index));
      for (const [k, cc] of ch.comps) {
        if (!want.has(k)) {
          cc.inserted = false;
          cc.lastId = Math.max(cc.lastId, id);
        }
      }
      for (const k of kinds) {
        let cc = ch.comps.get(k.index);
        if (!cc) {
          cc = new RemoteComponentChannel(id);
          ch.comps.set(k.index, cc);
        }
        cc.inserted = true;
        cc.lastId = Math.max(cc.lastId, id);
      }
    }
    this.sink.remotePublicity(this, e, op, arg, kinds);
  }

  migrationRequested(ch: RemoteEntityChannel): void {
    if (!this.isClient && ch.entity) this.sink.delegateRequested(this, ch.entity);
  }

  migrate(ch: RemoteEntityChannel, oldId: number, id: number, frame: number): Entity | null {
    if (!this.isClient) throw new WorldError('not-allowed', 'a client sent MigrateResponse', true);
    return this.migrateFromHost(ch, oldId, id, frame);
  }

  // ---- migration (DESIGN §4) -------------------------------------------------------------------

  /**
   * Server, remote → host: the peer's entity `e` (published, now delegated) moves into our host
   * engine, in one call. Returns the new host channel, or undefined when `e` is not the peer's.
   * Steps (docs/design/delegation.md): 1 drain and apply every buffered command; 2 extract the
   * inserted component kinds; 3 remove the remote channel; 4 allocate a host id and install a
   * host channel already holding those components; 5 update the map; 6 redirect old → new;
   * 7 sent records name channels, not ids, and every id is resolved when a command or update is
   * written, so retransmissions carry the new id; 8 clean the waitlists; 9 MigrateResponse.
   */
  migrateToHost(e: Entity): HostEntityChannel | undefined {
    const oldId = this.map.remoteOf(e.id);
    const ch = oldId === undefined ? undefined : this.remote.channels.get(oldId);
    if (oldId === undefined || !ch?.spawned || ch.entity !== e) return undefined;
    this.stats.forcedCommands += ch.forceDrain(this); // 1
    ch.migrateRequested = false;
    if (!e.alive) return undefined; // a drained Despawn: nothing left to migrate
    const kinds: ComponentKind[] = []; // 2
    for (const [k, cc] of ch.comps) if (cc.inserted && e.components[k]) kinds.push(this.registry.kinds[k]);
    this.remote.channels.delete(oldId); // 3
    this.map.removeRemote(oldId);
    const hostCh = this.host.adoptMigrated(e, kinds, oldId); // 4, 5, 9
    this.map.installRedirect('remote', oldId, 'host', hostCh.hostId); // 6
    const stale = this.waits.get(oldId); // 8: nothing can wait for a spawned id any more
    if (stale) {
      this.waits.delete(oldId);
      this.waitCount -= stale.length;
    }
    this.held.set(hostCh.hostId, ch); // the owner's later writes are ordered by the same channel
    this.stats.migrations++;
    return hostCh;
  }

  /**
   * Client, host → remote, on MigrateResponse (`ch` is the remote channel of the new id, being
   * spawned by it): the old host channel's commands are taken, rewritten or replayed as holder
   * writes (see {@link HostEngine.migrateToHeld}); its components become `ch`'s, already inserted
   * at this command's id; the redirect old → new is installed. The entity keeps its identity.
   */
  private migrateFromHost(ch: RemoteEntityChannel, oldId: number, id: number, frame: number): Entity | null {
    const old = this.host.byHostId.get(oldId);
    if (!old) return null;
    const e = old.entity;
    const alive = old.state !== 'dying' && e.alive;
    const moved = this.host.migrateToHeld(old, ch.remoteId, this.clock.now());
    this.stats.rewrittenCommands += moved.rewritten;
    this.stats.replayedCommands += moved.replayed;
    this.stats.migrations++;
    this.map.removeHost(oldId);
    this.map.installRedirect('host', oldId, 'remote', ch.remoteId);
    if (!alive) return null;
    for (const inst of e.components) {
      if (!inst) continue;
      const cc = new RemoteComponentChannel(id);
      cc.inserted = true;
      cc.frames = new Array(inst.kind.propCount).fill(frame);
      ch.comps.set(inst.kind.index, cc);
    }
    this.map.insertRemote(e.id, ch.remoteId);
    ch.entity = e;
    this.sink.remoteMigrated(this, e);
    this.fireWaits(ch.remoteId, e);
    return e;
  }

  // ---- seamless migration (DESIGN §5) -------------------------------------------------------------

  /**
   * Client, on a new backend's connection: the entity `e`, which the previous backend's session
   * named `priorId`, is named `id` here. It resolves under `id` at once (references to it in the
   * new backend's frames find it), the prior id redirects to it (60 s), and the new backend's
   * Spawn of `id` adopts `e` instead of creating an entity. Not spawned within
   * {@link CARRIED_WAIT_MS}: it left the player's scope, and despawns.
   */
  expectCarried(id: RemoteEntity, e: Entity, priorId: number): void {
    this.map.insertRemote(e.id, id);
    this.map.installPriorRedirect(priorId, 'remote', id);
    this.carriedIn.set(id, { entity: e, deadline: this.clock.now() + CARRIED_WAIT_MS });
  }

  /** Carried entities not spawned by the new backend yet (diagnostics/tests). */
  get pendingCarried(): number {
    return this.carriedIn.size;
  }

  // ---- authority holder's writes -----------------------------------------------------------------

  /** Client: authority over `e` granted (writes flow) / gone. */
  beginHolding(e: Entity): void {
    this.host.beginHolding(e, this.map.remoteOf(e.id));
  }

  endHolding(e: Entity): void {
    this.host.endHolding(e);
  }

  /**
   * Client: everything we wrote to `e` as holder has been acknowledged (no bits waiting, no
   * held command unacknowledged, the last frame with its updates resolved): a release may go.
   */
  heldClean(e: Entity): boolean {
    const ch = this.host.channels.of(e);
    if (!ch?.held) return true;
    for (const rec of ch.components) if (rec?.alive && rec.mask !== 0) return false;
    for (const c of ch.unacked)
      if (c.type !== CmdType.AuthorityRequest && c.type !== CmdType.Noop) return false;
    const idx = ch.lastUpdateFrame;
    if (idx < 0) return true;
    const slot = this.sent.find(idx);
    return slot < 0 || this.sent.resolved(slot);
  }

  /** Server: the holder-write ordering channel of an entity we host as `hostId`. */
  private heldChannel(hostId: HostEntity, e: Entity): RemoteEntityChannel {
    let ch = this.held.get(hostId);
    if (ch && ch.entity === e) return ch;
    ch = new RemoteEntityChannel(hostId);
    ch.spawned = true;
    ch.entity = e;
    // every command of this peer about it is newer than "nothing applied yet"
    for (const inst of e.components) {
      if (!inst) continue;
      const cc = new RemoteComponentChannel(-1);
      cc.inserted = true;
      ch.comps.set(inst.kind.index, cc);
    }
    this.held.set(hostId, ch);
    return ch;
  }

  /** Server: the live entity we host as `hostId`, if any. */
  private hostedEntity(hostId: HostEntity): Entity | undefined {
    const hch = this.host.byHostId.get(hostId);
    if (!hch || hch.state === 'dying' || !hch.entity.alive) return undefined;
    return this.host.channels.of(hch.entity) === hch ? hch.entity : undefined;
  }

  /**
   * Server: a command about an entity we host as `hostId` — a receiver-hosted one, or one that
   * named a migrated entity's old id. Per component the newest command id wins (an older one is
   * stale), which is exactly where the causal order would have ended.
   */
  private heldCommand(c: InCmd, hostId: HostEntity): void {
    const cmd = c.cmd;
    const e = this.hostedEntity(hostId);
    if (!e) return;
    const held = this.heldChannel(hostId, e);
    switch (cmd.type) {
      case CmdType.AuthorityRequest:
        if (c.id <= held.requestId) return;
        held.requestId = c.id;
        this.sink.authorityRequest(this, e, cmd.arg === 1);
        return;
      case CmdType.Insert:
      case CmdType.HeldInsert:
      case CmdType.Remove:
      case CmdType.HeldRemove: {
        if (!this.sink.canWrite(this, e)) {
          this.stats.refusedWrites++;
          return;
        }
        const insert = cmd.type === CmdType.Insert || cmd.type === CmdType.HeldInsert;
        const kind = insert ? cmd.component!.kind : cmd.kind!;
        let cc = held.comps.get(kind.index);
        if (cc && c.id <= cc.lastId) return;
        if (!cc) {
          cc = new RemoteComponentChannel(c.id);
          held.comps.set(kind.index, cc);
        }
        cc.lastId = c.id;
        cc.inserted = insert;
        if (!insert) {
          if (e.components[kind.index]) this.sink.remoteRemove(this, e, kind);
          return;
        }
        const inst = e.components[kind.index];
        cc.frames = new Array(kind.propCount).fill(c.frame);
        if (inst === undefined) this.insert(held, e, cmd.component!, c.frame);
        // already there (a holder's snapshot, or an insert overtaking its remove): update in place
        else
          this.applyValues(
            held,
            cc,
            e,
            inst,
            kind,
            fullMask(kind.propCount),
            cmd.component!.values,
            c.frame,
            true,
          );
        return;
      }
      case CmdType.Despawn:
      case CmdType.HeldDespawn:
        if (!this.sink.canWrite(this, e)) {
          this.stats.refusedWrites++;
          return;
        }
        this.sink.heldDespawn(this, e);
        return;
      default:
        // Spawn/publicity naming the old id: superseded by the migration itself
        return;
    }
  }

  /** Server: an update the holder wrote to an entity we host as `hostId`. */
  private applyHeldUpdate(
    hostId: HostEntity,
    kind: ComponentKind,
    mask: number,
    values: unknown[],
    frame: number,
  ): void {
    const e = this.hostedEntity(hostId);
    const inst = e?.components[kind.index];
    if (!e || !inst) {
      this.stats.staleUpdates++;
      return;
    }
    if (!this.sink.canWrite(this, e)) {
      this.stats.refusedWrites++;
      return;
    }
    const held = this.heldChannel(hostId, e);
    let cc = held.comps.get(kind.index);
    if (!cc) {
      cc = new RemoteComponentChannel(-1);
      cc.inserted = true;
      held.comps.set(kind.index, cc);
    }
    this.applyValues(held, cc, e, inst, kind, mask, values, frame);
  }

  /** Route one new command: sender-hosted ids to the remote engine (or a redirect), others to held. */
  private route(c: InCmd): void {
    const cmd: InCommand = c.cmd;
    const t = cmd.type;
    if (t === CmdType.Noop) return;
    if (receiverHosted(t)) {
      if (this.isClient)
        throw new WorldError('not-allowed', 'the server sent a receiver-hosted command', true);
      this.heldCommand(c, cmd.entity);
      return;
    }
    if (!this.isClient && (t === CmdType.Authority || t === CmdType.MigrateResponse))
      throw new WorldError('not-allowed', 'a client sent a server-only command', true);
    if (!this.isClient && !this.remote.channels.has(cmd.entity)) {
      const r = this.map.resolveRedirect('remote', cmd.entity);
      if (r !== undefined && r.side === 'host') {
        this.stats.redirected++;
        this.heldCommand(c, r.id);
        return;
      }
    }
    this.remote.handle(c);
  }

  // ---- receiving -------------------------------------------------------------------------------

  /**
   * Apply one world frame from the peer. Malformed frames change nothing and come back as a
   * non-fatal {@link WorldError} (counted); a peer breaking the protocol gets a fatal one.
   */
  receive(bytes: Uint8Array): WorldError | null {
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(new BitReader(bytes), this.registry);
    } catch (err) {
      if (err instanceof DecodeError) {
        this.stats.malformedFrames++;
        return new WorldError(err.code, err.message, false);
      }
      throw err;
    }
    this.stats.framesReceived++;
    if (frame.ack) this.processAck(frame.ack.latest, frame.ack.bits);
    // frames without content need no ack (else two idle peers would ack each other's acks forever)
    const full = this.recordReceived(
      frame.index,
      frame.commands.length > 0 || frame.updates.length > 0 || frame.held.length > 0,
    );
    if (full < 0) {
      this.stats.duplicateFrames++;
      return null;
    }
    try {
      for (const cmd of frame.commands) {
        const id = this.remote.accept(cmd.wireId);
        if (id < 0) {
          this.stats.duplicateCommands++;
          continue;
        }
        this.route({ id, frame: full, cmd });
      }
      for (const u of frame.updates) this.applyUpdate(u.entity, u.kind, u.mask, u.values, full);
      if (frame.held.length > 0) {
        if (this.isClient) throw new WorldError('not-allowed', 'the server sent held updates', true);
        for (const u of frame.held) this.applyHeldUpdate(u.entity, u.kind, u.mask, u.values, full);
      }
    } catch (err) {
      if (err instanceof WorldError) return err;
      throw err;
    }
    return null;
  }

  private applyUpdate(id: number, kind: ComponentKind, mask: number, values: unknown[], frame: number): void {
    const ch = this.remote.channels.get(id);
    if (ch === undefined && !this.isClient) {
      // the owner's update for an entity migrated since: it is a write of the holder now
      const r = this.map.resolveRedirect('remote', id);
      if (r !== undefined && r.side === 'host') {
        this.stats.redirected++;
        this.applyHeldUpdate(r.id, kind, mask, values, frame);
        return;
      }
    }
    const cc = ch?.comps.get(kind.index);
    const e = ch?.entity;
    const inst = e?.components[kind.index];
    // while this client holds authority its own values lead: the server's are not applied
    if (!ch?.spawned || !e || !cc?.inserted || !inst || e.holding) {
      this.stats.staleUpdates++;
      return;
    }
    this.applyValues(ch, cc, e, inst, kind, mask, values, frame);
  }

  /** Apply the properties of one update newer than the last frame that set them. */
  private applyValues(
    ch: RemoteEntityChannel,
    cc: RemoteComponentChannel,
    e: Entity,
    inst: ComponentInstance,
    kind: ComponentKind,
    mask: number,
    values: unknown[],
    frame: number,
    /** Apply whatever the frame order says (a whole component's values at the frame just recorded). */
    force = false,
  ): void {
    let changed = 0;
    const types = kind.types;
    for (let i = 0; i < kind.propCount; i++) {
      const bit = 1 << i;
      if ((mask & bit) === 0 || (!force && frame <= cc.frames[i])) continue;
      cc.frames[i] = frame;
      let v = values[i];
      if (kind.isRef[i]) {
        const ref = v as RefWire | null;
        v = this.resolveRef(ref);
        if (v === null) this.addWait(ref, { holder: ch, entity: e, kind, prop: i, frame });
      }
      if (!types[i].equals(inst.values[i], v)) {
        inst.values[i] = v;
        changed |= bit;
      }
    }
    if (changed === 0) return;
    inst.touch(changed);
    this.sink.remoteUpdated(this, e, kind, changed);
  }

  /** Track a received frame index; returns its exact value, or -1 for a duplicate. */
  private recordReceived(wire: number, needsAck: boolean): number {
    if (needsAck) this.ackDirty = true;
    if (!this.anyReceived) {
      this.anyReceived = true;
      this.recvLatest = wire;
      this.recvBits = 0;
      return wire;
    }
    const full = unwrapSeq(wire, this.recvLatest);
    const d = full - this.recvLatest;
    if (d > 0) {
      this.recvBits = d > 32 ? 0 : d === 32 ? 1 << 31 : ((this.recvBits << d) | (1 << (d - 1))) >>> 0;
      this.recvLatest = full;
      return full;
    }
    if (d === 0) return -1;
    if (d >= -32) {
      const bit = 1 << (-d - 1);
      if (this.recvBits & bit) return -1;
      this.recvBits = (this.recvBits | bit) >>> 0;
      return full;
    }
    // too old to track: process (content guards make it harmless) but never ack it
    return full;
  }

  private processAck(latestWire: number, bits: number): void {
    if (this.nextFrame === 0) return;
    const latest = this.nextFrame - 1 + seqDiff(latestWire, (this.nextFrame - 1) & 0xffff);
    if (latest >= this.nextFrame) return; // acks a frame we never sent: ignore
    this.ackFrame(latest, true);
    for (let i = 0; i < 32; i++) if (bits & (1 << i)) this.ackFrame(latest - 1 - i);
  }

  private ackFrame(index: number, measure = false): void {
    const sent = this.sent;
    const slot = sent.find(index);
    if (slot < 0 || sent.acked(slot)) return;
    // a late ack still delivers the commands, even after the frame was declared lost
    sent.setAcked(slot);
    if (measure) {
      const sample = this.clock.now() - sent.sentAt(slot);
      this.srtt = this.srtt === null ? sample : this.srtt + (sample - this.srtt) / 8;
    }
    const cmds = sent.cmds(slot);
    if (cmds !== undefined) for (const c of cmds) this.host.acked(c);
  }

  // ---- sending ---------------------------------------------------------------------------------

  /**
   * Resend / loss timeout: 1.5 × the round trip *as the world layer sees it* (the pipe's RTT
   * plus the peer's step delay before it acks), measured from its own acks; before the first
   * sample, the pipe's RTT plus two step intervals.
   */
  get resendMs(): number {
    const rtt = this.srtt ?? this.pipe.rttMs + 2 * this.stepInterval;
    return Math.max(this.opts.minResendMs, 1.5 * Math.max(rtt, this.pipe.rttMs));
  }

  /** Smoothed world-level round trip in ms (null before the first ack). */
  get worldRttMs(): number | null {
    return this.srtt;
  }

  /** Frames not acknowledged in time: their update bits go back into the masks (latest value resent). */
  private detectLoss(now: number, timeout: number): void {
    const sent = this.sent;
    // frames go out in index order with nondecreasing times: stop at the first one still in time
    for (;;) {
      const slot = sent.firstUnresolved(this.nextFrame);
      if (slot < 0 || now - sent.sentAt(slot) < timeout) break;
      this.loseFrame(slot);
    }
  }

  /** Start of the oldest unresolved frame's log entries (entries before it may be overwritten). */
  private oldestLiveLog(fallback: number): number {
    const slot = this.sent.firstUnresolved(this.nextFrame);
    return slot < 0 ? fallback : this.sent.logStart(slot);
  }

  private loseFrame(slot: number): void {
    const sent = this.sent;
    sent.setResolved(slot);
    this.stats.framesLost++;
    const end = sent.logEnd(slot);
    for (let p = sent.logStart(slot); p < end; p++) {
      let rec = this.log.rec(p);
      // a record replaced by a migration hands its lost bits to its successor
      if (!rec.alive) {
        const moved = movedRecord(rec);
        if (moved === undefined || !moved.alive) continue;
        rec = moved;
      }
      rec.mask |= this.log.mask(p);
      if (rec.delivered && rec.channel.state === 'live') this.enqueueRecord(rec);
    }
  }

  /**
   * The values a Spawn (its `i`-th component) or an Insert carries: those of the instance it was
   * made with, as they are now — the sender held them, whether or not the instance or its entity
   * still exists (a resend after a despawn or remove repeats what was sent, never defaults).
   */
  private valuesFor(cmd: OutCommand, i: number): unknown[] {
    return (cmd.type === CmdType.Spawn ? cmd.insts![i] : cmd.inst!).values;
  }

  private valueBits(kind: ComponentKind, i: number, v: unknown): number {
    const fixed = kind.fixedBits[i];
    if (fixed >= 0) return fixed;
    if (kind.isRef[i]) return refWireBits(this.refWire(v));
    return measureBits(kind.types[i], v);
  }

  private fullBits(kind: ComponentKind, values: unknown[]): number {
    if (kind.fixedTotalBits >= 0) return this.registry.kindBits + kind.fixedTotalBits;
    let bits = this.registry.kindBits;
    for (let i = 0; i < kind.propCount; i++) bits += this.valueBits(kind, i, values[i]);
    return bits;
  }

  private commandBits(cmd: OutCommand): number {
    let bits = 1 + 16 + CMD_TYPE_BITS + (cmd.type === CmdType.Noop ? 8 : varUintBits(cmd.channel.hostId));
    switch (cmd.type) {
      case CmdType.Spawn: {
        const kinds = cmd.kinds!;
        bits += varUintBits(kinds.length);
        for (let i = 0; i < kinds.length; i++) bits += this.fullBits(kinds[i], this.valuesFor(cmd, i));
        break;
      }
      case CmdType.Insert:
      case CmdType.HeldInsert:
        bits += this.fullBits(cmd.kind!, this.valuesFor(cmd, 0));
        break;
      case CmdType.Remove:
      case CmdType.HeldRemove:
        bits += this.registry.kindBits;
        break;
      case CmdType.Delegation:
      case CmdType.AuthorityRequest:
        bits += 1;
        break;
      case CmdType.Authority:
        bits += 3 + (cmd.kinds ? this.registry.kinds.length : 0);
        break;
      case CmdType.MigrateResponse:
        bits += varUintBits(cmd.arg!);
        break;
    }
    return bits;
  }

  private writeValue(
    w: FrameWriter,
    kind: ComponentKind,
    i: number,
    v: unknown,
    rec: HostComponentRecord | undefined,
  ) {
    if (kind.isRef[i]) {
      const ref = this.refWire(v);
      if (ref === null) this.noteUnresolved(v, rec);
      writeRefWire(w, ref);
    } else {
      writeProp(w, kind, i, v);
    }
  }

  private writeFull(
    w: FrameWriter,
    kind: ComponentKind,
    values: unknown[],
    rec: HostComponentRecord | undefined,
  ) {
    w.writeBits(kind.index, this.registry.kindBits);
    if (kind.refMask === 0) for (let i = 0; i < kind.propCount; i++) writeProp(w, kind, i, values[i]);
    else for (let i = 0; i < kind.propCount; i++) this.writeValue(w, kind, i, values[i], rec);
  }

  private writeCommand(w: FrameWriter, cmd: OutCommand): void {
    const ch = cmd.channel;
    // `more` bit, 16-bit id and type in one write (LSB first: the same bits as three writes)
    w.writeBits(1 | ((cmd.id & 0xffff) << 1) | (cmd.type << 17), 1 + 16 + CMD_TYPE_BITS);
    // the channel's *current* id: a command rewritten by a migration names the new one
    w.writeVarUint(cmd.type === CmdType.Noop ? 0 : ch.hostId);
    switch (cmd.type) {
      case CmdType.Spawn: {
        const kinds = cmd.kinds!;
        w.writeVarUint(kinds.length);
        for (let i = 0; i < kinds.length; i++)
          this.writeFull(w, kinds[i], this.valuesFor(cmd, i), ch.components[kinds[i].index]);
        break;
      }
      case CmdType.Insert:
      case CmdType.HeldInsert:
        this.writeFull(w, cmd.kind!, this.valuesFor(cmd, 0), ch.components[cmd.kind!.index]);
        break;
      case CmdType.Remove:
      case CmdType.HeldRemove:
        w.writeBits(cmd.kind!.index, this.registry.kindBits);
        break;
      case CmdType.Delegation:
      case CmdType.AuthorityRequest:
        w.writeBits(cmd.arg ?? 0, 1);
        break;
      case CmdType.Authority: {
        w.writeBits(cmd.arg ?? AuthWire.Available, 2);
        const kinds = cmd.kinds;
        w.writeBool(kinds !== undefined);
        if (kinds) {
          let bits = 0n;
          for (const k of kinds) bits |= 1n << BigInt(k.index);
          for (let k = 0; k < this.registry.kinds.length; k++) w.writeBool(((bits >> BigInt(k)) & 1n) === 1n);
        }
        break;
      }
      case CmdType.MigrateResponse:
        w.writeVarUint(cmd.arg!);
        break;
    }
  }

  private updateBits(rec: HostComponentRecord): number {
    const kind = rec.kind;
    const values = rec.channel.entity.components[kind.index]!.values;
    let bits = rec.headBits + this.registry.kindBits + kind.propCount;
    const mask = rec.mask;
    for (let i = 0; i < kind.propCount; i++) if (mask & (1 << i)) bits += this.valueBits(kind, i, values[i]);
    return bits;
  }

  private writeUpdate(w: FrameWriter, rec: HostComponentRecord, kindBits: number): void {
    const kind = rec.kind;
    const values = rec.channel.entity.components[kind.index]!.values;
    const mask = rec.mask;
    w.writeBool(true);
    w.writeVarUint(rec.channel.hostId);
    w.writeBits(kind.index, kindBits);
    w.writeBits(mask, kind.propCount);
    for (let i = 0; i < kind.propCount; i++) if (mask & (1 << i)) this.writeValue(w, kind, i, values[i], rec);
  }

  /** Whether a record in the dirty list can go out now; drops those that cannot (they re-enter later). */
  private sendable(rec: HostComponentRecord): boolean {
    return (
      rec.alive &&
      rec.mask !== 0 &&
      rec.delivered &&
      rec.live &&
      rec.entity.components[rec.kind.index] !== undefined
    );
  }

  /**
   * Send this step's world frames: due commands first (oldest first), then updates by
   * staleness, within maxWorldFrameBytes per frame and the per-step byte budget. Always sends
   * at least an ack-only frame when the peer sent something since.
   *
   * `shared` (a server's step): update bodies encoded once per step for every connection; an
   * update whose mask is the step's mask for that instance copies the shared bits instead of
   * encoding its values again (same bytes, see {@link UpdateCache}).
   */
  flush(stepNo: number, shared?: UpdateCache): void {
    const now = this.clock.now();
    if (this.lastFlushAt !== null) this.stepInterval = now - this.lastFlushAt;
    this.lastFlushAt = now;
    if (this.host.pendingGrants.length !== 0) this.announceGrants();
    // nothing to send, resend or declare lost (an idle connection's step): skip the set-up below
    if (
      this.dirtyCount === 0 &&
      !this.ackDirty &&
      this.heldDirty.length === 0 &&
      this.host.queue.length === 0 &&
      this.sent.firstUnresolved(this.nextFrame) < 0
    )
      return;
    // (the same timeout declares frames lost and commands due: computed once)
    const resend = this.resendMs;
    this.detectLoss(now, resend);
    this.host.compact();
    const maxFrameBits = this.pipe.maxWorldFrameBytes * 8;
    let budgetBits = (this.opts.bytesPerStep || 16 * this.pipe.maxWorldFrameBytes) * 8;

    // due commands, within the window that keeps 16-bit ids unambiguous
    const queue = this.host.queue;
    const windowEnd = (queue.length > 0 ? queue[0].id : 0) + COMMAND_WINDOW;
    const due = this.due;
    // (setting length is a runtime call even on an empty array: skip it when there is nothing)
    if (due.length !== 0) due.length = 0;
    for (const c of queue) {
      if (c.id >= windowEnd) break;
      if (!c.acked && now - c.lastSentAt >= resend) due.push(c);
    }

    // sendable updates; sort by staleness only when they will not all fit
    const dirty = this.dirty;
    // rough size (exact sizes are computed while writing): sort by staleness only when needed
    if (this.dirtyCount * 64 > budgetBits) {
      dirty.length = this.dirtyCount;
      dirty.sort((a, b) => a!.lastSentStep - b!.lastSentStep);
    }

    let ci = 0;
    let ui = 0;
    let sentAny = false;
    const oldestLive = this.oldestLiveLog(this.log.head);
    const w = this.writer;
    // (the count may grow during the flush: losing an overwritten frame re-queues its records)
    while (
      (ci < due.length || ui < this.dirtyCount || this.heldDirty.length > 0 || (!sentAny && this.ackDirty)) &&
      budgetBits > 0
    ) {
      const limit = Math.min(maxFrameBits, budgetBits) - TRAILER_BITS;
      const index = this.nextFrame;
      const logStart = this.log.head;
      // the commands this frame carries (most carry none: no list then)
      let cmds: OutCommand[] | null = null;
      w.reset();
      writeHeader(w, index, this.anyReceived, this.recvLatest, this.recvBits);
      while (ci < due.length) {
        const c = due[ci];
        const bits = this.commandBits(c);
        if (bits > limit - w.bitLength) {
          if (cmds === null && bits > maxFrameBits - HEADER_BITS - TRAILER_BITS) {
            // can never fit one frame: skip it (counted) rather than stall the stream
            this.stats.oversizedCommands++;
            ci++;
            continue;
          }
          break;
        }
        this.writeCommand(w, c);
        if (c.sends > 0) this.stats.commandsResent++;
        c.sends++;
        c.lastSentAt = now;
        if (cmds === null) cmds = [];
        cmds.push(c);
        this.stats.commandsSent++;
        ci++;
      }
      w.writeBool(false);
      let updates = 0;
      if (ci >= due.length && ui < this.dirtyCount) {
        this.cursor = ui;
        const mayDrop = cmds === null && limit + TRAILER_BITS === maxFrameBits;
        updates = this.writeUpdates(w, limit, stepNo, shared, oldestLive, mayDrop);
        ui = this.cursor;
      }
      w.writeBool(false);
      // held updates (a client's writes as authority holder), after every ordinary one
      if (ci >= due.length && ui >= this.dirtyCount && this.heldDirty.length > 0)
        updates += this.writeHeldUpdates(w, limit, stepNo, oldestLive, index, cmds === null && updates === 0);
      this.stats.updatesSent += updates;
      const logEnd = this.log.head;
      w.writeBool(false);
      const carried = cmds !== null || updates > 0;
      if (!carried && (sentAny || !this.ackDirty)) break;
      const bytes = w.take();
      this.pipe.sendWorldFrame(bytes);
      budgetBits -= bytes.length * 8;
      this.stats.framesSent++;
      this.stats.bytesSent += bytes.length;
      sentAny = true;
      this.ackDirty = false;
      this.nextFrame++;
      if (carried) {
        // the frame SENT_RING back still unresolved: declared lost before its slot is reused
        const old = this.sent.displaced(index);
        if (old >= 0) this.loseFrame(old);
        this.sent.record(index, now, logStart, logEnd, cmds);
      }
    }
    if (due.length !== 0) due.length = 0;
    // whatever did not fit stays queued with its bits for the next step (those before `ui` were
    // written or dropped, and left the list then)
    let m = 0;
    for (let i = ui; i < this.dirtyCount; i++) {
      const rec = dirty[i]!;
      if (this.sendable(rec)) dirty[m++] = rec;
      else rec.queued = false;
    }
    // no stale references past the end (they would keep despawned entities reachable)
    for (let i = m; i < this.dirtyCount; i++) dirty[i] = undefined;
    this.dirtyCount = m;
  }

  /**
   * Write queued updates from {@link cursor} on until the frame is full (`limit` bits, trailer
   * excluded); returns how many were written. Kept apart from {@link flush} so this loop — run
   * once per (user, changed component) — stays small for the JIT.
   */
  private writeUpdates(
    w: FrameWriter,
    limit: number,
    stepNo: number,
    shared: UpdateCache | undefined,
    oldestLive: number,
    /** An update too large for an empty frame is dropped (counted) instead of waiting. */
    mayDrop: boolean,
  ): number {
    const dirty = this.dirty;
    const log = this.log;
    const gen = shared === undefined ? -1 : shared.gen;
    let updates = 0;
    let i = this.cursor;
    for (; i < this.dirtyCount; i++) {
      const rec = dirty[i]!;
      const mask = rec.mask;
      const kind = rec.kind;
      const inst = rec.entity.components[kind.index];
      // not sendable now: leave the list (bits kept; it re-enters when it becomes sendable)
      if (!rec.alive || mask === 0 || !rec.delivered || !rec.live || inst === undefined) {
        rec.queued = false;
        continue;
      }
      // the step's shared body fits when this connection's mask is the step's mask
      let share = false;
      if (gen >= 0 && (mask & kind.refMask) === 0) {
        if (inst.encGen === gen) share = inst.encMask === mask;
        else if (mask === inst.dirty) {
          shared!.encode(inst, mask);
          share = true;
        }
      }
      const bits = share ? rec.headBits + inst.encBits : this.updateBits(rec);
      if (bits > limit - w.bitLength + 1) {
        if (mayDrop && updates === 0) {
          // a single update larger than a frame cannot be sent; drop its bits (counted)
          this.stats.oversizedCommands++;
          rec.mask = 0;
          rec.queued = false;
          continue;
        }
        break;
      }
      if (share) {
        // `more` bit and entity id in one write, then the shared kind + mask + values
        if (rec.head >= 0) w.writeBits(rec.head, rec.headBits);
        else {
          w.writeBits(1, 1);
          w.writeVarUint(rec.channel.hostId);
        }
        w.appendWords(shared!.words, inst.encWord, inst.encBits);
      } else this.writeUpdate(w, rec, this.registry.kindBits);
      log.push(rec, mask, oldestLive);
      updates++;
      rec.mask = 0;
      rec.lastSentStep = stepNo;
      // leaves the list now (set here, not in a later pass: one touch of the record fewer, and
      // a loss detected later in this flush can queue it again)
      rec.queued = false;
    }
    this.cursor = i;
    return updates;
  }

  /**
   * Write queued held updates (receiver-hosted ids) until the frame is full; returns how many.
   * Records that cannot go now leave the list with their bits (they re-enter when marked).
   */
  private writeHeldUpdates(
    w: FrameWriter,
    limit: number,
    stepNo: number,
    oldestLive: number,
    index: number,
    /** Nothing else is in the frame: an update that does not fit now never will (dropped, counted). */
    emptyFrame: boolean,
  ): number {
    const list = this.heldDirty;
    let n = 0;
    let i = 0;
    for (; i < list.length; i++) {
      const rec = list[i];
      const inst = rec.entity.components[rec.kind.index];
      if (!rec.alive || rec.mask === 0 || !rec.delivered || !rec.live || inst === undefined) {
        rec.queued = false;
        continue;
      }
      if (this.updateBits(rec) > limit - w.bitLength + 1) break;
      this.writeUpdate(w, rec, this.registry.kindBits);
      this.log.push(rec, rec.mask, oldestLive);
      rec.channel.lastUpdateFrame = index;
      rec.mask = 0;
      rec.lastSentStep = stepNo;
      rec.queued = false;
      n++;
    }
    if (n === 0 && emptyFrame && i < list.length) {
      // larger than a whole frame: it can never be sent; drop its bits (counted) rather than spin
      this.stats.oversizedCommands++;
      list[i].mask = 0;
      list[i].queued = false;
      i++;
    }
    this.heldDirty = list.slice(i);
    return n;
  }

  /**
   * Server: announce each pending grant whose entity the peer is in sync with — every command
   * about it acknowledged, no update bits waiting, no frame carrying its updates unresolved — so
   * the holder starts from our latest values. Grants cancelled meanwhile (authority moved on, the
   * entity left scope) are dropped.
   */
  private announceGrants(): void {
    const list = this.host.pendingGrants;
    let m = 0;
    for (let i = 0; i < list.length; i++) {
      const ch = list[i];
      if (!ch.grantPending || ch.state !== 'live' || this.host.channels.of(ch.entity) !== ch) {
        ch.grantPending = false;
        continue;
      }
      if (this.synced(ch)) this.host.completeGrant(ch);
      else list[m++] = ch;
    }
    list.length = m;
  }

  /** Whether the peer has applied everything we sent about `ch`'s entity (see {@link announceGrants}). */
  private synced(ch: HostEntityChannel): boolean {
    if (ch.unacked.length !== 0) return false;
    for (const rec of ch.components)
      if (rec !== undefined && (rec.mask !== 0 || !rec.delivered)) return false;
    const sent = this.sent;
    if (sent.firstUnresolved(this.nextFrame) < 0) return true;
    for (let i = sent.scan; i < this.nextFrame; i++) {
      const slot = sent.find(i);
      if (slot < 0 || sent.resolved(slot)) continue;
      const end = sent.logEnd(slot);
      for (let p = sent.logStart(slot); p < end; p++) if (this.log.rec(p).channel === ch) return false;
    }
    return true;
  }

  /** Housekeeping once per step: expired references and redirects, retired remote channels. */
  maintain(): void {
    const now = this.clock.now();
    if (this.isClient) this.host.releaseRetired(now - REDIRECT_TTL_MS);
    else if (this.held.size > 0) {
      for (const [id, ch] of this.held)
        if (ch.entity === null || this.hostedEntity(id) !== ch.entity) this.held.delete(id);
    }
    if (this.waitCount > 0) {
      for (const [id, list] of this.waits) {
        const keep = list.filter((w) => w.deadline > now);
        this.stats.refsExpired += list.length - keep.length;
        this.waitCount -= list.length - keep.length;
        if (keep.length === 0) this.waits.delete(id);
        else this.waits.set(id, keep);
      }
    }
    if (this.unresolved.size > 0) {
      for (const [g, list] of this.unresolved) {
        const keep = list.filter((r) => r.alive);
        if (keep.length === 0) this.unresolved.delete(g);
        else if (keep.length !== list.length) this.unresolved.set(g, keep);
      }
    }
    if (this.carriedIn.size > 0) {
      for (const [id, c] of this.carriedIn) {
        if (c.deadline > now && c.entity.alive) continue;
        this.carriedIn.delete(id);
        if (this.map.remoteOf(c.entity.id) === id) this.map.removeRemote(id);
        this.sink.remoteDespawn(this, c.entity);
      }
    }
    this.map.cleanupRedirects();
    this.remote.retire();
  }

  /** Entity reference waits currently held (diagnostics/tests). */
  get pendingRefWaits(): number {
    return this.waitCount;
  }

  /** True when nothing is unacknowledged, no frame awaits its ack, and no bits are waiting. */
  get idle(): boolean {
    this.host.compact();
    if (
      this.host.queue.length !== 0 ||
      this.dirtyCount !== 0 ||
      this.heldDirty.length !== 0 ||
      this.host.pendingGrants.length !== 0
    )
      return false;
    return this.sent.firstUnresolved(this.nextFrame) < 0;
  }
}

export { HostComponentRecord };
