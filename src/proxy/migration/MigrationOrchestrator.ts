/**
 * Seamless migration of one player from backend A to backend B (DESIGN §5): a strict state
 * machine, a timeout on every state, bounded buffering, rollback before cutover and a referral
 * fallback after it. The proxy owns the data path; this class decides what flows where and when.
 *
 * Prepare → Auth → Sync → Freeze → Cutover → Resume → Cleanup → Idle, or Failed.
 *
 * - *Prepare*: B's record (healthy), B's link open.
 * - *Auth*: TicketRequest to A → TicketReply (ticket + ticket-time state); MigrateOpen to B with
 *   the client's captured identity (its PlayerOpen), the ticket and the state; B verifies the
 *   ticket (`verifyMigrationTicket`) and answers with its setup Controls then PlayerAccept, all
 *   held here. The client's traffic is still flowing to A.
 * - *Sync*: the captured ViewRadius and PlayerOptions (and ClientReady, when the client had
 *   answered A's JoinWorld) are replayed to B. B's frames keep being held.
 * - *Freeze*: client → A relaying stops; the client's frames are buffered (bounded). Freeze to
 *   A; A's frames before its Handoff are relayed to the client as usual (the stream is ordered,
 *   so A's last frames are all relayed once Handoff arrives). Frames of A after Handoff are held
 *   (given to the client only on rollback).
 * - *Cutover*: Restore to B; when entities carry over, B's Restored (their A id → B id pairs)
 *   is awaited; one Migrate to the client (B's setup, the per-channel barrier counts, the new
 *   world epoch, the carried pairs); the player's link becomes B; B's held frames follow Migrate.
 * - *Resume*: A's undelivered tick messages, then the buffer, go to B in order; live relaying
 *   resumes; the client's MigrateAck ends it.
 * - *Cleanup*: A's session stays (frozen, unrelayed) for an overlap window, then is closed.
 * - *Failed*: before cutover — Thaw to A, MigrateCancel to B (which despawns whatever its
 *   Restore re-created, and forgets the player), held A frames to the client, the
 *   buffer to A in order; nothing lost. After cutover, when B fails (its link, or it drops the
 *   player) while the client is not yet live on B or within the overlap window, and A is still
 *   there — *move back* ({@link MigrationOrchestrator.moveBack}): a second migration, from A's
 *   own Handoff to a new session on A, with a second Migrate and the same guarantees (every
 *   client item forwarded to B since the cutover is replayed to A, in order). Otherwise referral
 *   fallback or disconnect.
 */
import {
  type CarriedPair,
  clampUtf8,
  decodeHandoff,
  decodeMuxControl,
  decodePlayerAccept,
  decodeReason,
  decodeRestored,
  decodeTicketReply,
  encodeMigrateOpen,
  encodeMuxControl,
  encodeReason,
  encodeRestore,
  type Handoff,
  MUX_MAX_BACKEND_ID_BYTES,
  MuxFrame,
  type PlayerOpen,
} from '../../session/mux.js';
import type { MigrateSetupPacket, SessionPacket } from '../../session/packets/types.js';
import type { BackendLink } from '../BackendLink.js';
import type { BackendRecord } from '../registry.js';
import type { ClientItem, FreezeBuffer } from './FreezeBuffer.js';

/** States of one player's migration. */
export type MigrationState =
  | 'Idle'
  | 'Prepare'
  | 'Auth'
  | 'Sync'
  | 'Freeze'
  | 'Cutover'
  | 'Resume'
  | 'Cleanup'
  | 'Failed';

/** Timeouts per state, ms. */
export interface MigrationTimeouts {
  prepare: number;
  auth: number;
  sync: number;
  freeze: number;
  cutover: number;
  resume: number;
}

export const DEFAULT_MIGRATION_TIMEOUTS: Readonly<MigrationTimeouts> = Object.freeze({
  prepare: 3000,
  auth: 3000,
  sync: 2000,
  freeze: 1000,
  cutover: 1000,
  resume: 3000,
});

