/**
 * Backend mode: players that arrive through trusted proxies over mutually authenticated
 * streams (DESIGN §5 "data path"). Each proxy connection multiplexes many players by the
 * proxy's session id; each player becomes a {@link ProxiedSession} (a `ServerSession` whose
 * pipe is a {@link MuxPipe}), so the server makes an ordinary `User` of it.
 *
 * Trust comes from the stream: the transport already required a certificate chaining to the
 * configured CA; optionally only some proxy common names are allowed. The identity the proxy
 * vouches for (the captured Connect: uuid, username, identity token…) is taken as is.
 */
import { DecodeError } from '../serde/index.js';
import { MuxPipe } from '../session/MuxPipe.js';
import {
  type CarriedPair,
  CLIENT_CONTROL_TYPES,
  clampUtf8,
  decodeMigrateOpen,
  decodePlayerOpen,
  decodeReason,
  decodeRestore,
  decodeVarUint,
  encodeHandoff,
  encodePlayerAccept,
  encodeReason,
  encodeRestored,
  encodeTicketReply,
  type MigrateOpen,
  MUX_MAX_BACKEND_ID_BYTES,
  MuxFrame,
  type PlayerOpen,
  type Restore,
  type TicketReply,
} from '../session/mux.js';
import { decodeLinkHello } from '../session/muxLinkHello.js';
import type { Protocol } from '../session/Protocol.js';
import type { SessionPacket } from '../session/packets/types.js';
import { ServerSession } from '../session/ServerSession.js';
import type {
  StreamAddress,
  StreamConnection,
  StreamPeerIdentity,
  StreamServer,
  StreamServerTransport,
} from '../transport/stream/types.js';
import type { TransportAddress } from '../transport/types.js';
import type { Clock } from '../util/Clock.js';
import { ProxyLink, type QueuedFrame } from './ProxyLink.js';

export { ProxyLink } from './ProxyLink.js';

/** How a backend takes proxies (`server.listenProxies(transport, options)`). */
export interface ProxyListenOptions {
  /**
   * Only proxies whose certificate common name is listed are accepted (default: any the CA
   * signed). Others are refused before the stream is accepted, with a reason the proxy reports
   * as a configuration error.
   */
  allowedProxies?: readonly string[];
  /** Heartbeat interval on each proxy stream (default 1000 ms; shorter when the proxy's timeout asks for it). */
  heartbeatIntervalMs?: number;
  /** A proxy stream silent this long is closed, and its players with it (default 5000 ms). */
  timeoutMs?: number;
  /**
   * Most frames queued from one proxy stream (default 8192). At the bound that stream stops
   * being read (TCP flow control slows its sender) until half of it is processed; nothing it
   * sent is dropped, and other streams are not affected.
   */
  maxQueuedFrames?: number;
  /** Most payload bytes queued from one proxy stream (default 4 MiB); as `maxQueuedFrames`. */
  maxQueuedBytes?: number;
  /** Most frames processed from one proxy stream per receive (per step) (default 4096); the rest wait. */
  maxFramesPerStep?: number;
  /** Most input frames held for one frozen player until Thaw (default 4096); beyond → its session ends. */
  maxFrozenFrames?: number;
  /** Most input bytes held for one frozen player until Thaw (default 1 MiB); beyond → its session ends. */
  maxFrozenBytes?: number;
}

type ListenLimits = Required<Omit<ProxyListenOptions, 'allowedProxies'>>;

/** Defaults of {@link ProxyListenOptions}. */
export const PROXY_LISTEN_DEFAULTS: Readonly<ListenLimits> = Object.freeze({
  heartbeatIntervalMs: 1000,
  timeoutMs: 5000,
  maxQueuedFrames: 8192,
  maxQueuedBytes: 4 * 1024 * 1024,
  maxFramesPerStep: 4096,
  maxFrozenFrames: 4096,
  maxFrozenBytes: 1024 * 1024,
});

