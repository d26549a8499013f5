import { processReceiveBudget, type ReceiveBudgetStats } from '../link/ReceiveBudget.js';
import { DecodeError } from '../serde/index.js';
import type {
  DatagramServerSocket,
  DatagramServerTransport,
  PeerId,
  TransportAddress,
} from '../transport/types.js';
import type { Clock } from '../util/Clock.js';
import type { AuthDecision, Authenticator } from './Authenticator.js';
import { ConnectReassembler, type ReassemblerLimits } from './ConnectReassembler.js';
import { LinkPipe } from './LinkPipe.js';
import {
  DEFAULT_MTU,
  type LinkFactory,
  linkChannelsFor,
  type SessionChannelConfig,
  type SessionLinkOptions,
  worldFrameRoom,
} from './linkTypes.js';
import { CONTROL_CHANNEL, FIRST_PROTOCOL_CHANNEL, type Protocol } from './Protocol.js';
import { decodeSessionPacket, encodeSessionPacket } from './packets/codec.js';
import {
  CONNECT_FRAGMENT_HEADER_BYTES,
  ConnectionlessKind,
  decodeConnectFragment,
  encodeConnectlessReject,
  encodeConnectRetry,
  encodeSessionLink,
  MIN_CONNECT_DATAGRAM_BYTES,
} from './packets/connectionless.js';
import { RejectCode } from './packets/kinds.js';
import { decodeResume, RESUME_KIND } from './packets/resume.js';
import type { ConnectPacket, SessionPacket } from './packets/types.js';
import { randomBytes } from './packets/uuid.js';
import { type RetryCookieOptions, RetryCookies } from './RetryCookie.js';
import { ServerSession } from './ServerSession.js';

/** Server-side session options (the API layer fills them from `ServerOptions`). */
export interface SessionHostOptions {
  readonly protocol: Protocol;
  readonly clock: Clock;
  readonly authenticator: Authenticator;
  readonly linkFactory: LinkFactory;
  /** ServerInfo contents. */
  readonly serverInfo: () => { name: string; motd: string; maxPlayers: number };
  /** Sent as WorldSettings right before ConnectAccept, when set. */
  readonly worldSettings?: () => Uint8Array | undefined;
  /** The server tick, sent in ConnectAccept. */
  readonly currentTick: () => number;
  /** Most sessions past the handshake (default 64; mirrored in ServerInfo.maxPlayers). */
  readonly maxPlayers?: number;
  /** Most sessions still in the handshake or closing (default 256); beyond → "server busy". */
  readonly maxPendingHandshakes?: number;
  /** A handshake not accepted within this many ms is rejected (default 5000). */
  readonly handshakeTimeoutMs?: number;
  /** How long a closing session is kept so the link can deliver Disconnect (default 1000 ms). */
  readonly lingerMs?: number;
  /**
   * Session resume: an accepted session whose transport drops (a WebSocket closes, a UDP peer
   * falls silent past the link timeout) is kept this many ms for its client to come back from
   * a new address with a Resume request; its link keeps everything queued meanwhile. Default 0:
   * off, a drop ends the session.
   */
  readonly resumeWindowMs?: number;
  readonly link?: SessionLinkOptions;
  readonly reassembly?: ReassemblerLimits;
  /**
   * Stateless address validation: a Connect must echo a signed cookie (one extra round trip)
   * before the server keeps anything for its peer. Not asked of WebSocket peers, whose TCP
   * handshake already proved their address.
   */
  readonly retryCookies?: RetryCookieOptions;
  /** Inbound datagrams waiting for the next step; beyond → counted drop (default 16384). */
  readonly maxQueuedDatagrams?: number;
  /** Inbound bytes waiting for the next step (default 16 MiB). */
  readonly maxQueuedBytes?: number;
  /** Final admission check after authentication: `true` admits, a string rejects with it. */
  readonly admit?: (connect: ConnectPacket, address: string) => true | string;
  /** Session events. */
  readonly onAccepted: (session: ServerSession) => void;
  /** `wasAccepted` false: a handshake that failed (rejected, timed out, abandoned). */
  readonly onClosed: (session: ServerSession, reason: string, wasAccepted: boolean) => void;
  /** Client → server setup packets once accepted: ViewRadius, PlayerOptions, ClientReady. */
  readonly onControl: (session: ServerSession, packet: SessionPacket) => void;
  /**
   * Deferred acceptance (a proxy): when set, a session that passed authentication and `admit`
   * gets its ServerAuthToken and is then handed here instead of being accepted; the owner later
   * calls {@link SessionHost.completeAccept} with the setup packets (from a backend) or
   * {@link SessionHost.reject}. The handshake deadline still applies.
   */
  readonly deferAccept?: (session: ServerSession, decision: AuthDecision & { ok: true }) => void;
  /** Called whenever a datagram was queued (an owner that processes input at once schedules `receive()`). */
  readonly onInbound?: () => void;
  /** A session resumed from a new client address (its `address` changed). */
  readonly onResumed?: (session: ServerSession) => void;
}

