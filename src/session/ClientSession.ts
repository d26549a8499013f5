import { DecodeError } from '../serde/index.js';
import type { DatagramClientSocket, DatagramClientTransport } from '../transport/types.js';
import type { Clock } from '../util/Clock.js';
import { ConnectError } from './ConnectError.js';
import { LinkPipe } from './LinkPipe.js';
import {
  DEFAULT_MTU,
  type LinkFactory,
  type LinkLike,
  linkChannelsFor,
  type SessionLinkOptions,
  worldFrameRoom,
} from './linkTypes.js';
import { CONTROL_CHANNEL, type Protocol } from './Protocol.js';
import { decodeSessionPacket, encodeSessionPacket } from './packets/codec.js';
import {
  ConnectionlessKind,
  decodeConnectionlessReject,
  decodeConnectRetry,
  decodeSessionLink,
  encodeConnectRequest,
} from './packets/connectionless.js';
import { encodeResume } from './packets/resume.js';
import type {
  AuthGrantPacket,
  ConnectPacket,
  ServerAuthTokenPacket,
  ServerInfoPacket,
  SessionPacket,
} from './packets/types.js';
import { randomBytes } from './packets/uuid.js';

/** What the client sends about itself in Connect. */
export interface ClientIdentity {
  readonly uuid: string;
  readonly username: string;
  readonly clientType?: string;
  readonly language?: string;
  readonly identityToken?: Uint8Array;
  readonly referralData?: Uint8Array;
}

/** What the client learns by the time the server accepts. */
export interface AcceptInfo {
  readonly clientId: number;
  readonly serverTick: number;
  readonly serverInfo?: Omit<ServerInfoPacket, 'type'>;
  readonly worldSettings?: Uint8Array;
  readonly serverIdentityToken: Uint8Array;
  readonly serverAccessToken: Uint8Array;
  /** Set when a proxy announced that the session can migrate between backends (world frames carry an epoch byte). */
  readonly proxyHello?: { readonly flags: number; readonly epoch: number };
}

/** Input to {@link ClientSessionOptions.verifyServer}. */
export interface ServerProof {
  readonly grant: AuthGrantPacket;
  /** The grant this client issued in AuthToken.serverAuthorizationGrant. */
  readonly clientGrant: Uint8Array;
  readonly token: ServerAuthTokenPacket;
}

export interface ClientSessionOptions {
  readonly protocol: Protocol;
  readonly clock: Clock;
  readonly linkFactory: LinkFactory;
  readonly link?: SessionLinkOptions;
  /** Whole handshake deadline (default 5000 ms). */
  readonly handshakeTimeoutMs?: number;
  /** Connect resend interval until the server answers (default 250 ms). */
  readonly connectRetryMs?: number;
  /** Redeem the server's grant into AuthToken.accessToken (default: echo it). */
  readonly redeemGrant?: (grant: AuthGrantPacket) => Uint8Array;
  /**
   * Check the server's half of the mutual exchange; `true` accepts, a string fails the connect
   * with that reason. Default: accept (a browser client usually cannot verify signatures).
   */
  readonly verifyServer?: (proof: ServerProof) => true | string;
  /** Inbound datagrams held between steps (default 4096). */
  readonly maxQueuedDatagrams?: number;
  readonly onAccepted: (info: AcceptInfo) => void;
  /** Server → client packets after acceptance: JoinWorld, WorldSettings, ClientReferral, ServerInfo, Migrate. */
  readonly onControl: (packet: SessionPacket) => void;
  /** The accepted session ended (not called for a failed connect). */
  readonly onClosed: (reason: string) => void;
  /**
   * Session resume: when the transport of an accepted session drops (or the link times out),
   * open a new one through the same transport factory and present a Resume request for up to
   * this many ms; the link carries on, so nothing queued either way is lost. The server must
   * keep sessions at least as long (its `resumeWindowMs`). Default 0: a drop ends the session.
   */
  readonly resumeWindowMs?: number;
  /** The transport dropped and the session is trying to resume (with resume on). */
  readonly onResuming?: (reason: string) => void;
  /** The session resumed on a new transport. */
  readonly onResumed?: () => void;
}

/** Where a client session is. */
/** Most server messages held while ConnectAccept is still on its way (beyond: dropped, counted). */
const MAX_EARLY_MESSAGES = 1024;

export type ClientSessionState = 'idle' | 'connecting' | 'authenticating' | 'connected' | 'closed';