/** Counters of the proxy listener. */
export interface ProxiedStats {
  proxiesConnected: number;
  proxiesRefused: number;
  proxyLinksLost: number;
  playersOpened: number;
  playersRejected: number;
  playersClosed: number;
  framesIn: number;
  framesOut: number;
  /** Seamless migration on this backend. */
  migration: {
    ticketsIssued: number;
    ticketsRefused: number;
    arrivals: number;
    arrivalsRefused: number;
    handoffs: number;
    thaws: number;
    /** Arrivals the proxy cancelled (MigrateCancel, or PlayerClose before the ticket check ended). */
    cancelled: number;
    /** Input frames that arrived for a frozen player, held until Thaw. */
    heldWhileFrozen: number;
    /** Held input of frozen players whose session ended before a Thaw (the proxy had moved them). */
    discardedWhenClosed: number;
  };
  /** Per-link flow control: streams paused because their queue reached its budget. */
  backpressure: {
    /** Times a stream was paused. */
    pauses: number;
    /** Streams paused now. */
    paused: number;
  };
  /** Links ended because the proxy may have given this backend up (see `ProxyLink.fenceMs`). */
  fencedLinks: number;
  dropped: {
    /** Frames whose payload failed to decode (the player's session ends with a reason). */
    malformed: number;
    /** Frames for a session id with no player. */
    unknownSession: number;
    /** Frame types or control packets not allowed in this direction. */
    unexpected: number;
    /** Tick-buffered messages beyond a player's tick buffer (its session ends with a reason). */
    tickOverflow: number;
    /** Frames of a link that was fenced or lost before they were processed. */
    discardedWithLink: number;
    /** Frames the stream refused to send (closed or backed up). */
    refusedSends: number;
  };
}

/** What the server gives the listener (the same events as its SessionHost). */
export interface ProxiedSessionsHost {
  readonly protocol: Protocol;
  readonly clock: Clock;
  allocateId(): number;
  serverInfo(): { name: string; motd: string; maxPlayers: number };
  worldSettings(): Uint8Array | undefined;
  currentTick(): number;
  /** `true` admits, a string refuses with that reason (server full, admit hook…). */
  admit(connect: PlayerOpen['connect'], address: string): true | string;
  onAccepted(session: ServerSession): void;
  onClosed(session: ServerSession, reason: string): void;
  onControl(session: ServerSession, packet: SessionPacket): void;
  /** Seamless migration (DESIGN §5); without it tickets are refused and migrating players turned away. */
  readonly migration?: ProxiedMigrationHost;
  /**
   * Frames on a migration's critical path arrived (see {@link MIGRATION_PATH_FRAMES}): call
   * {@link ProxiedSessions.receive} as soon as no step is running — or leave them to the next
   * step. Called from a microtask, never inside a `receive`. Without it they wait for the step.
   */
  receiveSoon?(): void;
}

/**
 * Frames a migration waits on (Auth, Sync, Freeze, Cutover, rollback). Each one makes the
 * listener ask its host for an early {@link ProxiedSessions.receive} instead of waiting up to a
 * tick for the next step: that takes the backend's step out of the freeze window. The early
 * receive processes the whole queue in arrival order, so it is the step's own receive phase run
 * sooner (a player's earlier frames are still processed first: A answers Freeze after every
 * client frame before it).
 */
export const MIGRATION_PATH_FRAMES: ReadonlySet<number> = new Set<number>([
  MuxFrame.MigrateOpen,
  MuxFrame.TicketRequest,
  MuxFrame.SyncProbe,
  MuxFrame.Freeze,
  MuxFrame.Thaw,
  MuxFrame.Restore,
  MuxFrame.MigrateCancel,
]);