/** How a migration ended. */
export type MigrationResult =
  | {
      readonly ok: true;
      readonly from: string;
      readonly to: string;
      /** Client input held, ms (freeze → buffer released to B). */
      readonly freezeMs: number;
      /** Prepare → the client acknowledged the cutover, ms. */
      readonly totalMs: number;
      /** Client frames buffered during the freeze. */
      readonly buffered: number;
    }
  | {
      readonly ok: false;
      readonly from: string;
      readonly to: string;
      /** The state it failed in. */
      readonly state: MigrationState;
      readonly reason: string;
      /** True when it failed after cutover (moved back, or referral fallback or disconnect followed). */
      readonly afterCutover: boolean;
      /** After cutover: the player was moved back to its source seamlessly (a second Migrate). */
      readonly movedBack?: boolean;
    };

/** What the orchestrator needs of the proxy (the proxy implements it). */
export interface MigrationHost {
  readonly timeouts: MigrationTimeouts;
  readonly tickIntervalMs: number;
  now(): number;
  backendRecord(id: string): Promise<BackendRecord | undefined>;
  linkTo(record: BackendRecord): BackendLink;
  /** Send a frame to a backend for this player; false if refused. */
  sendTo(link: BackendLink, type: number, payload: Uint8Array, kind: string): boolean;
  /** The proxy session id of the player. */
  readonly playerId: number;
  /** The PlayerOpen of this player for a new backend (its captured identity). */
  playerOpen(): PlayerOpen;
  /** The player's current backend link. */
  readonly currentLink: BackendLink | undefined;
  /** Start buffering the client's frames. */
  freeze(): FreezeBuffer;
  /** Stop buffering; the items go nowhere (caller forwards them). */
  unfreeze(): ClientItem[];
  /** Forward a client item to the current backend (after any tick translation). */
  forward(item: ClientItem): void;
  /** Re-send tick messages handed back by a backend, with their backend ticks (no translation). */
  forwardBackendTicks(link: BackendLink, messages: Handoff['tickMessages']): void;
  /** Relay a held backend frame to the client as if it arrived now (from the current backend). */
  relayToClient(type: number, payload: Uint8Array): void;
  /** Send one control packet to the client. */
  sendClientControl(packet: SessionPacket): void;
  /** Per protocol channel, server → client messages relayed so far (the barrier). */
  barrier(): { linkChannel: number; count: number }[];
  /** Swap the player's backend link and world epoch; returns the new epoch. */
  commit(to: BackendLink): number;
  /** The player's link is none for now (its backend failed; a move back is under way). */
  detach(): void;
  /** A move back starts: this orchestrator is the player's migration again (frames route to it). */
  beginMoveBack(m: MigrationOrchestrator): void;
  /** Keep a copy of every client item forwarded from now on (bounded), for a move back. */
  startReplayLog(): void;
  /** The items kept since {@link startReplayLog}, in order (undefined: a bound was crossed); stops keeping. */
  takeReplayLog(): ClientItem[] | undefined;
  /** Translate tick-buffered ticks from now on by `delta` more ticks. */
  shiftTicks(delta: number): void;
  /** After a failure after cutover: referral to a healthy backend, or disconnect with the reason. */
  fallback(reason: string): void;
  /** The client had answered its backend's JoinWorld (replay ClientReady to B). */
  readonly clientReady: boolean;
  readonly viewRadius: number | undefined;
  readonly playerOptions: Uint8Array | undefined;
  /** Swallow this many ClientReady packets from the client (B got one from the proxy already). */
  swallowReady(n: number): void;
  trace(kind: string, size: number, hop: 'client' | 'backend', dir: 'in' | 'out'): void;
  /** Where the migration reports (stats); called once per finished migration. */
  finished(result: MigrationResult): void;
}

class Abort extends Error {}

/** Most frames of B held until cutover (world frames beyond it replace the oldest: B resends). */
const MAX_HELD = 1024;

