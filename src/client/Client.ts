import type { Infer, MessageDef, Schema } from '../serde/index.js';
import {
  type AcceptInfo,
  ClientSession,
  type ClientSessionStats,
  type ServerProof,
} from '../session/ClientSession.js';
import { defaultLinkFactory } from '../session/defaultLink.js';
import { EPOCH_MESSAGES, EPOCH_WORLD_FRAMES } from '../session/epoch.js';
import type { LinkFactory, SessionLinkOptions } from '../session/linkTypes.js';
import { MessageDispatch } from '../session/MessageDispatch.js';
import type { Protocol } from '../session/Protocol.js';
import type {
  AuthGrantPacket,
  JoinWorldPacket,
  MigratePacket,
  ServerInfoPacket,
} from '../session/packets/types.js';
import { randomUuid } from '../session/packets/uuid.js';
import type { WorldFramePipe } from '../session/SessionPipe.js';
import { Ticker } from '../session/Ticker.js';
import type { DatagramClientTransport } from '../transport/types.js';
import { type Clock, systemClock } from '../util/Clock.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import { ClientWorld, type ClientWorldEvents } from '../world/ClientWorld.js';
import type { Entity } from '../world/Entity.js';
import { WorldError } from '../world/errors.js';
import type { GlobalEntity } from '../world/ids.js';
import type { WorldConnectionOptions } from '../world/WorldConnection.js';
import { DEFAULT_MIGRATION_GATE_BOUNDS, MigrationGate, type MigrationGateBounds } from './MigrationGate.js';

/** What the `migrated` event reports: the session moved to another backend without reconnecting. */
export interface MigratedInfo {
  /** The backend the player is on now. */
  readonly backendId: string;
  /** The client id the new backend gave us (SetClientId). */
  readonly clientId: number;
  /** The world epoch now in force. */
  readonly epoch: number;
  /** Entities of the old world that left (the new backend's arrive as `spawn`s). */
  readonly left: number;
  /**
   * Entities of the old backend that carried over: the same `Entity` objects, re-keyed to the
   * new backend's ids (no despawn/spawn). The client's own entities stay too (not counted).
   */
  readonly carried: number;
  /** The client tick at which the swap happened (all of it, in that one tick). */
  readonly tick: number;
}

/** Options of {@link Client}. */
export interface ClientOptions {
  /** Time source (default: real time). */
  clock?: Clock;
  /**
   * Run the built-in ticker at the protocol's tick rate from `connect()`. Default: true with
   * the real clock, false when a `clock` is given (tests then call `step()`).
   */
  autoStep?: boolean;
  /** Link implementation; must match the server's (tests). */
  linkFactory?: LinkFactory;
  /** Link tuning; MTU and message bounds must match the server's. */
  link?: SessionLinkOptions;
  /** Whole handshake deadline (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** Connect resend interval until the server answers (default 250 ms). */
  connectRetryMs?: number;
  /** Check the server's answer to our grant (mutual auth). `true` accepts; a string fails the connect. */
  verifyServer?: (proof: ServerProof) => true | string;
  /** Turn the server's grant into our access token (default: echo it). */
  redeemGrant?: (grant: AuthGrantPacket) => Uint8Array;
  /** Answer JoinWorld with ClientReady at once (default true). */
  autoReady?: boolean;
  /** Extra ticks the client runs ahead of its server-tick estimate for tick-buffered input (default 2). */
  tickLeadTicks?: number;
  /** World sending tuning (bytes per step, resend floor). */
  worldConnection?: WorldConnectionOptions;
  /**
   * Follow referrals: on `ClientReferral` the client reconnects to the given host/port over the
   * transport this returns, presenting the referral data in `Connect.referralData` (same uuid,
   * username and token). Events: `referral`, `disconnect`, `reconnect`, then `connect` (or
   * `reconnectFailed`). Without it, `referral` is only reported.
   */
  followReferrals?: (to: { host: string; port: number }) => DatagramClientTransport;
  /**
   * Session resume window, ms: when the connection drops, reconnect through the same transport
   * factory and continue the same session (same user, same entities, nothing lost either way)
   * if the server (or proxy) keeps it that long (its `resumeWindowMs`). Events: `resuming`,
   * then `resumed` (or `disconnect`). Default 0: a drop ends the session.
   */
  resumeWindowMs?: number;
  /**
   * Bounds of the seamless-migration barrier on a proxied session (defaults: 4 pending
   * Migrates, 4096 held messages, 4 MiB held). Beyond them the client disconnects with the reason.
   */
  migrationGate?: Partial<MigrationGateBounds>;
}