/** What the backend does for seamless migration (the Server implements it). */
export interface ProxiedMigrationHost {
  /** Source: sign a ticket for `s` to `target` (with the handed-off state), or refuse with a reason. */
  issueTicket(s: ProxiedSession, target: string): TicketReply;
  /** Target: verify an arriving player's ticket; `true` or the reason it is refused. */
  verifyArrival(m: MigrateOpen, proxySessionId: number): Promise<true | string>;
  /**
   * Source, on Freeze: the final state, the ids of the entities that carry over and their
   * state (world-layer bytes, `ServerWorld.exportCarried`).
   */
  handOff(s: ProxiedSession): { state: Uint8Array; carried: number[]; entities?: Uint8Array };
  /**
   * Target, on Restore (cutover): install the state, re-create the carried entities; returns
   * their (source wire id → target wire id) pairs for the client.
   */
  restore(s: ProxiedSession, r: Restore): readonly CarriedPair[] | undefined;
  /**
   * Target, on MigrateCancel (rolled back, possibly after Restore): undo the Restore — despawn
   * the carried entities it re-created. The player is forgotten right after.
   */
  cancel?(s: ProxiedSession, reason: string): void;
}

/** A player behind a proxy, as the server sees its session. */
export class ProxiedSession extends ServerSession {
  constructor(
    id: number,
    readonly proxyLink: ProxyLink,
    readonly proxySessionId: number,
    readonly mux: MuxPipe,
    readonly open: PlayerOpen,
    now: number,
  ) {
    super(
      id,
      `proxy|${proxyLink.connection.id}|${proxySessionId}`,
      -1,
      `${proxyLink.name}#${proxySessionId}`,
      transportOf(open.clientAddress),
      open.connect,
      new Uint8Array(0),
      0,
      open.authResult,
      now,
      now,
      mux,
      mux,
      0,
    );
    this.validated = true;
    this.state = 'accepted';
  }

  /** Set when the player arrived by seamless migration: the source backend and the state it handed over. */
  migratedFrom?: { readonly source: string; readonly state: Uint8Array };
  /**
   * Frozen for a migration (between Freeze and Thaw / close): no input of the player is
   * applied — its Message, World and Control frames are held in order and applied at Thaw,
   * discarded if the session ends first — and no world frames are sent to it (the world
   * layer resends their content after a Thaw).
   */
  get frozen(): boolean {
    return this.mux.frozen;
  }

  /** Input frames held while frozen, in arrival order, and their payload bytes. */
  readonly held: { readonly type: number; readonly payload: Uint8Array }[] = [];
  heldBytes = 0;

  /** "proxy(proxy-1):udp:127.0.0.1:5000": which proxy, and the client address it reported. */
  override get address(): string {
    return `proxy(${this.proxyLink.name}):${this.open.clientAddress}`;
  }
}

const EMPTY = new Uint8Array(0);

function transportOf(address: string): TransportAddress['transport'] {
  const kind = address.slice(0, address.indexOf(':'));
  return kind === 'udp' || kind === 'websocket' || kind === 'webrtc' ? kind : 'memory';
}

/**
 * The backend's side of every proxy stream. Like the SessionHost, frames are queued as they
 * arrive and processed by {@link receive} during the server's step — except that a frame a
 * migration waits on ({@link MIGRATION_PATH_FRAMES}) asks the host for an early `receive` (the
 * Server runs it between steps while its ticker runs; a server stepped by hand stays deterministic).
 *
 * Each stream has its own queue and budget: a stream whose queue reaches `maxQueuedFrames` /
 * `maxQueuedBytes` is paused (not read; TCP slows its sender) until half is processed, and one
 * receive processes at most `maxFramesPerStep` of its frames. A frame a stream delivered is
 * never dropped for lack of room, and a noisy stream delays only itself.
 */
export class ProxiedSessions {
  readonly stats: ProxiedStats = {
    proxiesConnected: 0,
    proxiesRefused: 0,
    proxyLinksLost: 0,
    playersOpened: 0,
    playersRejected: 0,
    playersClosed: 0,
    framesIn: 0,
    framesOut: 0,
    migration: {
      ticketsIssued: 0,
      ticketsRefused: 0,
      arrivals: 0,
      arrivalsRefused: 0,
      handoffs: 0,
      thaws: 0,
      cancelled: 0,
      heldWhileFrozen: 0,
      discardedWhenClosed: 0,
    },
    backpressure: { pauses: 0, paused: 0 },
    fencedLinks: 0,
    dropped: {
      malformed: 0,
      unknownSession: 0,
      unexpected: 0,
      tickOverflow: 0,
      discardedWithLink: 0,
      refusedSends: 0,
    },
  };
  private readonly servers: StreamServer[] = [];
  private readonly links = new Set<ProxyLink>();
  private closing = false;
  /** An early receive is scheduled (one microtask at a time). */
  private eager = false;
  private readonly limits: ListenLimits;