/** Counters of everything the session host received, sent, and refused. */
export interface SessionHostStats {
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  connectsReceived: number;
  statelessRejects: number;
  /** ConnectRetry cookies sent (cookie-less or stale-cookie ConnectRequests answered). */
  retriesSent: number;
  handshakesStarted: number;
  sessionsAccepted: number;
  /** Sessions moved to a new client address by a Resume request. */
  sessionsResumed: number;
  dropped: {
    /** Datagrams or control packets that failed to decode. */
    malformed: number;
    /** Link packets from a peer with no session. */
    unknownPeer: number;
    /** Inbound queue full. */
    queueOverflow: number;
    /** Sends withheld from an unvalidated peer (anti-amplification). */
    amplification: number;
    /** ConnectRequests for an attempt already under way. */
    duplicateConnect: number;
    /** ConnectRequests carrying a cookie that is forged, expired or for another address/attempt. */
    badCookie: number;
    /** Sessions ended because their address started a new connection attempt. */
    superseded: number;
    /** Messages on data channels before acceptance, on unknown channels or against direction. */
    unexpected: number;
    /** Exceptions thrown below the session (a bug there); counted instead of escaping. */
    internalErrors: number;
    /** Sessions closed because the shared receive budget evicted their link (it held the most). */
    receiveBudgetEvictions: number;
  };
}

interface Inbound {
  readonly socket: number;
  readonly peer: PeerId;
  /** undefined: the transport reported the peer closed. */
  readonly data?: Uint8Array;
}

/**
 * The server side of the session layer: owns the listen sockets, the connectionless
 * handshake (Connect reassembly, stateless rejects), one link per peer, the auth exchange,
 * setup, timeouts and disconnects. Deterministic: datagrams are queued as they arrive and only
 * processed in {@link receive}, so with a ManualClock a step is reproducible.
 */
export class SessionHost {
  readonly stats: SessionHostStats = {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    connectsReceived: 0,
    statelessRejects: 0,
    retriesSent: 0,
    handshakesStarted: 0,
    sessionsAccepted: 0,
    sessionsResumed: 0,
    dropped: {
      malformed: 0,
      unknownPeer: 0,
      queueOverflow: 0,
      amplification: 0,
      duplicateConnect: 0,
      badCookie: 0,
      superseded: 0,
      unexpected: 0,
      internalErrors: 0,
      receiveBudgetEvictions: 0,
    },
  };
  private readonly sockets: (DatagramServerSocket | undefined)[] = [];
  private readonly sessions = new Map<string, ServerSession>();
  /**
   * Data-path lookup: per listen socket, peer → session, filled on first use. Saves building
   * the `socket|peer` key string and hashing it for every datagram; a closed entry is
   * revalidated through `sessions`.
   */
  private readonly byPeer: Map<PeerId, ServerSession>[] = [];
  /** Sessions that received or were given something since the last {@link flushDirty}. */
  private readonly dirty = new Set<ServerSession>();
  private readonly reassembler: ConnectReassembler;
  private readonly cookies: RetryCookies;
  private readonly channels: readonly SessionChannelConfig[];
  private queue: Inbound[] = [];
  private queuedBytes = 0;
  private nextId = 1;
  private accepted = 0;
  private pending = 0;
  private closing = false;
  private readonly maxPlayers: number;
  private readonly maxPending: number;
  private readonly handshakeTimeoutMs: number;
  private readonly lingerMs: number;
  private readonly resumeWindowMs: number;
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;