export class MigrationOrchestrator {
  state: MigrationState = 'Idle';
  /** B's link while the migration runs (frames of this player on it come to {@link onTargetFrame}). */
  target?: BackendLink;
  readonly from: string;
  private source?: BackendLink;
  private committed = false;
  private opened = false;
  private frozeSent = false;
  private handoff?: Handoff;
  private readonly startedAt: number;
  private freezeAt = 0;
  private acceptTick = 0;
  private acceptAt = 0;
  private sourceTickAt = 0;
  private setup: MigrateSetupPacket[] = [];
  private joinWorld?: MigrateSetupPacket;
  /** B's frames after PlayerAccept (relayed after Migrate). */
  private heldTarget: { type: number; payload: Uint8Array }[] = [];
  /** A's frames after Handoff (relayed only on rollback). */
  private heldSource: { type: number; payload: Uint8Array }[] = [];
  private buffer?: FreezeBuffer;
  private bufferedCount = 0;
  private timer?: ReturnType<typeof setTimeout>;
  private waiter?: { kind: string; resolve: (v: unknown) => void; reject: (e: Error) => void };
  private abortReason?: string;
  private ackEpoch = -1;
  private cleanupTimer?: ReturnType<typeof setTimeout>;
  private cleanupDone = false;
  /** B's Restored pairs (A's wire id → B's), kept for a move back. */
  private carriedOnTarget: readonly CarriedPair[] = [];
  /** Ticks added to the player's tick-buffered input at the cutover (undone by a move back). */
  private delta = 0;
  /** The cutover's target failed (its link, or it dropped the player): a move back may follow. */
  private targetFailed = false;
  /** A move back to the source runs (or ran). */
  private movingBack = false;

  constructor(
    private readonly host: MigrationHost,
    readonly to: string,
    private readonly overlapMs: number,
  ) {
    this.startedAt = host.now();
    this.from = host.currentLink?.id ?? '';
  }

  /** Run the whole migration. Never rejects. */
  async run(): Promise<MigrationResult> {
    const h = this.host;
    try {
      // ---- Prepare
      this.enter('Prepare', h.timeouts.prepare);
      this.source = h.currentLink;
      if (!this.source || this.source.state !== 'up') throw new Abort('player has no live backend');
      if (this.source.id === this.to) throw new Abort(`already on '${this.to}'`);
      const record = await this.guard(h.backendRecord(this.to));
      if (!record) throw new Abort(`unknown backend '${this.to}'`);
      if (record.health !== 'up') throw new Abort(`backend '${this.to}' is ${record.health}`);
      const link = h.linkTo(record);
      this.target = link;
      link.migrating.set(this.playerId, this);
      await this.guard(link.ready);

      // ---- Auth: a ticket from A, verified by B
      this.enter('Auth', h.timeouts.auth);
      const grant = await this.ticket(this.source, this.to);
      await this.open(link, this.source.id, grant);

      // ---- Sync: replay what the client asked for; B's answers are held
      this.enter('Sync', h.timeouts.sync);
      await this.sync(link);

      // ---- Freeze: buffer the client, flush A
      this.enter('Freeze', h.timeouts.freeze);
      this.freezeAt = h.now();
      this.buffer = h.freeze();
      const handoffP = this.expect<Handoff>('Handoff');
      this.frozeSent = true;
      this.send(this.source, MuxFrame.Freeze, new Uint8Array(0), 'Freeze');
      this.handoff = await handoffP;
      this.sourceTickAt = h.now();

      // ---- Cutover
      this.enter('Cutover', h.timeouts.cutover);
      this.carriedOnTarget = await this.restore(link, this.source.id, this.handoff);
      this.delta = this.cutover(link, this.carriedOnTarget);
      this.heldSource = [];
      // whatever B gets from now on is kept until the overlap window ends: a move back replays it
      h.startReplayLog();

      // ---- Resume: A's undelivered tick input, then the buffer, to B in order
      this.enter('Resume', h.timeouts.resume);
      const freezeMs = await this.resume(link, this.delta, []);
      const totalMs = h.now() - this.startedAt;

      // ---- Cleanup: A keeps the player frozen for the overlap window, then closes it
      this.enter('Cleanup', 0);
      this.scheduleCleanup();
      const result: MigrationResult = {
        ok: true,
        from: this.from,
        to: this.to,
        freezeMs,
        totalMs,
        buffered: this.bufferedCount,
      };
      this.state = 'Idle';
      h.finished(result);
      return result;
    } catch (error) {
      const reason = error instanceof Abort ? error.message : `internal error: ${(error as Error)?.message}`;
      if (this.committed && this.targetFailed && this.canMoveBack()) return this.moveBack(reason);
      return this.failed(reason);
    }
  }

