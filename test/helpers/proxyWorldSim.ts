import type { Client } from '../../src/client/index.js';
import {
  generateEd25519KeyPair,
  InMemoryNonceStore,
  InMemoryRegistry,
  InMemoryTicketKeys,
} from '../../src/cluster/index.js';
import type { Entity, Room } from '../../src/index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../../src/proxy/index.js';
import { OfflineAuthenticator, Server, type ServerOptions, type User } from '../../src/server/index.js';
import type { LinkConditionerConfig } from '../../src/transport/LinkConditioner.js';
import { MemoryStreamNetwork, peerIdentity } from '../../src/transport/stream/MemoryStream.js';
import { settle } from './sim.js';
import type { Op } from './worldOps.js';
import {
  type EntityView,
  Health,
  Label,
  ownedProtocol,
  Position,
  viewOf,
  type WorldChannels,
  WorldSim,
} from './worldSim.js';

/**
 * The world of {@link WorldSim} with a {@link Proxy} in the middle: clients reach the proxy over
 * the MemoryHub (the seeded link conditioner acts on that hop), the proxy reaches the backend
 * Server over in-memory streams (`dialBackend`), optionally cut into seeded random chunks. One
 * ManualClock drives all of it, and the proxy's maintenance runs once per tick from `tick()`
 * (not from its wall-clock timer), so a run is a function of its seed and operations. "Quiet"
 * is {@link WorldSim.quiet}: the proxy-side links are recorded through its link factory.
 */
export class ProxyWorldSim extends WorldSim {
  readonly net = new MemoryStreamNetwork();
  readonly registry = new InMemoryRegistry();
  proxy!: Proxy;
  /** A second backend (`backends: 2`): players can be moved between 'backend-1' and 'backend-2' seamlessly. */
  readonly server2?: Server<WorldChannels>;
  private readonly chunking?: { seed: number; maxChunk: number };
  private readonly ticketKeys?: InMemoryTicketKeys;

  constructor(
    protocol = ownedProtocol,
    opts: {
      seed?: number;
      conditioner?: LinkConditionerConfig;
      server?: ServerOptions;
      /** Cut every stream write between proxy and backend into pieces of 1..maxChunk bytes. */
      chunking?: { seed: number; maxChunk: number };
      /** Two backends with migration tickets (default 1). */
      backends?: 1 | 2;
    } = {},
  ) {
    super(protocol, opts);
    this.chunking = opts.chunking;
    if (opts.backends === 2) {
      this.ticketKeys = new InMemoryTicketKeys();
      this.server2 = new Server(protocol, {
        clock: this.clock,
        authenticator: new OfflineAuthenticator(),
        linkFactory: this.recordLinks(),
        ...opts.server,
      });
    }
  }

  /** The backend Servers, 'backend-1' first. */
  get servers(): Server<WorldChannels>[] {
    return this.server2 ? [this.server, this.server2] : [this.server];
  }

  /** The Server of a backend id. */
  backend(id: string | undefined): Server<WorldChannels> | undefined {
    return id === 'backend-1' ? this.server : id === 'backend-2' ? this.server2 : undefined;
  }

  private async listenBackend(server: Server<WorldChannels>, id: string, nonces: InMemoryNonceStore) {
    const keys = this.ticketKeys ? await this.ticketKeys.generate(id) : undefined;
    const ticketKeys = this.ticketKeys;
    const address = await server.listenProxies(
      this.net.server({ identity: peerIdentity(id), chunking: this.chunking }),
      // manual time runs far ahead of wall time in a settle: timeouts generous, never the subject here
      {
        backendId: id,
        heartbeatIntervalMs: 200,
        timeoutMs: 120_000,
        tickets:
          keys && ticketKeys
            ? {
                privateKey: keys.privateKey,
                publicKeyOf: (b) => ticketKeys.publicKeyOf(b),
                nonceStore: nonces,
              }
            : {},
      },
    );
    await this.registry.register({
      id,
      pool: 'default',
      address: { host: 'memory', port: address.port },
      // new players all start on backend-1 (the ops' world); backend-2 takes them only by migration
      capacity: id === 'backend-1' ? 64 : 0,
      publicKey: generateEd25519KeyPair().publicKey,
    });
  }