/** What `connect()` takes besides the transport. */
export interface ConnectOptions {
  /** Canonical UUID; default: a random v4. */
  uuid?: string;
  username: string;
  identityToken?: Uint8Array;
  referralData?: Uint8Array;
  clientType?: string;
  language?: string;
}

/**
 * Events of {@link Client}: the session's own, plus every world event of {@link ClientWorldEvents}
 * (spawn, despawn, insert, remove, update with changed keys, publish/unpublish, delegate/undelegate,
 * authGranted/authDenied/authReset), forwarded from the current world, so they survive a migration.
 */
export type ClientEvents<C extends string> = ClientWorldEvents & {
  connect: (info: AcceptInfo) => void;
  /** The session ended: the server's reason, 'timed out', 'client closed', … */
  disconnect: (reason: string) => void;
  message: (channel: C, def: MessageDef<any>, value: unknown) => void;
  joinWorld: (join: Omit<JoinWorldPacket, 'type'>) => void;
  /**
   * A reconnect after a referral starts (`followReferrals`); `connect` follows once accepted.
   * The world of the old server is dropped (its entities are not despawned one by one).
   */
  reconnect: (to: { host: string; port: number }) => void;
  /** A reconnect after a referral failed; the client stays disconnected. */
  reconnectFailed: (error: unknown) => void;
  /** The server sends us elsewhere (a disconnect follows; with `followReferrals`, a reconnect after it). */
  referral: (to: { host: string; port: number; data: Uint8Array }) => void;
  serverInfo: (info: Omit<ServerInfoPacket, 'type'>) => void;
  worldSettings: (data: Uint8Array) => void;
  error: (error: unknown) => void;
  /** A world frame from the server was refused; a fatal one ends the session with its message. */
  worldError: (error: WorldError) => void;
  /**
   * The proxy moved this session to another backend seamlessly (no disconnect, no reconnect):
   * the old world left and the new backend's setup took effect in one tick.
   */
  migrated: (info: MigratedInfo) => void;
  /** The connection dropped; the client is reconnecting to resume the session (`resumeWindowMs`). */
  resuming: (reason: string) => void;
  /** The session continues on a new connection: nothing was lost. */
  resumed: () => void;
};

/** Counters of the client. */
export interface ClientStats extends ClientSessionStats {
  messagesIn: number;
  messagesOut: number;
  malformedMessages: number;
  world: ClientWorldStats;
}

/** Replication counters of the client. */
export interface ClientWorldStats {
  /** Entities in the client world (replicated from the server, and this client's own). */
  entities: number;
  framesIn: number;
  /** Refused with a non-fatal {@link WorldError} (malformed): counted and dropped. */
  framesDropped: number;
  /** Fatal world errors (the session was ended). */
  fatalErrors: number;
  framesOut: number;
  bytesOut: number;
}

/**
 * The client API (browser-safe): connects over any datagram transport, runs the session
 * handshake, exchanges typed messages on the protocol's channels, and mirrors the entities the
 * server replicates to it (plus, when the protocol allows, entities it owns).
 *
 * ```ts
 * const client = new Client(protocol);
 * client.on('spawn', (entity) => …);
 * client.on('update', (entity, component, changedKeys) => …);
 * await client.connect(udpClient(addr), { username: 'ann', identityToken });
 * client.send('chat', Chat, { text: 'hi' });
 * ```
 */
