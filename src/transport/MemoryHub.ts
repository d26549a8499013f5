/**
 * The in-memory datagram network: servers bind ports on a hub, clients connect to them, and
 * every datagram crosses a seeded link conditioner (latency, jitter, loss, duplication,
 * reordering) before it is delivered. Browser-safe (no `node:` imports).
 *
 * Time: with a `ManualClock` nothing moves until `advance(ms)` / `deliverDue()` is called, so
 * tests are exactly reproducible (same seed + same sends + same clock → identical deliveries).
 * With any other clock, deliveries run on real timers.
 */
import { type Clock, ManualClock, systemClock } from '../util/Clock.js';
import { SeededRandom } from '../util/SeededRandom.js';
import { DeliveryQueue } from './DeliveryQueue.js';
import {
  deriveSeed,
  type LinkConditionerConfig,
  type LinkConditions,
  type LinkDirection,
  planDelivery,
  resolveConditions,
} from './LinkConditioner.js';
import { createTransportStats } from './stats.js';
import type {
  DatagramClientSocket,
  DatagramClientTransport,
  DatagramServerSocket,
  DatagramServerTransport,
  PeerId,
  TransportAddress,
  TransportStats,
} from './types.js';

/** Options of a `MemoryHub`. */
export interface MemoryHubOptions {
  /** Time source. A `ManualClock` switches the hub to manual delivery (see `advance`). Default: system clock. */
  clock?: Clock;
  /** Force manual (true) or timer (false) delivery regardless of the clock type. */
  manual?: boolean;
  /** Seed of the link conditioner. Default 1. */
  seed?: number;
  /** Default conditions of every link (each link may override). Default: a perfect link. */
  conditioner?: LinkConditionerConfig;
  /** Largest datagram accepted by `send`. Default 65507 (UDP over IPv4 loopback). */
  maxDatagramSize?: number;
  /**
   * Behave like a connection-oriented transport (default true): closing a client reports
   * `onPeerClosed` on the server, and closing the server / `disconnectPeer` reports `onClosed`
   * on the client, after the datagrams already in flight on that direction. With `false` the
   * hub behaves like UDP: nobody is told, peers just fall silent.
   */
  reportClose?: boolean;
  /**
   * Receives errors thrown by `onDatagram` / `onPeerClosed` / `onClosed` handlers. Default:
   * in manual mode the first error is rethrown from `advance`/`deliverDue` after the batch
   * completes; in timer mode it is logged with `console.error`.
   */
  onError?: (error: unknown) => void;
  /** Guard against zero-latency livelock in manual mode. Default 1,000,000 deliveries per call. */
  maxDeliveriesPerCall?: number;
}

/** Options of one client link. */
export interface MemoryClientOptions {
  /** This link's conditions, layered over the hub default. */
  conditioner?: LinkConditionerConfig;
}

/** Traffic counters of the hub or of one link direction. */
export interface LinkCounters {
  /** Datagrams that entered the network (passed the sender's size check). */
  sent: number;
  /** Datagrams handed to a receiver's `onDatagram` (duplicates count once each). */
  delivered: number;
  /** Datagrams lost by the conditioner, a partition, or a receiver that was gone. */
  dropped: number;
  /** Extra copies made by the conditioner's duplication. */
  duplicated: number;
}

/** Directions a partition can cut. */
export type PartitionDirection = LinkDirection | 'both';

const DEFAULT_MAX_DATAGRAM = 65507;
const FIRST_AUTO_PORT = 49152;

interface DatagramEvent {
  readonly at: number;
  readonly seq: number;
  readonly kind: 'datagram';
  readonly link: MemoryLink;
  readonly direction: LinkDirection;
  readonly data: Uint8Array;
}

interface CloseEvent {
  readonly at: number;
  readonly seq: number;
  readonly kind: 'close';
  readonly link: MemoryLink;
  readonly direction: LinkDirection;
  readonly reason: string;
}

