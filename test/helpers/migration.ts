import { Client } from '../../src/client/index.js';
import {
  generateEd25519KeyPair,
  InMemoryNonceStore,
  InMemoryRegistry,
  InMemoryTicketKeys,
} from '../../src/cluster/index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy, type ProxyOptions } from '../../src/proxy/index.js';
import { OfflineAuthenticator, Server, type ServerOptions, type User } from '../../src/server/index.js';
import type { LinkConditionerConfig } from '../../src/transport/LinkConditioner.js';
import { MemoryHub } from '../../src/transport/MemoryHub.js';
import { MemoryStreamNetwork, peerIdentity } from '../../src/transport/stream/MemoryStream.js';
import type { TransportAddress } from '../../src/transport/types.js';
import type { Entity } from '../../src/world/Entity.js';
import type { Room } from '../../src/world/Room.js';
import { type ClusterChannels, clusterProtocol, Position } from './cluster.js';
import { Input } from './protocol.js';

/** One backend of a memory cluster, with what it processed. */
export interface MemBackend {
  readonly id: string;
  readonly server: Server<ClusterChannels>;
  /** Input seqs processed here, in order, per user uuid, per channel ('chat' ordered-reliable, 'input' tick-buffered). */
  readonly processed: { uuid: string; channel: string; seq: number }[];
  /** Stop answering (frames pile up unprocessed) — a hung backend. */
  hang(): void;
  /** Close its stream listener and every proxy stream: the proxy sees it die. */
  kill(): Promise<void>;
}

export interface MemCluster {
  readonly hub: MemoryHub;
  readonly net: MemoryStreamNetwork;
  readonly registry: InMemoryRegistry;
  readonly ticketKeys: InMemoryTicketKeys;
  readonly proxy: Proxy;
  readonly address: TransportAddress;
  readonly backends: Map<string, MemBackend>;
  addBackend(
    id: string,
    opts?: { tickets?: boolean; badKeys?: boolean; server?: ServerOptions },
  ): Promise<MemBackend>;
  /** Every input processed, over every backend, in processing order. */
  readonly log: { backend: string; uuid: string; channel: string; seq: number }[];
  /** A client closed with the cluster. */
  client(): Client<ClusterChannels>;
  close(): Promise<void>;
}

/**
 * A cluster in one process without sockets: players on a memory hub (with the seeded link
 * conditioner on their hop), backends on memory streams, tickets from shared in-memory keys
 * and nonces. Backends run their own tickers (real time).
 */
export async function memCluster(
  ids: string[],
  opts: { tickets?: boolean; proxy?: Partial<ProxyOptions>; seed?: number } = {},
): Promise<MemCluster> {
  const hub = new MemoryHub({ seed: opts.seed ?? 7 });
  const net = new MemoryStreamNetwork();
  const registry = new InMemoryRegistry();
  const ticketKeys = new InMemoryTicketKeys();
  const nonces = new InMemoryNonceStore();
  const backends = new Map<string, MemBackend>();
  const clients: Client<ClusterChannels>[] = [];
  const withTickets = opts.tickets ?? true;
  const log: MemCluster['log'] = [];

  async function addBackend(
    id: string,
    o: { tickets?: boolean; badKeys?: boolean; server?: ServerOptions } = {},
  ): Promise<MemBackend> {
    const server = new Server(clusterProtocol, {
      authenticator: new OfflineAuthenticator(),
      name: id,
      maxPlayers: 1024,
      ...o.server,
    });
    const tickets = o.tickets ?? withTickets;
    const keys = tickets ? await ticketKeys.generate(id) : undefined;
    const address = await server.listenProxies(net.server({ identity: peerIdentity(id) }), {
      backendId: id,
      heartbeatIntervalMs: 200,
      timeoutMs: 5000,
      tickets: keys
        ? {
            privateKey: keys.privateKey,
            // badKeys: this backend checks signatures against keys nobody signs with
            publicKeyOf: o.badKeys
              ? async () => generateEd25519KeyPair().publicKey
              : (b) => ticketKeys.publicKeyOf(b),
            nonceStore: nonces,
          }
        : {},
    });
    await registry.register({
      id,
      pool: 'default',
      address: { host: 'memory', port: address.port },
      capacity: 4096,
      publicKey: generateEd25519KeyPair().publicKey,
    });
    const processed: MemBackend['processed'] = [];
    server.onMessage(Input, (user: User, v, channel) => {
      processed.push({ uuid: user.uuid, channel, seq: v.seq });
      log.push({ backend: id, uuid: user.uuid, channel, seq: v.seq });
    });
    const b: MemBackend = {
      id,
      server,
      processed,
      hang: () => server.stop(),
      kill: async () => {
        // die, not leave: the streams drop without a PlayerClose (as when the process dies)
        server.stop();
        const proxied = (
          server as unknown as {
            proxied?: { links: Set<{ connection: { close(r: string): Promise<void> } }> };
          }
        ).proxied;
        await Promise.all([...(proxied?.links ?? [])].map((l) => l.connection.close('killed')));
        await server.close('killed');
      },
    };
    backends.set(id, b);
    return b;
  }

  for (const id of ids) await addBackend(id);
  const proxy = new Proxy({
    protocol: clusterProtocol,
    id: 'proxy-1',
    listen: [hub.server()],
    dialBackend: (record) => net.client(record.address.port, { identity: peerIdentity('proxy-1') }),
    registry,
    ticketKeys,
    authenticator: new OfflineAuthenticator(),
    heartbeatIntervalMs: 100,
    backendTimeoutMs: 1000,
    maxPlayers: 4096,
    log: () => {},
    ...opts.proxy,
    migration: { overlapMs: 20, ...opts.proxy?.migration },
  });
  const [address] = await proxy.start();
  return {
    hub,
    net,
    registry,
    ticketKeys,
    proxy,
    address,
    backends,
    addBackend,
    log,
    client() {
      const c = new Client(clusterProtocol, { handshakeTimeoutMs: 4000, autoStep: false });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) await c.close().catch(() => {});
      await proxy.close();
      for (const b of backends.values()) await b.server.close().catch(() => {});
      await (hub as unknown as { close?: () => Promise<void> }).close?.();
    },
  };
}

