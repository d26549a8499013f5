import type { Infer, MessageDef, Schema } from '../serde/index.js';
import type { Authenticator } from '../session/Authenticator.js';
import type { ReassemblerLimits } from '../session/ConnectReassembler.js';
import { defaultLinkFactory } from '../session/defaultLink.js';
import type { LinkFactory, SessionLinkOptions } from '../session/linkTypes.js';
import { MessageDispatch } from '../session/MessageDispatch.js';
import { clampUtf8 } from '../session/mux.js';
import type { Protocol } from '../session/Protocol.js';
import type { ConnectPacket, JoinWorldPacket } from '../session/packets/types.js';
import type { ServerSession } from '../session/ServerSession.js';
import { SessionHost, type SessionHostOptions, type SessionHostStats } from '../session/SessionHost.js';
import { Ticker } from '../session/Ticker.js';
import type { TicketVerdict } from '../session/trust/MigrationTicket.js';
import type { StreamAddress, StreamServerTransport } from '../transport/stream/types.js';
import type { DatagramServerTransport, TransportAddress } from '../transport/types.js';
import { type Clock, systemClock } from '../util/Clock.js';
import { type Logger, silentLogger } from '../util/Logger.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import type { AnyComponentDef } from '../world/ComponentRegistry.js';
import { type Entity, type ReplicationConfig, SERVER_HOLDER } from '../world/Entity.js';
import { WorldError } from '../world/errors.js';
import type { GlobalEntity } from '../world/ids.js';
import type { Room } from '../world/Room.js';
import { type PositionSource, ServerWorld, type ViewCenter } from '../world/ServerWorld.js';
import type { WorldConnectionOptions, WorldConnectionStats } from '../world/WorldConnection.js';
import { type IdentityKeys, resolveAuthenticator } from './authentication.js';
import { type BackendTicketOptions, BackendTickets, type TicketPresentation } from './BackendTickets.js';
import { ServerMetrics } from './metrics.js';
import {
  type ProxiedMigrationHost,
  ProxiedSession,
  ProxiedSessions,
  type ProxiedStats,
  type ProxyListenOptions,
} from './ProxiedSessions.js';
import { User } from './User.js';
import { UserWorldPipe } from './UserWorldPipe.js';

/**
 * Where entity positions live, for spatial interest (DESIGN §3: a `ViewRadius` interest area
 * refines rooms and include/exclude). Entities without the component are not filtered.
 */
export interface InterestOptions extends PositionSource {
  /** Upper bound on the radius a client may ask for with ViewRadius (default: no bound). */
  maxRadius?: number;
}

/**
 * The game's part in seamless migration (backend mode, DESIGN §5). Every hook is optional: by
 * default transfers are allowed, no player state is handed over, and the player's own
 * client-owned entities are named as carried.
 */
export interface MigrationHooks {
  /** On the source: may `user` move to `target` now? `true`, or the reason to refuse (the move is then cancelled). */
  decide?(user: User, target: string): true | string;
  /**
   * On the source: the player state to hand over. Called at ticket time (`'ticket'`: the ticket
   * signs its digest, the target sees it on arrival) and again when the player is frozen
   * (`'final'`: what the target restores at cutover — nothing is lost between the two).
   */
  handOff?(user: User, phase: 'ticket' | 'final'): Uint8Array;
  /**
   * On the target: install the state. `'arrive'`: before `'connect'` fires for the arriving
   * player (the ticket-time state); `'final'`: at cutover, before the buffered input is delivered.
   * `carried` (at `'final'`): the carried server entities as re-created here (ids of this world;
   * already in the player's rooms and scope, delegated and held again as they were). The player's
   * client-owned entities are not among them: its client re-announces them (`'spawn'` events).
   * If the proxy then rolls the migration back (MigrateCancel), those re-created entities are
   * despawned and the user disconnects (`'migration cancelled: …'`); undoing anything else this
   * hook did is the game's (its `'disconnect'` handler).
   */
  restore?(
    user: User,
    state: Uint8Array,
    info: {
      readonly from: string;
      readonly phase: 'arrive' | 'final';
      readonly carried: readonly GlobalEntity[];
    },
  ): void;
  /**
   * On the source: the entities that carry over with the player — their component state goes to
   * the target and the client keeps them (same identity, re-keyed). Default: its client-owned
   * entities and the delegated ones it holds authority over. Add e.g. the player's avatar:
   * `carried: (u) => [...server.defaultCarried(u), avatarOf(u).id]`.
   */
  carried?(user: User): GlobalEntity[];
}