  /** The player this migration moves (the proxy session id). */
  get playerId(): number {
    return this.host.playerId;
  }

  /** Abort (backend lost, buffer bound, client gone…). Safe to call in any state. */
  abort(reason: string): void {
    if (this.state === 'Idle' || this.state === 'Failed' || this.state === 'Cleanup') return;
    if (this.abortReason) return;
    this.abortReason = reason;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(new Abort(reason));
  }

  /**
   * The backend the player was cut over to failed (its link went down, or it dropped the
   * player). Returns true when the orchestrator takes the player back to the source
   * seamlessly — during Resume (the client not yet live there) or within the overlap window —
   * and the caller must not rescue the player itself.
   */
  targetFailure(reason: string): Promise<MigrationResult> | boolean {
    if (!this.committed || !this.canMoveBack()) return false;
    if (this.state === 'Resume') {
      this.targetFailed = true;
      this.abort(reason);
      return true;
    }
    if (this.state === 'Idle' && !this.cleanupDone) return this.moveBack(reason);
    return false;
  }

  /** Close A's overlapping session now (a later migration needs it gone). */
  finishCleanup(): void {
    if (this.cleanupDone) return;
    this.cleanupDone = true;
    if (this.cleanupTimer) clearTimeout(this.cleanupTimer);
    // no move back any more: what B got need not be kept
    if (!this.movingBack) this.host.takeReplayLog();
    const a = this.source;
    if (a && a.state === 'up') {
      this.send(
        a,
        MuxFrame.PlayerClose,
        encodeReason(clampUtf8(`migrated to ${this.to}`, 200)),
        'PlayerClose',
      );
    }
  }

  /** The client acknowledged a Migrate. */
  onAck(epoch: number): void {
    this.ackEpoch = epoch;
    this.resolve('MigrateAck', epoch);
  }

  /**
   * A frame of this player from the source backend during the migration. Returns true when
   * the orchestrator took it (the proxy must not relay it).
   */
  onSourceFrame(type: number, payload: Uint8Array): boolean {
    if (this.committed || this.state === 'Idle' || this.state === 'Failed') return false;
    if (type === MuxFrame.TicketReply) {
      this.onTicketReply(payload);
      return true;
    }
    if (type === MuxFrame.Handoff) {
      const h = decodeHandoff(payload);
      if (this.waiter?.kind === 'Handoff') this.resolve('Handoff', h);
      else this.host.forwardBackendTicks(this.source!, h.tickMessages); // not ours to use: give the input back
      return true;
    }
    if (this.handoff) {
      // A spoke after its Handoff: kept for a rollback, dropped at cutover (world frames: A resends)
      if (type !== MuxFrame.World && this.heldSource.length < MAX_HELD)
        this.heldSource.push({ type, payload: payload.slice() });
      return true;
    }
    return false;
  }