type HubEvent = DatagramEvent | CloseEvent;

const noop = () => {};

function zeroCounters(): LinkCounters {
  return { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };
}

// Zero-delay deliveries must still be asynchronous (a handler that answers must not recurse),
// yet not starve I/O like a microtask loop would: setImmediate where it exists, else a 0 timer.
const deferTask: (task: () => void) => void = (() => {
  const g = globalThis as { setImmediate?: (task: () => void) => unknown };
  if (typeof g.setImmediate === 'function') {
    const setImmediateFn = g.setImmediate;
    return (task: () => void) => {
      setImmediateFn(task);
    };
  }
  return (task: () => void) => {
    setTimeout(task, 0);
  };
})();

/**
 * One client ↔ server link on the hub, seen by tests: its conditions, partitions and
 * counters. The server knows the client by `id`.
 */
export class MemoryLink {
  /** The client's `PeerId` on the server ("mem#1", …). */
  readonly id: PeerId;
  /** Port of the server this link reaches. */
  readonly port: number;
  /** Per-direction traffic counters. */
  readonly counters: Readonly<Record<LinkDirection, Readonly<LinkCounters>>>;

  /** @internal */ readonly mutableCounters: Record<LinkDirection, LinkCounters>;
  /** @internal */ readonly rng: Record<LinkDirection, SeededRandom>;
  /** @internal */ conditions: Record<LinkDirection, LinkConditions>;
  /** @internal Latest due time scheduled per direction, so a close notice follows the data. */
  readonly lastAt: Record<LinkDirection, number> = { toServer: 0, toClient: 0 };
  /** @internal */ client: MemoryClientSocket | null = null;
  /** @internal */ server: MemoryServerSocket;
  /** @internal The client end still exists. */
  clientAttached = true;
  /** @internal The server still has this peer in its table. */
  serverAttached = true;

  private override: LinkConditionerConfig | undefined;
  private readonly cut: Record<LinkDirection, boolean> = { toServer: false, toClient: false };

  /** @internal */
  constructor(
    private readonly hub: MemoryHub,
    index: number,
    server: MemoryServerSocket,
    override: LinkConditionerConfig | undefined,
    seed: number,
  ) {
    this.id = `mem#${index + 1}`;
    this.port = server.address.port;
    this.server = server;
    this.override = override;
    this.rng = {
      toServer: new SeededRandom(deriveSeed(seed, index, 'toServer')),
      toClient: new SeededRandom(deriveSeed(seed, index, 'toClient')),
    };
    this.mutableCounters = { toServer: zeroCounters(), toClient: zeroCounters() };
    this.counters = this.mutableCounters;
    this.conditions = this.resolve();
  }

  /**
   * Replaces this link's own conditions (layered over the hub default); `undefined` returns
   * the link to the hub default. Applies to datagrams sent from now on.
   */
  setConditioner(config: LinkConditionerConfig | undefined): void {
    this.override = config;
    this.conditions = this.resolve();
  }

  /** The effective conditions of one direction (a copy). */
  conditionsOf(direction: LinkDirection): LinkConditions {
    return { ...this.conditions[direction] };
  }

  /**
   * Blackholes a direction (default both): datagrams sent on it, or still in flight on it
   * when they fall due, are dropped, and close notices are lost. Simulates a dead peer or a
   * cut cable.
   */
  partition(direction: PartitionDirection = 'both'): void {
    this.setCut(direction, true);
  }

  /** Undoes `partition` for a direction (default both). Nothing dropped meanwhile comes back. */
  heal(direction: PartitionDirection = 'both'): void {
    this.setCut(direction, false);
  }

  isPartitioned(direction: LinkDirection): boolean {
    return this.cut[direction];
  }

  /** True while both ends still hold the link. */
  get open(): boolean {
    return this.clientAttached && this.serverAttached;
  }

  /** @internal Re-reads the hub default after `MemoryHub.setConditioner`. */
  refresh(): void {
    this.conditions = this.resolve();
  }

