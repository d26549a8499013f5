import { afterEach, describe, expect, it } from 'vitest';
import type { MigrationResult } from '../src/proxy/index.js';
import { type MemCluster, memCluster, processedSeqs, until } from './helpers/migration.js';
import { Input } from './helpers/protocol.js';

const open: MemCluster[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of open.splice(0)) await c.close();
});

describe('many migrations at once', () => {
  it('migrates 200 playing players concurrently with zero loss', { timeout: 60_000 }, async () => {
    const cluster = await memCluster(['a', 'b'], { seed: 3 });
    open.push(cluster);
    const clients = Array.from({ length: 200 }, () => cluster.client());
    const sent = new Map<string, number>();
    let sending = true;
    // one driver steps every client each tick; each connected client sends one input per tick
    timers.push(
      setInterval(() => {
        for (const c of clients) {
          if (c.connected && sending) {
            const uuid = (c as unknown as { identity: { uuid: string } }).identity.uuid;
            const seq = (sent.get(uuid) ?? 0) + 1;
            sent.set(uuid, seq);
            c.send('chat', Input, { seq, dx: 0, dy: 0 });
          }
          c.step();
        }
      }, 20),
    );
    await Promise.all(
      clients.map((c, i) => c.connect(cluster.hub.client(cluster.address), { username: `bot${i}` })),
    );
    // everyone on A first (the least loaded picks alternate): move the ones on B to A
    const first = await Promise.all(
      cluster.proxy
        .sessions()
        .filter((s) => s.backendId === 'b')
        .map((s) => cluster.proxy.migrate(s.id, 'a')),
    );
    expect(first.every((r) => r.ok)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    const results: MigrationResult[] = await Promise.all(
      cluster.proxy.sessions().map((s) => cluster.proxy.migrate(s.id, 'b')),
    );
    const failed = results.filter((r) => !r.ok);
    expect(failed).toEqual([]);
    expect(cluster.proxy.sessions().every((s) => s.backendId === 'b')).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    sending = false;
    const total = [...sent.values()].reduce((x, y) => x + y, 0);
    await until(() => cluster.log.length >= total, 10_000, 'every input processed');
    for (const [uuid, n] of sent) {
      expect(processedSeqs(cluster.log, uuid, 'chat')).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    }
    expect(clients.every((c) => c.connected)).toBe(true);
    const stats = cluster.proxy.stats.migration;
    expect(stats.rolledBack).toBe(0);
    expect(stats.fallbacks).toBe(0);
  });

  it('serves sessions, stats and migrations over the admin endpoint', async () => {
    const cluster = await memCluster(['a', 'b'], {
      proxy: { admin: { port: 0, token: 'test-admin-token-123' } },
    });
    open.push(cluster);
    const client = cluster.client();
    timers.push(setInterval(() => client.step(), 20));
    await client.connect(cluster.hub.client(cluster.address), { username: 'ann' });
    const port = cluster.proxy.adminPort!;
    const base = `http://127.0.0.1:${port}`;
    const headers = { authorization: 'Bearer test-admin-token-123', 'content-type': 'application/json' };
    const sessions = (await (await fetch(`${base}/sessions`, { headers })).json()) as {
      id: number;
      backendId: string;
    }[];
    expect(sessions).toHaveLength(1);
    const from = sessions[0].backendId;
    const to = from === 'a' ? 'b' : 'a';
    const res = await fetch(`${base}/sessions/${sessions[0].id}/migrate?to=${to}`, {
      method: 'POST',
      headers,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as MigrationResult).ok).toBe(true);
    const stats = (await (await fetch(`${base}/stats`)).json()) as { migration: { completed: number } };
    expect(stats.migration.completed).toBe(1);
    expect((await fetch(`${base}/sessions/999/migrate?to=a`, { method: 'POST', headers })).status).toBe(404);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