  constructor(private readonly o: SessionHostOptions) {
    this.reassembler = new ConnectReassembler(o.reassembly);
    this.cookies = new RetryCookies(o.clock, o.retryCookies);
    this.channels = linkChannelsFor(o.protocol);
    this.maxPlayers = o.maxPlayers ?? 64;
    this.maxPending = o.maxPendingHandshakes ?? 256;
    this.handshakeTimeoutMs = o.handshakeTimeoutMs ?? 5000;
    this.lingerMs = o.lingerMs ?? 1000;
    this.resumeWindowMs = o.resumeWindowMs ?? 0;
    this.maxQueued = o.maxQueuedDatagrams ?? 16384;
    this.maxQueuedBytes = o.maxQueuedBytes ?? 16 * 1024 * 1024;
  }

  /**
   * A fresh session id from this host's sequence, for sessions that arrive another way (players
   * behind a proxy) so that every user of one server has a distinct id.
   */
  allocateId(): number {
    return this.nextId++;
  }

  /** Sessions past the handshake. */
  get acceptedCount(): number {
    return this.accepted;
  }

  /** Sessions in the handshake or closing: the bounded pending state. */
  get pendingCount(): number {
    return this.pending;
  }

  /** Partial Connects held by the reassembly table. */
  get reassembly(): { entries: number; bytes: number; evicted: number } {
    return {
      entries: this.reassembler.size,
      bytes: this.reassembler.bytes,
      evicted: this.reassembler.evicted,
    };
  }

  /** The receive-buffer budget this host's links share (evictions, bytes held, peak). */
  get receiveBudget(): ReceiveBudgetStats {
    return { ...(this.o.link?.receiveBudget ?? processReceiveBudget()).stats };
  }

  /** Inbound datagrams waiting for the next step. */
  get queuedDatagrams(): number {
    return this.queue.length;
  }

  /** Bind one more transport. Several may be open at once (UDP + WebSocket). */
  async listen(transport: DatagramServerTransport): Promise<TransportAddress> {
    if (this.closing) throw new Error('server is closed');
    const socket = await transport.listen();
    const index = this.sockets.length;
    this.sockets.push(socket);
    this.byPeer.push(new Map());
    socket.onDatagram = (peer, data) => this.enqueue({ socket: index, peer, data });
    socket.onPeerClosed = (peer) => this.enqueue({ socket: index, peer });
    return socket.address;
  }

  /** Every session currently held (any state). */
  allSessions(): IterableIterator<ServerSession> {
    return this.sessions.values();
  }

