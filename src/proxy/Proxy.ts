/**
 * The full proxy (DESIGN §5 "data path"): terminates each player's session with the session
 * layer (handshake, authentication, its datagram link), routes the player to a backend of its
 * pool over one mutually authenticated stream per backend, and relays — channel messages per
 * channel (on the same link channel mode towards the client), world frames opaque — never
 * decoding game state. It keeps each player's session data ({@link CapturedSession}) and moves
 * players between backends by referral (`transfer`) or seamlessly (`migrate`, DESIGN §5).
 */
import type { KeyObject } from 'node:crypto';
import { DecodeError } from '../serde/index.js';
import type { AuthDecision, Authenticator } from '../session/Authenticator.js';
import { defaultLinkFactory } from '../session/defaultLink.js';
import { PROXY_HELLO_FLAGS, withEpoch } from '../session/epoch.js';
import type { LinkFactory, SessionLinkOptions } from '../session/linkTypes.js';
import {
  BACKEND_CONTROL_TYPES,
  clampUtf8,
  decodeHandoff,
  decodeMuxControl,
  decodeMuxMessage,
  decodePlayerAccept,
  decodeReason,
  encodeMuxControl,
  encodeMuxMessage,
  encodePlayerOpen,
  encodeReason,
  encodeVarUint,
  MUX_MAX_BACKEND_ID_BYTES,
  MuxFrame,
  type PlayerOpen,
} from '../session/mux.js';
import type { Protocol } from '../session/Protocol.js';
import { RejectCode } from '../session/packets/kinds.js';
import type { ConnectPacket, SessionPacket } from '../session/packets/types.js';
import type { ServerSession } from '../session/ServerSession.js';
import { SessionHost, type SessionHostStats } from '../session/SessionHost.js';
import { type Ed25519KeyPair, generateEd25519KeyPair } from '../session/trust/ed25519.js';
import { MAX_BACKEND_ID_BYTES, type PublicKeyLookup } from '../session/trust/MigrationTicket.js';
import type { NonceStore } from '../session/trust/NonceStore.js';
import { InMemoryNonceStore } from '../session/trust/NonceStore.js';
import {
  createReferralClaims,
  decodeReferralToken,
  issueReferralToken,
  verifyReferralToken,
} from '../session/trust/ReferralToken.js';
import { type PemInput, tlsStreamClient } from '../transport/stream/TlsStream.js';
import type { StreamClientTransport } from '../transport/stream/types.js';
import type { DatagramServerTransport, TransportAddress } from '../transport/types.js';
import { type Clock, systemClock } from '../util/Clock.js';
import { type Logger, silentLogger } from '../util/Logger.js';
import { TypedEmitter } from '../util/TypedEmitter.js';
import { type AdminOptions, AdminServer } from './admin.js';
import { type BackendDownKind, BackendLink } from './BackendLink.js';
import {
  type CapturedSession,
  captureConnect,
  captureFromBackend,
  captureFromClient,
} from './CapturedSession.js';
import { type DrainOptions, type DrainResult, drainPlayers } from './drain.js';
import { ProxyMetrics, type ProxyMetricsOptions, serveMetrics } from './metrics.js';
import { type ClientItem, FreezeBuffer, GlobalBufferBudget } from './migration/FreezeBuffer.js';
import {
  DEFAULT_MIGRATION_TIMEOUTS,
  type MigrationHost,
  MigrationOrchestrator,
  type MigrationResult,
  type MigrationState,
  type MigrationTimeouts,
} from './migration/MigrationOrchestrator.js';
import { type MigrationStats, Samples } from './migration/MigrationStats.js';
import { type BackendRecord, canTakePlayers, type Registry } from './registry.js';
import type { TicketKeys } from './ticketKeys.js';
import { type TraceDirection, type TraceHop, TraceWriter } from './trace.js';

/** Seamless migration tuning of a {@link Proxy}. */
export interface ProxyMigrationOptions {
  /** Timeout of each state, ms (defaults: prepare 3000, auth 3000, sync 2000, freeze 1000, cutover 1000, resume 3000). */
  timeouts?: Partial<MigrationTimeouts>;
  /** How long the source keeps the frozen player after cutover before its session closes (default 500 ms). */
  overlapMs?: number;
  /** Client frames buffered per frozen player (default 4096). */
  maxBufferedFrames?: number;
  /** Client bytes buffered per frozen player (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Client bytes buffered over every frozen player of the proxy (default 64 MiB). */
  maxGlobalBufferedBytes?: number;
}

/** TLS material of the proxy's backend links (its client certificate and the CA backends chain to). */
export interface ProxyTlsOptions {
  cert: PemInput;
  key: PemInput;
  ca: PemInput;
  /** Name backend certificates must carry (default: the registry host). */
  servername?: string;
  /** Default 5000 ms. */
  handshakeTimeoutMs?: number;
}

/** Options of {@link Proxy}. */
export interface ProxyOptions {
  /** The protocol the proxy's players and backends speak (channel modes, hash). */
  protocol: Protocol;
  /** Client-facing listeners (UDP, WebSocket, memory). */
  listen: readonly DatagramServerTransport[];
  /** Backend links: mutual TLS. Required unless `dialBackend` is given. */
  tls?: ProxyTlsOptions;
  /** Backend registry (pools, addresses, load, health). */
  registry: Registry;
  /** Verifies players (the same Authenticator a direct server would use). */
  authenticator: Authenticator;
  /** Known pools; the first is where players go unless `choosePool` says otherwise (default ['default']). */
  pools?: readonly string[];
  /** Pool of an arriving player. */
  choosePool?: (connect: ConnectPacket) => string;
  /** This proxy's id: issuer of its referral tokens (default 'proxy'). */
  id?: string;
  /**
   * Referral tokens: the proxy signs them with `keyPair` (default: a fresh key pair, enough for
   * one proxy) and verifies with `publicKeyOf` (default: its own key for its own id, else the
   * registry's key of the issuing backend). `nonceStore` makes each token single-use.
   */
  referral?: {
    keyPair?: Ed25519KeyPair;
    publicKeyOf?: PublicKeyLookup;
    nonceStore?: NonceStore;
    ttlMs?: number;
  };
  /** Ticket public keys of backends: a pool is capable of seamless migration only if all its backends have one. */
  ticketKeys?: TicketKeys;
  /** Heartbeat interval on backend links (default 500 ms). */
  heartbeatIntervalMs?: number;
  /** A backend silent this long is marked down and its players referred or disconnected (default 3000 ms). */
  backendTimeoutMs?: number;
  /**
   * A backend this proxy found down (lost, unreachable, or refusing this proxy) is probed again
   * with backoff: from `initialMs` (default 500), doubling up to `maxMs` (default 30 000). When
   * it answers (stream accepted and a heartbeat answered) it is marked `up` again in the
   * registry. `false` turns probing off.
   */
  backendProbe?: { initialMs?: number; maxMs?: number } | false;
  /** How often links are maintained (heartbeats, timeouts, resends), ms (default 10). */
  maintainIntervalMs?: number;
  /** Open a backend link another way (tests: memory streams). Default: mutual TLS from `tls`. */
  dialBackend?: (backend: BackendRecord) => StreamClientTransport;
  /** Where referred clients reconnect (default: the address of the listener they came in on). */
  publicAddress?: (
    transport: TransportAddress['transport'],
    listener: TransportAddress,
  ) => { host: string; port: number };
  /** Record packets of chosen sessions to a JSON-lines file (see `readTrace`). */
  trace?: { file: string; filter?: (connect: ConnectPacket) => boolean };
  /** Update the registry's load of a backend as players come and go (default true). */
  reportLoad?: boolean;
  maxPlayers?: number;
  /** Most players still in the handshake (or closing) at once, beyond → "server busy"; separate from maxPlayers (default max(256, maxPlayers)). */
  maxPendingHandshakes?: number;
  handshakeTimeoutMs?: number;
  /**
   * Session resume window, ms: a player whose transport drops (a WebSocket closes, UDP falls
   * silent past the link timeout) keeps its session (and its backend session, which sees nothing) this long, for its client (with the same
   * `resumeWindowMs`) to come back from a new connection; queued traffic both ways is kept and
   * delivered once. Default 0: a drop ends the session.
   */
  resumeWindowMs?: number;
  link?: SessionLinkOptions;
  linkFactory?: LinkFactory;
  clock?: Clock;
  /** Log lines (default: to `logger` at info, else nowhere). */
  log?: (line: string) => void;
  /** A pino-compatible structured logger (default: silent). */
  logger?: Logger;
  /**
   * Prometheus metrics (`proxy.metrics`): served on `GET /metrics` of the admin endpoint, and
   * on a port of their own when `port` is given (0 picks one: `proxy.metricsPort`).
   */
  metrics?: ProxyMetricsOptions & { port?: number; host?: string };
  /** Seamless migration tuning (timeouts, overlap window, buffer bounds). */
  migration?: ProxyMigrationOptions;
  /**
   * A small admin HTTP endpoint on 127.0.0.1 (opt-in): `GET /sessions`, `GET /stats`,
   * `POST /sessions/:id/migrate?to=backendId`. Port 0 picks one (`proxy.adminPort`). Listing
   * and moving players need `Authorization: Bearer <token>` (generated and logged once when
   * `token` is not given); see `AdminOptions` and docs/SECURITY.md.
   */
  admin?: AdminOptions;
}