/** Counters of the client session. */
export interface ClientSessionStats {
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  connectAttempts: number;
  /** ConnectRetry cookies adopted. */
  retries: number;
  dropped: {
    malformed: number;
    unexpected: number;
    queueOverflow: number;
    internalErrors: number;
    /** Plain link packets before a SessionLink of this attempt (e.g. an older session's). */
    unbound: number;
  };
}

/**
 * The client side of the session layer: sends Connect (connectionless, resent until the
 * server answers), answers the auth exchange, collects the setup, and exposes a
 * {@link LinkPipe} once accepted. Browser-safe.
 */
export class ClientSession {
  state: ClientSessionState = 'idle';
  readonly stats: ClientSessionStats = {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    connectAttempts: 0,
    retries: 0,
    dropped: { malformed: 0, unexpected: 0, queueOverflow: 0, internalErrors: 0, unbound: 0 },
  };
  /** Set once the server's first link packet arrives. */
  link?: LinkLike;
  pipe?: LinkPipe;
  private socket?: DatagramClientSocket;
  private transport?: DatagramClientTransport;
  /** Set while the session is resuming after a transport drop. */
  private resuming?: { since: number; nextResumeAt: number; opening: boolean };
  private queue: (Uint8Array | { closed: string; socket: DatagramClientSocket })[] = [];
  private connectDatagrams: Uint8Array[] = [];
  private connectBytes: Uint8Array = new Uint8Array(0);
  private cookie: Uint8Array = new Uint8Array(0);
  /** A SessionLink of this attempt arrived: plain link packets are accepted from now on. */
  private bound = false;
  private nonce = 0;
  private nextConnectAt = 0;
  private deadline = 0;
  private mtu = DEFAULT_MTU;
  private grant?: AuthGrantPacket;
  private clientGrant: Uint8Array = new Uint8Array(0);
  private serverToken?: ServerAuthTokenPacket;
  private clientId?: number;
  private serverInfo?: Omit<ServerInfoPacket, 'type'>;
  private worldSettings?: Uint8Array;
  private proxyHello?: { flags: number; epoch: number };
  /** Messages (non-control link channels) that arrived before ConnectAccept. */
  private early: { channel: number; payload: Uint8Array }[] = [];
  private failure?: ConnectError;
  private pending?: { resolve: (info: AcceptInfo) => void; reject: (e: ConnectError) => void };
  private readonly handshakeTimeoutMs: number;
  private readonly retryMs: number;

  constructor(private readonly o: ClientSessionOptions) {
    this.handshakeTimeoutMs = o.handshakeTimeoutMs ?? 5000;
    this.retryMs = o.connectRetryMs ?? 250;
  }

  /** The encoded Connect of the current attempt. */
  connectPacket?: ConnectPacket;

  /**
   * Open the transport and start the handshake. Resolves on ConnectAccept; rejects with
   * {@link ConnectError}. Needs {@link step} to be called (resends, timeouts, receiving).
   */
  async connect(transport: DatagramClientTransport, identity: ClientIdentity): Promise<AcceptInfo> {
    if (this.state !== 'idle') throw new Error('a session connects once; create a new client');
    this.state = 'connecting';
    // the handshake deadline covers opening the transport too (a WebSocket takes a round trip)
    this.deadline = this.o.clock.now() + this.handshakeTimeoutMs;
    this.nextConnectAt = Number.POSITIVE_INFINITY;
    const connect: ConnectPacket = {
      type: 'Connect',
      protocolHash: this.o.protocol.hash,
      clientType: identity.clientType ?? 'game',
      language: identity.language ?? 'en',
      uuid: identity.uuid.toLowerCase(),
      username: identity.username,
      identityToken: identity.identityToken,
      referralData: identity.referralData,
    };
    // encode before opening anything: a bad identity is a programming error, thrown here
    const bytes = encodeSessionPacket(connect);
    this.connectPacket = connect;
    let socket: DatagramClientSocket;
    try {
      socket = await transport.connect();
    } catch (error) {
      this.state = 'closed';
      throw new ConnectError('closed', `transport failed: ${(error as Error)?.message ?? error}`);
    }
    if (this.isClosed()) {
      await socket.close();
      throw this.failure ?? new ConnectError('closed', 'closed while opening the transport');
    }
    this.socket = socket;
    this.transport = transport;
    this.mtu = Math.min(this.o.link?.mtu ?? DEFAULT_MTU, socket.maxDatagramSize);
    const nonceBytes = randomBytes(4);
    this.nonce = (nonceBytes[0] | (nonceBytes[1] << 8) | (nonceBytes[2] << 16) | (nonceBytes[3] << 24)) >>> 0;
    this.connectBytes = bytes;
    this.connectDatagrams = encodeConnectRequest(bytes, this.nonce, this.mtu);
    this.listenTo(socket);
    const now = this.o.clock.now();
    const result = new Promise<AcceptInfo>((resolve, reject) => {
      this.pending = { resolve, reject };
    });
    this.sendConnect(now);
    return result;
  }