  /** Backend on a memory stream listener, registered; the proxy listening on the hub. */
  override async listen(): Promise<this> {
    const nonces = new InMemoryNonceStore();
    await this.listenBackend(this.server, 'backend-1', nonces);
    if (this.server2) await this.listenBackend(this.server2, 'backend-2', nonces);
    this.proxy = new Proxy({
      ticketKeys: this.ticketKeys,
      // a move's source closes at once: the sim checks each player on one backend
      migration: { overlapMs: 0 },
      protocol: this.protocol,
      id: 'proxy-1',
      listen: [this.hub.server()],
      dialBackend: (record) => this.net.client(record.address.port, { identity: peerIdentity('proxy-1') }),
      registry: this.registry,
      authenticator: new OfflineAuthenticator(),
      clock: this.clock,
      heartbeatIntervalMs: 200,
      backendTimeoutMs: 120_000,
      handshakeTimeoutMs: 30_000,
      linkFactory: this.recordLinks(),
      // maintenance is driven by tick(); the wall-clock timer must not interleave with it
      maintainIntervalMs: 3_600_000,
      log: () => {},
    });
    const [address] = await this.proxy.start();
    this.address = address;
    return this;
  }

  /**
   * One protocol tick: let stream bytes and the proxy's relay run, deliver what fell due on the
   * hub, maintain the proxy (resends, heartbeats, flush), step the backend and every client.
   */
  override async tick(n = 1): Promise<void> {
    const proxy = this.proxy as unknown as { maintain?: () => void };
    if (typeof proxy.maintain !== 'function')
      throw new Error('Proxy.maintain() is gone: update proxyWorldSim');
    for (let i = 0; i < n; i++) {
      await settle();
      this.hub.advance(this.tickMs);
      proxy.maintain();
      for (const f of this.beforeStep) f();
      this.server.step();
      this.server2?.step();
      for (const c of this.clients) c.step();
    }
  }

  /** Work run each tick before the backends step (e.g. backends sending messages). */
  readonly beforeStep: (() => void)[] = [];

  override quiet(): boolean {
    if (this.server2) {
      for (const u of this.server2.users) {
        const conn = this.server2.world.connection(u);
        if (conn && !conn.idle) return false;
      }
    }
    return super.quiet();
  }

  /** What `user` of `server` should see: that backend's world within its scope, by wire id. */
  expectedViewOn(server: Server<WorldChannels>, user: User): Map<number, EntityView> {
    const conn = server.world.connection(user)!;
    const out = new Map<number, EntityView>();
    for (const e of server.entities()) {
      if (!server.inScope(user, e)) continue;
      const id = conn.map.hostOf(e.id);
      if (id === undefined) throw new Error(`entity ${e.id} in scope but not hosted`);
      out.set(id, viewOf(e));
    }
    return out;
  }

  override async close(): Promise<void> {
    for (const c of this.clients) await c.close();
    await this.proxy?.close();
    await this.server.close();
    await this.server2?.close();
    await this.hub.close();
  }
}

export { conditions, type Op, op } from './worldOps.js';

/** A connected player of a run: its client, its backend User, and the radius it last asked for. */
export interface Member {
  readonly client: Client<WorldChannels>;
  readonly user: User;
  radius?: number;
  /** Closed on purpose by a 'leave' op (everyone else must still be connected at the end). */
  left: boolean;
}

/**
 * Runs operations against a sim as the direct convergence test does: server entities in two
 * rooms, every player in room 0 with its view centre at the origin, client-owned entities
 * added to room 0 (only public ones reach other clients).
 */
export class OpRunner {
  readonly rooms: Room<User>[];
  readonly members: Member[] = [];
  readonly entities: Entity[] = [];
  private names = 0;