  /** A frame of this player on B's link (before cutover). Throws DecodeError for malformed payloads. */
  onTargetFrame(type: number, payload: Uint8Array): void {
    // moving back: until the new session on A accepts, frames on A's link are the old session's
    // (its TicketReply, or whatever it said after its Handoff: never relayed)
    const oldSession = this.movingBack && !this.accepted;
    switch (type) {
      case MuxFrame.TicketReply:
        if (this.movingBack) this.onTicketReply(payload);
        return;
      case MuxFrame.PlayerAccept:
        this.accepted = true;
        this.resolve('PlayerAccept', decodePlayerAccept(payload));
        return;
      case MuxFrame.SyncProbe:
        this.resolve('SyncProbe', 0);
        return;
      case MuxFrame.Restored:
        this.resolve('Restored', decodeRestored(payload));
        return;
      case MuxFrame.PlayerClose:
        // the old session on A never closes itself once we asked: after our MigrateOpen, a refusal
        if (oldSession && !this.opened) return;
        this.opened = false; // B forgot the player
        this.abort(`target '${this.target?.id}' refused: ${decodeReason(payload) || 'closed'}`);
        return;
      case MuxFrame.Control: {
        const p = decodeMuxControl(payload);
        if (p.type === 'SetClientId' || p.type === 'ServerInfo' || p.type === 'WorldSettings') {
          this.setup = this.setup.filter((q) => q.type !== p.type);
          this.setup.push(p);
          return;
        }
        if (p.type === 'JoinWorld') {
          this.joinWorld = p;
          return;
        }
        if (oldSession) return;
        if (p.type === 'Disconnect' || p.type === 'ClientReferral') {
          this.abort(`target '${this.target?.id}' sent ${p.type} during migration`);
          return;
        }
        this.hold(type, payload);
        return;
      }
      case MuxFrame.Message:
      case MuxFrame.World:
        if (!oldSession) this.hold(type, payload);
        return;
      default:
        return;
    }
  }

  /** A client item arrived while frozen and crossed a bound. */
  overflow(reason: string): void {
    this.abort(reason);
  }