  /**
   * Process received datagrams, resend Connect, check timeouts, flush the link.
   * `beforeFlush` runs (once connected) between receiving and flushing, so what the layer
   * above sends in reaction to this step's input leaves in the same flush.
   */
  step(beforeFlush?: () => void): void {
    if (this.state === 'idle' || this.state === 'closed') return;
    const batch = this.queue;
    this.queue = [];
    for (const item of batch) {
      if (this.isClosed()) return;
      try {
        if (item instanceof Uint8Array) this.handleDatagram(item);
        else if (item.socket !== this.socket)
          continue; // a socket already left behind
        else if (this.canResume()) this.startResume(`transport closed: ${item.closed}`);
        else this.end(`transport closed: ${item.closed}`, 'closed', false);
      } catch (error) {
        this.stats.dropped.internalErrors++;
        console.error('baton: internal error in the client session', error);
      }
    }
    if (this.isClosed()) return;
    const now = this.o.clock.now();
    if (this.state !== 'connected' && now >= this.deadline) {
      this.end('handshake timed out', 'timeout', true);
      return;
    }
    if (this.state === 'connecting' && !this.grant && now >= this.nextConnectAt) this.sendConnect(now);
    if (this.resuming) this.stepResume(now);
    if (this.isClosed()) return;
    if (!this.resuming && this.link?.timedOut) {
      if (this.canResume()) this.startResume('timed out');
      else {
        this.end('timed out', 'timeout', false);
        return;
      }
    }
    if (this.link?.evicted) {
      this.end('receive buffers over the memory budget', 'closed', true);
      return;
    }
    if (beforeFlush && this.state === 'connected') {
      beforeFlush();
      if (this.isClosed()) return;
    }
    this.link?.flush();
  }

  /** Send a session packet on the control channel (ViewRadius, PlayerOptions, ClientReady). */
  sendControl(p: SessionPacket): void {
    if (!this.link) throw new Error('not connected');
    this.link.send(CONTROL_CHANNEL, encodeSessionPacket(p));
  }

  /** Leave: Disconnect (if the server knows us) is flushed, then the transport closes. */
  async close(reason = 'client closed'): Promise<void> {
    if (this.state === 'closed') return;
    this.end(reason, 'closed', true);
    await this.socket?.close();
  }

  get rttMs(): number {
    return this.link?.rttMs ?? 0;
  }

  /** A method, not a field test, so narrowing does not hide state changes made by handlers. */
  isClosed(): boolean {
    return this.state === 'closed';
  }

  // ---- internals ----

  private listenTo(socket: DatagramClientSocket): void {
    socket.onDatagram = (data) => this.enqueue(data);
    socket.onClosed = (reason) => this.enqueue({ closed: reason, socket });
  }

  /** Resume is on and there is a session to resume. */
  private canResume(): boolean {
    return (this.o.resumeWindowMs ?? 0) > 0 && this.state === 'connected' && this.transport !== undefined;
  }

  /** The transport dropped: leave it, and open a new one to present the Resume request on. */
  private startResume(reason: string): void {
    const now = this.o.clock.now();
    this.resuming = { since: now, nextResumeAt: now, opening: false };
    const old = this.socket;
    this.socket = undefined; // the link's sends are dropped until a new socket is up (it resends)
    void old?.close();
    this.o.onResuming?.(reason);
  }

  private stepResume(now: number): void {
    const r = this.resuming!;
    if (now - r.since > this.o.resumeWindowMs!) {
      this.resuming = undefined;
      this.end('resume failed: the window expired', 'timeout', false);
      return;
    }
    if (!this.socket) {
      if (!r.opening && now >= r.nextResumeAt) this.openForResume(r);
      return;
    }
    if (now >= r.nextResumeAt) {
      this.transmit(encodeResume({ nonce: this.nonce, grant: this.grant!.authorizationGrant }));
      r.nextResumeAt = now + this.retryMs;
    }
  }

  private openForResume(r: NonNullable<ClientSession['resuming']>): void {
    r.opening = true;
    this.transport!.connect().then(
      (socket) => {
        r.opening = false;
        if (this.resuming !== r || this.isClosed()) {
          void socket.close();
          return;
        }
        this.socket = socket;
        this.listenTo(socket);
        r.nextResumeAt = this.o.clock.now();
      },
      () => {
        // no network yet: try again after the retry interval
        r.opening = false;
        r.nextResumeAt = this.o.clock.now() + this.retryMs;
      },
    );
  }