/** Options of {@link Server}. */
export interface ServerOptions {
  /**
   * Trusted identity-token issuers (Ed25519 public keys by key id): the default authenticator,
   * an `Ed25519Authenticator` over these keys. Give this or {@link authenticator}.
   */
  identityKeys?: IdentityKeys;
  /**
   * Verifies client identities, instead of {@link identityKeys}. For development,
   * `new OfflineAuthenticator()` accepts any identity. Without either option the constructor throws.
   */
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
  /**
   * Session resume window, ms: a player whose transport drops (a WebSocket closes, UDP falls
   * silent past the link timeout) keeps its session this long, for its client (with the same
   * `resumeWindowMs`) to come back from a new connection; queued traffic both ways is kept and
   * delivered once. Default 0: a drop ends the session.
   */
  resumeWindowMs?: number;
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
  /** Spatial interest: which component and fields are an entity's position. */
  interest?: InterestOptions;
  /** Per-user world sending tuning (bytes per step, resend floor). */
  worldConnection?: WorldConnectionOptions;
  /** A pino-compatible structured logger (default: silent). */
  logger?: Logger;
}

/** How often {@link Server.drain} asks the proxy again for players still here, ms. */
const DRAIN_REASK_MS = 2000;

/** Options of {@link Server.drain}. */
export interface ServerDrainOptions {
  /** Longest wait for the players to move before closing anyway, ms (default 30 000). */
  timeoutMs?: number;
  /** Close the server once empty (default true). */
  close?: boolean;
  /** Disconnect reason of players that could not move (direct players, or a failed move). */
  reason?: string;
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
  /** A client-owned entity appeared (entities the server spawns itself do not fire this). */
  spawn: (entity: Entity, user: User) => void;
  /** A client-owned entity went away (its owner despawned it, or left). */
  despawn: (entity: Entity, user: User) => void;
  /**
   * A client inserted a component: on its own entity (also fired after `spawn` for each initial
   * one), or on a delegated entity whose authority it holds. `user` is the client that wrote it.
   */
  insert: (entity: Entity, component: AnyComponentDef, user: User) => void;
  /** A client removed a component (its own entity, or a delegated one it holds). */
  remove: (entity: Entity, component: AnyComponentDef, user: User) => void;
  /** A client changed properties of a component (its own entity, or a delegated one it holds). */
  update: (entity: Entity, component: AnyComponentDef, changedKeys: string[], user: User) => void;
  /** The owner made its entity public (other clients in scope see it) or private. */
  publish: (entity: Entity, mode: ReplicationConfig, user: User) => void;
  /** The owner made its public entity private again (fires together with `publish(entity, 'private', user)`). */
  unpublish: (entity: Entity, user: User) => void;
  /**
   * An entity became delegated: a client's entity handed to the server (it is server-owned from
   * now on, `entity.ownerKey === null`, and nobody saw it despawn), or the server's own
   * (`entity.configureReplication('delegated')`).
   */
  delegate: (entity: Entity) => void;
  /** Delegation was turned off (`configureReplication('public' | 'private')` on a delegated entity). */
  undelegate: (entity: Entity) => void;
  /** `user` now holds authority over the delegated `entity` (first request won, `giveAuthority`, or delegation by its owner). */
  authGranted: (entity: Entity, user: User) => void;
  /** `user` asked for authority over `entity` while someone else (a client or the server) held it. */
  authDenied: (entity: Entity, user: User) => void;
  /** Authority over `entity` is available again: released, `releaseAuthority()`, holder out of scope or disconnected. */
  authReset: (entity: Entity) => void;
  /** A user's world frame was refused; `error.fatal` ones disconnect the user with `error.message`. */
  worldError: (user: User, error: WorldError) => void;
  /** The built-in ticker's step threw. */
  error: (error: unknown) => void;
  /** Backend mode: a player that arrived by seamless migration is now live here (cutover). */
  migrated: (user: User, from: string) => void;
  /** Backend mode: a player was frozen and handed off towards another backend (it may still come back on rollback). */
  handedOff: (user: User) => void;
  /** A step finished; `tick` is the tick it ran (`server.tick` is already the next one). */
  tick: (tick: number) => void;
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
  world: ServerWorldStats;
}

/** Replication counters of the server. */
export interface ServerWorldStats {
  /** Live entities in the server world (server- and client-owned). */
  entities: number;
  /** World frames received from users. */
  framesIn: number;
  /** Refused with a non-fatal {@link WorldError} (malformed frames): counted and dropped. */
  framesDropped: number;
  /** Users disconnected for a fatal {@link WorldError}. */
  fatalErrors: number;
  /** World frames and bytes handed to users' sessions (every user, including those who left). */
  framesOut: number;
  bytesOut: number;
  /** Frames not sent because the user had not answered JoinWorld yet (their content is resent). */
  withheld: number;
  /**
   * Writes (updates, inserts, removes, despawns) on delegated entities from users that did not
   * hold authority when they arrived: refused and dropped (typically a holder's last writes
   * racing its loss of authority; the client is resynced).
   */
  refusedWrites: number;
  /** Client-owned entities delegated to the server (migrated from their owner's engine). */
  migrations: number;
}