export class Client<C extends string = string> extends TypedEmitter<ClientEvents<C>> {
  /**
   * The client tick: seeded at accept to the server tick plus the round trip plus a lead, so
   * tick-buffered input arrives before the server runs that tick; incremented by each `step()`.
   */
  tick = 0;
  /** Client id from SetClientId, once connected. */
  id?: number;
  serverInfo?: Omit<ServerInfoPacket, 'type'>;
  worldSettings?: Uint8Array;
  private session: ClientSession;
  /** What the last `connect()` presented (uuid resolved), for reconnects after a referral. */
  private identity?: ConnectOptions & { uuid: string };
  private pendingReferral?: { host: string; port: number; data: Uint8Array };
  private readonly clock: Clock;
  private readonly ticker: Ticker;
  private readonly autoStep: boolean;
  private readonly messages: MessageDispatch<C, undefined>;
  private messagesOut = 0;
  private worldCounters = { framesIn: 0, framesDropped: 0, fatalErrors: 0 };
  private clientWorld?: ClientWorld;
  /** Cross-channel barrier of seamless migrations (proxied sessions). */
  private gate?: MigrationGate;
  /** World frames carry an epoch byte (a proxy announced migration support). */
  private epochs = false;
  private epoch = 0;
  /** Backend this session is on, when known (after a migration). */
  backendId?: string;
  /**
   * Seamless migrations this client went through; world frames and messages of an epoch it
   * had already left, dropped (unreliable and sequenced ones only: see docs/design/migration.md).
   */
  readonly migration = { count: 0, staleWorldFrames: 0, staleMessages: 0 };
  private updatesWired = false;
  private viewRadius?: number;

  constructor(
    readonly protocol: Protocol<C>,
    readonly options: ClientOptions = {},
  ) {
    super();
    this.messages = new MessageDispatch<C, undefined>(
      protocol,
      (error, event) => this.onListenerError(error, event),
      (_, channel, def, value) => this.emit('message', channel, def, value),
    );
    this.clock = options.clock ?? systemClock;
    this.autoStep = options.autoStep ?? options.clock === undefined;
    this.session = this.newSession();
    this.ticker = new Ticker(
      protocol.tickIntervalMs,
      () => this.step(),
      (e) => this.emit('error', e),
    );
  }

  private newSession(): ClientSession {
    const protocol = this.protocol;
    const options = this.options;
    return new ClientSession({
      protocol,
      clock: this.clock,
      linkFactory: options.linkFactory ?? defaultLinkFactory,
      link: options.link,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      connectRetryMs: options.connectRetryMs,
      verifyServer: options.verifyServer,
      redeemGrant: options.redeemGrant,
      resumeWindowMs: options.resumeWindowMs,
      onResuming: (reason) => this.emit('resuming', reason),
      onResumed: () => this.emit('resumed'),
      onAccepted: (info) => {
        this.id = info.clientId;
        this.serverInfo = info.serverInfo;
        this.worldSettings = info.worldSettings;
        const rttTicks = Math.ceil(this.session.rttMs / protocol.tickIntervalMs);
        this.tick = info.serverTick + rttTicks + (options.tickLeadTicks ?? 2);
        const pipe = this.session.pipe!;
        const hello = info.proxyHello;
        this.epochs = hello !== undefined && (hello.flags & EPOCH_WORLD_FRAMES) !== 0;
        this.epoch = hello?.epoch ?? 0;
        const deliver = (channel: number, payload: Uint8Array) =>
          this.messages.deliver(undefined, channel, payload);
        // only a proxy that tags its messages with their epoch can move this session
        if (hello !== undefined && (hello.flags & EPOCH_MESSAGES) !== 0) {
          const gate = new MigrationGate(
            protocol.channels.length,
            this.epoch,
            deliver,
            (m) => this.applyMigrate(m),
            (reason) => void this.close(reason),
            this.migration,
            { ...DEFAULT_MIGRATION_GATE_BOUNDS, ...options.migrationGate },
          );
          this.gate = gate;
          pipe.onMessage = (channel, payload) => gate.message(channel, payload);
        } else {
          this.gate = undefined;
          pipe.onMessage = deliver;
        }
        this.clientWorld = this.createWorld();
        pipe.onWorldFrame = (frame) => this.receiveEpochFrame(frame);
        if (this.viewRadius !== undefined)
          this.session.sendControl({ type: 'ViewRadius', radius: this.viewRadius });
        this.emit('connect', info);
      },
      onControl: (p) => {
        switch (p.type) {
          case 'JoinWorld':
            this.emit('joinWorld', { worldId: p.worldId, clearWorld: p.clearWorld, fade: p.fade });
            if (options.autoReady ?? true) this.ready();
            break;
          case 'ClientReferral':
            if (options.followReferrals) this.pendingReferral = { host: p.host, port: p.port, data: p.data };
            this.emit('referral', { host: p.host, port: p.port, data: p.data });
            break;
          case 'ServerInfo':
            this.serverInfo = { name: p.name, motd: p.motd, maxPlayers: p.maxPlayers };
            this.emit('serverInfo', this.serverInfo);
            break;
          case 'WorldSettings':
            this.worldSettings = p.data;
            this.emit('worldSettings', p.data);
            break;
          case 'Migrate':
            // a server (or a proxy that did not say so in ProxyHello) cannot move us
            if (this.gate) this.gate.migrate(p);
            else void this.close('protocol error: Migrate outside a proxied session');
            break;
        }
      },
      onClosed: (reason) => {
        this.ticker.stop();
        this.emit('disconnect', reason);
        const referral = this.pendingReferral;
        this.pendingReferral = undefined;
        if (referral && options.followReferrals) void this.followReferral(referral, options.followReferrals);
      },
    });
  }