/** Where a proxied player is. */
export type ProxySessionState = 'routing' | 'opening' | 'active' | 'closed';

/** One player at the proxy. */
export interface ProxySessionInfo {
  readonly id: number;
  readonly uuid: string;
  readonly username: string;
  readonly address: string;
  readonly state: ProxySessionState;
  readonly backendId: string | undefined;
  readonly pool: string;
  readonly rttMs: number;
  readonly captured: CapturedSession;
  /** Where its migration is, when one runs. */
  readonly migration?: MigrationState;
}

/** Whether a pool can move players seamlessly, and why not. */
export interface PoolStatus {
  readonly pool: string;
  readonly backends: number;
  readonly healthy: number;
  readonly seamlessMigration: boolean;
  /** Why seamless migration is off (transfers then use referral). */
  readonly reason?: string;
}

/** Counters of the proxy. */
export interface ProxyStats {
  session: SessionHostStats;
  players: number;
  routed: number;
  relayed: {
    clientToBackendMessages: number;
    backendToClientMessages: number;
    clientToBackendWorldFrames: number;
    backendToClientWorldFrames: number;
    bytesClientToBackend: number;
    bytesBackendToClient: number;
  };
  backends: {
    connected: number;
    connectFailures: number;
    lost: number;
    /** Backends that refused this proxy (configuration errors; the registry is not touched). */
    refused: number;
    /** Backends found down that answered a probe again (marked `up` again). */
    recovered: number;
    /** Probes that failed (each one reschedules with a longer backoff). */
    probeFailures: number;
    /** Backends this proxy holds down now, with why, and when it probes them next. */
    unavailable: BackendUnavailable[];
  };
  /** Frames of a backend link this proxy gave up, or for a player it routes elsewhere (fencing). */
  fencedFrames: number;
  referrals: { sent: number; verified: number; rejected: number };
  disconnectsOnBackendLoss: number;
  /** Pools found without ticket keys (seamless migration disabled there). */
  poolsWithoutMigration: number;
  /** Seamless migration: counts, failures by reason, freeze window percentiles. */
  migration: MigrationStats;
  dropped: {
    /** Backend frames that failed to decode (the player's session ends with a reason). */
    malformedBackendFrames: number;
    /** Frames for a session the proxy does not hold on that link. */
    unknownSession: number;
    /** Frame types, control packets or channels not allowed in that direction. */
    unexpected: number;
    /** Sends the backend stream refused (closed or backed up). */
    refusedSends: number;
    /** World frames too large for the client's link. */
    oversizeWorldFrames: number;
    /** Client world frames of a world epoch before the last migration. */
    staleWorldFrames: number;
  };
}

/** A backend the proxy holds down (not routed to) until a probe finds it answering. */
export interface BackendUnavailable {
  readonly id: string;
  readonly kind: BackendDownKind;
  readonly reason: string;
  /** Probes failed since it went down. */
  readonly failedProbes: number;
  /** Ms until the next probe (0: under way or due). */
  readonly nextProbeInMs: number;
}

/** Events of {@link Proxy}. */
export type ProxyEvents = {
  /** A player was accepted and is relayed to `backendId`. */
  session: (info: ProxySessionInfo) => void;
  /** A player's session ended. */
  sessionClosed: (info: ProxySessionInfo, reason: string) => void;
  /** A handshake failed (authentication, no backend, backend refusal…). */
  reject: (address: string, reason: string) => void;
  /** A backend link went down (stream closed, heartbeat timeout, could not connect). */
  backendDown: (backendId: string, reason: string) => void;
  /**
   * A backend authenticated this proxy and refused it (e.g. its `allowedProxies`): a
   * configuration error. The backend is not marked down in the registry.
   */
  backendRefused: (backendId: string, reason: string) => void;
  /** A backend this proxy had found down answered a probe again (marked `up`). */
  backendRecovered: (backendId: string) => void;
  /** A player was sent elsewhere with a ClientReferral. */
  referral: (info: ProxySessionInfo, backendId: string, reason: string) => void;
  /** A pool cannot migrate seamlessly (reason). */
  migrationDisabled: (pool: string, reason: string) => void;
  /** A seamless migration finished (ok, or how it failed). */
  migration: (info: ProxySessionInfo, result: MigrationResult) => void;
  error: (error: unknown) => void;
};

interface Unavailable {
  kind: BackendDownKind;
  reason: string;
  failedProbes: number;
  nextProbeAt: number;
  probing: boolean;
}

interface Player {
  readonly id: number;
  readonly session: ServerSession;
  readonly captured: CapturedSession;
  pool: string;
  state: ProxySessionState;
  link?: BackendLink;
  traced: boolean;
  lastRttSent: number;
  /** World epoch on the client hop (world frames carry it; +1 per migration, mod 256). */
  epoch: number;
  /** Server → client messages relayed in the current epoch, per protocol channel (Migrate's barrier). */
  sentOn: number[];
  /** Added to the client's tick on tick-buffered messages (backends' ticks differ). */
  tickOffset: number;
  /** Set while frozen: the client's frames are held here. */
  frozen?: FreezeBuffer;
  /** From a cutover to the end of its overlap window: what the new backend was given (a move back replays it). */
  replayLog?: FreezeBuffer;
  /** The replay log crossed a bound (no move back for this migration). */
  replayLost?: boolean;
  migration?: MigrationOrchestrator;
  /** The last finished migration, while its overlap window runs. */
  lastMigration?: MigrationOrchestrator;
  swallowReady: number;
}

const U32_MAX_TICK = 0xffffffff;
/** Players a backend's own drain moves at once, per proxy. */
const DRAIN_CONCURRENCY = 8;