  private enqueue(item: Uint8Array | { closed: string; socket: DatagramClientSocket }): void {
    if (this.queue.length >= (this.o.maxQueuedDatagrams ?? 4096)) {
      this.stats.dropped.queueOverflow++;
      return;
    }
    this.queue.push(item);
  }

  private sendConnect(now: number): void {
    this.stats.connectAttempts++;
    for (const d of this.connectDatagrams) this.transmit(d);
    this.nextConnectAt = now + this.retryMs;
  }

  private transmit(data: Uint8Array): void {
    if (!this.socket) return;
    this.stats.datagramsOut++;
    this.stats.bytesOut += data.length;
    this.socket.send(data);
  }

  private handleDatagram(data: Uint8Array): void {
    this.stats.datagramsIn++;
    this.stats.bytesIn += data.length;
    if (data.length === 0) {
      this.stats.dropped.malformed++;
      return;
    }
    if (data[0] >= 0x40) {
      this.handleConnectionless(data);
      return;
    }
    this.handleLinkPacket(data);
  }

  private handleLinkPacket(data: Uint8Array): void {
    if (!this.bound) {
      // Not yet known to belong to this attempt: the server of an earlier attempt from this
      // address may still be sending (a lingering ConnectReject). Its packets must not seed
      // this attempt's link.
      this.stats.dropped.unbound++;
      return;
    }
    if (!this.link) this.createLink();
    if (this.resuming && this.socket) {
      // the server's link speaks to our new address: the session moved
      this.resuming = undefined;
      this.o.onResumed?.();
    }
    try {
      this.link!.receive(data);
    } catch (error) {
      if (error instanceof DecodeError) this.stats.dropped.malformed++;
      else throw error;
    }
  }

  /** Replies to our Connect: stateless reject, retry-with-cookie, wrapped link packets. */
  private handleConnectionless(data: Uint8Array): void {
    const kind = data[0];
    if (this.state !== 'connecting' && kind !== ConnectionlessKind.SessionLink) {
      this.stats.dropped.unexpected++;
      return;
    }
    try {
      if (kind === ConnectionlessKind.ConnectReject) {
        const { nonce, reject } = decodeConnectionlessReject(data);
        if (nonce !== this.nonce || this.bound) {
          this.stats.dropped.unexpected++;
          return;
        }
        this.end(reject.reason, 'rejected', false, reject.code);
      } else if (kind === ConnectionlessKind.ConnectRetry) {
        const { nonce, cookie } = decodeConnectRetry(data);
        if (nonce !== this.nonce || this.bound || bytesEqual(cookie, this.cookie)) {
          this.stats.dropped.unexpected++;
          return;
        }
        this.cookie = cookie;
        this.connectDatagrams = encodeConnectRequest(this.connectBytes, this.nonce, this.mtu, cookie);
        this.stats.retries++;
        this.sendConnect(this.o.clock.now());
      } else if (kind === ConnectionlessKind.SessionLink) {
        const { nonce, linkPacket } = decodeSessionLink(data);
        if (nonce !== this.nonce || linkPacket[0] >= 0x40) {
          this.stats.dropped.unexpected++;
          return;
        }
        this.bound = true;
        this.handleLinkPacket(linkPacket);
      } else {
        this.stats.dropped.unexpected++;
      }
    } catch (error) {
      if (error instanceof DecodeError) this.stats.dropped.malformed++;
      else throw error;
    }
  }

  private createLink(): void {
    const link = this.o.linkFactory({
      channels: linkChannelsFor(this.o.protocol),
      role: 'client',
      clock: this.o.clock,
      options: { ...this.o.link, mtu: this.mtu },
      send: (packet) => this.transmit(packet),
    });
    link.onMessage = (channel, payload) => this.onLinkMessage(channel, payload);
    this.link = link;
    this.pipe = new LinkPipe(link, this.o.protocol.channels.length, worldFrameRoom(link, this.mtu));
  }

  private deliverData(channel: number, payload: Uint8Array): void {
    const info = this.o.protocol.channelAt(channel - 2);
    if ((info && info.direction === 'client-to-server') || !this.pipe!.deliver(channel, payload)) {
      this.stats.dropped.unexpected++;
    }
  }

