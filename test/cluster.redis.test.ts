/**
 * Two proxies sharing one real Redis (DESIGN §6 / issue 9.4): each proxy and each backend has its
 * own RedisRegistry / RedisTicketKeys / RedisNonceStore (own connections, as on separate
 * machines); nothing is shared in memory. Real mutual TLS and UDP on 127.0.0.1.
 */
import { afterEach, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import {
  type BackendHealth,
  createReferralClaims,
  type Ed25519KeyPair,
  issueReferralToken,
  RedisNonceStore,
  RedisRegistry,
  RedisTicketKeys,
} from '../src/cluster/index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../src/proxy/index.js';
import { OfflineAuthenticator, Server, type User } from '../src/server/index.js';
import { udpClient, udpServer } from '../src/transport/index.js';
import { tlsStreamServer } from '../src/transport/stream/index.js';
import type { TransportAddress } from '../src/transport/types.js';
import { type ClusterChannels, clusterProtocol } from './helpers/cluster.js';
import { Chat } from './helpers/protocol.js';
import { describeWithRedis, useRedisServer } from './helpers/redis.js';
import {
  type CertificateAndKey,
  createTestCertificates,
  type TestCertificates,
} from './helpers/testCertificates.js';
import { waitFor } from './helpers/transports.js';

describeWithRedis('a cluster of two proxies on one real Redis', () => {
  const redis = useRedisServer();
  const open: { close(): Promise<unknown> }[] = [];
  let certs: TestCertificates;
  let proxy2Cert: CertificateAndKey;
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close().catch(() => {});
  });

  interface Backend {
    id: string;
    server: Server<ClusterChannels>;
    keys: Ed25519KeyPair;
    /** Chat seqs processed here, per uuid, in order. */
    processed: Map<string, number[]>;
  }

  /** A backend process: its own Redis stores; registers itself in the pool and publishes its ticket key. */
  async function startBackend(prefix: string, id: string): Promise<Backend> {
    const registry = new RedisRegistry({ redis: redis.url, prefix });
    const ticketKeys = new RedisTicketKeys({ redis: redis.url, prefix });
    const nonces = new RedisNonceStore({ redis: redis.url, prefix });
    open.push(registry, ticketKeys, nonces);
    const server = new Server(clusterProtocol, { authenticator: new OfflineAuthenticator(), name: id });
    open.push({ close: () => server.close('test over') });
    const room = server.createRoom();
    server.on('connect', (u: User) => room.addUser(u));
    const processed = new Map<string, number[]>();
    server.onMessage(Chat, (u, m) => {
      const list = processed.get(u.uuid) ?? [];
      list.push(m.from);
      processed.set(u.uuid, list);
    });
    const keys = await ticketKeys.generate(id);
    const address = await server.listenProxies(
      tlsStreamServer({ cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert, port: 0 }),
      {
        backendId: id,
        allowedProxies: ['proxy-1', 'proxy-2'],
        heartbeatIntervalMs: 200,
        timeoutMs: 3000,
        tickets: {
          privateKey: keys.privateKey,
          publicKeyOf: (b) => ticketKeys.publicKeyOf(b),
          nonceStore: nonces,
        },
      },
    );
    await registry.register({
      id,
      pool: 'default',
      address: { host: '127.0.0.1', port: address.port },
      capacity: 100,
      publicKey: keys.publicKey,
    });
    return { id, server, keys, processed };
  }

  /** A proxy process: its own Redis stores (the registry its own connection, the referral nonces shared). */
  async function startProxy(prefix: string, id: 'proxy-1' | 'proxy-2') {
    const registry = new RedisRegistry({ redis: redis.url, prefix });
    const ticketKeys = new RedisTicketKeys({ redis: redis.url, prefix });
    const nonces = new RedisNonceStore({ redis: redis.url, prefix });
    open.push(registry, ticketKeys, nonces);
    const identity = id === 'proxy-1' ? certs.client : proxy2Cert;
    const proxy = new Proxy({
      protocol: clusterProtocol,
      id,
      listen: [udpServer({ host: '127.0.0.1', port: 0 })],
      tls: { cert: identity.cert, key: identity.key, ca: certs.ca.cert },
      registry,
      ticketKeys,
      referral: { nonceStore: nonces },
      authenticator: new OfflineAuthenticator(),
      heartbeatIntervalMs: 100,
      backendTimeoutMs: 1500,
      log: () => {},
    });
    const [address] = await proxy.start();
    open.push({ close: () => proxy.close('test over') });
    return { proxy, registry, address };
  }

  async function connect(address: TransportAddress, uuid?: string, referralData?: Uint8Array) {
    const client = new Client(clusterProtocol, { handshakeTimeoutMs: 8000 });
    open.push({ close: () => client.close('test over') });
    await client.connect(udpClient(address), { username: 'p', uuid, referralData });
    return client;
  }

  async function setup() {
    certs ??= await createTestCertificates();
    proxy2Cert ??= await certs.ca.issueClient('proxy-2');
    const prefix = redis.prefix();
    const p1 = await startProxy(prefix, 'proxy-1');
    const p2 = await startProxy(prefix, 'proxy-2');
    const b1 = await startBackend(prefix, 'b1');
    const b2 = await startBackend(prefix, 'b2');
    return { prefix, p1, p2, b1, b2 };
  }

  it('a player on proxy 1 migrates seamlessly to a backend that registered through another process', async () => {
    const { p1, p2, b1, b2 } = await setup();
    // both proxies see both backends, though each registered itself through its own connection
    expect((await p1.registry.list()).map((r) => r.id)).toEqual(['b1', 'b2']);
    expect(await p1.proxy.poolStatus('default')).toMatchObject({
      backends: 2,
      healthy: 2,
      seamlessMigration: true,
    });
    expect(await p2.proxy.poolStatus('default')).toMatchObject({
      backends: 2,
      healthy: 2,
      seamlessMigration: true,
    });

    const client = await connect(p1.address);
    const [session] = p1.proxy.sessions();
    expect(session.backendId).toBe('b1');
    let disconnects = 0;
    let migrated = 0;
    client.on('disconnect', () => disconnects++);
    client.on('migrated', () => migrated++);
    let sent = 0;
    const send = () => client.send('chat', Chat, { from: ++sent, text: 'x' });
    for (let i = 0; i < 10; i++) send();
    const sender = setInterval(send, 5);
    const result = await p1.proxy.migrate(session.id, 'b2');
    for (let i = 0; i < 10; i++) send();
    clearInterval(sender);
    expect(result).toMatchObject({ ok: true });
    const uuid = session.uuid;
    const total = () => (b1.processed.get(uuid)?.length ?? 0) + (b2.processed.get(uuid)?.length ?? 0);
    expect(await waitFor(() => total() >= sent, 10_000)).toBe(true);
    // nothing lost, nothing invented, nothing reordered: b1 then b2, 1..sent exactly once
    const all = [...(b1.processed.get(uuid) ?? []), ...(b2.processed.get(uuid) ?? [])];
    expect(all).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    expect(b2.processed.get(uuid)?.length ?? 0).toBeGreaterThan(0);
    expect(migrated).toBe(1);
    expect(disconnects).toBe(0);
    expect(b2.server.users.map((u) => u.uuid)).toEqual([uuid]);
    expect(p1.proxy.sessions()[0].backendId).toBe('b2');
    // the load proxy 1 reports is what proxy 2 reads
    await expect
      .poll(async () => (await p2.registry.get('b2'))?.load, { timeout: 5000, interval: 50 })
      .toBe(1);
  }, 40_000);

  it('a referral token consumed at proxy 1 is refused as a replay at proxy 2', async () => {
    const { p1, p2, b1 } = await setup();
    const uuid = '11111111-2222-4333-8444-555555555555';
    // b1 refers the player to b2, signed with its registered key
    const token = issueReferralToken(
      createReferralClaims({ issuer: 'b1', targetBackendId: 'b2', subject: uuid }),
      b1.keys.privateKey,
    );
    await connect(p1.address, uuid, token);
    expect(p1.proxy.sessions()[0].backendId).toBe('b2');
    expect(p1.proxy.stats.referrals.verified).toBe(1);
    // the same token presented to the other proxy: its nonce is already spent cluster-wide
    const replay = new Client(clusterProtocol, { handshakeTimeoutMs: 8000 });
    open.push({ close: () => replay.close('test over') });
    await expect(
      replay.connect(udpClient(p2.address), { username: 'p', uuid, referralData: token }),
    ).rejects.toThrow(/replayed/);
    expect(p2.proxy.stats.referrals.rejected).toBe(1);
    expect(p2.proxy.sessions()).toEqual([]);
  }, 40_000);

  it('a backend marked down by proxy 1 is down for proxy 2, and back up for both', async () => {
    const { prefix, p1, p2, b1 } = await setup();
    const seen: Record<string, [string, BackendHealth, BackendHealth | undefined][]> = { p1: [], p2: [] };
    p1.registry.events.on('health', (r, prev) => seen.p1.push([r.id, r.health, prev]));
    p2.registry.events.on('health', (r, prev) => seen.p2.push([r.id, r.health, prev]));
    // a player on proxy 1, on b1; proxy 2 has never opened a link to b1
    await connect(p1.address);
    expect(p1.proxy.sessions()[0].backendId).toBe('b1');
    // b1 dies: proxy 1 sees its link drop and marks it down in the shared registry
    await b1.server.close('crash');
    expect(await waitFor(() => seen.p2.some(([id, h]) => id === 'b1' && h === 'down'), 10_000)).toBe(true);
    expect((await p2.registry.get('b1'))?.health).toBe('down');
    expect(await p2.proxy.poolStatus('default')).toMatchObject({ backends: 2, healthy: 1 });
    // proxy 2 sends a newcomer to b2, never trying b1 (tie on load would have picked b1)
    await p2.registry.update('b2', { load: 0 });
    await connect(p2.address);
    expect(p2.proxy.sessions()[0].backendId).toBe('b2');
    // b1 restarts and registers again: up for both proxies
    const again = await startBackend(prefix, 'b1');
    expect(
      await waitFor(
        () =>
          seen.p1.some(([id, h, prev]) => id === 'b1' && h === 'up' && prev === 'down') &&
          seen.p2.some(([id, h, prev]) => id === 'b1' && h === 'up' && prev === 'down'),
        10_000,
      ),
    ).toBe(true);
    expect(await p2.proxy.poolStatus('default')).toMatchObject({ healthy: 2 });
    expect(await p1.proxy.poolStatus('default')).toMatchObject({ healthy: 2 });
    await connect(p2.address);
    expect(
      p2.proxy
        .sessions()
        .map((s) => s.backendId)
        .sort(),
    ).toEqual(['b1', 'b2']);
    expect(again.server.users).toHaveLength(1);
  }, 40_000);
});