/**
 * ```ts
 * const proxy = new Proxy({ protocol, listen: [udpServer({ port: 7777 }), websocketServer({ port: 7778 })],
 *                           tls: { cert, key, ca }, registry, authenticator });
 * await proxy.start();
 * proxy.on('backendDown', (id, reason) => …);
 * await proxy.transfer(sessionId, 'backend-2');
 * await proxy.close();
 * ```
 */
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
export class Proxy extends TypedEmitter<ProxyEvents> {
  readonly id: string;
  private readonly host: SessionHost;
  private readonly clock: Clock;
  private readonly players = new Map<number, Player>();
  private readonly links = new Map<string, BackendLink>();
  /** Backends held down by this proxy, probed with backoff (see `backendProbe`). */
  private readonly unavailable = new Map<string, Unavailable>();
  /** Last fencing epoch per backend id (LinkHello). */
  private readonly linkEpochs = new Map<string, number>();
  private readonly addresses: TransportAddress[] = [];
  private readonly referralKeys: Ed25519KeyPair;
  private readonly referralNonces: NonceStore;
  private readonly pools: readonly string[];
  private readonly disabledPools = new Map<string, string>();
  private readonly trace?: TraceWriter;
  private readonly log: (line: string) => void;
  private timer?: ReturnType<typeof setInterval>;
  private readonly bufferBudget: GlobalBufferBudget;
  private readonly freezeSamples = new Samples();
  private readonly totalSamples = new Samples();
  private readonly migrationCounters = {
    started: 0,
    completed: 0,
    rolledBack: 0,
    movedBack: 0,
    fallbacks: 0,
    referralTransfers: 0,
    failuresByReason: {} as Record<string, number>,
    bufferedFrames: 0,
  };
  private admin?: AdminServer;
  private readonly logger: Logger;
  private metricsInstance?: ProxyMetrics;
  private metricsServer?: { port: number; close(): Promise<void> };
  /** Backends being drained (a drain asked twice runs once). */
  private readonly draining = new Map<string, Promise<DrainResult>>();
  /** Players backends asked to move anywhere (a backend's own drain), bounded like a drain. */
  private readonly drainQueue: Player[] = [];
  private drainWorkers = 0;
  private scheduled = false;
  /** Whether the protocol has tick-buffered channels (else the pump never looks for their input). */
  private readonly hasTickChannels: boolean;
  private started = false;
  private closed = false;
  private readonly counters = {
    routed: 0,
    relayed: {
      clientToBackendMessages: 0,
      backendToClientMessages: 0,
      clientToBackendWorldFrames: 0,
      backendToClientWorldFrames: 0,
      bytesClientToBackend: 0,
      bytesBackendToClient: 0,
    },
    backends: { connected: 0, connectFailures: 0, lost: 0, refused: 0, recovered: 0, probeFailures: 0 },
    fencedFrames: 0,
    referrals: { sent: 0, verified: 0, rejected: 0 },
    disconnectsOnBackendLoss: 0,
    dropped: {
      malformedBackendFrames: 0,
      unknownSession: 0,
      unexpected: 0,
      refusedSends: 0,
      oversizeWorldFrames: 0,
      staleWorldFrames: 0,
    },
  };

  constructor(readonly options: ProxyOptions) {
    super();
    if (!options.tls && !options.dialBackend) throw new Error('Proxy: `tls` (or `dialBackend`) is required');
    this.id = options.id ?? 'proxy';
    if (new TextEncoder().encode(this.id).length > MAX_BACKEND_ID_BYTES)
      throw new Error('Proxy: id too long');
    this.clock = options.clock ?? systemClock;
    this.pools = options.pools?.length ? options.pools : ['default'];
    this.hasTickChannels = options.protocol.channels.some((c) => c.mode === 'tick-buffered');
    this.referralKeys = options.referral?.keyPair ?? generateEd25519KeyPair();
    this.referralNonces = options.referral?.nonceStore ?? new InMemoryNonceStore();
    this.logger = options.logger ?? silentLogger;
    this.log = options.log ?? ((line) => this.logger.info({ proxy: this.id }, line));
    if (options.metrics || options.admin) this.metricsInstance = this.createMetrics();
    this.bufferBudget = new GlobalBufferBudget(options.migration?.maxGlobalBufferedBytes ?? 64 * 1024 * 1024);
    if (options.trace) this.trace = new TraceWriter(options.trace.file);
    this.host = new SessionHost({
      protocol: options.protocol,
      clock: this.clock,
      authenticator: options.authenticator,
      linkFactory: options.linkFactory ?? defaultLinkFactory,
      serverInfo: () => ({ name: this.id, motd: '', maxPlayers: options.maxPlayers ?? 4096 }),
      currentTick: () => 0,
      maxPlayers: options.maxPlayers ?? 4096,
      maxPendingHandshakes: options.maxPendingHandshakes ?? Math.max(256, options.maxPlayers ?? 4096),
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      resumeWindowMs: options.resumeWindowMs,
      link: options.link,
      onInbound: () => this.schedule(),
      deferAccept: (s, d) => this.route(s, d),
      onAccepted: (s) => this.accepted(s),
      onClosed: (s, reason, wasAccepted) => this.sessionEnded(s, reason, wasAccepted),
      onControl: (s, p) => this.clientControl(s, p),
    });
    options.registry.events.on('registered', (r) => {
      this.probeSoon(r.id);
      if (this.started) void this.checkPool(r.pool);
    });
    // a backend held down here that someone saw come back: probe it now, not at the end of the backoff
    options.registry.events.on('health', (r) => {
      if (r.health === 'up') this.probeSoon(r.id);
    });
  }

  /** Bind every listener, check the pools, start maintenance. Resolves to the bound addresses. */
  async start(): Promise<TransportAddress[]> {
    if (this.started) throw new Error('Proxy: already started');
    this.started = true;
    for (const t of this.options.listen) this.addresses.push(await this.host.listen(t));
    for (const pool of this.pools) await this.checkPool(pool);
    this.timer = setInterval(() => this.maintain(), this.options.maintainIntervalMs ?? 10);
    if (this.options.admin) {
      this.admin = new AdminServer(this, this.options.admin, {
        registry: this.options.registry,
        log: this.log,
        name: `proxy ${this.id}`,
      });
      await this.admin.listen();
    }
    const m = this.options.metrics;
    if (m?.port !== undefined)
      this.metricsServer = await serveMetrics(this.metrics, m.port, m.host ?? '127.0.0.1');
    return [...this.addresses];
  }

  /** Prometheus metrics of this proxy (its own registry; made on first use unless `metrics`/`admin` is set). */
  get metrics(): ProxyMetrics {
    this.metricsInstance ??= this.createMetrics();
    return this.metricsInstance;
  }

  /** The port of the metrics listener, when `metrics.port` is configured. */
  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  private createMetrics(): ProxyMetrics {
    const m = new ProxyMetrics(this, this.options.metrics);
    this.on('migration', (_info, result) => m.observeMigration(result));
    return m;
  }

  /**
   * Drain a backend (a deploy, a scale-in): it is marked `draining` in the registry (no new
   * players), every player on it is migrated seamlessly to the least loaded other backend of
   * its pool (`concurrency` at once, rolled-back moves retried), then it leaves the registry
   * and its link closes. Players see no disconnect. Resolves to how many moved and which
   * could not (they stay on the backend, which then stays registered as `draining`).
   */
  drain(backendId: string, options: DrainOptions = {}): Promise<DrainResult> {
    const running = this.draining.get(backendId);
    if (running) return running;
    const run = this.runDrain(backendId, options).finally(() => this.draining.delete(backendId));
    this.draining.set(backendId, run);
    return run;
  }

  private async runDrain(backendId: string, options: DrainOptions): Promise<DrainResult> {
    const registry = this.options.registry;
    if (!(await registry.get(backendId)))
      return { backendId, moved: 0, failed: [], removed: false, unknown: true };
    await registry.update(backendId, { health: 'draining' });
    this.logger.info({ proxy: this.id, backend: backendId }, 'drain started');
    const { moved, failed } = await drainPlayers(
      {
        playersOn: (id) => {
          const out: number[] = [];
          for (const p of this.players.values())
            if (p.state === 'active' && p.link?.id === id && !p.migration) out.push(p.id);
          return out;
        },
        pickTarget: (sessionId, from) => this.drainTarget(this.players.get(sessionId), from),
        migrate: (sessionId, target) => this.migrate(sessionId, target),
      },
      backendId,
      options,
    );
    let removed = false;
    if (failed.length === 0 && options.remove !== false) {
      removed = await registry.remove(backendId);
      const link = this.links.get(backendId);
      if (link && link.players.size === 0) {
        this.links.delete(backendId);
        await link.shutdown('backend drained');
      }
    }
    this.logger.info(
      { proxy: this.id, backend: backendId, moved, failed: failed.length, removed },
      'drain finished',
    );
    return { backendId, moved, failed, removed };
  }