  private onLinkMessage(channel: number, payload: Uint8Array): void {
    if (this.state === 'closed') return;
    if (channel !== CONTROL_CHANNEL) {
      if (this.state !== 'connected') {
        // the server's first messages may overtake a lost ConnectAccept (other link channels):
        // the link acknowledged them, so they wait for it here (bounded), never dropped
        if (this.state === 'authenticating' && this.early.length < MAX_EARLY_MESSAGES)
          this.early.push({ channel, payload: payload.slice() });
        else this.stats.dropped.unexpected++;
        return;
      }
      this.deliverData(channel, payload);
      return;
    }
    let p: SessionPacket;
    try {
      p = decodeSessionPacket(payload);
    } catch {
      this.stats.dropped.malformed++;
      this.end('malformed control packet from server', 'rejected', true);
      return;
    }
    this.handleControl(p);
  }

  private handleControl(p: SessionPacket): void {
    switch (p.type) {
      case 'AuthGrant': {
        if (this.grant) return; // duplicate
        this.grant = p;
        this.state = 'authenticating';
        this.clientGrant = randomBytes(16);
        const accessToken: Uint8Array = this.o.redeemGrant?.(p) ?? p.authorizationGrant;
        this.sendControl({ type: 'AuthToken', accessToken, serverAuthorizationGrant: this.clientGrant });
        return;
      }
      case 'ServerAuthToken': {
        if (!this.grant || this.serverToken) {
          this.protocolError(p.type);
          return;
        }
        this.serverToken = p;
        const verdict = this.o.verifyServer
          ? this.o.verifyServer({ grant: this.grant, clientGrant: this.clientGrant, token: p })
          : true;
        if (verdict !== true) this.end(verdict, 'server-auth-failed', true);
        return;
      }
      case 'SetClientId':
        this.clientId = p.clientId;
        return;
      case 'ServerInfo':
        this.serverInfo = { name: p.name, motd: p.motd, maxPlayers: p.maxPlayers };
        if (this.state === 'connected') this.o.onControl(p);
        return;
      case 'WorldSettings':
        this.worldSettings = p.data;
        if (this.state === 'connected') this.o.onControl(p);
        return;
      case 'ProxyHello':
        if (this.state === 'connected') {
          this.protocolError(p.type);
          return;
        }
        this.proxyHello = { flags: p.flags, epoch: p.epoch };
        return;
      case 'ConnectAccept': {
        if (this.state !== 'authenticating' || !this.serverToken || this.clientId === undefined) {
          this.protocolError(p.type);
          return;
        }
        this.state = 'connected';
        const info: AcceptInfo = {
          clientId: this.clientId,
          serverTick: p.serverTick,
          serverInfo: this.serverInfo,
          worldSettings: this.worldSettings,
          serverIdentityToken: this.grant!.serverIdentityToken,
          serverAccessToken: this.serverToken.serverAccessToken,
          proxyHello: this.proxyHello,
        };
        const pending = this.pending;
        this.pending = undefined;
        this.o.onAccepted(info);
        for (const m of this.early.splice(0))
          if (this.state === 'connected') this.deliverData(m.channel, m.payload);
        pending?.resolve(info);
        return;
      }
      case 'ConnectReject':
        this.end(p.reason, 'rejected', false, p.code);
        return;
      case 'Disconnect':
        this.end(p.reason, 'rejected', false);
        return;
      case 'JoinWorld':
      case 'ClientReferral':
      case 'Migrate':
        if (this.state === 'connected') this.o.onControl(p);
        else this.stats.dropped.unexpected++;
        return;
      default:
        this.protocolError(p.type);
    }
  }

  private protocolError(type: string): void {
    this.stats.dropped.unexpected++;
    this.end(`unexpected ${type} from server`, 'rejected', true);
  }

  /**
   * Finish: during the handshake reject the connect promise with `kind`; once connected
   * report `onClosed(reason)`. `notify`: tell the server with a Disconnect first.
   */
  private end(reason: string, kind: ConnectError['kind'], notify: boolean, rejectCode?: number): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    if (notify && this.link) {
      try {
        this.sendControl({ type: 'Disconnect', reason });
        this.link.flush();
      } catch (error) {
        this.stats.dropped.internalErrors++;
        console.error('baton: could not send Disconnect', error);
      }
    }
    this.state = 'closed';
    this.queue = [];
    if (this.link) {
      this.link.onMessage = () => {};
      this.link.close?.();
    }
    const socket = this.socket;
    void socket?.close();
    const pending = this.pending;
    this.pending = undefined;
    if (!wasConnected)
      this.failure = new ConnectError(kind, reason, rejectCode as ConnectError['rejectCode']);
    if (pending && this.failure) pending.reject(this.failure);
    if (wasConnected) this.o.onClosed(reason);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
