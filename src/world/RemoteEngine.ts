import { AuthChannel, type AuthOp, type AuthState } from './AuthChannel.js';
import type { ComponentKind } from './ComponentRegistry.js';
import type { Entity } from './Entity.js';
import { WorldError } from './errors.js';
import { CmdType, type DecodedComponent, type InCommand } from './frame.js';
import type { RemoteEntity } from './ids.js';
import { unwrapSeq } from './wrap.js';

/**
 * The receiving side of replication on one connection: entities the *peer* authors.
 *
 * Commands arrive on an unordered stream (lost, duplicated, reordered). The engine
 * 1. drops duplicates by exact command id (a received-up-to watermark plus the set above it),
 * 2. rebuilds causal order per entity ({@link RemoteEntityChannel}: Despawned/Spawned with a
 *    spawn epoch) and per component ({@link RemoteComponentChannel}: inserted or not): a command
 *    that is legal in the current state and newer than the last applied one is applied; one that
 *    is newer but not yet legal waits for its predecessor; an older one is stale and dropped.
 *    Because each channel's state alternates, the newest command always ends up applied, so the
 *    final state equals the sender's whatever order things arrived in.
 */

/** A received command with its exact id and the (exact) index of the frame that brought it. */
export interface InCmd {
  id: number;
  frame: number;
  cmd: InCommand;
}

/** What applying remote commands does to the local world (ServerWorld / ClientWorld). */
export interface RemoteSink {
  spawn(ch: RemoteEntityChannel, comps: DecodedComponent[], frame: number): Entity;
  despawn(ch: RemoteEntityChannel, e: Entity): void;
  insert(ch: RemoteEntityChannel, e: Entity, comp: DecodedComponent, frame: number): void;
  remove(ch: RemoteEntityChannel, e: Entity, kind: ComponentKind): void;
  /** An authority-stream op applied (`arg`: its argument; `id`: its exact command id). */
  publicity(
    ch: RemoteEntityChannel,
    e: Entity,
    /** 'resync': only the component part of an Authority resync whose status was stale. */
    op: AuthOp | 'resync',
    arg: number,
    id: number,
    resync?: { comps: DecodedComponent[]; frame: number },
  ): void;
  /**
   * MigrateResponse (client side): the peer now hosts our entity `oldId` as `ch`. Returns the
   * local entity (kept, not respawned), or null when it no longer exists here.
   */
  migrate(ch: RemoteEntityChannel, oldId: number, id: number, frame: number): Entity | null;
  /** The peer delegated its entity (server side): migrate it once the current offer returns. */
  migrationRequested(ch: RemoteEntityChannel): void;
}

/** Receiver state of one component of one remote entity. */
export class RemoteComponentChannel {
  inserted = false;
  /** Id of the last applied insert/remove (or the spawn that brought it). */
  lastId: number;
  /** Per property: exact index of the newest frame whose value was applied (older ones lose). */
  frames: number[] = [];

  constructor(lastId: number) {
    this.lastId = lastId;
  }
}

type Verdict = 'apply' | 'buffer' | 'stale';

/** Most commands one entity may hold waiting for a predecessor. */
export const ENTITY_BUFFER_LIMIT = 256;

/** Receiver state of one remote entity id. */
export class RemoteEntityChannel {
  spawned = false;
  /** Id of the spawn that started the current life (-1: never). */
  epoch = -1;
  /** Id of the last applied spawn or despawn. */
  lastId = -1;
  entity: Entity | null = null;
  readonly comps = new Map<number, RemoteComponentChannel>();
  auth: AuthChannel | null = null;
  readonly pending: InCmd[] = [];
  /** Server, holder-write channels: exact id of the last applied AuthorityRequest (-1: none yet). */
  requestId = -1;
  /** Set when an applied Delegation asks for migration (performed after the offer returns). */
  migrateRequested = false;
  /** Components (with values) and frame of buffered Authority commands (a resync), by command id. */
  private readonly authKinds = new Map<number, { comps: DecodedComponent[]; frame: number }>();

  constructor(
    readonly remoteId: RemoteEntity,
    /** Publicity a new life starts with (server entities are public to clients). */
    private readonly initialPublicity: AuthState = 'unpublished',
  ) {}

  /** Whether the entity has component `kind` applied. */
  hasComponent(kind: number): boolean {
    return this.comps.get(kind)?.inserted === true;
  }