  /** The least loaded healthy backend of `p`'s pool other than `from`. */
  private async drainTarget(p: Player | undefined, from: string): Promise<string | undefined> {
    if (!p) return undefined;
    try {
      const t = await this.options.registry.pickLeastLoaded(p.pool, { exclude: [from, ...this.downIds()] });
      return t?.id;
    } catch {
      return undefined;
    }
  }

  /**
   * A backend asked to move a player anywhere (an empty Transfer target: `server.drain()`): it
   * is draining. Queued and run a few at a time, as `drain` does.
   */
  private drainFromBackend(p: Player): void {
    const link = p.link;
    if (!link) return;
    if (!this.draining.has(link.id))
      void this.options.registry.update(link.id, { health: 'draining' }).catch(() => {});
    this.drainQueue.push(p);
    if (this.drainWorkers >= DRAIN_CONCURRENCY) return;
    this.drainWorkers++;
    void this.drainWorker().finally(() => {
      this.drainWorkers--;
    });
  }

  private async drainWorker(): Promise<void> {
    for (let q = this.drainQueue.shift(); q; q = this.drainQueue.shift()) {
      if (q.state !== 'active' || !q.link || q.migration) continue;
      const from = q.link.id;
      let result: MigrationResult | undefined;
      for (let attempt = 0; attempt < 3 && q.state === 'active' && q.link?.id === from; attempt++) {
        const target = await this.drainTarget(q, from);
        if (!target) break;
        result = await this.migrate(q.id, target);
        if (result.ok) break;
      }
      if (result && !result.ok)
        this.log(
          `proxy ${this.id}: session ${q.id} could not leave draining backend ${from}: ${result.reason}`,
        );
    }
  }

  /** The admin endpoint's port, when `admin` is configured. */
  get adminPort(): number | undefined {
    return this.admin?.port;
  }

  /** The bound client-facing addresses. */
  get listenAddresses(): TransportAddress[] {
    return [...this.addresses];
  }

  /** Players held (any state). */
  sessions(): ProxySessionInfo[] {
    return [...this.players.values()].map((p) => this.info(p));
  }

  /** One player. */
  sessionInfo(id: number): ProxySessionInfo | undefined {
    const p = this.players.get(id);
    return p && this.info(p);
  }

  /** The ticket public key of this proxy's referral tokens (give it to others that verify them). */
  get referralPublicKey(): KeyObject {
    return this.referralKeys.publicKey;
  }

  get stats(): ProxyStats {
    const c = this.counters;
    return {
      session: { ...this.host.stats, dropped: { ...this.host.stats.dropped } },
      players: this.players.size,
      routed: c.routed,
      relayed: { ...c.relayed },
      backends: { ...c.backends, unavailable: this.unavailableList() },
      fencedFrames: c.fencedFrames,
      referrals: { ...c.referrals },
      disconnectsOnBackendLoss: c.disconnectsOnBackendLoss,
      poolsWithoutMigration: this.disabledPools.size,
      migration: this.migrationStats(),
      dropped: { ...c.dropped },
    };
  }

  private migrationStats(): MigrationStats {
    const m = this.migrationCounters;
    let inFlight = 0;
    for (const p of this.players.values()) if (p.migration) inFlight++;
    return {
      ...m,
      failuresByReason: { ...m.failuresByReason },
      inFlight,
      freezeMs: this.freezeSamples.summary(),
      totalMs: this.totalSamples.summary(),
      peakBufferedBytes: this.bufferBudget.peakBytes,
    };
  }

  /**
   * Move a player to `backendId` seamlessly (DESIGN §5): no reconnect, no lost or reordered
   * input. Resolves to how it went — `ok`, or the state it failed in and why (before cutover
   * the player stays where it was with nothing lost; after cutover it is referred to a healthy
   * backend or disconnected with the reason). Never rejects.
   */
  async migrate(sessionId: number, backendId: string): Promise<MigrationResult> {
    const p = this.players.get(sessionId);
    const from = p?.link?.id ?? '';
    const refuse = (reason: string): MigrationResult => ({
      ok: false,
      from,
      to: backendId,
      state: 'Idle',
      reason,
      afterCutover: false,
    });
    if (p?.state !== 'active') return refuse('no such active session');
    if (p.migration) return refuse(`a migration is already under way (${p.migration.state})`);
    const status = await this.poolStatus(p.pool);
    if (!status.seamlessMigration)
      return refuse(`seamless migration disabled for pool '${p.pool}': ${status.reason}`);
    if (p.state !== 'active' || p.migration) return refuse('session changed meanwhile');
    // a previous migration's source must be gone before a new one may target it
    p.lastMigration?.finishCleanup();
    p.lastMigration = undefined;
    const m = new MigrationOrchestrator(
      this.migrationHost(p),
      backendId,
      this.options.migration?.overlapMs ?? 500,
    );
    p.migration = m;
    this.migrationCounters.started++;
    const result = await m.run();
    if (p.migration === m) p.migration = undefined;
    if (result.ok) p.lastMigration = m;
    this.emit('migration', this.info(p), result);
    return result;
  }

  private migrationHost(p: Player): MigrationHost {
    const timeouts = { ...DEFAULT_MIGRATION_TIMEOUTS, ...this.options.migration?.timeouts };
    const bounds = {
      maxFrames: this.options.migration?.maxBufferedFrames ?? 4096,
      maxBytes: this.options.migration?.maxBufferedBytes ?? 1024 * 1024,
    };
    return {
      timeouts,
      tickIntervalMs: this.options.protocol.tickIntervalMs,
      playerId: p.id,
      now: () => performance.now(),
      backendRecord: (id) => this.options.registry.get(id),
      linkTo: (record) => this.linkTo(record),
      sendTo: (link, type, payload, kind) => this.sendOn(link, p, type, payload, kind),
      playerOpen: () => this.playerOpenOf(p),
      get currentLink() {
        return p.link;
      },
      freeze: () => {
        p.frozen = new FreezeBuffer(bounds, this.bufferBudget);
        return p.frozen;
      },
      unfreeze: () => {
        const items = p.frozen?.release() ?? [];
        p.frozen = undefined;
        this.migrationCounters.bufferedFrames += items.length;
        return items;
      },
      forward: (item) => this.forward(p, item),
      forwardBackendTicks: (link, messages) => {
        for (const m of messages) {
          if (!link.send(MuxFrame.Message, p.id, encodeMuxMessage(m.channel, m.payload, m.tick)))
            this.counters.dropped.refusedSends++;
        }
      },
      relayToClient: (type, payload) => {
        try {
          this.handleBackendFrame(p, type, payload);
          this.host.touch(p.session);
        } catch {
          this.counters.dropped.malformedBackendFrames++;
        }
      },
      sendClientControl: (packet) => this.host.sendControl(p.session, packet),
      barrier: () => {
        const out: { linkChannel: number; count: number }[] = [];
        for (const c of this.options.protocol.channels) {
          if (c.direction === 'client-to-server') continue;
          if (c.mode !== 'ordered-reliable' && c.mode !== 'unordered-reliable') continue;
          out.push({ linkChannel: c.linkChannel, count: p.sentOn[c.index] });
        }
        return out;
      },
      commit: (to) => {
        const from = p.link;
        if (from) {
          from.players.delete(p.id);
          this.reportLoad(from);
        }
        p.link = to;
        to.players.add(p.id);
        this.reportLoad(to);
        p.epoch = (p.epoch + 1) & 0xff;
        // the barrier counts messages per epoch: the next Migrate lists the new epoch's
        p.sentOn.fill(0);
        return p.epoch;
      },
      detach: () => {
        const from = p.link;
        if (from) {
          from.players.delete(p.id);
          this.reportLoad(from);
        }
        p.link = undefined;
      },
      beginMoveBack: (m) => {
        p.migration = m;
        if (p.lastMigration === m) p.lastMigration = undefined;
      },
      startReplayLog: () => {
        p.replayLog?.release();
        p.replayLog = new FreezeBuffer(bounds, this.bufferBudget);
        p.replayLost = false;
      },
      takeReplayLog: () => {
        const log = p.replayLog;
        p.replayLog = undefined;
        if (!log) return p.replayLost ? undefined : [];
        return log.release();
      },
      shiftTicks: (delta) => {
        p.tickOffset += delta;
      },
      fallback: (reason) => {
        this.migrationCounters.fallbacks++;
        this.log(`proxy ${this.id}: session ${p.id}: ${reason}`);
        if (p.state === 'active') void this.rescue(p, p.link?.id ?? '', reason);
      },
      get clientReady() {
        return p.captured.ready;
      },
      get viewRadius() {
        return p.captured.viewRadius;
      },
      get playerOptions() {
        return p.captured.playerOptions;
      },
      swallowReady: (n) => {
        p.swallowReady += n;
      },
      trace: (kind, size, hop, dir) => this.traceOf(p, hop, dir, kind, size),
      finished: (result) => this.migrationFinished(p, result),
    };
  }