  private resolve(): Record<LinkDirection, LinkConditions> {
    const base = this.hub.defaultConditioner;
    return {
      toServer: resolveConditions('toServer', base, this.override),
      toClient: resolveConditions('toClient', base, this.override),
    };
  }

  private setCut(direction: PartitionDirection, value: boolean): void {
    if (direction === 'both' || direction === 'toServer') this.cut.toServer = value;
    if (direction === 'both' || direction === 'toClient') this.cut.toClient = value;
  }
}

/** A bound server socket on the hub. */
export class MemoryServerSocket implements DatagramServerSocket {
  readonly address: TransportAddress;
  readonly maxDatagramSize: number;
  onDatagram: (peer: PeerId, data: Uint8Array) => void = noop;
  onPeerClosed: (peer: PeerId) => void = noop;
  readonly stats: TransportStats = createTransportStats();

  /** @internal */ readonly peers = new Map<PeerId, MemoryLink>();
  /** @internal */ isOpen = true;

  /** @internal */
  constructor(
    private readonly hub: MemoryHub,
    port: number,
    maxDatagramSize: number,
  ) {
    this.address = { transport: 'memory', host: 'memory', port };
    this.maxDatagramSize = maxDatagramSize;
  }

  send(peer: PeerId, data: Uint8Array): void {
    const link = this.peers.get(peer);
    if (!this.isOpen || !link) {
      this.stats.droppedUnroutable++;
      return;
    }
    if (data.byteLength > this.maxDatagramSize) {
      this.stats.droppedOversize++;
      return;
    }
    this.stats.datagramsSent++;
    this.stats.bytesSent += data.byteLength;
    this.hub._transmit(link, 'toClient', data);
  }

  /**
   * Forgets the peer and ends its link: the client's later datagrams are dropped, and (with
   * `reportClose`) the client gets `onClosed('disconnected by server')`. `onPeerClosed` is not
   * called for a disconnect the server asked for.
   */
  disconnectPeer(peer: PeerId): void {
    const link = this.peers.get(peer);
    if (!link) return;
    this.peers.delete(peer);
    link.serverAttached = false;
    this.hub._endFromServer(link, 'disconnected by server');
  }

  /** Releases the port at once; clients are told (with `reportClose`) after their in-flight data. */
  close(): Promise<void> {
    if (this.isOpen) {
      this.isOpen = false;
      const links = [...this.peers.values()];
      this.peers.clear();
      for (const link of links) {
        link.serverAttached = false;
        this.hub._endFromServer(link, 'server closed');
      }
      this.hub._unbind(this);
    }
    return Promise.resolve();
  }
}

/** A client socket on the hub, connected to one server port. */
export class MemoryClientSocket implements DatagramClientSocket {
  readonly maxDatagramSize: number;
  onDatagram: (data: Uint8Array) => void = noop;
  onClosed: (reason: string) => void = noop;
  readonly stats: TransportStats = createTransportStats();
  /** The link this socket sends on (conditions, partitions, counters). */
  readonly link: MemoryLink;
  /** @internal */ isOpen = true;

  /** @internal */
  constructor(
    private readonly hub: MemoryHub,
    link: MemoryLink,
    maxDatagramSize: number,
  ) {
    this.link = link;
    this.maxDatagramSize = maxDatagramSize;
  }

  /** This client's `PeerId` as the server sees it. */
  get peerId(): PeerId {
    return this.link.id;
  }

  send(data: Uint8Array): void {
    if (!this.isOpen) {
      this.stats.droppedUnroutable++;
      return;
    }
    if (data.byteLength > this.maxDatagramSize) {
      this.stats.droppedOversize++;
      return;
    }
    this.stats.datagramsSent++;
    this.stats.bytesSent += data.byteLength;
    this.hub._transmit(this.link, 'toServer', data);
  }