  constructor(
    private readonly host: ProxiedSessionsHost,
    private readonly options: ProxyListenOptions = {},
  ) {
    const d = PROXY_LISTEN_DEFAULTS;
    this.limits = {
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? d.heartbeatIntervalMs,
      timeoutMs: options.timeoutMs ?? d.timeoutMs,
      maxQueuedFrames: Math.max(1, options.maxQueuedFrames ?? d.maxQueuedFrames),
      maxQueuedBytes: Math.max(1, options.maxQueuedBytes ?? d.maxQueuedBytes),
      maxFramesPerStep: Math.max(1, options.maxFramesPerStep ?? d.maxFramesPerStep),
      maxFrozenFrames: Math.max(0, options.maxFrozenFrames ?? d.maxFrozenFrames),
      maxFrozenBytes: Math.max(0, options.maxFrozenBytes ?? d.maxFrozenBytes),
    };
  }

  /** Players currently held, over every proxy. */
  get playerCount(): number {
    let n = 0;
    for (const l of this.links) n += l.players.size;
    return n;
  }

  /** Open proxy streams. */
  get proxyCount(): number {
    return this.links.size;
  }

  /** Migrating players whose ticket is being checked, over every proxy. */
  get arrivingCount(): number {
    let n = 0;
    for (const l of this.links) n += l.arriving.size;
    return n;
  }

  /** Frames queued and not yet processed, over every proxy. */
  get queuedFrames(): number {
    let n = 0;
    for (const l of this.links) n += l.queued;
    return n;
  }

  /** Bind a stream listener (mutual TLS in production). Several may be bound. */
  async listen(transport: StreamServerTransport): Promise<StreamAddress> {
    if (this.closing) throw new Error('server is closed');
    const server = await transport.listen();
    this.servers.push(server);
    // judged before the stream is accepted (before READY): a refused proxy never sees it as a backend
    server.authorize = (peer) => this.authorize(peer);
    server.onConnection = (connection) => this.accept(connection);
    return server.address;
  }

  private authorize(peer: StreamPeerIdentity | undefined): true | string {
    const name = peer?.commonName;
    const allowed = this.options.allowedProxies;
    let verdict: true | string = true;
    if (this.closing) verdict = 'server closing';
    else if (allowed && (name === undefined || !allowed.includes(name)))
      verdict = `proxy '${name ?? '?'}' is not allowed (allowedProxies)`;
    if (verdict !== true) this.stats.proxiesRefused++;
    return verdict;
  }

  private accept(connection: StreamConnection): void {
    const name = connection.peer?.commonName ?? connection.id;
    // a transport without the authorize hook still gets the check (after acceptance, then)
    if (this.authorize(connection.peer) !== true) {
      void connection.close(`proxy '${name}' is not allowed`);
      return;
    }
    const link = new ProxyLink(connection, name, this.host.clock, this.limits);
    this.links.add(link);
    this.stats.proxiesConnected++;
    connection.onFrame = (type, sessionId, payload) => {
      // arrival proves the proxy alive (not processing: a busy backend must not blame it)
      link.heartbeat.heard();
      this.enqueue(link, { type, sessionId, payload });
      if (MIGRATION_PATH_FRAMES.has(type)) this.receiveSoon();
    };
    connection.onClose = (reason) => {
      link.closedReason = reason;
    };
  }

  /** Queue an item of `link`; at its budget the stream stops being read. */
  private enqueue(link: ProxyLink, f: QueuedFrame): void {
    link.push(f);
    if (link.full && !link.connection.paused && link.connection.isOpen) {
      link.connection.pause();
      this.stats.backpressure.pauses++;
      this.stats.backpressure.paused++;
    }
  }