  private migrationFinished(p: Player, result: MigrationResult): void {
    const c = this.migrationCounters;
    if (result.ok) {
      c.completed++;
      this.freezeSamples.add(result.freezeMs);
      this.totalSamples.add(result.totalMs);
      return;
    }
    if (!result.afterCutover) c.rolledBack++;
    else if (result.movedBack) c.movedBack++;
    const key = result.reason.replace(/\d+/g, '#').slice(0, 120);
    c.failuresByReason[key] = (c.failuresByReason[key] ?? 0) + 1;
    this.log(
      `proxy ${this.id}: migration of session ${p.id} ${result.from} → ${result.to} failed in ${result.state}: ${result.reason}`,
    );
  }

  private playerOpenOf(p: Player): PlayerOpen {
    return {
      connect: p.captured.connect,
      clientAddress: p.captured.clientAddress,
      clientRttMs: p.session.rttMs,
      authResult: p.captured.authResult,
      referralVerified: p.captured.referralVerified,
      // one byte of each world frame on the client hop is the epoch
      maxWorldFrameBytes: p.session.pipe.maxWorldFrameBytes - 1,
    };
  }

  /**
   * Whether a pool can migrate players seamlessly: every backend of it needs a ticket key
   * (`ticketKeys`). When not, transfers use referral and the reason says why.
   */
  async poolStatus(pool: string): Promise<PoolStatus> {
    const records = await this.options.registry.list(pool);
    const healthy = records.filter((r) => r.health === 'up').length;
    let reason: string | undefined;
    if (!this.options.ticketKeys) reason = 'no ticket key store configured (ticketKeys)';
    else if (records.length === 0) reason = 'no backends';
    else {
      const missing: string[] = [];
      for (const r of records) if (!(await this.options.ticketKeys.publicKeyOf(r.id))) missing.push(r.id);
      if (missing.length > 0) reason = `backends without ticket keys: ${missing.join(', ')}`;
    }
    return { pool, backends: records.length, healthy, seamlessMigration: reason === undefined, reason };
  }

  /**
   * Move a player to `backendId` by referral: the client gets a ClientReferral to this proxy
   * with a signed token naming the backend, and reconnects there. Resolves true once sent, or
   * to the reason it could not be.
   */
  async transfer(sessionId: number, backendId: string, reason = 'transfer'): Promise<true | string> {
    const p = this.players.get(sessionId);
    if (p?.state !== 'active') return 'no such active session';
    if (p.migration) return `a migration is already under way (${p.migration.state})`;
    const target = await this.options.registry.get(backendId);
    if (!target) return `unknown backend '${backendId}'`;
    if (!canTakePlayers(target)) return `backend '${backendId}' is not taking players (${target.health})`;
    if (p.state !== 'active') return 'session ended meanwhile';
    this.refer(p, backendId, reason);
    return true;
  }

  /**
   * A backend asked to move a player (`server.transfer`): seamlessly where the pool allows it,
   * else by referral — and then the proxy says why (log, `stats.migration.referralTransfers`,
   * `poolStatus`).
   */
  private async backendTransfer(p: Player, target: string): Promise<void> {
    if (target === '') {
      this.drainFromBackend(p);
      return;
    }
    const status = await this.poolStatus(p.pool);
    if (status.seamlessMigration) {
      const r = await this.migrate(p.id, target);
      if (!r.ok)
        this.log(`proxy ${this.id}: transfer of session ${p.id} to '${target}' not done: ${r.reason}`);
      return;
    }
    this.migrationCounters.referralTransfers++;
    this.log(
      `proxy ${this.id}: transfer of session ${p.id} to '${target}' by referral: seamless migration disabled for pool '${p.pool}': ${status.reason}`,
    );
    const r = await this.transfer(p.id, target, 'transfer requested by backend');
    if (r !== true) this.log(`proxy ${this.id}: transfer of session ${p.id} to '${target}' refused: ${r}`);
  }

  /** Disconnect every player, close backend links and listeners. */
  async close(reason = 'proxy closing'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.admin?.close();
    await this.metricsServer?.close();
    this.metricsInstance?.close();
    for (const p of this.players.values()) {
      p.migration?.abort('proxy closing');
      p.lastMigration?.finishCleanup();
    }
    await this.host.shutdown(reason);
    await Promise.all([...this.links.values()].map((l) => l.shutdown(reason)));
    this.links.clear();
    await this.trace?.close();
  }

  // ---- routing ------------------------------------------------------------------------------

  private async route(s: ServerSession, d: AuthDecision & { ok: true }): Promise<void> {
    const captured = captureConnect(s.connect, s.address, d.serverAccessToken ?? new Uint8Array(0));
    const pool = this.options.choosePool?.(s.connect) ?? this.pools[0];
    const p: Player = {
      id: s.id,
      session: s,
      captured,
      pool,
      state: 'routing',
      traced: this.options.trace ? (this.options.trace.filter?.(s.connect) ?? true) : false,
      lastRttSent: 0,
      epoch: 0,
      sentOn: new Array(this.options.protocol.channels.length).fill(0),
      tickOffset: 0,
      swallowReady: 0,
    };
    this.players.set(p.id, p);
    this.traceOf(p, 'client', 'in', 'Connect', s.connectBytes.length);
    try {
      let target: BackendRecord | undefined;
      if (s.connect.referralData) {
        const verdict = await this.verifyReferral(s.connect);
        if (typeof verdict === 'string') {
          this.counters.referrals.rejected++;
          this.fail(p, RejectCode.AuthFailed, `referral rejected: ${verdict}`);
          return;
        }
        this.counters.referrals.verified++;
        captured.referralVerified = true;
        const named = await this.options.registry.get(verdict.target);
        if (named && canTakePlayers(named) && !this.unavailable.has(named.id)) {
          target = named;
          p.pool = named.pool;
        }
      }
      target ??= await this.options.registry.pickLeastLoaded(p.pool, { exclude: this.downIds() });
      if (p.state !== 'routing' || s.state !== 'authenticating') return this.forgetPlayer(p);
      if (!target) {
        this.fail(p, RejectCode.ServerBusy, `no backend available in pool '${p.pool}'`);
        return;
      }
      const link = this.linkTo(target);
      await link.ready;
      if (p.state !== 'routing' || s.state !== 'authenticating') return this.forgetPlayer(p);
      this.open(p, link);
    } catch (error) {
      this.fail(p, RejectCode.ServerBusy, `backend unavailable: ${(error as Error).message}`);
    }
  }

