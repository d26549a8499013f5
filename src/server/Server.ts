import type { Infer, MessageDef, Schema } from '../serde/index.js';
import { type Authenticator, OfflineAuthenticator } from '../session/Authenticator.js';
import type { ReassemblerLimits } from '../session/ConnectReassembler.js';
import { defaultLinkFactory } from '../session/defaultLink.js';
import type { LinkFactory, SessionLinkOptions } from '../session/linkTypes.js';
import type { Protocol } from '../session/Protocol.js';
import type { ConnectPacket, JoinWorldPacket } from '../session/packets/types.js';
import type { ServerSession } from '../session/ServerSession.js';
import { SessionHost, type SessionHostStats } from '../session/SessionHost.js';
import { Ticker } from '../session/Ticker.js';
import type { DatagramServerTransport, TransportAddress } from '../transport/types.js';
import { type Clock, systemClock } from '../util/Clock.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import { User } from './User.js';

/** Options of {@link Server}. */
export interface ServerOptions {
  /** Verifies client identities. Default: {@link OfflineAuthenticator} (accepts any identity). */
  authenticator?: Authenticator;
  /** ServerInfo.name (default 'baton'). */
  name?: string;
  /** ServerInfo.motd (default ''). */
  motd?: string;
  /** Most connected users (default 64). */
  maxPlayers?: number;
  /** Time source (default: real time). */
  clock?: Clock;
  /**
   * Run the built-in ticker at the protocol's tick rate from the first `listen()`. Default:
   * true with the real clock, false when a `clock` is given (tests then call `step()`).
   */
  autoStep?: boolean;
  /** Most handshakes in progress at once (default 256); beyond → rejected "server busy". */
  maxPendingHandshakes?: number;
  /** Handshake deadline (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** How long a disconnected session lingers so Disconnect is delivered (default 1000 ms). */
  lingerMs?: number;
  /** Link tuning (MTU, heartbeat, timeout, bandwidth…). */
  link?: SessionLinkOptions;
  /** Bounds of the Connect reassembly table. */
  reassembly?: ReassemblerLimits;
  /** Sent to each client as WorldSettings during setup. */
  worldSettings?: Uint8Array;
  /** JoinWorld sent right after accept (default `{ worldId: 0, clearWorld: true, fade: false }`; `false`: none). */
  autoJoinWorld?: Omit<JoinWorldPacket, 'type'> | false;
  /** Last admission check after authentication: `true` admits, a string rejects with it. */
  admit?: (connect: ConnectPacket, address: string) => true | string;
  /** Link implementation (tests). */
  linkFactory?: LinkFactory;
}

/** Events of {@link Server}. */
export type ServerEvents<C extends string> = {
  /** A user completed the handshake. */
  connect: (user: User) => void;
  /** A connected user left, was disconnected, or timed out. */
  disconnect: (user: User, reason: string) => void;
  /** An application message from a user. */
  message: (user: User, channel: C, def: MessageDef<any>, value: unknown) => void;
  /** The user answered JoinWorld with ClientReady. */
  ready: (user: User) => void;
  viewRadius: (user: User, radius: number) => void;
  playerOptions: (user: User, data: Uint8Array) => void;
  /** A handshake failed (rejected, timed out). */
  reject: (address: string, reason: string) => void;
  /** The built-in ticker's step threw. */
  error: (error: unknown) => void;
};

/** Counters of the server: the session host's plus message counts. */
export interface ServerStats extends SessionHostStats {
  users: number;
  pendingHandshakes: number;
  reassembly: { entries: number; bytes: number; evicted: number };
  queuedDatagrams: number;
  messagesIn: number;
  messagesOut: number;
  /** Application messages that failed to decode. */
  malformedMessages: number;
}

/**
 * The server API: listens on one or more transports, runs the session handshake for each
 * player, and exchanges typed messages on the protocol's channels.
 *
 * ```ts
 * const server = new Server(protocol, { name: 'arena' });
 * await server.listen(udpServer({ port: 7777 }));
 * server.on('message', (user, channel, def, value) => …);
 * ```
 */