  /** A migration waits on a queued frame: ask the host for an early receive (after this task's code). */
  private receiveSoon(): void {
    if (this.eager || !this.host.receiveSoon) return;
    this.eager = true;
    queueMicrotask(() => {
      this.eager = false;
      if (!this.closing && this.queuedFrames > 0) this.host.receiveSoon?.();
    });
  }

  /**
   * Process what the proxy streams delivered: each stream's frames in order, at most
   * `maxFramesPerStep` per stream (the rest wait for the next call). A stream that must end
   * (fenced, timed out, closed) ends first, its frames unapplied. Never throws for network input.
   */
  receive(): void {
    for (const link of [...this.links]) {
      if (!this.links.has(link)) continue;
      const expired = link.expired();
      if (expired) {
        this.expire(link, expired);
        continue;
      }
      for (let budget = this.limits.maxFramesPerStep; budget > 0 && this.links.has(link); budget--) {
        if (link.queued === 0) break;
        const fenced = link.fenced();
        if (fenced) {
          this.expire(link, fenced);
          break;
        }
        this.process(link, link.shift()!);
      }
      if (!this.links.has(link)) continue;
      if (link.queued === 0 && link.closedReason !== undefined) {
        this.dropLink(link, `proxy link lost: ${link.closedReason}`);
        continue;
      }
      if (link.connection.paused && link.drained) {
        link.connection.resume();
        this.stats.backpressure.paused--;
      }
    }
  }

  private process(link: ProxyLink, f: QueuedFrame): void {
    if (f.arrival) {
      this.arrived(link, f.sessionId, f.arrival.m, f.arrival.verdict);
      return;
    }
    this.stats.framesIn++;
    try {
      this.handleFrame(link, f.type, f.sessionId, f.payload);
    } catch (error) {
      if (error instanceof DecodeError) {
        this.stats.dropped.malformed++;
        const s = link.players.get(f.sessionId);
        if (s) this.close(s, `malformed frame from proxy: ${error.message}`, true);
      } else {
        console.error('baton: internal error handling a proxy frame', error);
      }
    }
  }

  /** Heartbeats; a silent or fenced proxy stream is dropped with its players. */
  maintain(): void {
    for (const link of [...this.links]) {
      const expired = link.expired();
      if (expired) {
        this.expire(link, expired);
        continue;
      }
      link.heartbeat.tick();
    }
  }

  /** End a link whose proxy is silent or may have given us up: its players end, its queue is not applied. */
  private expire(link: ProxyLink, reason: string): void {
    if (reason.startsWith('fenced')) this.stats.fencedLinks++;
    void link.connection.close(reason);
    this.dropLink(link, `proxy link ${reason}`);
  }

  /** Send one control packet to a proxied player. */
  sendControl(s: ProxiedSession, p: SessionPacket): void {
    s.mux.sendControl(p);
    this.countSend(s);
  }

  /** Ask the player's proxy to move it to another backend (referral for now). */
  transfer(s: ProxiedSession, backendId: string): boolean {
    if (s.state !== 'accepted') return false;
    return s.proxyLink.sendFrame(
      MuxFrame.Transfer,
      s.proxySessionId,
      encodeReason(backendId, MUX_MAX_BACKEND_ID_BYTES),
    );
  }

  /** End a player's session; `notify`: tell the proxy (which tells the client) why. */
  close(s: ProxiedSession, reason: string, notify: boolean): void {
    if (s.state !== 'accepted') return;
    if (notify) s.proxyLink.sendFrame(MuxFrame.PlayerClose, s.proxySessionId, encodeReason(reason));
    this.forget(s, reason);
  }