  private open(p: Player, link: BackendLink): void {
    p.link = link;
    p.state = 'opening';
    link.players.add(p.id);
    const payload = encodePlayerOpen(this.playerOpenOf(p));
    this.sendBackend(p, MuxFrame.PlayerOpen, payload, 'PlayerOpen');
    this.reportLoad(link);
  }

  private fail(p: Player, code: RejectCode, reason: string): void {
    this.forgetPlayer(p);
    this.host.reject(p.session, code, clampUtf8(reason, 200));
  }

  private forgetPlayer(p: Player): void {
    if (p.state === 'closed') return;
    p.state = 'closed';
    this.players.delete(p.id);
    p.migration?.abort('session ended');
    p.lastMigration?.finishCleanup();
    p.frozen?.release();
    p.frozen = undefined;
    p.replayLog?.release();
    p.replayLog = undefined;
    if (p.link) {
      p.link.players.delete(p.id);
      this.reportLoad(p.link);
    }
  }

  private async verifyReferral(connect: ConnectPacket): Promise<{ target: string } | string> {
    let target: string;
    try {
      target = decodeReferralToken(connect.referralData!).claims.targetBackendId;
    } catch (error) {
      return `malformed (${(error as DecodeError).message})`;
    }
    const own = this.id;
    const keys = this.referralKeys;
    const registry = this.options.registry;
    const lookup: PublicKeyLookup =
      this.options.referral?.publicKeyOf ??
      (async (issuer) => (issuer === own ? keys.publicKey : (await registry.get(issuer))?.publicKey));
    const verdict = await verifyReferralToken(connect.referralData!, {
      expectedTarget: target,
      expectedSubject: connect.uuid,
      publicKeyOf: lookup,
      nonceStore: this.referralNonces,
    });
    return verdict.ok ? { target } : `${verdict.reason}: ${verdict.detail}`;
  }

  private linkTo(record: BackendRecord): BackendLink {
    const existing = this.links.get(record.id);
    if (existing && existing.state !== 'down') return existing;
    const dial =
      this.options.dialBackend?.(record) ??
      tlsStreamClient({
        host: record.address.host,
        port: record.address.port,
        cert: this.options.tls!.cert,
        key: this.options.tls!.key,
        ca: this.options.tls!.ca,
        servername: this.options.tls!.servername,
        handshakeTimeoutMs: this.options.tls!.handshakeTimeoutMs ?? 5000,
      });
    const epoch = ((this.linkEpochs.get(record.id) ?? 0) + 1) >>> 0;
    this.linkEpochs.set(record.id, epoch);
    const link = new BackendLink(
      record,
      dial,
      this.clock,
      {
        heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 500,
        timeoutMs: this.options.backendTimeoutMs ?? 3000,
      },
      epoch,
      (l, type, sid, payload) => this.backendFrame(l, type, sid, payload),
      (l, reason, kind) => this.backendDown(l, reason, kind),
    );
    link.ready.then(
      () => {
        this.counters.backends.connected++;
      },
      () => {},
    );
    this.links.set(record.id, link);
    return link;
  }

  /** Backends not to route to: down links, and the ones this proxy holds down until a probe answers. */
  private downIds(): string[] {
    const ids = new Set(this.unavailable.keys());
    for (const l of this.links.values()) if (l.state === 'down') ids.add(l.id);
    return [...ids];
  }

  private probeSoon(id: string): void {
    const u = this.unavailable.get(id);
    if (u && !u.probing) u.nextProbeAt = 0;
  }

  private probeDelay(failedProbes: number): number {
    const o = this.options.backendProbe || {};
    const initial = Math.max(1, o.initialMs ?? 500);
    const max = Math.max(initial, o.maxMs ?? 30_000);
    return Math.min(max, initial * 2 ** Math.min(failedProbes, 30));
  }

  private unavailableList(): BackendUnavailable[] {
    const now = this.clock.now();
    return [...this.unavailable.entries()].map(([id, u]) => ({
      id,
      kind: u.kind,
      reason: u.reason,
      failedProbes: u.failedProbes,
      nextProbeInMs: u.probing ? 0 : Math.max(0, Math.round(u.nextProbeAt - now)),
    }));
  }

  /**
   * Probe the backends held down whose backoff ran out: a new link, accepted and answering a
   * heartbeat, brings the backend back (registry `up` if it was marked `down`). A failed probe
   * goes through `backendDown` again, which doubles the backoff.
   */
  private probeBackends(): void {
    if (this.options.backendProbe === false) return;
    const now = this.clock.now();
    for (const [id, u] of this.unavailable) {
      if (u.probing || now < u.nextProbeAt) continue;
      u.probing = true;
      void this.probe(id, u);
    }
  }

  private async probe(id: string, u: Unavailable): Promise<void> {
    let record: BackendRecord | undefined;
    try {
      record = await this.options.registry.get(id);
    } catch {
      record = undefined;
    }
    if (this.closed || this.unavailable.get(id) !== u) return;
    if (!record) {
      // removed from the registry: nothing to bring back
      this.unavailable.delete(id);
      return;
    }
    const existing = this.links.get(id);
    const link = existing && existing.state !== 'down' ? existing : this.linkTo(record);
    try {
      await link.answered;
    } catch {
      return; // backendDown rescheduled it
    }
    if (this.closed || this.unavailable.get(id) !== u || this.links.get(id) !== link) return;
    this.unavailable.delete(id);
    this.counters.backends.recovered++;
    this.log(`proxy ${this.id}: backend ${id} answers again (link epoch ${link.epoch})`);
    try {
      const now = await this.options.registry.get(id);
      if (now?.health === 'down') await this.options.registry.update(id, { health: 'up' });
    } catch {
      // the registry will be told by the next recovery or by the backend itself
    }
    this.emit('backendRecovered', id);
  }

  // ---- client side ----------------------------------------------------------------------------

  private accepted(s: ServerSession): void {
    const p = this.players.get(s.id);
    if (!p) return;
    p.state = 'active';
    this.counters.routed++;
    s.pipe.onMessage = (channel, payload) => this.relayClient(p, { kind: 'message', channel, payload });
    s.pipe.onWorldFrame = (frame) => {
      // world frames of another epoch belong to the world the client had before a migration
      if (frame.length === 0 || frame[0] !== p.epoch) {
        this.counters.dropped.staleWorldFrames++;
        return;
      }
      this.relayClient(p, { kind: 'world', frame: frame.slice(1) });
    };
    this.emit('session', this.info(p));
  }

  private clientControl(s: ServerSession, packet: SessionPacket): void {
    const p = this.players.get(s.id);
    if (p?.state !== 'active') return;
    this.traceOf(p, 'client', 'in', packet.type, 0);
    if (packet.type === 'MigrateAck') {
      p.migration?.onAck(packet.epoch);
      return;
    }
    if (packet.type === 'ClientReady' && p.swallowReady > 0) {
      // the proxy answered the new backend's JoinWorld for the client already (Sync)
      p.swallowReady--;
      p.captured.ready = true;
      return;
    }
    captureFromClient(p.captured, packet);
    this.relayClient(p, { kind: 'control', packet });
  }

  /** One client → backend item: buffered while frozen, else forwarded to the current backend. */
  private relayClient(p: Player, item: ClientItem): void {
    if (p.frozen) {
      const crossed = p.frozen.push(item);
      if (crossed) p.migration?.overflow(crossed);
      return;
    }
    this.forward(p, item);
  }