  /** Closes at once; the server hears of it (with `reportClose`) after the data in flight. */
  close(): Promise<void> {
    if (this.isOpen) {
      this.isOpen = false;
      this.link.clientAttached = false;
      this.hub._endFromClient(this.link);
    }
    return Promise.resolve();
  }
}

/** `hub.server(…)`: binds a port on the hub when `listen()` is called. */
export class MemoryServerTransport implements DatagramServerTransport {
  readonly kind = 'memory' as const;
  /** @internal */
  constructor(
    private readonly hub: MemoryHub,
    private readonly port: number,
  ) {}

  listen(): Promise<MemoryServerSocket> {
    return this.hub._bind(this.port);
  }
}

/** `hub.client(…)`: opens a new link to a hub server on each `connect()`. */
export class MemoryClientTransport implements DatagramClientTransport {
  readonly kind = 'memory' as const;
  /** @internal */
  constructor(
    private readonly hub: MemoryHub,
    private readonly port: number,
    private readonly options: MemoryClientOptions,
  ) {}

  connect(): Promise<MemoryClientSocket> {
    return this.hub._connect(this.port, this.options);
  }
}

/**
 * An in-memory datagram network. See the module comment for the time model.
 *
 * ```ts
 * const clock = new ManualClock();
 * const hub = new MemoryHub({ clock, seed: 7, conditioner: { latencyMs: 50, loss: 0.05 } });
 * const server = await hub.server({ port: 0 }).listen();
 * const client = await hub.client(server.address).connect();
 * client.send(bytes); hub.advance(50); // delivered to server.onDatagram
 * ```
 */
export class MemoryHub {
  readonly clock: Clock;
  /** True when deliveries happen only inside `advance` / `deliverDue`. */
  readonly manual: boolean;
  readonly maxDatagramSize: number;
  readonly reportClose: boolean;
  /** Hub-wide traffic counters (all links, both directions). */
  readonly counters: Readonly<LinkCounters>;

  /** @internal */ defaultConditioner: LinkConditionerConfig | undefined;

  private readonly seed: number;
  private readonly onError: ((error: unknown) => void) | undefined;
  private readonly maxDeliveriesPerCall: number;
  private readonly total: LinkCounters = zeroCounters();
  private readonly queue = new DeliveryQueue<HubEvent>();
  private readonly servers = new Map<number, MemoryServerSocket>();
  private readonly liveLinks = new Map<PeerId, MemoryLink>();
  private readonly clients = new Set<MemoryClientSocket>();
  private nextSeq = 0;
  private linkCount = 0;
  private nextAutoPort = FIRST_AUTO_PORT;
  private running = false;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private immediatePending = false;

  constructor(options: MemoryHubOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.manual = options.manual ?? this.clock instanceof ManualClock;
    this.seed = (options.seed ?? 1) >>> 0;
    this.maxDatagramSize = options.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM;
    this.reportClose = options.reportClose ?? true;
    this.onError = options.onError;
    this.maxDeliveriesPerCall = options.maxDeliveriesPerCall ?? 1_000_000;
    this.counters = this.total;
    // Validate eagerly so a bad default fails at construction, not at the first connect.
    resolveConditions('toServer', options.conditioner);
    resolveConditions('toClient', options.conditioner);
    this.defaultConditioner = options.conditioner;
  }

  /** A server transport; `port` 0 (default) picks a free port at `listen()`. */
  server(options: { port?: number } = {}): MemoryServerTransport {
    return new MemoryServerTransport(this, options.port ?? 0);
  }

  /** A client transport for a hub server (its address, or just its port). */
  client(address: TransportAddress | number, options: MemoryClientOptions = {}): MemoryClientTransport {
    if (typeof address !== 'number' && address.transport !== 'memory') {
      throw new TypeError(`MemoryHub.client: not a memory address (${address.transport})`);
    }
    const port = typeof address === 'number' ? address : address.port;
    if (options.conditioner) {
      resolveConditions('toServer', options.conditioner);
      resolveConditions('toClient', options.conditioner);
    }
    return new MemoryClientTransport(this, port, options);
  }

