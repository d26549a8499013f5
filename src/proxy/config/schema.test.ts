import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadProxyConfig, validateProxyConfig } from './load.js';
import type { ProxyConfigInput } from './schema.js';

// a config broken on purpose: fields of any shape are written into it
// biome-ignore lint/suspicious/noExplicitAny: mutations write fields of the wrong type
type Loose = any;

const valid = (): ProxyConfigInput => ({
  id: 'proxy-1',
  protocol: { module: './protocol.js' },
  auth: { mode: 'offline' },
  listeners: [
    { type: 'udp', port: 7777 },
    { type: 'ws', port: 7778, path: '/baton' },
  ],
  backendTls: { cert: 'proxy.crt', key: 'proxy.key', ca: 'ca.crt' },
  pools: [{ name: 'default' }],
  backends: [
    { id: 'b1', host: '127.0.0.1', port: 9001, ticketPublicKey: 'b1.pub' },
    { id: 'b2', host: '127.0.0.1', port: 9002, ticketPublicKey: 'b2.pub' },
  ],
  admin: { port: 0 },
  log: { level: 'info' },
  migration: { timeouts: { freeze: 1000 } },
});

/** The problems of a config (none → []). */
function problems(c: unknown): string[] {
  try {
    validateProxyConfig(c);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
}

describe('proxy config schema', () => {
  it('accepts a valid config and fills the defaults', () => {
    const c = validateProxyConfig(valid());
    expect(c.registry).toBe('memory');
    expect(c.pools[0].seamlessMigration).toBe(true);
    expect(c.backends[0]).toMatchObject({ pool: 'default', capacity: 1000 });
    expect(c.listeners[0]).toMatchObject({ host: '127.0.0.1' });
  });

  // each wrong field → a problem that names its path
  const cases: [string, (c: Loose) => void, string][] = [
    ['missing id type', (c) => (c.id = 5), 'id: '],
    ['protocol module missing', (c) => delete c.protocol.module, 'protocol.module: '],
    ['unknown auth mode', (c) => (c.auth = { mode: 'magic' }), 'auth.mode: '],
    ['ed25519 without issuers', (c) => (c.auth = { mode: 'ed25519', issuers: {} }), 'auth.issuers: '],
    ['no listeners', (c) => (c.listeners = []), 'listeners: '],
    ['listener port out of range', (c) => (c.listeners[1].port = 70000), 'listeners[1].port: '],
    ['unknown listener type', (c) => (c.listeners[0].type = 'quic'), 'listeners[0].type: '],
    ['ws path without slash', (c) => (c.listeners[1].path = 'baton'), 'listeners[1].path: '],
    [
      'wss without cert',
      (c) => c.listeners.push({ type: 'wss', port: 443, key: 'k' }),
      'listeners[2].cert: ',
    ],
    ['backendTls without ca', (c) => delete c.backendTls.ca, 'backendTls.ca: '],
    ['backend port 0', (c) => (c.backends[1].port = 0), 'backends[1].port: '],
    ['backend capacity negative', (c) => (c.backends[0].capacity = -1), 'backends[0].capacity: '],
    ['backend in an unknown pool', (c) => (c.backends[1].pool = 'arena'), 'backends[1].pool: '],
    ['duplicate backend id', (c) => (c.backends[1].id = 'b1'), 'backends[1].id: '],
    ['duplicate pool', (c) => c.pools.push({ name: 'default' }), 'pools[1].name: '],
    ['pool without backends', (c) => c.pools.push({ name: 'arena' }), 'pools[1]: '],
    [
      'seamless pool with a backend that cannot have its tickets verified',
      (c) => delete c.backends[1].ticketPublicKey,
      'backends[1].ticketPublicKey: ',
    ],
    ['registry neither memory nor redis', (c) => (c.registry = 'etcd://x'), 'registry: '],
    ['nonce store wrong type', (c) => (c.nonceStore = 3), 'nonceStore: '],
    ['admin token too short', (c) => (c.admin.token = 'x'), 'admin.token: '],
    ['log level unknown', (c) => (c.log.level = 'loud'), 'log.level: '],
    ['limits not a number', (c) => (c.limits = { maxPlayers: 'many' }), 'limits.maxPlayers: '],
    ['migration timeout zero', (c) => (c.migration.timeouts.freeze = 0), 'migration.timeouts.freeze: '],
    [
      'unknown migration timeout',
      (c) => (c.migration.timeouts.thaw = 5),
      'migration.timeouts.thaw: unknown field',
    ],
    ['unknown top-level field', (c) => (c.listners = []), 'listners: unknown field'],
  ];
  for (const [what, mutate, path] of cases) {
    it(`names the path: ${what}`, () => {
      const c = valid();
      mutate(c);
      const p = problems(c);
      expect(
        p.some((line) => line.startsWith(path)),
        `${path} in ${JSON.stringify(p)}`,
      ).toBe(true);
    });
  }

  it('a pool that does not claim seamless migration needs no ticket keys', () => {
    const c: Loose = valid();
    delete c.backends[1].ticketPublicKey;
    c.pools[0].seamlessMigration = false;
    expect(problems(c)).toEqual([]);
  });

  it('reports every problem at once', () => {
    const c: Loose = valid();
    c.listeners[0].port = -1;
    c.backends[0].port = 'x';
    c.log.level = 'loud';
    const p = problems(c);
    expect(p).toHaveLength(3);
    expect(p.map((l) => l.split(':')[0]).sort()).toEqual([
      'backends[0].port',
      'listeners[0].port',
      'log.level',
    ]);
  });

  const dir = mkdtempSync(join(tmpdir(), 'baton-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads JSON and YAML files, and says which file cannot be parsed', () => {
    const json = join(dir, 'proxy.json');
    writeFileSync(json, JSON.stringify(valid()));
    expect(loadProxyConfig(json).id).toBe('proxy-1');
    const yaml = join(dir, 'proxy.yaml');
    writeFileSync(
      yaml,
      [
        'protocol: { module: ./protocol.js }',
        'auth: { mode: offline }',
        'listeners: [{ type: udp, port: 7777 }]',
        'backendTls: { cert: a, key: b, ca: c }',
        'pools: [{ name: default, seamlessMigration: false }]',
        'backends: [{ id: b1, host: 127.0.0.1, port: 9001 }]',
      ].join('\n'),
    );
    expect(loadProxyConfig(yaml).backends[0].id).toBe('b1');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ nope');
    expect(() => loadProxyConfig(bad)).toThrow(/bad\.json: 1 problem:\n {2}\(file\): not valid JSON/);
    expect(() => loadProxyConfig(join(dir, 'missing.json'))).toThrow(/cannot read/);
  });
});
