/**
 * `baton proxy --config` with `redis://` stores: a backend that registered itself in Redis is
 * found by the proxy (the config lists none), a player plays through it, SIGTERM exits 0 (the
 * Redis connections are closed, or the process would not end). And an unreachable Redis is a
 * config error naming each store, before anything is bound.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { proxyFromConfig } from '../src/cli/proxyFromConfig.js';
import { Client } from '../src/client/index.js';
import { RedisNonceStore, RedisRegistry, RedisTicketKeys } from '../src/cluster/index.js';
import { ConfigError, validateProxyConfig } from '../src/proxy/config/index.js';
import { OfflineAuthenticator, Server } from '../src/server/index.js';
import { udpClient } from '../src/transport/index.js';
import { tlsStreamServer } from '../src/transport/stream/index.js';
import { type BatonRun, repoRoot, runBaton, waitUntil } from './helpers/childProcess.js';
import { clusterProtocol } from './helpers/cluster.js';
import { Input } from './helpers/protocol.js';
import { describeWithRedis, useRedisServer } from './helpers/redis.js';
import { createTestCertificates, type TestCertificates } from './helpers/testCertificates.js';

let certs: TestCertificates;
let dir: string;
const running: BatonRun[] = [];
const closers: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  certs = await createTestCertificates();
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-redis-'));
  writeFileSync(join(dir, 'proxy.crt'), certs.client.cert);
  writeFileSync(join(dir, 'proxy.key'), certs.client.key);
  writeFileSync(join(dir, 'ca.crt'), certs.ca.cert);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const r of running.splice(0)) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  for (const c of closers.splice(0).reverse()) await c().catch(() => {});
});

function config(stores: { registry: string; ticketKeys: string; nonceStore: string }) {
  return {
    id: 'proxy-1',
    protocol: { module: join(repoRoot, 'test/helpers/cluster.ts'), export: 'clusterProtocol' },
    auth: { mode: 'offline' },
    listeners: [{ type: 'udp', host: '127.0.0.1', port: 0 }],
    backendTls: { cert: 'proxy.crt', key: 'proxy.key', ca: 'ca.crt' },
    pools: [{ name: 'default', seamlessMigration: true }],
    backends: [],
    ...stores,
    log: { level: 'info' },
  };
}

it('an unreachable Redis is a config error naming every store, before anything binds', async () => {
  const url = 'redis://127.0.0.1:1';
  const file = join(dir, 'unreachable.json');
  const parsed = validateProxyConfig(config({ registry: url, ticketKeys: url, nonceStore: url }), file);
  const error = await proxyFromConfig(parsed, file, {
    info() {},
    warn() {},
    error() {},
    debug() {},
  } as never).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  const text = (error as ConfigError).message;
  for (const key of ['registry', 'ticketKeys']) expect(text).toContain(key);
}, 60_000);

describeWithRedis('baton proxy --config with redis:// stores (child process, real redis-server)', () => {
  const redis = useRedisServer();

  it('finds a backend that registered itself in Redis, relays a player, and exits 0 on SIGTERM', async () => {
    // the backend process: registers itself and publishes its ticket key (the config lists no backends)
    const registry = new RedisRegistry({ redis: redis.url });
    const ticketKeys = new RedisTicketKeys({ redis: redis.url });
    const nonces = new RedisNonceStore({ redis: redis.url });
    closers.push(
      () => registry.close(),
      () => ticketKeys.close(),
      () => nonces.close(),
    );
    const server = new Server(clusterProtocol, { authenticator: new OfflineAuthenticator(), name: 'b1' });
    closers.push(() => server.close());
    const seqs: number[] = [];
    server.onMessage(Input, (_u, v) => seqs.push(v.seq));
    const keys = await ticketKeys.generate('b1');
    const at = await server.listenProxies(
      tlsStreamServer({ cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert, port: 0 }),
      {
        backendId: 'b1',
        tickets: {
          privateKey: keys.privateKey,
          publicKeyOf: (b) => ticketKeys.publicKeyOf(b),
          nonceStore: nonces,
        },
      },
    );
    await registry.register({
      id: 'b1',
      pool: 'default',
      address: { host: '127.0.0.1', port: at.port },
      capacity: 10,
      publicKey: keys.publicKey,
    });

    const file = join(dir, 'redis.json');
    writeFileSync(
      file,
      JSON.stringify(config({ registry: redis.url, ticketKeys: redis.url, nonceStore: redis.url }), null, 2),
    );
    const run = runBaton(['proxy', '--config', file]);
    running.push(run);
    await waitUntil(
      () => run.stdout.includes('"proxy listening"') || run.child.exitCode !== null,
      30_000,
      'proxy listening',
    );
    const listening = run.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) =>
          JSON.parse(l) as {
            msg: string;
            listeners?: string[];
            pools?: { backends: number; seamlessMigration: boolean }[];
          },
      )
      .find((l) => l.msg === 'proxy listening');
    expect(listening, run.stderr).toBeDefined();
    expect(listening!.pools![0]).toMatchObject({ backends: 1, seamlessMigration: true });
    const udp = new URL(listening!.listeners![0]);

    const client = new Client(clusterProtocol, { handshakeTimeoutMs: 10_000 });
    closers.push(() => client.close());
    await client.connect(udpClient({ transport: 'udp', host: udp.hostname, port: Number(udp.port) }), {
      username: 'bot',
    });
    for (let seq = 1; seq <= 5; seq++) client.send('chat', Input, { seq, dx: 0, dy: 0 });
    await waitUntil(() => seqs.length === 5, 10_000, 'inputs processed');
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    // the proxy reported the player's load to the shared registry
    await expect.poll(async () => (await registry.get('b1'))?.load, { timeout: 10_000 }).toBe(1);

    run.child.kill('SIGTERM');
    const exit = await Promise.race([
      run.exited,
      new Promise((r) => setTimeout(() => r('still running after 20 s'), 20_000)),
    ]);
    expect(exit, run.stderr).toBe(0);
  }, 90_000);
});