  private forward(p: Player, item: ClientItem): void {
    if (p.replayLog && p.replayLog.push(item) !== undefined) {
      // too much to replay: a failure of the new backend now ends in the referral fallback
      p.replayLog.release();
      p.replayLog = undefined;
      p.replayLost = true;
    }
    const r = this.counters.relayed;
    switch (item.kind) {
      case 'message': {
        r.clientToBackendMessages++;
        r.bytesClientToBackend += item.payload.length;
        const tick =
          item.tick === undefined ? undefined : Math.max(0, Math.min(U32_MAX_TICK, item.tick + p.tickOffset));
        // the trace kind is built only for traced players: this runs per message
        const kind = p.traced ? `message:${item.channel}` : 'message';
        this.sendBackend(p, MuxFrame.Message, encodeMuxMessage(item.channel, item.payload, tick), kind);
        return;
      }
      case 'world':
        r.clientToBackendWorldFrames++;
        r.bytesClientToBackend += item.frame.length;
        this.sendBackend(p, MuxFrame.World, item.frame, 'world');
        return;
      case 'control':
        this.sendBackend(p, MuxFrame.Control, encodeMuxControl(item.packet), item.packet.type);
        return;
    }
  }

  private sessionEnded(s: ServerSession, reason: string, wasAccepted: boolean): void {
    const p = this.players.get(s.id);
    if (p) {
      const info = this.info(p);
      if (p.link && (p.state === 'opening' || p.state === 'active')) {
        this.sendBackend(p, MuxFrame.PlayerClose, encodeReason(clampUtf8(reason, 200)), 'PlayerClose');
      }
      this.forgetPlayer(p);
      this.traceOf(p, 'client', 'out', `closed: ${reason}`, 0);
      if (wasAccepted) this.emit('sessionClosed', info, reason);
    }
    if (!wasAccepted) this.emit('reject', s.address, reason);
  }

  // ---- backend side ---------------------------------------------------------------------------

  private backendFrame(link: BackendLink, type: number, sessionId: number, payload: Uint8Array): void {
    if (this.links.get(link.id) !== link) {
      this.counters.fencedFrames++;
      return;
    }
    if (sessionId === 0) {
      try {
        if (!link.heartbeat?.handle(type, payload)) this.counters.dropped.unexpected++;
      } catch {
        this.counters.dropped.malformedBackendFrames++;
      }
      return;
    }
    const p = this.players.get(sessionId);
    if (p && p.state !== 'closed' && p.migration && p.migration.target === link && p.link !== link) {
      try {
        p.migration.onTargetFrame(type, payload);
      } catch (error) {
        this.counters.dropped.malformedBackendFrames++;
        p.migration.abort(`malformed frame from target: ${(error as Error).message}`);
      }
      return;
    }
    if (p && p.state !== 'closed' && p.link !== link) {
      // a link this proxy gave up, or a player it routes elsewhere now: never relayed
      this.counters.fencedFrames++;
      return;
    }
    if (!p || p.state === 'closed') {
      this.counters.dropped.unknownSession++;
      return;
    }
    try {
      if (p.migration?.onSourceFrame(type, payload)) return;
      this.handleBackendFrame(p, type, payload);
      this.host.touch(p.session); // whatever it queued leaves in the next pump's flush
    } catch (error) {
      if (!(error instanceof DecodeError)) {
        this.emit('error', error);
        return;
      }
      this.counters.dropped.malformedBackendFrames++;
      this.endPlayer(p, `malformed frame from backend: ${error.message}`);
    }
    this.schedule();
  }

  private handleBackendFrame(p: Player, type: number, payload: Uint8Array): void {
    const s = p.session;
    switch (type) {
      case MuxFrame.Message: {
        if (p.state !== 'active') break;
        const m = decodeMuxMessage(payload);
        const info = this.options.protocol.channelAt(m.channel);
        if (!info || info.direction === 'client-to-server' || m.tick !== undefined) {
          this.counters.dropped.unexpected++;
          return;
        }
        this.counters.relayed.backendToClientMessages++;
        this.counters.relayed.bytesBackendToClient += m.payload.length;
        if (p.traced) this.traceOf(p, 'backend', 'in', `message:${info.name}`, payload.length);
        // the epoch says which side of a swap the message is on (the client's MigrationGate)
        p.sentOn[m.channel]++;
        s.pipe.sendMessage(m.channel, withEpoch(p.epoch, m.payload));
        return;
      }
      case MuxFrame.World: {
        if (p.state !== 'active') break;
        if (payload.length + 1 > s.pipe.maxWorldFrameBytes) {
          this.counters.dropped.oversizeWorldFrames++;
          return;
        }
        this.counters.relayed.backendToClientWorldFrames++;
        this.counters.relayed.bytesBackendToClient += payload.length;
        this.traceOf(p, 'backend', 'in', 'world', payload.length);
        const framed = new Uint8Array(payload.length + 1);
        framed[0] = p.epoch;
        framed.set(payload, 1);
        s.pipe.sendWorldFrame(framed);
        return;
      }
      case MuxFrame.Handoff: {
        // a Handoff no migration waits for (it was rolled back): give its held input back
        const h = decodeHandoff(payload);
        for (const m of h.tickMessages)
          this.sendBackend(p, MuxFrame.Message, encodeMuxMessage(m.channel, m.payload, m.tick), 'message');
        return;
      }
      case MuxFrame.TicketReply:
        return;
      case MuxFrame.Control: {
        const packet = decodeMuxControl(payload);
        this.traceOf(p, 'backend', 'in', packet.type, payload.length);
        if (!BACKEND_CONTROL_TYPES.has(packet.type)) {
          this.counters.dropped.unexpected++;
          this.endPlayer(p, `unexpected ${packet.type} from backend`);
          return;
        }
        captureFromBackend(p.captured, packet, p.state === 'opening');
        if (p.state === 'opening') {
          if (packet.type === 'Disconnect') this.fail(p, RejectCode.Other, packet.reason);
          return; // setup is held until PlayerAccept
        }
        if (packet.type === 'Disconnect') {
          if (!this.moveBack(p, `backend ${p.link?.id} disconnected the player: ${packet.reason}`))
            this.endPlayer(p, packet.reason);
          return;
        }
        this.host.sendControl(s, packet);
        return;
      }
      case MuxFrame.PlayerAccept: {
        if (p.state !== 'opening') break;
        const tick = decodePlayerAccept(payload);
        p.captured.serverTick = tick;
        this.traceOf(p, 'backend', 'in', 'PlayerAccept', payload.length);
        for (const q of p.captured.setup) this.traceOf(p, 'client', 'out', q.type, 0);
        this.traceOf(p, 'client', 'out', 'ConnectAccept', 0);
        // ProxyHello first: this session can migrate, its world frames and messages carry an epoch byte
        const setup: SessionPacket[] = [
          { type: 'ProxyHello', flags: PROXY_HELLO_FLAGS, epoch: p.epoch },
          ...p.captured.setup,
        ];
        if (!this.host.completeAccept(s, setup, tick)) this.forgetPlayer(p);
        return;
      }
      case MuxFrame.PlayerClose: {
        const reason = decodeReason(payload) || 'closed by backend';
        this.traceOf(p, 'backend', 'in', 'PlayerClose', payload.length);
        if (p.state === 'opening') {
          p.link?.players.delete(p.id);
          p.link = undefined; // the backend already forgot the player
          this.fail(p, RejectCode.Other, reason);
        } else if (!this.moveBack(p, `backend ${p.link?.id} closed the player: ${reason}`))
          this.endPlayer(p, reason, false);
        return;
      }
      case MuxFrame.Transfer: {
        const target = decodeReason(payload, MUX_MAX_BACKEND_ID_BYTES);
        this.traceOf(p, 'backend', 'in', 'Transfer', payload.length);
        void this.backendTransfer(p, target);
        return;
      }
      default:
        break;
    }
    this.counters.dropped.unexpected++;
  }

  /**
   * The player's backend failed while the player had just been moved there (the migration's
   * Resume, or its overlap window): the orchestrator moves it back to the source seamlessly
   * when the source is still there. True when it does (the caller must not end or rescue it).
   */
  private moveBack(p: Player, reason: string): boolean {
    if (p.state !== 'active') return false;
    const m = p.migration?.state === 'Resume' ? p.migration : p.lastMigration;
    if (!m) return false;
    const r = m.targetFailure(reason);
    if (r === false) return false;
    if (r !== true) void this.movedBack(p, m, r);
    return true;
  }