  private verdict(c: InCmd): Verdict {
    const id = c.id;
    switch (c.cmd.type) {
      case CmdType.Spawn:
      case CmdType.MigrateResponse:
        if (!this.spawned) return id > this.lastId ? 'apply' : 'stale';
        return id > this.epoch ? 'buffer' : 'stale';
      case CmdType.Despawn:
        if (this.spawned) return id > this.epoch ? 'apply' : 'stale';
        return id > this.lastId ? 'buffer' : 'stale';
      case CmdType.Insert:
      case CmdType.Remove: {
        if (!this.spawned) return id > this.lastId ? 'buffer' : 'stale';
        if (id < this.epoch) return 'stale';
        const kind = c.cmd.type === CmdType.Insert ? c.cmd.component!.kind : c.cmd.kind!;
        const cc = this.comps.get(kind.index);
        if (cc && id <= cc.lastId) return 'stale';
        const inserted = cc?.inserted === true;
        return (c.cmd.type === CmdType.Insert) !== inserted ? 'apply' : 'buffer';
      }
      default:
        // publicity: ordering inside the life is the AuthChannel's job
        if (!this.spawned) return id > this.lastId ? 'buffer' : 'stale';
        return id < this.epoch ? 'stale' : 'apply';
    }
  }

  /** Offer a command; applies it (and whatever it releases) or buffers it. */
  offer(c: InCmd, sink: RemoteSink): void {
    const v = this.verdict(c);
    if (v === 'stale') return;
    if (v === 'buffer') {
      if (this.pending.length >= ENTITY_BUFFER_LIMIT) {
        throw new WorldError('limit', `entity ${this.remoteId}: too many commands waiting`, true);
      }
      let i = this.pending.length;
      while (i > 0 && this.pending[i - 1].id > c.id) i--;
      this.pending.splice(i, 0, c);
      return;
    }
    this.apply(c, sink);
    this.drain(sink);
  }

  /**
   * Migration (DESIGN §4): resolve every buffered command *now*, in id order, and apply it
   * through `sink` — insert = insert or replace, remove = remove if present, authority ops
   * forced through the {@link AuthChannel}. The result is what the causal order would have
   * produced: per component the newest command wins, and since its id is recorded, an older one
   * that arrives later is stale. Returns how many commands were applied.
   */
  forceDrain(sink: RemoteSink): number {
    let n = 0;
    this.drain(sink);
    const list = this.pending.splice(0);
    for (const c of list) {
      if (!this.spawned || c.id < this.epoch) continue;
      const cmd = c.cmd;
      if (cmd.type === CmdType.Insert || cmd.type === CmdType.Remove) {
        const kind = cmd.type === CmdType.Insert ? cmd.component!.kind : cmd.kind!;
        const cc = this.comps.get(kind.index);
        if (cc && c.id <= cc.lastId) continue;
        if (cmd.type === CmdType.Remove && cc?.inserted !== true) {
          // removing what is not there: nothing to change but the component's order
          if (cc) cc.lastId = c.id;
          else this.comps.set(kind.index, new RemoteComponentChannel(c.id));
          n++;
          continue;
        }
        this.apply(c, sink);
        n++;
      } else if (this.verdict(c) === 'apply') {
        this.apply(c, sink);
        n++;
      }
    }
    if (this.auth) n += this.auth.forceDrain((op, _s, arg, id) => this.authApplied(sink, op, arg, id));
    return n;
  }

  private authApplied(sink: RemoteSink, op: AuthOp, arg: number, id: number): void {
    const resync = this.authKinds.get(id);
    if (resync) this.authKinds.delete(id);
    if (op === 'enableDelegation') this.migrateRequested = true;
    if (this.entity) sink.publicity(this, this.entity, op, arg, id, resync);
  }

  private drain(sink: RemoteSink): void {
    let i = 0;
    while (i < this.pending.length) {
      const c = this.pending[i];
      const v = this.verdict(c);
      if (v === 'buffer') {
        i++;
        continue;
      }
      this.pending.splice(i, 1);
      if (v === 'apply') {
        this.apply(c, sink);
        i = 0; // the state changed: earlier waiters may now be legal
      }
    }
  }

