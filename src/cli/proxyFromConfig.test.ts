import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeWithRedis, useRedisServer } from '../../test/helpers/redis.js';
import {
  createDevCertificates,
  generateEd25519KeyPair,
  RedisRegistry,
  RedisTicketKeys,
} from '../cluster/index.js';
import { ConfigError, validateProxyConfig } from '../proxy/config/index.js';
import { silentLogger } from '../util/Logger.js';
import { type ConfiguredProxy, proxyFromConfig } from './proxyFromConfig.js';

/**
 * The config → proxy step beyond the schema: stores (memory or Redis), wss listeners, and
 * problems only a real file system or a real Redis shows — each named by its field.
 */
let dir: string;
const made: ConfiguredProxy[] = [];
const closers: { close(): Promise<void> }[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-config-build-'));
  const certs = await createDevCertificates({ backends: ['b1'], proxies: ['proxy-1'], validDays: 1 });
  writeFileSync(join(dir, 'ca.crt'), certs.ca.cert);
  writeFileSync(join(dir, 'proxy.crt'), certs.proxies['proxy-1'].cert);
  writeFileSync(join(dir, 'proxy.key'), certs.proxies['proxy-1'].key);
  writeFileSync(join(dir, 'public.crt'), certs.backends.b1.cert);
  writeFileSync(join(dir, 'public.key'), certs.backends.b1.key);
  const pair = generateEd25519KeyPair();
  writeFileSync(join(dir, 'b1.pub.pem'), pair.publicKey.export({ format: 'pem', type: 'spki' }));
  writeFileSync(
    join(dir, 'protocol.ts'),
    "export { clusterProtocol as protocol } from '../../test/helpers/cluster.js';\n",
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const m of made.splice(0)) {
    await m.proxy.close();
    await m.closeStores();
  }
  for (const c of closers.splice(0)) await c.close();
});

function config(extra: Record<string, unknown> = {}) {
  return {
    id: 'proxy-1',
    protocol: { module: join(process.cwd(), 'test/helpers/cluster.ts'), export: 'clusterProtocol' },
    auth: { mode: 'offline' },
    listeners: [{ type: 'udp', port: 0 }],
    backendTls: { cert: 'proxy.crt', key: 'proxy.key', ca: 'ca.crt' },
    backends: [{ id: 'b1', host: '127.0.0.1', port: 9, ticketPublicKey: 'b1.pub.pem' }],
    ...extra,
  };
}

async function build(raw: unknown): Promise<ConfiguredProxy> {
  const m = await proxyFromConfig(validateProxyConfig(raw), join(dir, 'proxy.json'), silentLogger);
  made.push(m);
  return m;
}

async function problemsOf(raw: unknown): Promise<string[]> {
  try {
    await build(raw);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
}

describe('proxy from config', () => {
  it('serves wss:// with the listener certificate', async () => {
    const m = await build(
      config({ listeners: [{ type: 'wss', port: 0, cert: 'public.crt', key: 'public.key', path: '/play' }] }),
    );
    const [address] = await m.proxy.start();
    expect(address.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/play$/);
  });

  it('names every file problem by its field, all at once', async () => {
    const p = await problemsOf(
      config({
        listeners: [{ type: 'wss', port: 0, cert: 'nope.crt', key: 'public.key' }],
        backendTls: { cert: 'proxy.crt', key: 'missing.key', ca: 'ca.crt' },
        backends: [{ id: 'b1', host: '127.0.0.1', port: 9, ticketPublicKey: 'proxy.crt' }],
        protocol: { module: join(process.cwd(), 'test/helpers/cluster.ts'), export: 'nothing' },
      }),
    );
    expect(p.map((l) => l.split(':')[0]).sort()).toEqual([
      'backendTls.key',
      'backends[0].ticketPublicKey',
      'listeners[0].cert',
      'protocol.export',
    ]);
  });
});

describeWithRedis('proxy from config on Redis', () => {
  const redis = useRedisServer();

  it('shares the registry and ticket keys: a backend another process registered is seen, the pool can migrate', async () => {
    const prefix = redis.prefix();
    // "another process": a backend registering itself and publishing its ticket key
    const registry = new RedisRegistry({ redis: redis.url, prefix });
    const keys = new RedisTicketKeys({ redis: redis.url, prefix });
    closers.push(registry, keys);
    const pair = await keys.generate('b2');
    await registry.register({
      id: 'b2',
      pool: 'default',
      address: { host: '127.0.0.1', port: 10 },
      capacity: 10,
      publicKey: pair.publicKey,
    });
    const m = await build(
      config({ registry: redis.url, ticketKeys: redis.url, nonceStore: redis.url, redisPrefix: prefix }),
    );
    const status = await m.proxy.poolStatus('default');
    expect(status).toMatchObject({ backends: 2, seamlessMigration: true });
    // b1 from the config went into the shared registry, for the other proxies too
    expect((await registry.get('b1'))?.address).toEqual({ host: '127.0.0.1', port: 9 });
    expect(await keys.publicKeyOf('b1')).toBeDefined();
  });

  it('an unreachable Redis is a startup problem naming the field', async () => {
    const p = await problemsOf(
      config({ registry: 'redis://127.0.0.1:1', ticketKeys: 'redis://127.0.0.1:1' }),
    );
    expect(p.some((l) => l.startsWith('registry: cannot use redis://127.0.0.1:1'))).toBe(true);
    expect(p.some((l) => l.startsWith('ticketKeys: cannot use redis://127.0.0.1:1'))).toBe(true);
  }, 30_000);
});