export class Server<C extends string = string> extends TypedEmitter<ServerEvents<C>> {
  /** The server tick: incremented by each `step()`. */
  tick = 0;
  private readonly host: SessionHost;
  private readonly clock: Clock;
  private readonly ticker: Ticker;
  private readonly autoStep: boolean;
  private readonly byId = new Map<number, User>();
  private readonly bySession = new Map<ServerSession, User>();
  private readonly handlers = new Map<MessageDef<any>, Set<(user: User, value: any, channel: C) => void>>();
  private counters = { messagesIn: 0, messagesOut: 0, malformedMessages: 0 };
  private closed = false;

  constructor(
    readonly protocol: Protocol<C>,
    readonly options: ServerOptions = {},
  ) {
    super();
    this.clock = options.clock ?? systemClock;
    this.autoStep = options.autoStep ?? options.clock === undefined;
    const maxPlayers = options.maxPlayers ?? 64;
    const autoJoin = options.autoJoinWorld ?? { worldId: 0, clearWorld: true, fade: false };
    this.host = new SessionHost({
      protocol,
      clock: this.clock,
      authenticator: options.authenticator ?? new OfflineAuthenticator(),
      linkFactory: options.linkFactory ?? defaultLinkFactory,
      serverInfo: () => ({ name: options.name ?? 'baton', motd: options.motd ?? '', maxPlayers }),
      worldSettings: () => options.worldSettings,
      currentTick: () => this.tick,
      maxPlayers,
      maxPendingHandshakes: options.maxPendingHandshakes,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      lingerMs: options.lingerMs,
      link: options.link,
      reassembly: options.reassembly,
      admit: options.admit,
      onAccepted: (session) => {
        const user = new User(session);
        this.byId.set(user.id, user);
        this.bySession.set(session, user);
        session.pipe.onMessage = (channel, payload) => this.deliver(user, channel, payload);
        if (autoJoin) this.host.sendControl(session, { type: 'JoinWorld', ...autoJoin });
        this.emit('connect', user);
      },
      onClosed: (session, reason, wasAccepted) => {
        const user = this.bySession.get(session);
        if (!wasAccepted || !user) {
          this.emit('reject', session.address, reason);
          return;
        }
        this.bySession.delete(session);
        this.byId.delete(user.id);
        user.connected = false;
        user.disconnectReason = reason;
        this.emit('disconnect', user, reason);
      },
      onControl: (session, packet) => {
        const user = this.bySession.get(session);
        if (!user) return;
        if (packet.type === 'ClientReady') {
          user.ready = true;
          this.emit('ready', user);
        } else if (packet.type === 'ViewRadius') {
          user.viewRadius = packet.radius;
          this.emit('viewRadius', user, packet.radius);
        } else if (packet.type === 'PlayerOptions') {
          user.playerOptions = packet.data;
          this.emit('playerOptions', user, packet.data);
        }
      },
    });
    this.ticker = new Ticker(
      protocol.tickIntervalMs,
      () => this.step(),
      (e) => this.emit('error', e),
    );
  }

  /** Bind a transport (several allowed, e.g. UDP and WebSocket). Resolves to the bound address. */
  async listen(transport: DatagramServerTransport): Promise<TransportAddress> {
    const address = await this.host.listen(transport);
    if (this.autoStep) this.start();
    return address;
  }

  /** Connected users. */
  get users(): User[] {
    return [...this.byId.values()];
  }

  /** A connected user by id. */
  user(id: number): User | undefined {
    return this.byId.get(id);
  }

  get stats(): ServerStats {
    return {
      ...this.host.stats,
      dropped: { ...this.host.stats.dropped },
      users: this.byId.size,
      pendingHandshakes: this.host.pendingCount,
      reassembly: this.host.reassembly,
      queuedDatagrams: this.host.queuedDatagrams,
      ...this.counters,
    };
  }

  /** Send a message to one user on a channel. */
  send<S extends Schema>(user: User, channel: C, def: MessageDef<S>, value: Infer<S>): void {
    const info = this.protocol.channel(channel);
    if (info.direction === 'client-to-server') throw new Error(`channel '${channel}' is client-to-server`);
    if (!user.connected) return;
    this.sendEncoded(user, info.index, this.protocol.encodeMessage(def, value));
  }