  /** Process everything received since the last call. Never throws for network input. */
  receive(): void {
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const item of batch) {
      try {
        this.handleInbound(item);
      } catch (error) {
        // Nothing from the network may escape; an exception here is a bug below us.
        this.stats.dropped.internalErrors++;
        if (!(error instanceof DecodeError)) reportInternal(error);
      }
    }
  }

  /** Timeouts, handshake deadlines and the end of lingering sessions. */
  maintain(): void {
    const now = this.o.clock.now();
    this.reassembler.expire(now);
    for (const s of [...this.sessions.values()]) {
      if (s.state === 'closing') {
        if (now >= s.closeDeadline) this.destroy(s);
      } else if (s.state !== 'accepted' && now >= s.handshakeDeadline) {
        this.reject(s, RejectCode.HandshakeTimeout, 'handshake timed out');
      } else if (s.detachedAt !== undefined) {
        if (now - s.detachedAt > this.resumeWindowMs) this.close(s, 'resume window expired', false);
      } else if (s.link.timedOut) {
        if (this.canResume(s)) s.detachedAt = now;
        else this.close(s, 'timed out', false);
      } else if (s.link.evicted) {
        this.stats.dropped.receiveBudgetEvictions++;
        this.closeOrReject(s, EVICTED_REASON);
      }
    }
  }

  /** Let every link send what it has queued. */
  flush(): void {
    this.dirty.clear();
    for (const s of this.sessions.values()) this.flushLink(s);
  }

  /**
   * Flush only the sessions that received a datagram or were {@link touch}ed since the last
   * flush: an owner that flushes after every burst of input does not scan idle sessions (their
   * resends and heartbeats wait for the periodic {@link flush}).
   */
  flushDirty(): void {
    if (this.dirty.size === 0) return;
    for (const s of this.dirty) this.flushLink(s);
    this.dirty.clear();
  }

  /** Mark a session as having something to send (its owner queued on its link). */
  touch(s: ServerSession): void {
    if (s.state !== 'closed') this.dirty.add(s);
  }

  private flushLink(s: ServerSession): void {
    try {
      s.link.flush();
    } catch (error) {
      this.stats.dropped.internalErrors++;
      reportInternal(error);
    }
  }

  /**
   * End a session with a reason. `notify`: tell the peer (Disconnect on the control channel,
   * then linger so the link can deliver it); otherwise forget it at once.
   */
  close(s: ServerSession, reason: string, notify: boolean): void {
    if (s.state === 'closing' || s.state === 'closed') return;
    const wasAccepted = s.state === 'accepted';
    if (notify) this.sendControl(s, { type: 'Disconnect', reason });
    this.beginClosing(s, reason, notify);
    this.o.onClosed(s, reason, wasAccepted);
    if (!notify) this.destroy(s);
  }

  /** Disconnect everyone with `reason`, flush, and close the sockets. */
  async shutdown(reason: string): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const s of [...this.sessions.values()]) {
      if (s.state === 'accepted') this.close(s, reason, true);
      else if (s.state !== 'closing') this.reject(s, RejectCode.ServerClosing, reason);
    }
    this.flush();
    for (const s of [...this.sessions.values()]) this.destroy(s);
    this.reassembler.clear();
    this.queue = [];
    const sockets = this.sockets.splice(0);
    await Promise.all(sockets.map((sock) => sock?.close()));
  }

  // ---- inbound ----

  private enqueue(item: Inbound): void {
    const size = item.data?.length ?? 0;
    if (this.closing) return;
    if (this.queue.length >= this.maxQueued || this.queuedBytes + size > this.maxQueuedBytes) {
      this.stats.dropped.queueOverflow++;
      return;
    }
    this.queue.push(item);
    this.queuedBytes += size;
    this.o.onInbound?.();
  }

  private handleInbound(item: Inbound): void {
    const { data } = item;
    if (!data) {
      // connection-oriented transport: the peer is gone, nobody to tell
      const s = this.sessions.get(`${item.socket}|${item.peer}`);
      if (s && this.canResume(s)) s.detachedAt ??= this.o.clock.now();
      else if (s && s.state !== 'closing') this.close(s, 'connection closed', false);
      else if (s) this.destroy(s);
      return;
    }
    this.stats.datagramsIn++;
    this.stats.bytesIn += data.length;
    if (data.length === 0) {
      this.stats.dropped.malformed++;
      return;
    }
    if (data[0] === RESUME_KIND) {
      this.resume(item.socket, item.peer, data);
      return;
    }
    if (data[0] >= 0x40) {
      this.handleConnectionless(item.socket, item.peer, `${item.socket}|${item.peer}`, data);
      return;
    }
    const s = this.sessionOf(item.socket, item.peer);
    if (!s) {
      this.stats.dropped.unknownPeer++;
      return;
    }
    this.dirty.add(s);
    s.bound = true; // the client sends link packets only once it took one of ours: stop wrapping
    try {
      s.link.receive(data);
      // a detached session that hears from its peer again (a UDP outage that ended) is back
      s.detachedAt = undefined;
    } catch (error) {
      if (error instanceof DecodeError) this.stats.dropped.malformed++;
      else {
        this.stats.dropped.internalErrors++;
        reportInternal(error);
      }
    }
  }

  /** The live session of `peer` on listen socket `socket`, through the per-socket cache. */
  private sessionOf(socket: number, peer: PeerId): ServerSession | undefined {
    const cache = this.byPeer[socket];
    const cached = cache?.get(peer);
    if (cached !== undefined && cached.state !== 'closed') return cached;
    const s = this.sessions.get(`${socket}|${peer}`);
    if (s) cache?.set(peer, s);
    else if (cached !== undefined) cache?.delete(peer);
    return s;
  }

  /** Resume is on and the session is one a client may come back to. */
  private canResume(s: ServerSession): boolean {
    return this.resumeWindowMs > 0 && s.state === 'accepted' && !this.closing;
  }

  /**
   * A Resume request: the session whose grant and nonce it presents moves to this address (same
   * listen socket: same transport, same MTU). Its link carries on, so whatever either side had
   * queued or unacknowledged flows again, once and in order. Anything that does not match is
   * dropped and counted, with no answer.
   */
  private resume(socket: number, peer: PeerId, data: Uint8Array): void {
    let request: ReturnType<typeof decodeResume>;
    try {
      request = decodeResume(data);
    } catch {
      this.stats.dropped.malformed++;
      return;
    }
    const key = `${socket}|${peer}`;
    const existing = this.sessions.get(key);
    if (existing) {
      // a resend of a Resume that already moved the session, or someone else's address
      if (existing.nonce !== request.nonce) this.stats.dropped.unexpected++;
      return;
    }
    let s: ServerSession | undefined;
    for (const candidate of this.sessions.values()) {
      if (
        candidate.nonce === request.nonce &&
        candidate.socketIndex === socket &&
        this.canResume(candidate) &&
        sameBytes(candidate.authorizationGrant, request.grant)
      ) {
        s = candidate;
        break;
      }
    }
    if (!s) {
      this.stats.dropped.unexpected++;
      return;
    }
    const cache = this.byPeer[socket];
    if (cache?.get(s.peer) === s) cache.delete(s.peer);
    this.sessions.delete(s.key);
    // the old address is dead to us (a WebSocket that closed, a UDP port the client left)
    this.sockets[socket]?.disconnectPeer(s.peer);
    s.key = key;
    s.peer = peer;
    s.detachedAt = undefined;
    this.sessions.set(key, s);
    this.stats.sessionsResumed++;
    this.o.onResumed?.(s);
    this.touch(s);
  }

  private handleConnectionless(socket: number, peer: PeerId, key: string, data: Uint8Array): void {
    if (data[0] !== ConnectionlessKind.ConnectRequest) {
      this.stats.dropped.malformed++;
      return;
    }
    let fragment: ReturnType<typeof decodeConnectFragment>;
    try {
      fragment = decodeConnectFragment(data);
    } catch {
      this.stats.dropped.malformed++;
      return;
    }
    if (this.sockets[socket]?.address.transport !== 'websocket') {
      // Address validation before any per-peer state (reassembly included): answer with a
      // signed cookie, never larger than the datagram that asked (anti-amplification).
      if (fragment.cookie.length === 0 || !this.cookies.verify(key, fragment.nonce, fragment.cookie)) {
        if (fragment.cookie.length > 0) this.stats.dropped.badCookie++;
        this.transmit(
          socket,
          peer,
          encodeConnectRetry(fragment.nonce, this.cookies.issue(key, fragment.nonce)),
        );
        this.stats.retriesSent++;
        return;
      }
    }
    const existing = this.sessions.get(key);
    if (existing) {
      if (existing.nonce === fragment.nonce) {
        if (!existing.validated) {
          // a resend of the attempt in progress: the client is still waiting, it may be owed bytes
          existing.sendBudget += data.length;
        }
        this.stats.dropped.duplicateConnect++;
        return;
      }
      // A new attempt from this address (proved by its cookie): whatever the old session was
      // doing, its peer has moved on. It is forgotten at once, so none of its packets (a
      // lingering ConnectReject…) can reach the new attempt.
      this.stats.dropped.superseded++;
      if (existing.state === 'closing') this.destroy(existing);
      else this.close(existing, 'superseded by a new connection attempt', false);
    }
    const now = this.o.clock.now();
    const bytes = this.reassembler.add(key, fragment, now);
    if (!bytes) return;
    let connect: SessionPacket;
    try {
      connect = decodeSessionPacket(bytes);
    } catch {
      this.stats.dropped.malformed++;
      return;
    }
    if (connect.type !== 'Connect') {
      this.stats.dropped.malformed++;
      return;
    }
    this.stats.connectsReceived++;
    const reply = (code: RejectCode, reason: string) => {
      // Never answer with more than the datagram that completed the Connect carried.
      const out = encodeConnectlessReject(fragment.nonce, { code, reason }, data.length);
      if (out) this.transmit(socket, peer, out);
      this.stats.statelessRejects++;
    };
    const protocol = this.o.protocol;
    if (connect.protocolHash !== protocol.hash) {
      const theirs = connect.protocolHash.toString(16).padStart(16, '0');
      reply(
        RejectCode.ProtocolMismatch,
        `protocol mismatch: server ${protocol.hashHex}, client ${theirs} (peers built from different protocol definitions)`,
      );
      return;
    }
    const refusal: [RejectCode, string] | undefined = this.closing
      ? [RejectCode.ServerClosing, 'server closing']
      : this.pending >= this.maxPending
        ? [RejectCode.ServerBusy, 'server busy']
        : this.accepted >= this.maxPlayers
          ? [RejectCode.ServerFull, 'server full']
          : undefined;
    if (refusal) {
      reply(...refusal);
      return;
    }
    // What the client provably sent us for this Connect (each fragment is padded to ≥ 256).
    const received = Math.max(
      fragment.count * MIN_CONNECT_DATAGRAM_BYTES,
      fragment.totalLength + fragment.count * CONNECT_FRAGMENT_HEADER_BYTES,
    );
    this.startHandshake(socket, peer, key, connect, bytes, fragment.nonce, received);
  }

  private startHandshake(
    socketIndex: number,
    peer: PeerId,
    key: string,
    connect: ConnectPacket,
    connectBytes: Uint8Array,
    nonce: number,
    budget: number,
  ): void {
    const socket = this.sockets[socketIndex]!;
    const now = this.o.clock.now();
    const mtu = Math.min(this.o.link?.mtu ?? DEFAULT_MTU, socket.maxDatagramSize);
    let session: ServerSession | undefined;
    const link = this.o.linkFactory({
      channels: this.channels,
      role: 'server',
      clock: this.o.clock,
      options: { ...this.o.link, mtu },
      send: (packet) => {
        if (session) this.sendToPeer(session, packet);
      },
    });
    const pipe = new LinkPipe(link, this.o.protocol.channels.length, worldFrameRoom(link, mtu));
    session = new ServerSession(
      this.nextId++,
      key,
      socketIndex,
      peer,
      socket.address.transport,
      connect,
      connectBytes,
      nonce,
      randomBytes(16),
      now,
      now + this.handshakeTimeoutMs,
      link,
      pipe,
      budget,
    );
    const s = session;
    link.onMessage = (channel, payload) => this.onLinkMessage(s, channel, payload);
    this.sessions.set(key, s);
    this.pending++;
    this.stats.handshakesStarted++;
    let serverIdentityToken: Uint8Array = new Uint8Array(0);
    try {
      serverIdentityToken = this.o.authenticator.serverIdentityToken?.(connect) ?? serverIdentityToken;
    } catch (error) {
      reportInternal(error);
    }
    this.sendControl(s, { type: 'AuthGrant', authorizationGrant: s.authorizationGrant, serverIdentityToken });
  }

  private onLinkMessage(s: ServerSession, channel: number, payload: Uint8Array): void {
    if (s.state === 'closing' || s.state === 'closed') return;
    if (channel === CONTROL_CHANNEL) {
      let packet: SessionPacket;
      try {
        packet = decodeSessionPacket(payload);
      } catch {
        this.stats.dropped.malformed++;
        this.closeOrReject(s, 'malformed control packet');
        return;
      }
      this.handleControl(s, packet);
      return;
    }
    if (s.state !== 'accepted') {
      this.stats.dropped.unexpected++;
      return;
    }
    const info = this.o.protocol.channelAt(channel - FIRST_PROTOCOL_CHANNEL);
    if (info && info.direction === 'server-to-client') {
      this.stats.dropped.unexpected++;
      return;
    }
    if (!s.pipe.deliver(channel, payload)) this.stats.dropped.unexpected++;
  }

  private handleControl(s: ServerSession, p: SessionPacket): void {
    switch (p.type) {
      case 'AuthToken': {
        if (s.state !== 'auth') {
          this.stats.dropped.unexpected++;
          return;
        }
        s.state = 'authenticating';
        let decision: AuthDecision | Promise<AuthDecision>;
        try {
          decision = this.o.authenticator.authenticate({
            connect: s.connect,
            address: s.address,
            authorizationGrant: s.authorizationGrant,
            authToken: p,
          });
        } catch (error) {
          reportInternal(error);
          decision = { ok: false, reason: 'authentication error' };
        }
        if (isPromise(decision)) {
          decision.then(
            (d) => this.finishAuth(s, d, p.serverAuthorizationGrant),
            (error) => {
              reportInternal(error);
              this.finishAuth(s, { ok: false, reason: 'authentication error' }, p.serverAuthorizationGrant);
            },
          );
        } else {
          this.finishAuth(s, decision, p.serverAuthorizationGrant);
        }
        return;
      }
      case 'ViewRadius':
      case 'PlayerOptions':
      case 'ClientReady':
      case 'MigrateAck':
        if (s.state === 'accepted') this.o.onControl(s, p);
        else this.stats.dropped.unexpected++;
        return;
      case 'Disconnect':
        this.close(s, p.reason || 'client disconnected', false);
        return;
      default:
        this.stats.dropped.unexpected++;
        this.closeOrReject(s, `unexpected ${p.type} from client`);
    }
  }

  private finishAuth(s: ServerSession, d: AuthDecision, clientGrant: Uint8Array): void {
    if (s.state !== 'authenticating') return; // closed or timed out meanwhile
    if (!d.ok) {
      this.reject(s, RejectCode.AuthFailed, d.reason);
      return;
    }
    s.validated = true;
    const verdict = this.o.admit?.(s.connect, s.address) ?? true;
    if (verdict !== true) {
      this.reject(s, RejectCode.Other, verdict);
      return;
    }
    if (this.accepted >= this.maxPlayers) {
      this.reject(s, RejectCode.ServerFull, 'server full');
      return;
    }
    this.sendControl(s, { type: 'ServerAuthToken', serverAccessToken: d.serverAccessToken ?? clientGrant });
    if (this.o.deferAccept) {
      s.deferred = true;
      this.o.deferAccept(s, d);
      return;
    }
    this.sendControl(s, { type: 'SetClientId', clientId: s.id });
    this.sendControl(s, { type: 'ServerInfo', ...this.o.serverInfo() });
    const settings = this.o.worldSettings?.();
    if (settings) this.sendControl(s, { type: 'WorldSettings', data: settings });
    this.sendControl(s, { type: 'ConnectAccept', serverTick: this.o.currentTick() });
    s.state = 'accepted';
    this.pending--;
    this.accepted++;
    this.stats.sessionsAccepted++;
    this.o.onAccepted(s);
  }

  /**
   * Accept a session handed to `deferAccept`: send `setup` (SetClientId, ServerInfo,
   * WorldSettings… as a backend produced them), then ConnectAccept with `serverTick`. Returns
   * false (and rejects the session) if it is no longer waiting or the server is full.
   */
  completeAccept(s: ServerSession, setup: readonly SessionPacket[], serverTick: number): boolean {
    if (s.state !== 'authenticating' || !s.deferred) return false;
    if (this.accepted >= this.maxPlayers) {
      this.reject(s, RejectCode.ServerFull, 'server full');
      return false;
    }
    for (const p of setup) this.sendControl(s, p);
    this.sendControl(s, { type: 'ConnectAccept', serverTick });
    s.state = 'accepted';
    this.pending--;
    this.accepted++;
    this.stats.sessionsAccepted++;
    this.o.onAccepted(s);
    return true;
  }

  /** Refuse a session that has a link: ConnectReject on the control channel, then linger. */
  reject(s: ServerSession, code: RejectCode, reason: string): void {
    if (s.state === 'closing' || s.state === 'closed') return;
    if (s.state === 'accepted') {
      this.close(s, reason, true);
      return;
    }
    this.sendControl(s, { type: 'ConnectReject', code, reason });
    this.beginClosing(s, reason, true);
    this.o.onClosed(s, reason, false);
  }

  private closeOrReject(s: ServerSession, reason: string): void {
    if (s.state === 'accepted') this.close(s, reason, true);
    else this.reject(s, RejectCode.Malformed, reason);
  }

  private beginClosing(s: ServerSession, reason: string, linger: boolean): void {
    if (s.state === 'accepted') {
      this.accepted--;
      this.pending++; // a closing session is pending state again until forgotten
    }
    s.state = 'closing';
    s.closeReason = reason;
    s.closeDeadline = this.o.clock.now() + (linger ? this.lingerMs : 0);
  }

  private destroy(s: ServerSession): void {
    if (s.state === 'closed') return;
    if (s.state === 'accepted') this.accepted--;
    else this.pending--;
    s.state = 'closed';
    if (this.sessions.get(s.key) === s) this.sessions.delete(s.key);
    const cache = this.byPeer[s.socketIndex];
    if (cache?.get(s.peer) === s) cache.delete(s.peer);
    this.dirty.delete(s);
    s.link.onMessage = () => {};
    s.link.close?.();
    this.sockets[s.socketIndex]?.disconnectPeer(s.peer);
  }

  // ---- outbound ----

  /** Encode a session packet onto the control channel. */
  sendControl(s: ServerSession, p: SessionPacket): void {
    s.link.send(CONTROL_CHANNEL, encodeSessionPacket(p));
    this.touch(s);
  }

  private sendToPeer(s: ServerSession, packet: Uint8Array): void {
    if (s.state === 'closed') return;
    // until the client speaks, each link packet names the attempt it belongs to (SessionLink)
    if (!s.bound) packet = encodeSessionLink(s.nonce, packet);
    if (!s.validated) {
      // Anti-amplification: before the peer proves its address, send it no more than it sent.
      if (s.sentBeforeValidation + packet.length > s.sendBudget) {
        this.stats.dropped.amplification++;
        return;
      }
      s.sentBeforeValidation += packet.length;
    }
    this.transmit(s.socketIndex, s.peer, packet);
  }

  private transmit(socket: number, peer: PeerId, data: Uint8Array): void {
    const sock = this.sockets[socket];
    if (!sock) return;
    this.stats.datagramsOut++;
    this.stats.bytesOut += data.length;
    sock.send(peer, data);
  }
}

/** Why a session whose link the shared receive budget evicted is closed. */
export const EVICTED_REASON = 'receive buffers over the memory budget (this peer held the most)';

/** Room for a world frame in one link packet (moved to linkTypes; re-exported for callers). */
export { worldFrameRoom } from './linkTypes.js';

/** Equal bytes, compared without an early exit (the grant is a secret). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function reportInternal(error: unknown): void {
  console.error('baton: internal error in the session layer', error);
}