  constructor(readonly sim: WorldSim) {
    this.rooms = [sim.server.createRoom(), sim.server.createRoom()];
    sim.server.on('spawn', (e) => this.rooms[0].addEntity(e));
    sim.server.on('connect', (u) => {
      this.rooms[0].addUser(u);
      sim.server.setViewCenter(u, { x: 0, y: 0 });
    });
  }

  async join(): Promise<void> {
    const m = await this.sim.join(`p${this.names++}`, { handshakeTimeoutMs: 30_000 });
    this.members.push({ ...m, left: false });
  }

  private pick(i: number): Entity | undefined {
    return this.entities.length ? this.entities[i % this.entities.length] : undefined;
  }

  private member(i: number): Member | undefined {
    const live = this.members.filter((m) => m.user.connected && m.client.connected);
    return live.length ? live[i % live.length] : undefined;
  }

  /** A member's own live entity by index. */
  private own(i: number, e: number): Entity | undefined {
    const m = this.member(i);
    if (!m) return undefined;
    const mine = [...m.client.entities()].filter((x) => x.isLocal && x.alive);
    return mine.length ? mine[e % mine.length] : undefined;
  }

  async apply(o: Op): Promise<void> {
    const server = this.sim.server;
    switch (o.k) {
      case 'spawn': {
        const e = server.spawn().insert(Position, { x: o.x, y: o.y });
        if (o.hp !== null) e.insert(Health, { hp: o.hp, max: 1000 });
        this.rooms[o.room].addEntity(e);
        this.entities.push(e);
        return;
      }
      case 'move': {
        const e = this.pick(o.e);
        if (e?.alive) Object.assign(e.get(Position), { x: o.x, y: o.y });
        return;
      }
      case 'hp': {
        const e = this.pick(o.e);
        if (e?.alive) e.insert(Health, { hp: o.hp, max: 1000 });
        return;
      }
      case 'label': {
        const e = this.pick(o.e);
        if (!e?.alive) return;
        if (o.text === null) e.remove(Label);
        else if (e.has(Label)) e.get(Label).text = o.text;
        else e.insert(Label, { text: o.text });
        return;
      }
      case 'despawn':
        this.pick(o.e)?.despawn();
        return;
      case 'scope': {
        const m = this.member(o.u);
        const e = this.pick(o.e);
        if (!m || !e?.alive) return;
        if (o.how === 'include') server.include(m.user, e);
        else if (o.how === 'exclude') server.exclude(m.user, e);
        else server.resetScope(m.user, e);
        return;
      }
      case 'room': {
        const m = this.member(o.u);
        if (m) o.join ? this.rooms[o.room].addUser(m.user) : this.rooms[o.room].removeUser(m.user);
        return;
      }
      case 'roomEntity': {
        const e = this.pick(o.e);
        if (e?.alive) o.add ? this.rooms[o.room].addEntity(e) : this.rooms[o.room].removeEntity(e);
        return;
      }
      case 'radius': {
        const m = this.member(o.u);
        if (!m) return;
        m.client.setViewRadius(o.r);
        m.radius = o.r;
        return;
      }
      case 'join':
        if (this.members.length < 5) await this.join();
        return;
      case 'leave': {
        const m = this.member(o.u);
        if (!m) return;
        m.left = true;
        await m.client.close();
        return;
      }
      case 'tick':
        await this.sim.tick(o.n);
        return;
      case 'own': {
        const m = this.member(o.u);
        if (!m) return;
        const e = m.client.spawn().insert(Position, { x: o.x, y: o.y });
        if (o.pub) e.configureReplication('public');
        return;
      }
      case 'ownMove': {
        const e = this.own(o.u, o.e);
        if (e) e.get(Position).x = o.x;
        return;
      }
      case 'ownPublish':
        this.own(o.u, o.e)?.configureReplication(o.pub ? 'public' : 'private');
        return;
      case 'ownDespawn':
        this.own(o.u, o.e)?.despawn();
        return;
    }
  }
}