  /** Send a message to every connected user (encoded once). */
  broadcast<S extends Schema>(channel: C, def: MessageDef<S>, value: Infer<S>): void {
    const info = this.protocol.channel(channel);
    if (info.direction === 'client-to-server') throw new Error(`channel '${channel}' is client-to-server`);
    const bytes = this.protocol.encodeMessage(def, value);
    for (const user of this.byId.values()) this.sendEncoded(user, info.index, bytes);
  }

  /**
   * Subscribe to one message kind with a typed handler. Returns an unsubscribe function.
   * (The untyped `'message'` event fires too.)
   */
  onMessage<S extends Schema>(
    def: MessageDef<S>,
    handler: (user: User, value: Infer<S>, channel: C) => void,
  ): () => void {
    this.protocol.messageKind(def);
    let set = this.handlers.get(def);
    if (!set) {
      set = new Set();
      this.handlers.set(def, set);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Disconnect a user with a reason (the client sees it). */
  disconnect(user: User, reason: string): void {
    if (user.connected) this.host.close(user.session, reason, true);
  }

  /** Send the user to another server (ClientReferral), then disconnect it. */
  refer(user: User, host: string, port: number, data: Uint8Array = new Uint8Array(0)): void {
    if (!user.connected) return;
    this.host.sendControl(user.session, { type: 'ClientReferral', host, port, data });
    this.disconnect(user, `referred to ${host}:${port}`);
  }

  /** Send JoinWorld (world entry); the client answers ClientReady (`'ready'` event). */
  joinWorld(user: User, join: Omit<JoinWorldPacket, 'type'>): void {
    if (!user.connected) return;
    user.ready = false;
    this.host.sendControl(user.session, { type: 'JoinWorld', ...join });
  }

  /**
   * One tick: process received datagrams (handshakes, messages), deliver the tick-buffered
   * messages clients tagged with this tick, run timeouts, flush every link. Deterministic
   * with a ManualClock.
   */
  step(): void {
    if (this.closed) return;
    this.host.receive();
    for (const user of [...this.byId.values()]) {
      if (!user.connected) continue;
      for (const m of user.session.pipe.takeTickMessages(this.tick)) {
        if (!user.connected) break;
        this.deliver(user, m.channel, m.payload);
      }
    }
    this.host.maintain();
    this.host.flush();
    this.tick++;
  }

  /** Start the built-in ticker (one `step()` per tick at the protocol's tick rate). */
  start(): void {
    if (!this.closed) this.ticker.start();
  }

  /** Stop the built-in ticker. */
  stop(): void {
    this.ticker.stop();
  }

  /** Disconnect everyone ("server closing"), close every transport, stop the ticker. */
  async close(reason = 'server closing'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ticker.stop();
    await this.host.shutdown(reason);
  }

  private sendEncoded(user: User, channel: number, bytes: Uint8Array): void {
    try {
      user.session.pipe.sendMessage(channel, bytes);
      this.counters.messagesOut++;
    } catch (error) {
      // A peer that cannot keep up (reliable backlog over its bound) is cut off, not buffered forever.
      if ((error as Error)?.name === 'LinkBackpressureError') this.disconnect(user, 'send backlog exceeded');
      else throw error;
    }
  }

  private deliver(user: User, channel: number, payload: Uint8Array): void {
    let decoded: ReturnType<Protocol['decodeMessage']>;
    try {
      decoded = this.protocol.decodeMessage(payload);
    } catch {
      this.counters.malformedMessages++;
      return;
    }
    this.counters.messagesIn++;
    const name = this.protocol.channels[channel].name;
    const set = this.handlers.get(decoded.def);
    if (set) {
      for (const h of [...set]) {
        try {
          h(user, decoded.value, name);
        } catch (error) {
          this.onListenerError(error, `onMessage(${decoded.def.name})`);
        }
      }
    }
    this.emit('message', user, name, decoded.def, decoded.value);
  }
}