  /** Reconnect where a referral points, presenting its data. */
  private async followReferral(
    to: { host: string; port: number; data: Uint8Array },
    dial: NonNullable<ClientOptions['followReferrals']>,
  ): Promise<void> {
    const identity = this.identity;
    if (!identity) return;
    this.session = this.newSession();
    this.clientWorld = undefined;
    this.emit('reconnect', { host: to.host, port: to.port });
    try {
      await this.connect(dial({ host: to.host, port: to.port }), { ...identity, referralData: to.data });
    } catch (error) {
      this.emit('reconnectFailed', error);
    }
  }

  /**
   * Connect and run the handshake. Resolves once the server accepts; rejects with a
   * `ConnectError` (`kind`: 'rejected' with the server's `reason`/`rejectCode`, 'timeout',
   * 'closed', 'server-auth-failed').
   */
  async connect(transport: DatagramClientTransport, options: ConnectOptions): Promise<AcceptInfo> {
    const uuid = options.uuid ?? randomUuid();
    this.identity = { ...options, uuid };
    const promise = this.session.connect(transport, {
      uuid,
      username: options.username,
      identityToken: options.identityToken,
      referralData: options.referralData,
      clientType: options.clientType,
      language: options.language,
    });
    if (this.autoStep) this.ticker.start();
    try {
      return await promise;
    } catch (error) {
      this.ticker.stop();
      throw error;
    }
  }

  get connected(): boolean {
    return this.session.state === 'connected';
  }

  /** Round-trip estimate, ms. */
  get rttMs(): number {
    return this.session.rttMs;
  }

  get stats(): ClientStats {
    const world = this.clientWorld;
    let entities = 0;
    if (world) for (const _ of world.entities()) entities++;
    const conn = world?.connection.stats;
    return {
      ...this.session.stats,
      dropped: { ...this.session.stats.dropped },
      messagesIn: this.messages.messagesIn,
      messagesOut: this.messagesOut,
      malformedMessages: this.messages.malformedMessages,
      world: {
        entities,
        ...this.worldCounters,
        framesOut: conn?.framesSent ?? 0,
        bytesOut: conn?.bytesSent ?? 0,
      },
    };
  }

  /** The replication engine, once connected (advanced use: wire ids, connection stats). */
  get world(): ClientWorld | undefined {
    return this.clientWorld;
  }

  /**
   * Entities in this client's world: those the server replicates to it (`entity.isLocal`
   * false, read-only here) and its own (`isLocal` true). Empty before connecting.
   */
  entities(): IterableIterator<Entity> {
    return this.clientWorld?.entities() ?? new Map<GlobalEntity, Entity>().values();
  }

  /** An entity by this client's local id (ids are per process, not the server's ids). */
  entity(id: GlobalEntity): Entity | undefined {
    return this.clientWorld?.entity(id);
  }