/**
 * A bot: every tick it sends `Input { seq }` on the ordered-reliable 'chat' channel and on the
 * tick-buffered 'input' channel, then steps. Records what the client saw.
 */
export class Bot {
  seq = 0;
  ticks = 0;
  readonly disconnects: string[] = [];
  readonly events: { tick: number; what: string; id?: number }[] = [];
  private timer?: ReturnType<typeof setInterval>;
  sending = true;

  constructor(readonly client: Client<ClusterChannels>) {
    client.on('disconnect', (r) => this.disconnects.push(r));
    client.on('migrated', (i) => this.events.push({ tick: client.tick, what: `migrated:${i.backendId}` }));
    client.on('spawn', (e) => this.events.push({ tick: client.tick, what: 'spawn', id: e.id }));
    client.on('despawn', (e) => this.events.push({ tick: client.tick, what: 'despawn', id: e.id }));
  }

  async connect(
    hub: MemoryHub,
    address: TransportAddress,
    name: string,
    conditioner?: LinkConditionerConfig,
  ) {
    const done = this.client.connect(hub.client(address, { conditioner }), { username: name });
    this.timer = setInterval(() => this.tick(), 20);
    await done;
  }

  tick(): void {
    if (this.client.connected && this.sending) {
      this.seq++;
      this.client.send('chat', Input, { seq: this.seq, dx: 0, dy: 0 });
      this.client.send('input', Input, { seq: this.seq, dx: 0, dy: 0 });
    }
    this.ticks++;
    this.client.step();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stop stepping (the client processes nothing, sends nothing) until {@link resume}. */
  pause(): void {
    this.stop();
  }

  resume(): void {
    if (!this.timer) this.timer = setInterval(() => this.tick(), 20);
  }
}

/**
 * The game of the migration tests: a room per backend; each player gets an avatar (Position)
 * when it first joins; on a move the avatar carries over (the `carried` hook names it with the
 * player's own entities), the target adopts its re-created copy, the source despawns its copy
 * when the player's session there ends.
 */
export function avatarGame(b: MemBackend): { avatars: Map<User, Entity>; spawned: number; room: Room<User> } {
  const server = b.server;
  const room = server.createRoom();
  const avatars = new Map<User, Entity>();
  const arriving = new Set<User>();
  const game = { avatars, spawned: 0, room };
  server.migration.restore = (user, _state, info) => {
    if (info.phase === 'arrive') arriving.add(user);
    else {
      const avatar = info.carried.map((id) => server.entity(id)).find((e) => e?.has(Position));
      if (avatar) avatars.set(user, avatar);
    }
  };
  server.migration.carried = (user) => {
    const out: number[] = [];
    const avatar = avatars.get(user);
    if (avatar?.alive) out.push(avatar.id);
    for (const e of server.entities()) if (e.ownerKey === user) out.push(e.id);
    return out;
  };
  server.on('connect', (user) => {
    room.addUser(user);
    if (arriving.delete(user)) return; // its avatar comes with it (restore, at cutover)
    const avatar = server.spawn().insert(Position, { x: 10, y: 20 });
    room.addEntity(avatar);
    avatars.set(user, avatar);
    game.spawned++;
  });
  server.on('disconnect', (user) => {
    avatars.get(user)?.despawn();
    avatars.delete(user);
  });
  return game;
}

/** Inputs processed for `uuid` on `channel` over every backend, in processing order. */
export function processedSeqs(log: MemCluster['log'], uuid: string, channel: string): number[] {
  return log.filter((p) => p.uuid === uuid && p.channel === channel).map((p) => p.seq);
}

export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