/**
 * The server API: listens on one or more transports, runs the session handshake for each
 * player, exchanges typed messages on the protocol's channels, and replicates entities.
 *
 * ```ts
 * const server = new Server(protocol, { identityKeys: { issuer: publicKey }, interest: { component: Position, x: 'x', y: 'y' } });
 * await server.listen(udpServer({ port: 7777 }));
 * const room = server.createRoom();
 * server.on('connect', (user) => room.addUser(user));
 * room.addEntity(server.spawn().insert(Position, { x: 0, y: 0 }));
 * ```
 *
 * World entry: a user joins the server world when its session is accepted (before `'connect'`
 * fires, so the handler can put it into rooms at once) and leaves it on disconnect. Its world
 * frames are held back until the client answers JoinWorld with ClientReady (`user.ready`);
 * with `autoJoinWorld: false`, replication to a user starts once `joinWorld()` is answered.
 *
 * Authority delegation (DESIGN §4): `entity.configureReplication('delegated')` on a server
 * entity, or on a client's published one (it migrates to the server, unseen by everyone), lets
 * any client with it in scope `requestAuthority()`; the first request wins. The server arbitrates
 * with `entity.giveAuthority(user)` (a {@link User} with the entity in scope; else the result is
 * `{ ok: false, error }` with code `'not-in-scope'`), `entity.takeAuthority()` (the server holds
 * it; every client is denied) and `entity.releaseAuthority()` (available to all again).
 * `entity.authHolder` is the holding {@link User}, `SERVER_HOLDER`, or null (available). A
 * holder that leaves the entity's scope or disconnects releases it. Events: `delegate`,
 * `undelegate`, `authGranted (entity, user)`, `authDenied (entity, user)`, `authReset (entity)`.
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
  private readonly messages: MessageDispatch<C, User>;
  private messagesOut = 0;
  private worldCounters = { framesIn: 0, framesDropped: 0, fatalErrors: 0 };
  /** World send counters of users that left (so totals survive them). */
  private retired = { framesOut: 0, bytesOut: 0, withheld: 0, refusedWrites: 0, migrations: 0 };
  private readonly worldPipes = new Map<User, UserWorldPipe>();
  /** The user whose world frame is being applied: its removal from the world waits for that. */
  private applying: User | null = null;
  private removeAfterApply = false;
  private updatesWired = false;
  private readonly maxViewRadius: number;
  private closed = false;
  /** Inside `step()`: an early proxied receive waits for its end. */
  private stepping = false;
  private receiveAfterStep = false;
  /** Target side: the carried entities a Restore re-created per user (despawned if the proxy cancels). */
  private readonly restoredCarried = new WeakMap<User, Entity[]>();
  /** The session callbacks, shared by the SessionHost and the proxy listener (backend mode). */
  private readonly sessionEvents: Pick<SessionHostOptions, 'onAccepted' | 'onClosed' | 'onControl'>;
  /** Players through trusted proxies (backend mode), once `listenProxies` was called. */
  private proxied?: ProxiedSessions;
  private tickets?: BackendTickets;
  /** Seamless migration hooks (backend mode): see {@link MigrationHooks}. */
  migration: MigrationHooks = {};
  private metricsInstance?: ServerMetrics;
  private readonly logger: Logger;
  /** Set by {@link drain}: new players are refused. */
  private drainingNow = false;
  /**
   * The replication engine (advanced use; the methods below cover the common cases). Keyed by
   * {@link User}: rooms, scopes and events name users directly.
   */
  readonly world: ServerWorld<User>;

  constructor(
    readonly protocol: Protocol<C>,
    readonly options: ServerOptions = {},
  ) {
    super();
    this.messages = new MessageDispatch<C, User>(
      protocol,
      (error, event) => this.onListenerError(error, event),
      (user, channel, def, value) => this.emit('message', user, channel, def, value),
    );
    const authenticator = resolveAuthenticator(options);
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.autoStep = options.autoStep ?? options.clock === undefined;
    const maxPlayers = options.maxPlayers ?? 64;
    const autoJoin = options.autoJoinWorld ?? { worldId: 0, clearWorld: true, fade: false };
    const interest = options.interest;
    this.maxViewRadius = interest?.maxRadius ?? Number.POSITIVE_INFINITY;
    this.world = new ServerWorld<User>({
      components: protocol.components,
      clock: this.clock,
      allowClientEntities: protocol.clientAuthoritativeEntities,
      position: interest && { component: interest.component, x: interest.x, y: interest.y, z: interest.z },
      connection: options.worldConnection,
    });
    this.forwardWorldEvents();
    this.sessionEvents = {
      onAccepted: (session) => {
        const user = new User(session);
        this.byId.set(user.id, user);
        this.bySession.set(session, user);
        session.pipe.onMessage = (channel, payload) => this.messages.deliver(user, channel, payload);
        session.pipe.onWorldFrame = (frame) => this.receiveWorldFrame(user, frame);
        const pipe = new UserWorldPipe(user);
        this.worldPipes.set(user, pipe);
        this.world.addUser(user, pipe);
        if (autoJoin) this.host.sendControl(session, { type: 'JoinWorld', ...autoJoin });
        const from = session instanceof ProxiedSession ? session.migratedFrom : undefined;
        if (from) {
          user.migratedFrom = from.source;
          this.runHook(() =>
            this.migration.restore?.(user, from.state, { from: from.source, phase: 'arrive', carried: [] }),
          );
        }
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
        if (this.applying === user) this.removeAfterApply = true;
        else this.leaveWorld(user);
        this.emit('disconnect', user, reason);
      },
      onControl: (session, packet) => {
        const user = this.bySession.get(session);
        if (!user) return;
        if (packet.type === 'ClientReady') {
          user.ready = true;
          this.emit('ready', user);
        } else if (packet.type === 'ViewRadius') {
          user.viewRadius = Math.min(packet.radius, this.maxViewRadius);
          if (this.world.hasUser(user)) this.world.setViewRadius(user, user.viewRadius);
          this.emit('viewRadius', user, user.viewRadius);
        } else if (packet.type === 'PlayerOptions') {
          user.playerOptions = packet.data;
          this.emit('playerOptions', user, packet.data);
        }
      },
    };
    this.host = new SessionHost({
      protocol,
      clock: this.clock,
      authenticator,
      linkFactory: options.linkFactory ?? defaultLinkFactory,
      serverInfo: () => ({ name: options.name ?? 'baton', motd: options.motd ?? '', maxPlayers }),
      worldSettings: () => options.worldSettings,
      currentTick: () => this.tick,
      maxPlayers,
      maxPendingHandshakes: options.maxPendingHandshakes,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      lingerMs: options.lingerMs,
      resumeWindowMs: options.resumeWindowMs,
      link: options.link,
      reassembly: options.reassembly,
      admit: (connect, address) =>
        this.drainingNow ? 'server draining' : (options.admit?.(connect, address) ?? true),
      ...this.sessionEvents,
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
      messagesIn: this.messages.messagesIn,
      messagesOut: this.messagesOut,
      malformedMessages: this.messages.malformedMessages,
      world: this.worldStats(),
    };
  }

  private worldStats(): ServerWorldStats {
    let entities = 0;
    for (const _ of this.world.entities()) entities++;
    const out: ServerWorldStats = { entities, ...this.worldCounters, ...this.retired };
    for (const pipe of this.worldPipes.values()) {
      out.framesOut += pipe.framesSent;
      out.bytesOut += pipe.bytesSent;
      out.withheld += pipe.withheld;
    }
    for (const user of this.world.userKeys()) {
      const s = this.world.connection(user)?.stats;
      if (!s) continue;
      out.refusedWrites += s.refusedWrites;
      out.migrations += s.migrations;
    }
    return out;
  }

  /** A user's world connection counters (frames, commands, resends…), while it is connected. */
  worldConnectionStats(user: User): WorldConnectionStats | undefined {
    const s = this.world.connection(user)?.stats;
    return s && { ...s };
  }

  // ---- entities, rooms, scope ----------------------------------------------------------------

  /**
   * Spawn a server-owned entity. It replicates to the users whose scope it is in: put it in a
   * room they share (`room.addEntity(e)`); include/exclude and the view radius refine that.
   */
  spawn(): Entity {
    return this.world.spawn();
  }

  /** An entity of the server world by id (server- or client-owned). */
  entity(id: GlobalEntity): Entity | undefined {
    return this.world.entity(id);
  }

  /** Every entity of the server world (server-owned, and client-owned ones the server knows). */
  entities(): IterableIterator<Entity> {
    return this.world.entities();
  }

  /** A room: users see the entities of the rooms they are in. Add {@link User}s and entities to it. */
  createRoom(): Room<User> {
    return this.world.createRoom();
  }

  /** Empty a room and retire it (its entities leave the scope of its users, unless another room holds them). */
  destroyRoom(room: Room<User>): void {
    this.world.destroyRoom(room);
  }

  /** Force an entity into a user's scope (they must still share a room). Ignored for a user who left. */
  include(user: User, entity: Entity): void {
    if (this.world.hasUser(user)) this.world.include(user, entity);
  }

  /** Keep an entity out of a user's scope. Ignored for a user who left. */
  exclude(user: User, entity: Entity): void {
    if (this.world.hasUser(user)) this.world.exclude(user, entity);
  }

  /** Undo include/exclude: rooms and the view radius decide again. */
  resetScope(user: User, entity: Entity): void {
    if (this.world.hasUser(user)) this.world.resetScope(user, entity);
  }

  /** Whether the entity is in the user's scope by the current rules (what the next step replicates). */
  inScope(user: User, entity: Entity): boolean {
    return this.world.inScope(user, entity);
  }

  /**
   * Centre of a user's interest area: an entity (follows its position, e.g. the player's
   * avatar) or a point. The radius comes from the client (`client.setViewRadius`) or
   * {@link setViewRadius}; both are needed, plus the `interest` option, for the radius to filter.
   */
  setViewCenter(user: User, center: ViewCenter | null): void {
    if (this.world.hasUser(user)) this.world.setViewCenter(user, center);
  }

  /** Override a user's view radius from the server (null: no radius filtering). The client's next ViewRadius replaces it. */
  setViewRadius(user: User, radius: number | null): void {
    if (!this.world.hasUser(user)) return;
    user.viewRadius = radius === null ? undefined : Math.min(radius, this.maxViewRadius);
    this.world.setViewRadius(user, user.viewRadius ?? null);
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
    return this.messages.on(def, handler);
  }

  /** Disconnect a user with a reason (the client sees it). */
  disconnect(user: User, reason: string): void {
    if (!user.connected) return;
    if (user.session instanceof ProxiedSession) this.proxied?.close(user.session, reason, true);
    else this.host.close(user.session, reason, true);
  }

  /** Send the user to another server (ClientReferral), then disconnect it. */
  refer(user: User, host: string, port: number, data: Uint8Array = new Uint8Array(0)): void {
    if (!user.connected) return;
    this.host.sendControl(user.session, { type: 'ClientReferral', host, port, data });
    this.disconnect(user, `referred to ${host}:${port}`);
  }

  // ---- backend mode: players through trusted proxies ----------------------------------------

  /**
   * Take players from trusted proxies over a stream listener (mutual TLS:
   * `tlsStreamServer({ cert, key, ca, port: 0 })`), alongside or instead of `listen()`. Trust
   * comes from the certificate (chained to `ca`; optionally `allowedProxies` CNs); each player
   * becomes an ordinary {@link User} with the identity the proxy vouches for.
   * `backendId`/`tickets` enable {@link issueMigrationTicket}/{@link verifyMigrationTicket}.
   */
  async listenProxies(
    transport: StreamServerTransport,
    options: ProxyListenOptions & { backendId?: string; tickets?: BackendTicketOptions } = {},
  ): Promise<StreamAddress> {
    if (!this.proxied) {
      const o = this.options;
      const maxPlayers = o.maxPlayers ?? 64;
      this.proxied = new ProxiedSessions(
        {
          protocol: this.protocol,
          clock: this.clock,
          allocateId: () => this.host.allocateId(),
          serverInfo: () => ({ name: o.name ?? 'baton', motd: o.motd ?? '', maxPlayers }),
          worldSettings: () => o.worldSettings,
          currentTick: () => this.tick,
          admit: (connect, address) =>
            this.drainingNow
              ? 'server draining'
              : this.byId.size >= maxPlayers
                ? 'server full'
                : (o.admit?.(connect, address) ?? true),
          onAccepted: (s) => this.sessionEvents.onAccepted(s),
          onClosed: (s, reason) => this.sessionEvents.onClosed(s, reason, true),
          onControl: (s, p) => this.sessionEvents.onControl(s, p),
          migration: this.migrationHost(),
          receiveSoon: () => this.receiveEarly(),
        },
        options,
      );
    }
    if (options.backendId && !this.tickets) {
      this.tickets = new BackendTickets(options.backendId, this.protocol.hash, options.tickets ?? {});
    }
    const address = await this.proxied.listen(transport);
    if (this.autoStep) this.start();
    return address;
  }

  private migrationHost(): ProxiedMigrationHost {
    const empty = new Uint8Array(0);
    return {
      issueTicket: (s, target) => {
        const user = this.bySession.get(s);
        if (!user) return { ok: false, reason: 'no such user' };
        if (!this.tickets?.canIssue) return { ok: false, reason: 'this backend has no ticket signing key' };
        let verdict: true | string = true;
        let state: Uint8Array = empty;
        try {
          verdict = this.migration.decide?.(user, target) ?? true;
          if (verdict === true) state = this.migration.handOff?.(user, 'ticket') ?? empty;
        } catch (error) {
          this.onListenerError(error, 'migration.decide/handOff');
          return { ok: false, reason: 'migration hook failed' };
        }
        if (verdict !== true) return { ok: false, reason: verdict };
        return { ok: true, ticket: this.tickets.issue(user.uuid, s.proxySessionId, target, state), state };
      },
      verifyArrival: async (m, proxySessionId) => {
        if (!this.tickets?.canVerify) return 'this backend cannot verify tickets';
        const v = await this.tickets.verify(m.ticket, {
          uuid: m.open.connect.uuid,
          proxySessionId,
          state: m.state,
        });
        return v.ok ? true : `${v.reason}: ${v.detail}`;
      },
      handOff: (s) => {
        const user = this.bySession.get(s);
        if (!user) return { state: empty, carried: [] };
        let state: Uint8Array = empty;
        let carried: GlobalEntity[] = [];
        try {
          state = this.migration.handOff?.(user, 'final') ?? empty;
          carried = this.migration.carried?.(user) ?? this.defaultCarried(user);
        } catch (error) {
          this.onListenerError(error, 'migration.handOff');
        }
        // the carried entities' state, as this user's connection names them (world layer)
        let entities: Uint8Array = empty;
        if (carried.length > 0 && this.world.hasUser(user))
          entities = this.world.exportCarried(user, carried);
        this.emit('handedOff', user);
        return { state, carried, entities };
      },
      restore: (s, r) => {
        const user = this.bySession.get(s);
        if (!user) return undefined;
        // re-create the carried entities first: the hook sees them (by their ids here)
        let made: { pairs: { from: number; to: number }[]; entities: Entity[] } = { pairs: [], entities: [] };
        if (r.entities.length > 0 && this.world.hasUser(user)) {
          try {
            made = this.world.importCarried(user, r.entities);
          } catch (error) {
            this.onListenerError(error, 'migration: carried entities');
          }
        }
        if (made.entities.length > 0) this.restoredCarried.set(user, made.entities);
        const carried = made.entities.map((e) => e.id);
        this.runHook(() =>
          this.migration.restore?.(user, r.state, { from: r.source, phase: 'final', carried }),
        );
        this.emit('migrated', user, r.source);
        return made.pairs;
      },
      cancel: (s) => {
        // rolled back after Restore: the player stays on the source with these entities, so
        // their copies here go (before the user leaves, in the same tick)
        const user = this.bySession.get(s);
        const made = user && this.restoredCarried.get(user);
        if (!user || !made) return;
        this.restoredCarried.delete(user);
        for (const e of made) {
          try {
            e.despawn();
          } catch (error) {
            this.onListenerError(error, 'migration: cancelled carried entities');
          }
        }
      },
    };
  }

  /**
   * Proxied frames a migration waits on arrived (ProxiedSessions calls this from a microtask):
   * process the proxy queue now instead of at the next step — the step's receive phase, run
   * sooner, so never inside a step (then at its end). Only while the ticker runs: a stopped
   * server processes nothing, and one stepped by hand keeps its own schedule.
   */
  private receiveEarly(): void {
    if (this.closed || !this.ticker.isRunning || !this.proxied) return;
    if (this.stepping) {
      this.receiveAfterStep = true;
      return;
    }
    try {
      this.proxied.receive();
    } catch (error) {
      this.emit('error', error);
    }
  }

  /**
   * The default carried set (what carries over when `migration.carried` is not set): the
   * player's client-owned entities and the delegated ones it holds authority over.
   */
  defaultCarried(user: User): GlobalEntity[] {
    const out: GlobalEntity[] = [];
    for (const e of this.world.entities()) if (e.ownerKey === user || e.authHolder === user) out.push(e.id);
    return out;
  }

  private runHook(f: () => void): void {
    try {
      f();
    } catch (error) {
      this.onListenerError(error, 'migration.restore');
    }
  }

  /** Counters of the proxy listener (backend mode), if any. */
  get proxiedStats(): ProxiedStats | undefined {
    return (
      this.proxied && {
        ...this.proxied.stats,
        migration: { ...this.proxied.stats.migration },
        backpressure: { ...this.proxied.stats.backpressure },
        dropped: { ...this.proxied.stats.dropped },
      }
    );
  }

  /**
   * Ask the user's proxy to move it to backend `backendId`: seamlessly (no reconnect, no lost
   * input) where the pool allows it — every backend has a ticket key — else by referral (the
   * proxy logs why, counts it and reports it in `poolStatus`). False for a user that did not
   * come through a proxy.
   */
  transfer(user: User, backendId: string): boolean {
    if (!user.connected || !(user.session instanceof ProxiedSession)) return false;
    return this.proxied?.transfer(user.session, backendId) ?? false;
  }

  /**
   * Sign a migration ticket handing `user` (with `state`, the handed-off player state) to
   * `targetBackendId`. Needs `listenProxies(…, { backendId, tickets: { privateKey } })`.
   */
  issueMigrationTicket(user: User, targetBackendId: string, state: Uint8Array): Uint8Array {
    if (!this.tickets)
      throw new Error('issueMigrationTicket: no backendId/tickets configured (listenProxies options)');
    const sid = user.session instanceof ProxiedSession ? user.session.proxySessionId : 0;
    return this.tickets.issue(user.uuid, sid, targetBackendId, state);
  }

  /**
   * Verify a ticket presented for a player arriving here: signature, audience (this backend),
   * subject, proxy session, protocol, validity window, state digest, single use — each failure
   * with its own `reason`.
   */
  verifyMigrationTicket(ticket: Uint8Array, presented: TicketPresentation): Promise<TicketVerdict> {
    if (!this.tickets)
      throw new Error('verifyMigrationTicket: no backendId/tickets configured (listenProxies options)');
    return this.tickets.verify(ticket, presented);
  }

  /** Ticket counters of this backend (issued, accepted, rejected by reason), if configured. */
  get ticketStats(): { issued: number; accepted: number; rejected: Record<string, number> } | undefined {
    const t = this.tickets;
    return t && { issued: t.issued, accepted: t.accepted, rejected: { ...t.rejected } };
  }

  /** Send JoinWorld (world entry); the client answers ClientReady (`'ready'` event). */
  joinWorld(user: User, join: Omit<JoinWorldPacket, 'type'>): void {
    if (!user.connected) return;
    user.ready = false;
    this.host.sendControl(user.session, { type: 'JoinWorld', ...join });
  }

  /**
   * One tick: process received datagrams (handshakes, messages, world frames), deliver the
   * tick-buffered messages clients tagged with this tick, run timeouts, step the world
   * (replicate this tick's changes), flush every link. Deterministic with a ManualClock.
   */
  step(): void {
    if (this.closed) return;
    if (this.stepping) throw new Error('Server.step() called inside a step');
    this.stepping = true;
    const metrics = this.metricsInstance;
    const started = metrics ? performance.now() : 0;
    const ran = this.tick;
    try {
      this.host.receive();
      this.proxied?.receive();
      for (const user of [...this.byId.values()]) {
        if (!user.connected) continue;
        for (const m of user.session.pipe.takeTickMessages(this.tick)) {
          if (!user.connected) break;
          this.messages.deliver(user, m.channel, m.payload);
        }
      }
      // timeouts first, so no frames are built for users that just timed out
      this.host.maintain();
      this.proxied?.maintain();
      this.world.step();
      this.host.flush();
      this.tick++;
    } finally {
      this.stepping = false;
    }
    metrics?.observeTick(performance.now() - started);
    // migration frames that arrived during the step (a synchronous transport): now, not a tick later
    if (this.receiveAfterStep) {
      this.receiveAfterStep = false;
      this.receiveEarly();
    }
    this.emit('tick', ran);
  }

  /**
   * Prometheus metrics of this server (users, entities, messages, bytes and packets per hop,
   * drops by reason, migrations, tick duration and RTT histograms) in a registry of its own:
   * expose `server.metrics.registry` where you like (`await registry.metrics()`). Made on
   * first use; tick durations are recorded from then on.
   */
  get metrics(): ServerMetrics {
    this.metricsInstance ??= new ServerMetrics(this, { server: this.options.name ?? 'baton' });
    return this.metricsInstance;
  }

  /** Whether {@link drain} was called. */
  get draining(): boolean {
    return this.drainingNow;
  }

  /**
   * Leave without disconnecting anyone (a deploy, SIGTERM): new players are refused, every
   * player that came through a proxy is handed to it to move seamlessly to another backend of
   * its pool (the proxy marks this backend draining and moves a few at a time), and once they
   * are gone — or after `timeoutMs` — the server closes (players still here are disconnected
   * with `reason`). Resolves to how many of its proxied players left, and how many users were
   * still here at the end.
   */
  async drain(options: ServerDrainOptions = {}): Promise<{ moved: number; remaining: number }> {
    this.drainingNow = true;
    const proxied = () => this.users.filter((u) => u.session instanceof ProxiedSession);
    const start = proxied();
    this.logger.info({ server: this.options.name, players: start.length }, 'drain started');
    const ask = () => {
      for (const u of proxied()) if (!u.leaving) this.proxied?.transfer(u.session as ProxiedSession, '');
    };
    ask();
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    let askedAt = Date.now();
    // a migrated player leaves when the proxy closes its session here (after the overlap window);
    // one whose move rolled back (it stayed, nothing lost) is asked for again now and then
    while (Date.now() < deadline && !this.closed && proxied().length > 0) {
      await new Promise((r) => setTimeout(r, 25));
      if (Date.now() - askedAt >= DRAIN_REASK_MS) {
        askedAt = Date.now();
        ask();
      }
    }
    const remaining = this.users.length;
    const moved = start.filter((u) => !u.connected && u.disconnectReason !== undefined).length;
    this.logger.info({ server: this.options.name, moved, remaining }, 'drain finished');
    if (options.close ?? true) await this.close(options.reason ?? 'server draining');
    return { moved, remaining };
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
    this.metricsInstance?.close();
    await this.proxied?.shutdown(reason);
    await this.host.shutdown(reason);
  }

  private receiveWorldFrame(user: User, frame: Uint8Array): void {
    if (!user.connected || !this.world.hasUser(user)) return;
    this.worldCounters.framesIn++;
    let error: WorldError | null;
    this.applying = user;
    try {
      error = this.world.receiveFrame(user, frame);
    } catch (thrown) {
      // Not a WorldError: a bug below us met this frame. The user's world state can no longer
      // be trusted, so the user goes, with a reason, instead of the exception escaping.
      console.error('baton: internal error applying a world frame', thrown);
      error = new WorldError('not-allowed', 'world frame could not be applied', true);
    } finally {
      this.applying = null;
    }
    if (this.removeAfterApply) {
      // disconnected by a listener while its frame was being applied
      this.removeAfterApply = false;
      this.leaveWorld(user);
    }
    if (!error) return;
    if (error.fatal) this.worldCounters.fatalErrors++;
    else this.worldCounters.framesDropped++;
    this.emit('worldError', user, error);
    if (error.fatal) this.disconnect(user, clampUtf8(error.message, 200));
  }

  private leaveWorld(user: User): void {
    const pipe = this.worldPipes.get(user);
    if (pipe) {
      this.retired.framesOut += pipe.framesSent;
      this.retired.bytesOut += pipe.bytesSent;
      this.retired.withheld += pipe.withheld;
    }
    const s = this.world.connection(user)?.stats;
    if (s) {
      this.retired.refusedWrites += s.refusedWrites;
      this.retired.migrations += s.migrations;
    }
    this.worldPipes.delete(user);
    this.world.removeUser(user);
  }

  /** World events, with {@link User}s (the world is keyed by them). */
  private forwardWorldEvents(): void {
    const w = this.world;
    w.on('spawn', (e, user) => this.emit('spawn', e, user));
    w.on('despawn', (e, user) => this.emit('despawn', e, user));
    w.on('insert', (e, c) => this.emit('insert', e, c, writer(e)));
    w.on('remove', (e, c) => this.emit('remove', e, c, writer(e)));
    w.on('publish', (e, mode) => this.emit('publish', e, mode, e.ownerKey as User));
    w.on('unpublish', (e) => this.emit('unpublish', e, e.ownerKey as User));
    w.on('delegate', (e) => this.emit('delegate', e));
    w.on('undelegate', (e) => this.emit('undelegate', e));
    w.on('authGranted', (e, user) => this.emit('authGranted', e, user));
    w.on('authDenied', (e, user) => this.emit('authDenied', e, user));
    w.on('authReset', (e) => this.emit('authReset', e));
  }

  /** `update` is wired on first subscription: the world skips computing changed keys when nobody listens. */
  override on<K extends keyof ServerEvents<C>>(event: K, listener: ServerEvents<C>[K]): this {
    super.on(event, listener);
    if (event === 'update' && !this.updatesWired) {
      this.updatesWired = true;
      this.world.on('update', (e, c, keys) => this.emit('update', e, c, keys, writer(e)));
    }
    return this;
  }

  private sendEncoded(user: User, channel: number, bytes: Uint8Array): void {
    try {
      user.session.pipe.sendMessage(channel, bytes);
      this.messagesOut++;
    } catch (error) {
      // A peer that cannot keep up (reliable backlog over its bound) is cut off, not buffered forever.
      if ((error as Error)?.name === 'LinkBackpressureError') this.disconnect(user, 'send backlog exceeded');
      else throw error;
    }
  }
}

/**
 * The client whose write a world event reports: the owner of a client-owned entity, or the
 * authority holder of a delegated one (the world applies only the holder's writes).
 */
function writer(e: Entity): User {
  return (e.ownerKey ?? (e.authHolder === SERVER_HOLDER ? null : e.authHolder)) as User;
}
