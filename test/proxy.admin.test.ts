import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../src/cluster/index.js';
import type { MigrationResult } from '../src/proxy/index.js';
import { type MemCluster, memCluster } from './helpers/migration.js';

/**
 * The admin endpoint over real HTTP on 127.0.0.1 (issue 12.3): the shapes of request a local
 * browser can be made to send — a cross-site simple POST, a DNS-rebound page, a foreign
 * Origin — are refused; listing and moving players need the bearer token, which is generated
 * and logged once when not configured; a migration target must be in the player's pool.
 */
const open: MemCluster[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of open.splice(0)) await c.close();
});

interface Reply {
  status: number;
  body: unknown;
}

/** One raw HTTP request (node:http, so Host and Origin are ours to set). */
function http(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function clusterWithPlayer(
  admin: { token?: string; host?: string },
  logs: string[] = [],
): Promise<{ cluster: MemCluster; port: number; id: number; from: string; to: string }> {
  const cluster = await memCluster(['a', 'b'], {
    proxy: { admin: { port: 0, ...admin }, log: (l) => logs.push(l) },
  });
  open.push(cluster);
  const client = cluster.client();
  timers.push(setInterval(() => client.step(), 20));
  await client.connect(cluster.hub.client(cluster.address), { username: 'ann' });
  const [s] = cluster.proxy.sessions();
  const from = s.backendId!;
  return { cluster, port: cluster.proxy.adminPort!, id: s.id, from, to: from === 'a' ? 'b' : 'a' };
}

const TOKEN = 'correct-horse-battery-staple';
const json = { 'content-type': 'application/json' };
const auth = { authorization: `Bearer ${TOKEN}` };

describe('admin endpoint', () => {
  it('refuses listing and moving players without the token, and with a wrong one', async () => {
    const { cluster, port, id, to } = await clusterWithPlayer({ token: TOKEN });
    expect((await http(port, 'GET', '/sessions')).status).toBe(401);
    expect(
      (await http(port, 'GET', '/sessions', { authorization: 'Bearer wrong-token-wrong-token' })).status,
    ).toBe(401);
    expect((await http(port, 'GET', '/sessions', { authorization: TOKEN })).status).toBe(401);
    expect((await http(port, 'POST', `/sessions/${id}/migrate?to=${to}`, json)).status).toBe(401);
    expect(cluster.proxy.stats.migration.started).toBe(0);
    // with it: listed, moved
    const listed = await http(port, 'GET', '/sessions', auth);
    expect(listed.status).toBe(200);
    expect((listed.body as { id: number }[]).map((s) => s.id)).toEqual([id]);
    const moved = await http(port, 'POST', `/sessions/${id}/migrate?to=${to}`, { ...auth, ...json });
    expect(moved.status).toBe(200);
    expect((moved.body as MigrationResult).ok).toBe(true);
    // the JSON body form
    const back = await http(
      port,
      'POST',
      `/sessions/${id}/migrate`,
      { ...auth, ...json },
      JSON.stringify({ to: 'a' === to ? 'b' : 'a' }),
    );
    expect(back.status).toBe(200);
    // counters stay readable without the token (no player data in them)
    const stats = await http(port, 'GET', '/stats');
    expect(stats.status).toBe(200);
    expect((stats.body as { migration: { completed: number } }).migration.completed).toBe(2);
    expect((await http(port, 'POST', `/sessions/999/migrate?to=a`, { ...auth, ...json })).status).toBe(404);
    expect((await http(port, 'GET', '/nope', auth)).status).toBe(404);
  });

  it('generates a token and logs it once when none is given: a request without it is refused', async () => {
    const logs: string[] = [];
    const { cluster, port, id, to } = await clusterWithPlayer({}, logs);
    const lines = logs.filter((l) => /admin endpoint/.test(l));
    expect(lines).toHaveLength(1);
    const token = /token \(generated, shown once\): (\S+)/.exec(lines[0])?.[1];
    expect(token).toBeDefined();
    expect(token!.length).toBeGreaterThanOrEqual(24);
    expect((await http(port, 'POST', `/sessions/${id}/migrate?to=${to}`, json)).status).toBe(401);
    expect((await http(port, 'GET', '/sessions')).status).toBe(401);
    expect(cluster.proxy.stats.migration.started).toBe(0);
    const ok = await http(port, 'POST', `/sessions/${id}/migrate?to=${to}`, {
      ...json,
      authorization: `Bearer ${token}`,
    });
    expect(ok.status).toBe(200);
  });

  it('refuses a foreign Origin even with the token, and a text/plain simple POST', async () => {
    const { cluster, port, id, to } = await clusterWithPlayer({ token: TOKEN });
    const evil = { origin: 'http://evil.example' };
    expect(
      (await http(port, 'POST', `/sessions/${id}/migrate?to=${to}`, { ...auth, ...json, ...evil })).status,
    ).toBe(403);
    expect((await http(port, 'GET', '/sessions', { ...auth, ...evil })).status).toBe(403);
    expect((await http(port, 'GET', '/stats', evil)).status).toBe(403);
    expect((await http(port, 'GET', '/sessions', { ...auth, origin: 'null' })).status).toBe(403);
    // another port on localhost is another origin
    expect(
      (await http(port, 'GET', '/sessions', { ...auth, origin: `http://127.0.0.1:${port + 1}` })).status,
    ).toBe(403);
    // the shape of a cross-site form/fetch without preflight
    const simple = await http(
      port,
      'POST',
      `/sessions/${id}/migrate?to=${to}`,
      { ...auth, 'content-type': 'text/plain' },
      'x',
    );
    expect(simple.status).toBe(415);
    expect((await http(port, 'POST', `/sessions/${id}/migrate?to=${to}`, auth)).status).toBe(415);
    expect(cluster.proxy.stats.migration.started).toBe(0);
    // the endpoint's own origin is fine
    const own = await http(port, 'GET', '/sessions', { ...auth, origin: `http://127.0.0.1:${port}` });
    expect(own.status).toBe(200);
    // the wrong method
    expect((await http(port, 'GET', `/sessions/${id}/migrate?to=${to}`, auth)).status).toBe(405);
    expect((await http(port, 'DELETE', '/sessions', auth)).status).toBe(405);
    // a body that is not JSON, or too big
    expect((await http(port, 'POST', `/sessions/${id}/migrate`, { ...auth, ...json }, '{nope')).status).toBe(
      400,
    );
    expect(
      (
        await http(
          port,
          'POST',
          `/sessions/${id}/migrate`,
          { ...auth, ...json },
          JSON.stringify({ to, pad: 'x'.repeat(10_000) }),
        )
      ).status,
    ).toBe(413);
    expect(cluster.proxy.stats.migration.started).toBe(0);
  });

  it('refuses a Host that is not this endpoint (DNS rebinding), even with the token', async () => {
    const { cluster, port, id, to } = await clusterWithPlayer({ token: TOKEN });
    const rebound = { host: `evil.example:${port}` };
    expect((await http(port, 'GET', '/sessions', { ...auth, ...rebound })).status).toBe(403);
    expect((await http(port, 'GET', '/stats', rebound)).status).toBe(403);
    expect(
      (await http(port, 'POST', `/sessions/${id}/migrate?to=${to}`, { ...auth, ...json, ...rebound })).status,
    ).toBe(403);
    expect(cluster.proxy.stats.migration.started).toBe(0);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      expect((await http(port, 'GET', '/sessions', { ...auth, host })).status).toBe(200);
    }
  });

  it('migrates only to a backend of the player pool', async () => {
    const { cluster, port, id } = await clusterWithPlayer({ token: TOKEN });
    await cluster.registry.register({
      id: 'elsewhere',
      pool: 'other',
      address: { host: 'memory', port: 1 },
      capacity: 10,
      publicKey: generateEd25519KeyPair().publicKey,
    });
    for (const to of ['elsewhere', 'nobody']) {
      const r = await http(port, 'POST', `/sessions/${id}/migrate?to=${to}`, { ...auth, ...json });
      expect(r.status).toBe(400);
      expect((r.body as { error: string }).error).toMatch(/not in pool 'default'/);
    }
    expect(cluster.proxy.stats.migration.started).toBe(0);
  });

  it('warns when bound to an address that is not loopback', async () => {
    const logs: string[] = [];
    await clusterWithPlayer({ token: TOKEN, host: '0.0.0.0' }, logs);
    expect(
      logs.filter((l) => /WARNING: admin endpoint bound to 0\.0\.0\.0, not loopback/.test(l)),
    ).toHaveLength(1);
    const quiet: string[] = [];
    await clusterWithPlayer({ token: TOKEN }, quiet);
    expect(quiet.filter((l) => /admin/.test(l))).toEqual([]);
  });
});