  /** Changes the hub default conditions; every link (layered with its own) follows from now on. */
  setConditioner(config: LinkConditionerConfig | undefined): void {
    resolveConditions('toServer', config);
    resolveConditions('toClient', config);
    this.defaultConditioner = config;
    for (const link of this.liveLinks.values()) link.refresh();
  }

  /** Live links, optionally only those to one server port. */
  links(port?: number): MemoryLink[] {
    const all = [...this.liveLinks.values()];
    return port === undefined ? all : all.filter((l) => l.port === port);
  }

  /** A live link by the client's `PeerId`. */
  link(peer: PeerId): MemoryLink | undefined {
    return this.liveLinks.get(peer);
  }

  /** Blackholes a link (see `MemoryLink.partition`). Unknown peers are ignored. */
  partition(target: PeerId | MemoryLink, direction: PartitionDirection = 'both'): void {
    this.resolveLink(target)?.partition(direction);
  }

  /** Undoes `partition`. */
  heal(target: PeerId | MemoryLink, direction: PartitionDirection = 'both'): void {
    this.resolveLink(target)?.heal(direction);
  }

  /** Scheduled deliveries and close notices not yet delivered. */
  get inFlight(): number {
    return this.queue.size;
  }

  /** Due time of the next scheduled event, if any (handy to jump a manual clock). */
  nextDueAt(): number | undefined {
    return this.queue.peek()?.at;
  }

  /**
   * Manual mode: moves the `ManualClock` forward by `ms`, delivering every event due on the
   * way in (time, send order) order; the clock is set to each event's time while it is
   * delivered, so replies sent from handlers are scheduled from the right instant and are
   * delivered too if they fall due within the window. Returns the number of datagrams delivered.
   */
  advance(ms: number): number {
    const clock = this.clock;
    if (!(clock instanceof ManualClock)) throw new Error('MemoryHub.advance() needs a ManualClock');
    if (!(ms >= 0) || !Number.isFinite(ms))
      throw new RangeError('MemoryHub.advance: ms must be finite and >= 0');
    const target = clock.now() + ms;
    const delivered = this.run(target, true);
    if (clock.now() < target) clock.set(target);
    return delivered;
  }

  /**
   * Delivers everything due at the clock's current time (manual mode: including replies that
   * fall due at the same instant). Returns the number of datagrams delivered.
   */
  deliverDue(): number {
    return this.run(this.clock.now(), this.manual);
  }