  /**
   * Spawn an entity this client owns. It replicates to the server ('private', the default)
   * and, after `entity.configureReplication('public')`, to the other clients in its scope.
   * Needs a protocol defined with `clientAuthoritativeEntities: true`, and a connection.
   */
  spawn(): Entity {
    if (!this.protocol.clientAuthoritativeEntities) {
      throw new Error(
        'client.spawn(): this protocol does not allow client-owned entities (define it with `clientAuthoritativeEntities: true`)',
      );
    }
    if (!this.clientWorld || !this.connected) throw new Error('client.spawn(): not connected');
    return this.clientWorld.spawn();
  }

  /** Send a message on a channel; tick-buffered channels are tagged with the current tick. */
  send<S extends Schema>(channel: C, def: MessageDef<S>, value: Infer<S>): void {
    const info = this.protocol.channel(channel);
    if (info.direction === 'server-to-client') throw new Error(`channel '${channel}' is server-to-client`);
    if (!this.connected) throw new Error('not connected');
    const bytes = this.protocol.encodeMessage(def, value);
    this.session.pipe!.sendMessage(info.index, bytes, info.mode === 'tick-buffered' ? this.tick : undefined);
    this.messagesOut++;
  }

  /** Typed handler for one message kind; returns an unsubscribe function. */
  onMessage<S extends Schema>(
    def: MessageDef<S>,
    handler: (value: Infer<S>, channel: C) => void,
  ): () => void {
    return this.messages.on(def, (_, value, channel) => handler(value, channel));
  }

  /**
   * Tell the server our interest radius: it replicates only entities whose position lies
   * within `radius` of our view centre (which the server sets, usually our avatar). Sent now
   * if connected, else as soon as the connection is accepted.
   */
  setViewRadius(radius: number): void {
    if (!Number.isFinite(radius) || radius < 0) throw new RangeError('view radius must be finite and ≥ 0');
    this.viewRadius = radius;
    if (this.connected) this.session.sendControl({ type: 'ViewRadius', radius });
  }

  /** Send opaque player options. */
  setPlayerOptions(data: Uint8Array): void {
    this.session.sendControl({ type: 'PlayerOptions', data });
  }

  /** Answer JoinWorld (automatic unless `autoReady: false`). */
  ready(): void {
    if (this.connected) this.session.sendControl({ type: 'ClientReady' });
  }

  /**
   * One tick: process received datagrams (messages, world frames), resend/timeouts, step the
   * world (send our entities' changes and world acks), flush. Deterministic with a ManualClock.
   */
  step(): void {
    const wasConnected = this.connected;
    this.session.step(this.stepWorld);
    if (wasConnected && this.connected) this.tick++;
  }

  private readonly stepWorld = (): void => {
    this.clientWorld?.step();
  };

  start(): void {
    this.ticker.start();
  }

  stop(): void {
    this.ticker.stop();
  }

  /** Leave: sends Disconnect with `reason`, closes the transport, emits 'disconnect'. */
  async close(reason = 'client closed'): Promise<void> {
    this.ticker.stop();
    await this.session.close(reason);
  }

  /** The world's pipe: the link pipe, behind an epoch byte on a session that can migrate. */
  private worldPipe(): WorldFramePipe {
    const inner = this.session.pipe!;
    if (!this.epochs) return inner;
    const epoch = this.epoch;
    return {
      get maxWorldFrameBytes() {
        return inner.maxWorldFrameBytes - 1;
      },
      get rttMs() {
        return inner.rttMs;
      },
      sendWorldFrame(frame: Uint8Array) {
        const out = new Uint8Array(frame.length + 1);
        out[0] = epoch;
        out.set(frame, 1);
        inner.sendWorldFrame(out);
      },
    };
  }

  private receiveEpochFrame(frame: Uint8Array): void {
    if (!this.epochs) {
      this.receiveWorldFrame(frame);
      return;
    }
    // a frame of another backend's world (late, or early) is not ours: the world layer resends
    if (frame.length === 0 || frame[0] !== this.epoch) {
      this.migration.staleWorldFrames++;
      return;
    }
    this.receiveWorldFrame(frame.subarray(1));
  }