  private async movedBack(p: Player, m: MigrationOrchestrator, r: Promise<MigrationResult>): Promise<void> {
    const result = await r;
    if (p.migration === m) p.migration = undefined;
    this.emit('migration', this.info(p), result);
  }

  /** End a player's session with a reason the client sees; `tellBackend`: also close it on the backend. */
  private endPlayer(p: Player, reason: string, tellBackend = true): void {
    if (!tellBackend && p.link) {
      p.link.players.delete(p.id);
      p.link = undefined;
    }
    this.host.close(p.session, clampUtf8(reason, 200), true);
    this.forgetPlayer(p);
  }

  private backendDown(link: BackendLink, reason: string, kind: BackendDownKind = 'lost'): void {
    if (this.links.get(link.id) !== link) return;
    const wasUp = link.state === 'up';
    if (link.state !== 'down') {
      link.state = 'down';
      link.downReason = reason;
    }
    this.links.delete(link.id);
    void link.shutdown(reason);
    const known = this.unavailable.get(link.id);
    this.unavailable.set(link.id, {
      kind,
      reason,
      failedProbes: known ? known.failedProbes + 1 : 0,
      nextProbeAt: this.clock.now() + this.probeDelay(known ? known.failedProbes + 1 : 0),
      probing: false,
    });
    if (known?.probing) {
      // a probe failed: the backend is still down, already said so
      this.counters.backends.probeFailures++;
    } else if (kind === 'refused') {
      this.counters.backends.refused++;
      this.log(`proxy ${this.id}: ${reason}`);
      this.emit('backendRefused', link.id, reason);
    } else {
      if (wasUp) this.counters.backends.lost++;
      else this.counters.backends.connectFailures++;
      this.log(`proxy ${this.id}: backend ${link.id} down: ${reason}`);
      void this.options.registry.update(link.id, { health: 'down' }).catch(() => {});
      this.emit('backendDown', link.id, reason);
    }
    for (const m of [...link.migrating.values()]) m.abort(`target backend ${link.id} lost: ${reason}`);
    link.migrating.clear();
    const affected = [...link.players].map((id) => this.players.get(id)).filter((p) => p !== undefined);
    link.players.clear();
    for (const p of affected) {
      // it had just moved here: back to where it came from, seamlessly, when that is still there
      if (this.moveBack(p, `backend ${link.id} lost: ${reason}`)) continue;
      // the source died mid-migration: abort it (the rescue below takes the player elsewhere)
      p.migration?.abort(`source backend ${link.id} lost: ${reason}`);
      p.link = undefined;
      if (p.state === 'opening') {
        this.fail(p, RejectCode.ServerBusy, `backend ${link.id} lost`);
        continue;
      }
      void this.rescue(p, link.id, reason);
    }
  }

  /** A player whose backend died: referral to a healthy backend of its pool, else a disconnect with the reason. */
  private async rescue(p: Player, deadId: string, reason: string): Promise<void> {
    let target: BackendRecord | undefined;
    try {
      target = await this.options.registry.pickLeastLoaded(p.pool, { exclude: [deadId, ...this.downIds()] });
    } catch {
      target = undefined;
    }
    if (p.state !== 'active') return;
    if (target) {
      this.refer(p, target.id, `backend ${deadId} lost`);
      return;
    }
    this.counters.disconnectsOnBackendLoss++;
    this.endPlayer(p, `backend ${deadId} lost (${reason}); no other backend in pool '${p.pool}'`, false);
  }

  private refer(p: Player, backendId: string, reason: string): void {
    const listener = this.addresses[p.session.socketIndex];
    const to = this.options.publicAddress?.(p.session.transport, listener) ?? {
      host: listener.host,
      port: listener.port,
    };
    const token = issueReferralToken(
      createReferralClaims({
        issuer: this.id,
        targetBackendId: backendId,
        subject: p.captured.connect.uuid,
        ttlMs: this.options.referral?.ttlMs,
      }),
      this.referralKeys.privateKey,
    );
    this.counters.referrals.sent++;
    this.emit('referral', this.info(p), backendId, reason);
    this.traceOf(p, 'client', 'out', 'ClientReferral', token.length);
    this.host.sendControl(p.session, { type: 'ClientReferral', host: to.host, port: to.port, data: token });
    this.endPlayer(p, clampUtf8(`referred to backend ${backendId}: ${reason}`, 200));
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  private sendBackend(p: Player, type: number, payload: Uint8Array, kind: string): void {
    if (p.link) this.sendOn(p.link, p, type, payload, kind);
  }

  /** Send one of `p`'s frames on `link`: a refusal is counted, a sent frame traced. */
  private sendOn(link: BackendLink, p: Player, type: number, payload: Uint8Array, kind: string): boolean {
    const ok = link.send(type, p.id, payload);
    if (!ok) this.counters.dropped.refusedSends++;
    else this.traceOf(p, 'backend', 'out', kind, payload.length);
    return ok;
  }

  private reportLoad(link: BackendLink): void {
    if (this.options.reportLoad === false || link.state === 'down') return;
    void this.options.registry.update(link.id, { load: link.players.size }).catch(() => {});
  }

  private async checkPool(pool: string): Promise<void> {
    const status = await this.poolStatus(pool);
    if (status.seamlessMigration) {
      this.disabledPools.delete(pool);
      return;
    }
    if (this.disabledPools.get(pool) === status.reason) return;
    this.disabledPools.set(pool, status.reason!);
    this.log(
      `proxy ${this.id}: seamless migration disabled for pool '${pool}': ${status.reason}; transfers use referral`,
    );
    this.emit('migrationDisabled', pool, status.reason!);
  }

  /** Process client input now (not at the next timer): the relay adds no tick of latency. */
  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /**
   * Relay what arrived on either side. Runs once per burst of input (`schedule`), so it touches
   * only the sessions that had input or output: `flushDirty`, not a flush of every session
   * (the periodic `maintain` does that, for resends and heartbeats).
   */
  private pump(all = false): void {
    if (this.closed) return;
    this.host.receive();
    // tick-buffered input is relayed with its tick at once: the backend holds it until that tick
    if (this.hasTickChannels) {
      for (const p of this.players.values()) {
        if (p.state !== 'active') continue;
        for (const m of p.session.pipe.takeTickMessages(U32_MAX_TICK)) {
          this.relayClient(p, { kind: 'message', channel: m.channel, payload: m.payload, tick: m.tick });
        }
      }
    }
    if (all) this.host.flush();
    else this.host.flushDirty();
  }

  private maintain(): void {
    if (this.closed) return;
    try {
      this.pump(true);
      this.host.maintain();
      for (const link of [...this.links.values()]) {
        const silent = link.maintain();
        if (silent) this.backendDown(link, silent);
      }
      this.probeBackends();
      for (const p of this.players.values()) {
        if (p.state !== 'active' || !p.link || p.frozen) continue;
        const rtt = Math.round(p.session.rttMs);
        if (Math.abs(rtt - p.lastRttSent) >= 2) {
          p.lastRttSent = rtt;
          this.sendBackend(p, MuxFrame.ClientRtt, encodeVarUint(rtt), 'ClientRtt');
        }
      }
      this.host.flush();
    } catch (error) {
      this.emit('error', error);
    }
  }

  private traceOf(p: Player, hop: TraceHop, dir: TraceDirection, kind: string, size: number): void {
    if (p.traced) this.trace?.write(p.id, hop, dir, kind, size);
  }

  private info(p: Player): ProxySessionInfo {
    return {
      id: p.id,
      uuid: p.captured.connect.uuid,
      username: p.captured.connect.username,
      address: p.captured.clientAddress,
      state: p.state,
      backendId: p.link?.id,
      pool: p.pool,
      rttMs: p.session.rttMs,
      captured: p.captured,
      migration: p.migration?.state,
    };
  }
}