  /** Closes every server and client without notices, drops everything in flight, stops timers. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const server of [...this.servers.values()]) {
      server.isOpen = false;
      for (const link of server.peers.values()) link.serverAttached = false;
      server.peers.clear();
    }
    this.servers.clear();
    for (const client of this.clients) {
      client.isOpen = false;
      client.link.clientAttached = false;
    }
    this.clients.clear();
    this.liveLinks.clear();
    this.queue.clear();
    this.clearTimer();
    return Promise.resolve();
  }

  // ---- internals used by the sockets (not part of the public API) ----

  /** @internal */
  _bind(port: number): Promise<MemoryServerSocket> {
    if (this.closed) return Promise.reject(new Error('MemoryHub is closed'));
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return Promise.reject(new RangeError(`memory: invalid port ${port}`));
    }
    if (port === 0) {
      port = this.allocatePort();
      if (port === 0) return Promise.reject(new Error('memory: no free port'));
    } else if (this.servers.has(port)) {
      return Promise.reject(new Error(`memory: port ${port} is already in use`));
    }
    const server = new MemoryServerSocket(this, port, this.maxDatagramSize);
    this.servers.set(port, server);
    return Promise.resolve(server);
  }

  /** @internal */
  _unbind(server: MemoryServerSocket): void {
    if (this.servers.get(server.address.port) === server) this.servers.delete(server.address.port);
  }

  /** @internal */
  _connect(port: number, options: MemoryClientOptions): Promise<MemoryClientSocket> {
    if (this.closed) return Promise.reject(new Error('MemoryHub is closed'));
    const server = this.servers.get(port);
    if (!server) return Promise.reject(new Error(`memory: connection refused (no server on port ${port})`));
    const link = new MemoryLink(this, this.linkCount++, server, options.conditioner, this.seed);
    const client = new MemoryClientSocket(this, link, this.maxDatagramSize);
    link.client = client;
    server.peers.set(link.id, link);
    this.liveLinks.set(link.id, link);
    this.clients.add(client);
    return Promise.resolve(client);
  }

  /** @internal Puts one datagram on the wire of a link direction. */
  _transmit(link: MemoryLink, direction: LinkDirection, data: Uint8Array): void {
    const counters = link.mutableCounters[direction];
    this.total.sent++;
    counters.sent++;
    if (this.closed || link.isPartitioned(direction)) {
      this.countDrop(counters);
      return;
    }
    const delays = planDelivery(link.conditions[direction], link.rng[direction]);
    if (delays.length === 0) {
      this.countDrop(counters);
      return;
    }
    if (delays.length > 1) {
      this.total.duplicated += delays.length - 1;
      counters.duplicated += delays.length - 1;
    }
    const now = this.clock.now();
    for (const delay of delays) {
      // A private copy per delivery: the sender may reuse its buffer, receivers may mutate theirs.
      const copy = new Uint8Array(data);
      const at = now + delay;
      if (at > link.lastAt[direction]) link.lastAt[direction] = at;
      this.schedule({ at, kind: 'datagram', link, direction, data: copy });
    }
  }

  /** @internal The client closed its socket. */
  _endFromClient(link: MemoryLink): void {
    if (link.client) this.clients.delete(link.client);
    if (this.reportClose && link.serverAttached) this.scheduleClose(link, 'toServer', 'client closed');
    this.maybeForget(link);
  }

  /** @internal The server dropped the link (disconnectPeer or close). */
  _endFromServer(link: MemoryLink, reason: string): void {
    if (this.reportClose && link.clientAttached) this.scheduleClose(link, 'toClient', reason);
    this.maybeForget(link);
  }

  // ---- private ----

  private resolveLink(target: PeerId | MemoryLink): MemoryLink | undefined {
    return typeof target === 'string' ? this.liveLinks.get(target) : target;
  }

  private allocatePort(): number {
    for (let i = 0; i < 65536; i++) {
      const port = this.nextAutoPort;
      this.nextAutoPort = port >= 65535 ? 1 : port + 1;
      if (!this.servers.has(port)) return port;
    }
    return 0;
  }

  private maybeForget(link: MemoryLink): void {
    if (!link.clientAttached && !link.serverAttached) this.liveLinks.delete(link.id);
  }

  private countDrop(counters: LinkCounters): void {
    this.total.dropped++;
    counters.dropped++;
  }

  private scheduleClose(link: MemoryLink, direction: LinkDirection, reason: string): void {
    if (link.isPartitioned(direction)) return;
    // Ordered after every datagram already in flight this way, like a TCP FIN after the data.
    const at = Math.max(this.clock.now() + link.conditions[direction].latencyMs, link.lastAt[direction]);
    link.lastAt[direction] = at;
    this.schedule({ at, kind: 'close', link, direction, reason });
  }

  private schedule(event: Omit<DatagramEvent, 'seq'> | Omit<CloseEvent, 'seq'>): void {
    this.queue.push({ ...event, seq: this.nextSeq++ } as HubEvent);
    this.arm();
  }

  /**
   * Delivers events due at or before `until`. `includeNew`: also deliver events scheduled
   * during this call (manual simulation); timer mode excludes them so a zero-latency
   * ping-pong yields to the event loop between hops.
   */
  private run(until: number, includeNew: boolean): number {
    if (this.running) throw new Error('MemoryHub: advance()/deliverDue() called from inside a delivery');
    const limit = this.nextSeq;
    const clock = this.clock;
    let delivered = 0;
    let steps = 0;
    let firstError: { error: unknown } | undefined;
    this.running = true;
    try {
      for (;;) {
        const head = this.queue.peek();
        if (!head || head.at > until) break;
        if (!includeNew && head.seq >= limit) break;
        this.queue.pop();
        if (this.manual && clock instanceof ManualClock && head.at > clock.now()) clock.set(head.at);
        if (++steps > this.maxDeliveriesPerCall) {
          throw new Error(
            `MemoryHub: more than ${this.maxDeliveriesPerCall} deliveries in one call (zero-latency ping-pong?)`,
          );
        }
        try {
          if (this.dispatch(head)) delivered++;
        } catch (error) {
          if (this.onError) this.onError(error);
          else if (this.manual) firstError ??= { error };
          else console.error('baton: MemoryHub handler threw', error);
        }
      }
    } finally {
      this.running = false;
    }
    this.arm();
    if (firstError) throw firstError.error;
    return delivered;
  }

  /** Returns whether a datagram reached a handler. */
  private dispatch(event: HubEvent): boolean {
    const { link, direction } = event;
    const counters = link.mutableCounters[direction];
    if (event.kind === 'close') {
      if (link.isPartitioned(direction)) return false;
      if (direction === 'toServer') {
        const server = link.server;
        if (server.isOpen && server.peers.get(link.id) === link) {
          server.peers.delete(link.id);
          link.serverAttached = false;
          this.maybeForget(link);
          server.onPeerClosed(link.id);
        }
      } else {
        const client = link.client;
        if (client?.isOpen) {
          client.isOpen = false;
          link.clientAttached = false;
          this.clients.delete(client);
          this.maybeForget(link);
          client.onClosed(event.reason);
        }
      }
      return false;
    }
    if (link.isPartitioned(direction)) {
      this.countDrop(counters);
      return false;
    }
    if (direction === 'toServer') {
      const server = link.server;
      if (!server.isOpen) {
        this.countDrop(counters);
        return false;
      }
      if (server.peers.get(link.id) !== link) {
        // UDP-like mode: a peer the server forgot is simply a peer again when it speaks.
        if (this.reportClose || !link.clientAttached) {
          this.countDrop(counters);
          return false;
        }
        server.peers.set(link.id, link);
        link.serverAttached = true;
        this.liveLinks.set(link.id, link);
      }
      this.total.delivered++;
      counters.delivered++;
      server.stats.datagramsReceived++;
      server.stats.bytesReceived += event.data.byteLength;
      server.onDatagram(link.id, event.data);
      return true;
    }
    const client = link.client;
    if (!client?.isOpen) {
      this.countDrop(counters);
      return false;
    }
    this.total.delivered++;
    counters.delivered++;
    client.stats.datagramsReceived++;
    client.stats.bytesReceived += event.data.byteLength;
    client.onDatagram(event.data);
    return true;
  }

  /** Timer mode: keeps exactly one wake-up armed for the earliest event. */
  private arm(): void {
    if (this.manual || this.closed) return;
    const head = this.queue.peek();
    if (!head) {
      this.clearTimer();
      return;
    }
    const delay = head.at - this.clock.now();
    if (delay <= 0) {
      if (!this.immediatePending) {
        this.immediatePending = true;
        deferTask(() => {
          this.immediatePending = false;
          if (!this.closed && !this.running) this.run(this.clock.now(), false);
        });
      }
      return;
    }
    if (this.timer !== undefined && this.timerAt <= head.at) return;
    this.clearTimer();
    this.timerAt = head.at;
    // Timers may fire a little early against performance.now(); run() then re-arms.
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        if (!this.closed && !this.running) this.run(this.clock.now(), false);
      },
      Math.max(1, Math.ceil(delay)),
    );
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}