  /**
   * Move the player back to the source after its target failed post-cutover (DESIGN §5
   * "Cleanup": the overlap window exists for this). A second migration with the same
   * guarantees: A signs a ticket for itself from the player's frozen session there, that
   * session closes, a new one opens on A from A's own Handoff (carried entities re-created and
   * re-keyed: B's ids → A's new ids), a second Migrate takes the client there, and A gets A's
   * handed-off tick input and every client item B was given since the cutover, then the input
   * buffered meanwhile — in order. If A fails too, the referral fallback. Never rejects.
   */
  async moveBack(reason: string): Promise<MigrationResult> {
    const h = this.host;
    const a = this.source!;
    const failedTarget = this.target!;
    const handoff = this.handoff!;
    this.movingBack = true;
    this.cleanupDone = true;
    if (this.cleanupTimer) clearTimeout(this.cleanupTimer);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abortReason = undefined;
    this.waiter = undefined;
    const replay = h.takeReplayLog();
    h.beginMoveBack(this);
    h.detach();
    // B forgets the player (if it still can hear)
    if (failedTarget.state === 'up')
      h.sendTo(
        failedTarget,
        MuxFrame.PlayerClose,
        encodeReason(clampUtf8(`moved back: ${reason}`, 200)),
        'PlayerClose',
      );
    this.buffer = h.freeze();
    this.freezeAt = h.now();
    this.committed = false;
    this.opened = false;
    this.accepted = false;
    this.setup = [];
    this.joinWorld = undefined;
    this.heldTarget = [];
    this.target = a;
    a.migrating.set(this.playerId, this);
    let result: MigrationResult;
    try {
      if (!replay) throw new Abort('too much was sent to the target since the cutover to replay it');
      // ---- Auth: a ticket from A's old session for A itself; then that session goes
      this.enter('Auth', h.timeouts.auth);
      const grant = await this.ticket(a, a.id);
      this.send(
        a,
        MuxFrame.PlayerClose,
        encodeReason(clampUtf8(`moving back from ${this.to}`, 200)),
        'PlayerClose',
      );
      await this.open(a, a.id, grant);
      this.enter('Sync', h.timeouts.sync);
      await this.sync(a);
      // ---- Cutover: A's Handoff is the state (A's old session has been frozen since)
      this.enter('Cutover', h.timeouts.cutover);
      this.sourceTickAt = this.acceptAt;
      const onA = await this.restore(a, a.id, handoff);
      // the client knows the carried entities by B's ids now: B's id → A's new id
      const toNew = new Map(onA.map((q) => [q.from, q.to]));
      const carried: CarriedPair[] = [];
      for (const q of this.carriedOnTarget) {
        const next = toNew.get(q.from);
        if (next !== undefined) carried.push({ from: q.to, to: next });
      }
      this.cutover(a, carried);
      // A's ticks again: the translation before the move (a new session on A runs on A's clock)
      h.shiftTicks(-this.delta);
      this.enter('Resume', h.timeouts.resume);
      // what B was given since the cutover, before what the client sent meanwhile (controls:
      // Sync replayed the captured ones; world frames belong to B's connection)
      await this.resume(
        a,
        0,
        replay.filter((item) => item.kind === 'message'),
      );
      this.state = 'Idle';
      result = {
        ok: false,
        from: this.from,
        to: this.to,
        state: 'Resume',
        reason,
        afterCutover: true,
        movedBack: true,
      };
    } catch (error) {
      const why = error instanceof Abort ? error.message : `internal error: ${(error as Error)?.message}`;
      result = this.failedMovingBack(`${reason}; moving back failed: ${why}`);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    a.migrating.delete(this.playerId);
    h.finished(result);
    return result;
  }

  // ---- steps shared by a migration and a move back ------------------------------------------

  /** Whether the player can still go back to the source (after cutover). */
  private canMoveBack(): boolean {
    return (
      !this.movingBack &&
      !this.cleanupDone &&
      this.handoff !== undefined &&
      this.source !== undefined &&
      this.source.state === 'up'
    );
  }

  /** A's PlayerAccept arrived for the session a move back opens. */
  private accepted = false;

  private onTicketReply(payload: Uint8Array): void {
    const r = decodeTicketReply(payload);
    if (this.waiter?.kind !== 'TicketReply') return;
    if (!r.ok) this.abort(`ticket refused by '${this.source?.id}': ${r.reason}`);
    else this.resolve('TicketReply', { ticket: r.ticket, state: r.state });
  }

  /** Ask `from` (the player's session there) for a ticket to `to`. */
  private async ticket(from: BackendLink, to: string): Promise<{ ticket: Uint8Array; state: Uint8Array }> {
    const replyP = this.expect<{ ticket: Uint8Array; state: Uint8Array }>('TicketReply');
    this.send(from, MuxFrame.TicketRequest, encodeId(to), 'TicketRequest');
    return replyP;
  }

  /** MigrateOpen on `link` with the ticket; resolves at its PlayerAccept (its setup held). */
  private async open(
    link: BackendLink,
    source: string,
    grant: { ticket: Uint8Array; state: Uint8Array },
  ): Promise<void> {
    const acceptP = this.expect<number>('PlayerAccept');
    this.opened = true;
    this.send(
      link,
      MuxFrame.MigrateOpen,
      encodeMigrateOpen({ source, ticket: grant.ticket, state: grant.state, open: this.host.playerOpen() }),
      'MigrateOpen',
    );
    this.acceptTick = await acceptP;
    this.acceptAt = this.host.now();
  }

  /** Replay what the client asked for; resolves once the target processed it all (SyncProbe). */
  private async sync(link: BackendLink): Promise<void> {
    const h = this.host;
    if (h.viewRadius !== undefined)
      this.send(
        link,
        MuxFrame.Control,
        encodeMuxControl({ type: 'ViewRadius', radius: h.viewRadius }),
        'ViewRadius',
      );
    if (h.playerOptions !== undefined)
      this.send(
        link,
        MuxFrame.Control,
        encodeMuxControl({ type: 'PlayerOptions', data: h.playerOptions }),
        'PlayerOptions',
      );
    if (h.clientReady)
      this.send(link, MuxFrame.Control, encodeMuxControl({ type: 'ClientReady' }), 'ClientReady');
    // the target echoes the probe once it processed everything before it: the player is built there
    const probeP = this.expect<number>('SyncProbe');
    this.send(link, MuxFrame.SyncProbe, new Uint8Array(0), 'SyncProbe');
    await probeP;
  }

  /**
   * Restore on the target: it re-creates the carried entities and answers with their ids
   * (the Handoff's wire ids → the target's). Nothing carried: nothing to wait for.
   */
  private async restore(link: BackendLink, source: string, handoff: Handoff): Promise<CarriedPair[]> {
    this.check();
    if (link.state !== 'up') throw new Abort(`target backend '${link.id}' lost`);
    const carriesEntities = handoff.carried.length > 0 || handoff.entities.length > 0;
    const restoredP = carriesEntities ? this.expect<CarriedPair[]>('Restored') : undefined;
    this.send(
      link,
      MuxFrame.Restore,
      encodeRestore({ source, state: handoff.state, carried: handoff.carried, entities: handoff.entities }),
      'Restore',
    );
    const carried = restoredP ? await restoredP : [];
    this.check();
    if (link.state !== 'up') throw new Abort(`target backend '${link.id}' lost`);
    return carried;
  }

  /**
   * The commit: the player's link becomes `link`, one Migrate goes to the client (the target's
   * setup, the old epoch's per-channel counts, the new epoch, the carried pairs), the target's
   * held frames follow. Returns the tick delta (target's tick now − the Handoff's tick).
   */
  private cutover(link: BackendLink, carried: readonly CarriedPair[]): number {
    const h = this.host;
    const targetTickNow =
      this.acceptTick + Math.round((this.sourceTickAt - this.acceptAt) / h.tickIntervalMs);
    const delta = targetTickNow - this.handoff!.tick;
    const setup = [...this.setup];
    if (this.joinWorld) setup.push(this.joinWorld);
    const barrier = h.barrier();
    this.committed = true;
    const epoch = h.commit(link);
    this.epoch = epoch;
    link.migrating.delete(this.playerId);
    if (h.clientReady && this.joinWorld) h.swallowReady(1);
    h.sendClientControl({
      type: 'Migrate',
      epoch,
      backendId: link.id,
      serverTick: targetTickNow,
      barrier,
      setup,
      carried: [...carried],
    });
    h.trace(`Migrate[${setup.map((q) => q.type).join(',')}]`, 0, 'client', 'out');
    for (const f of this.heldTarget.splice(0)) h.relayToClient(f.type, f.payload);
    return delta;
  }

  /** The epoch of the last Migrate sent. */
  private epoch = -1;

  /**
   * Resume on `link`: the Handoff's tick input (ticks translated), `replay`, then the buffer,
   * in order; waits for the client's MigrateAck. Returns the freeze window, ms.
   */
  private async resume(link: BackendLink, delta: number, replay: readonly ClientItem[]): Promise<number> {
    const h = this.host;
    h.shiftTicks(delta);
    h.forwardBackendTicks(
      link,
      this.handoff!.tickMessages.map((m) => ({ ...m, tick: Math.max(0, m.tick + delta) })),
    );
    for (const item of replay) h.forward(item);
    const items = h.unfreeze();
    this.buffer = undefined;
    this.bufferedCount = items.length;
    for (const item of items) if (item.kind !== 'world') h.forward(item); // the old world's frames mean nothing here
    const freezeMs = h.now() - this.freezeAt;
    const epoch = this.epoch;
    if (this.ackEpoch !== epoch) await this.expect<number>('MigrateAck', (e) => e === epoch);
    return freezeMs;
  }

  // ---- internals --------------------------------------------------------------------------

  private hold(type: number, payload: Uint8Array): void {
    if (this.heldTarget.length >= MAX_HELD) {
      const i = this.heldTarget.findIndex((f) => f.type === MuxFrame.World);
      if (i < 0) {
        this.abort('target sent too much before cutover');
        return;
      }
      this.heldTarget.splice(i, 1);
    }
    this.heldTarget.push({ type, payload: payload.slice() });
  }

  private enter(state: MigrationState, timeoutMs: number): void {
    this.check();
    this.state = state;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (timeoutMs > 0) {
      this.timer = setTimeout(() => this.abort(`${state} timed out after ${timeoutMs} ms`), timeoutMs);
    }
  }

  private check(): void {
    if (this.abortReason) throw new Abort(this.abortReason);
  }

  private expect<T>(kind: string, accept?: (v: T) => boolean): Promise<T> {
    this.check();
    return new Promise<T>((resolve, reject) => {
      this.waiter = {
        kind,
        resolve: (v) => {
          if (accept && !accept(v as T)) return;
          this.waiter = undefined;
          resolve(v as T);
        },
        reject,
      };
    });
  }

  private resolve(kind: string, value: unknown): void {
    if (this.waiter?.kind === kind) this.waiter.resolve(value);
  }

  /** Await something outside the migration's own frames, still subject to abort. */
  private guard<T>(p: Promise<T>): Promise<T> {
    this.check();
    return new Promise<T>((resolve, reject) => {
      this.waiter = { kind: 'guard', resolve: () => {}, reject };
      p.then(
        (v) => {
          if (this.waiter?.kind === 'guard') this.waiter = undefined;
          if (this.abortReason) reject(new Abort(this.abortReason));
          else resolve(v);
        },
        (e: Error) => {
          if (this.waiter?.kind === 'guard') this.waiter = undefined;
          reject(new Abort(this.abortReason ?? `cannot reach '${this.to}': ${e.message}`));
        },
      );
    });
  }

  private send(link: BackendLink, type: number, payload: Uint8Array, kind: string): void {
    if (!this.host.sendTo(link, type, payload, kind) && !this.committed && this.state !== 'Failed') {
      this.abort(`${link.id} refused ${kind} (link down or backed up)`);
    }
  }

  private scheduleCleanup(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.cleanupTimer = setTimeout(() => this.finishCleanup(), this.overlapMs);
  }

  private failed(reason: string): MigrationResult {
    const h = this.host;
    const failedIn = this.state;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.state = 'Failed';
    this.target?.migrating.delete(this.playerId);
    const afterCutover = this.committed;
    if (!afterCutover) {
      // rollback: B undoes its Restore (if it got that far: the carried copies go) and forgets
      // the player; A thaws; everything held goes where it was going
      if (this.opened && this.target && this.target.state === 'up')
        h.sendTo(
          this.target,
          MuxFrame.MigrateCancel,
          encodeReason(clampUtf8(`migration cancelled: ${reason}`, 200)),
          'MigrateCancel',
        );
      const a = this.source;
      if (this.frozeSent && a && a.state === 'up') {
        h.sendTo(a, MuxFrame.Thaw, new Uint8Array(0), 'Thaw');
        if (this.handoff) h.forwardBackendTicks(a, this.handoff.tickMessages);
      }
      for (const f of this.heldSource.splice(0)) h.relayToClient(f.type, f.payload);
      this.heldTarget = [];
      if (this.buffer) {
        const items = h.unfreeze();
        this.bufferedCount = items.length;
        for (const item of items) h.forward(item);
        this.buffer = undefined;
      }
    } else {
      // the client is on B already: the existing rescue machinery takes over
      h.takeReplayLog();
      h.fallback(`migration to '${this.to}' failed after cutover: ${reason}`);
    }
    const result: MigrationResult = {
      ok: false,
      from: this.from,
      to: this.to,
      state: failedIn,
      reason,
      afterCutover,
    };
    this.state = afterCutover ? 'Failed' : 'Idle';
    h.finished(result);
    return result;
  }

  /** Moving back failed too: the player has no backend — referral fallback or disconnect. */
  private failedMovingBack(reason: string): MigrationResult {
    const h = this.host;
    const failedIn = this.state;
    this.state = 'Failed';
    if (this.opened && this.target && this.target.state === 'up' && !this.committed)
      h.sendTo(this.target, MuxFrame.PlayerClose, encodeReason(clampUtf8(reason, 200)), 'PlayerClose');
    if (this.buffer) {
      h.unfreeze();
      this.buffer = undefined;
    }
    h.fallback(`migration to '${this.to}' failed after cutover: ${reason}`);
    return { ok: false, from: this.from, to: this.to, state: failedIn, reason, afterCutover: true };
  }
}

function encodeId(id: string): Uint8Array {
  return encodeReason(id, MUX_MAX_BACKEND_ID_BYTES);
}