  /**
   * Cutover (DESIGN §5): every earlier message of the old backend has been delivered. In this
   * one call: the old world leaves (its entities despawn, except the carried ones, which keep
   * their identity; our own are re-announced to the new backend), the new backend's setup takes effect
   * (SetClientId, ServerInfo, WorldSettings), a new world starts at the new epoch (the new
   * backend's entities arrive as `spawn`s), JoinWorld is answered, `migrated` fires.
   */
  private applyMigrate(m: MigratePacket): void {
    if (!this.connected) return;
    let join: Omit<JoinWorldPacket, 'type'> | undefined;
    for (const q of m.setup) {
      if (q.type === 'SetClientId') this.id = q.clientId;
      else if (q.type === 'ServerInfo')
        this.serverInfo = { name: q.name, motd: q.motd, maxPlayers: q.maxPlayers };
      else if (q.type === 'WorldSettings') this.worldSettings = q.data;
      else if (q.type === 'JoinWorld') join = { worldId: q.worldId, clearWorld: q.clearWorld, fade: q.fade };
    }
    this.epoch = m.epoch;
    // the world continues on B's connection: A's entities leave (despawn events), carried ones
    // keep their Entity (re-keyed A id → B id), our own are re-announced to B — one call
    let left = 0;
    let carried = 0;
    const world = this.clientWorld;
    if (world) {
      const swap = world.migrate(this.worldPipe(), m.carried);
      left = swap.left.length;
      carried = swap.carried.length;
    } else this.clientWorld = this.createWorld();
    this.backendId = m.backendId;
    this.migration.count++;
    this.session.sendControl({ type: 'MigrateAck', epoch: m.epoch });
    if (this.serverInfo) this.emit('serverInfo', this.serverInfo);
    this.emit('migrated', {
      backendId: m.backendId,
      clientId: this.id ?? 0,
      epoch: m.epoch,
      left,
      carried,
      tick: this.tick,
    });
    if (join) {
      this.emit('joinWorld', join);
      if (this.options.autoReady ?? true) this.ready();
    }
  }

  private createWorld(): ClientWorld {
    const world = new ClientWorld({
      components: this.protocol.components,
      clock: this.clock,
      pipe: this.worldPipe(),
      allowClientEntities: this.protocol.clientAuthoritativeEntities,
      connection: this.options.worldConnection,
    });
    world.onListenerError = (error, event) => this.onListenerError(error, event);
    world.on('spawn', (e) => this.emit('spawn', e));
    world.on('despawn', (e) => this.emit('despawn', e));
    world.on('insert', (e, c) => this.emit('insert', e, c));
    world.on('remove', (e, c) => this.emit('remove', e, c));
    world.on('publish', (e) => this.emit('publish', e));
    world.on('unpublish', (e) => this.emit('unpublish', e));
    world.on('delegate', (e) => this.emit('delegate', e));
    world.on('undelegate', (e) => this.emit('undelegate', e));
    world.on('authGranted', (e) => this.emit('authGranted', e));
    world.on('authDenied', (e) => this.emit('authDenied', e));
    world.on('authReset', (e) => this.emit('authReset', e));
    if (this.updatesWired) this.wireUpdates(world);
    return world;
  }

  /** `update` is wired on first subscription: the world skips computing changed keys when nobody listens. */
  override on<K extends keyof ClientEvents<C>>(event: K, listener: ClientEvents<C>[K]): this {
    super.on(event, listener);
    if (event === 'update' && !this.updatesWired) {
      this.updatesWired = true;
      if (this.clientWorld) this.wireUpdates(this.clientWorld);
    }
    return this;
  }

  private wireUpdates(world: ClientWorld): void {
    world.on('update', (e, c, keys) => this.emit('update', e, c, keys));
  }

  private receiveWorldFrame(frame: Uint8Array): void {
    const world = this.clientWorld;
    if (!world || !this.connected) return;
    this.worldCounters.framesIn++;
    let error: WorldError | null;
    try {
      error = world.receiveFrame(frame);
    } catch (thrown) {
      // a bug below us met this frame: end the session with a reason rather than throw
      console.error('baton: internal error applying a world frame', thrown);
      error = new WorldError('not-allowed', 'world frame could not be applied', true);
    }
    if (!error) return;
    if (error.fatal) this.worldCounters.fatalErrors++;
    else this.worldCounters.framesDropped++;
    this.emit('worldError', error);
    if (error.fatal) this.close(error.message.slice(0, 200)).catch(() => {});
  }
}