  private apply(c: InCmd, sink: RemoteSink): void {
    const cmd = c.cmd;
    switch (cmd.type) {
      case CmdType.Spawn: {
        this.spawned = true;
        this.epoch = c.id;
        this.lastId = c.id;
        this.comps.clear();
        for (const comp of cmd.components!) {
          const cc = new RemoteComponentChannel(c.id);
          cc.inserted = true;
          cc.frames = new Array(comp.kind.propCount).fill(c.frame);
          this.comps.set(comp.kind.index, cc);
        }
        this.auth = new AuthChannel(c.id, this.initialPublicity);
        this.entity = sink.spawn(this, cmd.components!, c.frame);
        return;
      }
      case CmdType.MigrateResponse: {
        // our entity, now hosted by the peer: a life that starts already spawned, with the
        // components we have, delegated, at this command's own exact id
        this.spawned = true;
        this.epoch = c.id;
        this.lastId = c.id;
        this.comps.clear();
        this.auth = new AuthChannel(c.id, 'delegated');
        this.entity = sink.migrate(this, cmd.arg!, c.id, c.frame);
        return;
      }
      case CmdType.Despawn: {
        this.spawned = false;
        this.lastId = c.id;
        this.comps.clear();
        this.authKinds.clear();
        this.auth = null;
        const e = this.entity;
        this.entity = null;
        if (e) sink.despawn(this, e);
        return;
      }
      case CmdType.Insert: {
        const comp = cmd.component!;
        let cc = this.comps.get(comp.kind.index);
        if (!cc) {
          cc = new RemoteComponentChannel(c.id);
          this.comps.set(comp.kind.index, cc);
        }
        cc.inserted = true;
        cc.lastId = c.id;
        cc.frames = new Array(comp.kind.propCount).fill(c.frame);
        if (this.entity) sink.insert(this, this.entity, comp, c.frame);
        return;
      }
      case CmdType.Remove: {
        const cc = this.comps.get(cmd.kind!.index);
        if (cc) {
          cc.inserted = false;
          cc.lastId = c.id;
        }
        if (this.entity) sink.remove(this, this.entity, cmd.kind!);
        return;
      }
      default: {
        const op: AuthOp =
          cmd.type === CmdType.Publish
            ? 'publish'
            : cmd.type === CmdType.Unpublish
              ? 'unpublish'
              : cmd.type === CmdType.Delegation
                ? cmd.arg
                  ? 'enableDelegation'
                  : 'disableDelegation'
                : 'setAuthority';
        if (cmd.kinds) this.authKinds.set(c.id, { comps: cmd.components ?? [], frame: c.frame });
        try {
          const r = this.auth?.offer(
            c.id,
            op,
            (applied, _s, arg, id) => this.authApplied(sink, applied, arg, id),
            cmd.arg ?? 0,
          );
          // a resync overtaken by a newer publicity op (delegation turned off meanwhile): its
          // status is stale, its component structure and values are not (ordered per component)
          if (r === 'stale' && cmd.kinds && this.entity) {
            this.authKinds.delete(c.id);
            sink.publicity(this, this.entity, 'resync', 0, c.id, {
              comps: cmd.components ?? [],
              frame: c.frame,
            });
          }
        } catch {
          throw new WorldError('limit', `entity ${this.remoteId}: too many publicity commands waiting`, true);
        }
      }
    }
  }
}

/** Largest number of remote entity channels one peer may make us hold. */
export const REMOTE_ENTITY_LIMIT = 1 << 20;

export class RemoteEngine {
  readonly channels = new Map<RemoteEntity, RemoteEntityChannel>();
  /** Every command id ≤ this has been received (exact ids). */
  private recvUpTo = -1;
  private readonly recvAbove = new Set<number>();
  /** Despawned channels to drop once nothing older can still arrive. */
  private readonly retireCandidates: RemoteEntityChannel[] = [];
  duplicates = 0;

  constructor(
    private readonly sink: RemoteSink,
    /** Exact id of the peer's first command (both peers must agree; tests start near the wrap). */
    firstCommandId = 0,
    /** Publicity each remote entity starts with. */
    private readonly initialPublicity: AuthState = 'unpublished',
  ) {
    this.recvUpTo = firstCommandId - 1;
  }

  get receivedUpTo(): number {
    return this.recvUpTo;
  }

  /** Unwrap a wire command id; returns -1 for a duplicate (already received). */
  accept(wireId: number): number {
    const id = unwrapSeq(wireId, this.recvUpTo + 1);
    if (id <= this.recvUpTo || this.recvAbove.has(id)) {
      this.duplicates++;
      return -1;
    }
    if (id === this.recvUpTo + 1) {
      this.recvUpTo = id;
      while (this.recvAbove.delete(this.recvUpTo + 1)) this.recvUpTo++;
    } else {
      this.recvAbove.add(id);
    }
    return id;
  }

  /** Route one new (non-duplicate) command to its entity channel. */
  handle(c: InCmd): void {
    let ch = this.channels.get(c.cmd.entity);
    if (!ch) {
      if (this.channels.size >= REMOTE_ENTITY_LIMIT)
        throw new WorldError('limit', 'too many remote entities', true);
      ch = new RemoteEntityChannel(c.cmd.entity, this.initialPublicity);
      this.channels.set(c.cmd.entity, ch);
    }
    const wasSpawned = ch.spawned;
    ch.offer(c, this.sink);
    if (wasSpawned && !ch.spawned) this.retireCandidates.push(ch);
    if (ch.migrateRequested) {
      ch.migrateRequested = false;
      this.sink.migrationRequested(ch);
    }
  }

  /**
   * Forget despawned channels once every command up to their despawn has been received: any
   * command for that id arriving later is newer and starts a new life, so nothing is lost.
   */
  retire(): void {
    for (let i = 0; i < this.retireCandidates.length; i++) {
      const ch = this.retireCandidates[i];
      if (ch.spawned) {
        this.retireCandidates.splice(i--, 1);
      } else if (ch.pending.length === 0 && this.recvUpTo >= ch.lastId) {
        if (this.channels.get(ch.remoteId) === ch) this.channels.delete(ch.remoteId);
        this.retireCandidates.splice(i--, 1);
      }
    }
  }

  /** Total commands waiting for predecessors (diagnostics). */
  bufferedCount(): number {
    let n = 0;
    for (const ch of this.channels.values()) n += ch.pending.length;
    return n;
  }
}