  /** Close every proxy stream and listener. */
  async shutdown(reason: string): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const link of [...this.links]) {
      for (const s of [...link.players.values()]) this.close(s, reason, true);
      link.arriving.clear();
      link.clear();
      this.links.delete(link);
    }
    this.stats.backpressure.paused = 0;
    await Promise.all(this.servers.splice(0).map((s) => s.close()));
  }

  private forget(s: ProxiedSession, reason: string): void {
    s.state = 'closed';
    s.closeReason = reason;
    s.mux.closed = true;
    if (s.held.length > 0) {
      // the proxy moved the player on (or it left): its input was applied where it went
      this.stats.migration.discardedWhenClosed += s.held.length;
      s.held.length = 0;
      s.heldBytes = 0;
    }
    s.proxyLink.players.delete(s.proxySessionId);
    this.stats.playersClosed++;
    this.host.onClosed(s, reason);
  }

  private dropLink(link: ProxyLink, reason: string): void {
    if (!this.links.delete(link)) return;
    this.stats.proxyLinksLost++;
    this.stats.dropped.discardedWithLink += link.queued;
    if (link.connection.paused) this.stats.backpressure.paused--;
    link.clear();
    // migrating players still being checked: nothing will admit them now
    link.arriving.clear();
    for (const s of [...link.players.values()]) this.forget(s, reason);
  }

  private countSend(s: ProxiedSession): void {
    this.stats.framesOut++;
    if (s.mux.refused > 0) {
      this.stats.dropped.refusedSends += s.mux.refused;
      s.mux.refused = 0;
    }
  }

  private handleFrame(link: ProxyLink, type: number, sessionId: number, payload: Uint8Array): void {
    if (sessionId === 0) {
      if (type === MuxFrame.LinkHello) link.setHello(decodeLinkHello(payload));
      else if (!link.heartbeat.handle(type, payload)) this.stats.dropped.unexpected++;
      return;
    }
    if (type === MuxFrame.PlayerOpen) {
      this.openPlayer(link, sessionId, payload);
      return;
    }
    if (type === MuxFrame.MigrateOpen) {
      this.migrateOpen(link, sessionId, payload);
      return;
    }
    const s = link.players.get(sessionId);
    if (!s) {
      // closed while its ticket is being checked: it is not admitted when the check ends
      const cancels = type === MuxFrame.PlayerClose || type === MuxFrame.MigrateCancel;
      if (cancels && link.arriving.delete(sessionId)) {
        this.stats.migration.cancelled++;
        return;
      }
      this.stats.dropped.unknownSession++;
      return;
    }
    switch (type) {
      case MuxFrame.PlayerClose:
        this.forget(s, decodeReason(payload) || 'client disconnected');
        return;
      case MuxFrame.MigrateCancel: {
        // rolled back: whatever Restore re-created goes (the game's disconnect handler is not needed for it)
        const reason = decodeReason(payload) || 'migration cancelled';
        this.stats.migration.cancelled++;
        this.host.migration?.cancel?.(s, reason);
        this.forget(s, reason);
        return;
      }
      case MuxFrame.ClientRtt:
        s.mux.clientRttMs = decodeVarUint(payload);
        return;
      case MuxFrame.TicketRequest: {
        const target = decodeReason(payload, MUX_MAX_BACKEND_ID_BYTES);
        const reply: TicketReply = this.host.migration
          ? this.host.migration.issueTicket(s, target)
          : { ok: false, reason: 'this backend does not do seamless migration' };
        if (reply.ok) this.stats.migration.ticketsIssued++;
        else this.stats.migration.ticketsRefused++;
        link.sendFrame(MuxFrame.TicketReply, sessionId, encodeTicketReply(reply));
        return;
      }
      case MuxFrame.Freeze: {
        if (payload.length !== 0) throw new DecodeError('invalid', 'Freeze has no payload');
        if (s.frozen) {
          this.stats.dropped.unexpected++;
          return;
        }
        // everything the game sent this player is already on the stream, ahead of the Handoff;
        // from here no input of the player is applied and no world frame is sent to it
        s.mux.frozen = true;
        const h = this.host.migration?.handOff(s) ?? { state: new Uint8Array(0), carried: [] };
        const tickMessages = s.mux.takeTickMessages(Number.MAX_SAFE_INTEGER);
        this.stats.migration.handoffs++;
        link.sendFrame(
          MuxFrame.Handoff,
          sessionId,
          encodeHandoff({
            tick: this.host.currentTick(),
            state: h.state,
            carried: h.carried,
            tickMessages,
            entities: h.entities ?? new Uint8Array(0),
          }),
        );
        return;
      }
      case MuxFrame.Thaw:
        if (payload.length !== 0) throw new DecodeError('invalid', 'Thaw has no payload');
        if (!s.frozen) {
          this.stats.dropped.unexpected++;
          return;
        }
        s.mux.frozen = false;
        this.stats.migration.thaws++;
        // what arrived meanwhile is applied now, in order (it may end the session)
        s.heldBytes = 0;
        for (const h of s.held.splice(0)) {
          if (s.state !== 'accepted') break;
          this.deliver(s, h.type, h.payload);
        }
        return;
      case MuxFrame.SyncProbe:
        link.sendFrame(MuxFrame.SyncProbe, sessionId, payload);
        return;
      case MuxFrame.Restore: {
        const r = decodeRestore(payload);
        const pairs = this.host.migration?.restore(s, r) ?? [];
        // the proxy waits for the pairs (Migrate.carried) only when something was carried
        if (r.carried.length > 0 || r.entities.length > 0)
          link.sendFrame(MuxFrame.Restored, sessionId, encodeRestored(pairs));
        return;
      }
      case MuxFrame.Control:
      case MuxFrame.Message:
      case MuxFrame.World:
        if (s.frozen) {
          this.holdFrozen(s, type, payload);
          return;
        }
        this.deliver(s, type, payload);
        return;
      default:
        this.stats.dropped.unexpected++;
        this.close(s, `unexpected frame type ${type} from proxy`, true);
    }
  }

  /** Apply one input frame of a player (Control, Message, World). Throws DecodeError for a malformed one. */
  private deliver(s: ProxiedSession, type: number, payload: Uint8Array): void {
    if (!s.mux.deliverFrame(type, payload)) this.stats.dropped.unexpected++;
    if (s.mux.refused > 0) this.countSend(s);
    if (s.mux.tickDropped > 0) {
      // input the proxy acknowledged to the client cannot be held: the session ends, not the input silently
      this.stats.dropped.tickOverflow += s.mux.tickDropped;
      s.mux.tickDropped = 0;
      this.close(s, 'too much tick-buffered input waiting for future ticks', true);
    }
  }

  /** Input of a frozen player: held in order until Thaw; past the bound the session ends (never a silent drop). */
  private holdFrozen(s: ProxiedSession, type: number, payload: Uint8Array): void {
    if (s.held.length >= this.limits.maxFrozenFrames) {
      this.close(
        s,
        `more than ${this.limits.maxFrozenFrames} input frames while frozen for a migration`,
        true,
      );
      return;
    }
    if (s.heldBytes + payload.length > this.limits.maxFrozenBytes) {
      this.close(s, `more than ${this.limits.maxFrozenBytes} input bytes while frozen for a migration`, true);
      return;
    }
    this.stats.migration.heldWhileFrozen++;
    // the payload is a view into the stream's chunk; keep a copy so the chunk can go
    s.held.push({ type, payload: payload.slice() });
    s.heldBytes += payload.length;
  }

  private openPlayer(link: ProxyLink, sessionId: number, payload: Uint8Array): void {
    if (link.players.has(sessionId)) {
      this.stats.dropped.unexpected++;
      return;
    }
    const refuse = (reason: string) => {
      this.stats.playersRejected++;
      link.sendFrame(MuxFrame.PlayerClose, sessionId, encodeReason(clampUtf8(reason, 200)));
    };
    let open: PlayerOpen;
    try {
      open = decodePlayerOpen(payload);
    } catch (error) {
      this.stats.dropped.malformed++;
      refuse(`malformed PlayerOpen: ${(error as Error).message}`);
      return;
    }
    this.admitPlayer(link, sessionId, open);
  }

  private admitPlayer(
    link: ProxyLink,
    sessionId: number,
    open: PlayerOpen,
    migratedFrom?: { source: string; state: Uint8Array },
  ): void {
    const refuse = (reason: string) => {
      this.stats.playersRejected++;
      link.sendFrame(MuxFrame.PlayerClose, sessionId, encodeReason(clampUtf8(reason, 200)));
    };
    if (link.players.has(sessionId)) {
      this.stats.dropped.unexpected++;
      return;
    }
    const protocol = this.host.protocol;
    if (open.connect.protocolHash !== protocol.hash) {
      refuse(`protocol mismatch: backend ${protocol.hashHex}`);
      return;
    }
    const verdict = this.host.admit(open.connect, `proxy(${link.name}):${open.clientAddress}`);
    if (verdict !== true) {
      refuse(verdict);
      return;
    }
    const mux = new MuxPipe(sessionId, link, protocol.channels.length, {
      maxWorldFrameBytes: open.maxWorldFrameBytes,
    });
    mux.clientRttMs = open.clientRttMs;
    const s = new ProxiedSession(this.host.allocateId(), link, sessionId, mux, open, this.host.clock.now());
    s.migratedFrom = migratedFrom;
    mux.onControl = (p) => this.onControl(s, p);
    link.players.set(sessionId, s);
    this.stats.playersOpened++;
    mux.sendControl({ type: 'SetClientId', clientId: s.id });
    mux.sendControl({ type: 'ServerInfo', ...this.host.serverInfo() });
    const settings = this.host.worldSettings();
    if (settings) mux.sendControl({ type: 'WorldSettings', data: settings });
    link.sendFrame(MuxFrame.PlayerAccept, sessionId, encodePlayerAccept(this.host.currentTick()));
    this.host.onAccepted(s);
  }

  /** A migrating player: verify its ticket (async), then open it (early receive, or the next step). */
  private migrateOpen(link: ProxyLink, sessionId: number, payload: Uint8Array): void {
    if (link.players.has(sessionId) || link.arriving.has(sessionId)) {
      this.stats.dropped.unexpected++;
      return;
    }
    let m: MigrateOpen;
    try {
      m = decodeMigrateOpen(payload);
    } catch (error) {
      this.stats.dropped.malformed++;
      this.stats.migration.arrivalsRefused++;
      link.sendFrame(
        MuxFrame.PlayerClose,
        sessionId,
        encodeReason(`malformed MigrateOpen: ${(error as Error).message}`),
      );
      return;
    }
    const host = this.host.migration;
    if (!host) {
      this.stats.migration.arrivalsRefused++;
      link.sendFrame(
        MuxFrame.PlayerClose,
        sessionId,
        encodeReason('this backend does not do seamless migration'),
      );
      return;
    }
    link.arriving.set(sessionId, m);
    const done = (verdict: true | string) => {
      // the link went meanwhile (its arrivals were forgotten with it), or the proxy cancelled
      if (this.closing || !this.links.has(link) || link.arriving.get(sessionId) !== m) return;
      this.enqueue(link, { type: 0, sessionId, payload: EMPTY, arrival: { m, verdict } });
      this.receiveSoon();
    };
    host
      .verifyArrival(m, sessionId)
      .then(done, (error) => done(`ticket check failed: ${(error as Error)?.message}`));
  }

  private arrived(link: ProxyLink, sessionId: number, m: MigrateOpen, verdict: true | string): void {
    // not pending any more: the proxy cancelled it meanwhile (PlayerClose / MigrateCancel)
    if (link.arriving.get(sessionId) !== m) return;
    link.arriving.delete(sessionId);
    if (verdict !== true) {
      this.stats.migration.arrivalsRefused++;
      this.stats.playersRejected++;
      link.sendFrame(
        MuxFrame.PlayerClose,
        sessionId,
        encodeReason(clampUtf8(`ticket refused: ${verdict}`, 200)),
      );
      return;
    }
    this.stats.migration.arrivals++;
    this.admitPlayer(link, sessionId, m.open, { source: m.source, state: m.state });
  }

  private onControl(s: ProxiedSession, p: SessionPacket): void {
    if (s.state !== 'accepted') return;
    if (!CLIENT_CONTROL_TYPES.has(p.type)) {
      this.stats.dropped.unexpected++;
      this.close(s, `unexpected ${p.type} from proxy`, true);
      return;
    }
    if (p.type === 'Disconnect') {
      this.forget(s, p.reason || 'client disconnected');
      return;
    }
    this.host.onControl(s, p);
  }
}
