import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '../src/client/index.js';
import type { ClusterChannels } from './helpers/cluster.js';
import { type MemCluster, memCluster, processedSeqs, until } from './helpers/migration.js';
import { Input } from './helpers/protocol.js';

/**
 * Zero-downtime drains (DESIGN §6): a backend's players move seamlessly to the rest of its
 * pool, then it leaves — no disconnect, no lost input — with 5 % loss on the players' hop.
 */
const open: MemCluster[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of open.splice(0)) await c.close();
});

const LOSSY = { loss: 0.05, reorder: 0.02, reorderDelayMs: 10, latencyMs: 2, jitterMs: 2 };

interface Players {
  readonly clients: Client<ClusterChannels>[];
  readonly sent: Map<Client<ClusterChannels>, number>;
  readonly disconnects: string[];
  stopSending(): void;
}

/** `n` bots on the cluster's only backend, each sending `Input { seq }` on 'chat' and 'input' every tick. */
async function playOn(cluster: MemCluster, n: number): Promise<Players> {
  const clients = Array.from({ length: n }, () => cluster.client());
  const sent = new Map<Client<ClusterChannels>, number>();
  const disconnects: string[] = [];
  let sending = true;
  for (const c of clients) c.on('disconnect', (r) => disconnects.push(r));
  timers.push(
    setInterval(() => {
      for (const c of clients) {
        if (c.connected && sending) {
          const seq = (sent.get(c) ?? 0) + 1;
          sent.set(c, seq);
          c.send('chat', Input, { seq, dx: 0, dy: 0 });
          c.send('input', Input, { seq, dx: 0, dy: 0 });
        }
        c.step();
      }
    }, 20),
  );
  await Promise.all(
    clients.map((c, i) =>
      c.connect(cluster.hub.client(cluster.address, { conditioner: LOSSY }), { username: `bot${i}` }),
    ),
  );
  return {
    clients,
    sent,
    disconnects,
    stopSending: () => {
      sending = false;
    },
  };
}

/** Every input of every bot processed exactly once (chat in order), over all backends. */
async function expectNothingLost(cluster: MemCluster, players: Players): Promise<void> {
  players.stopSending();
  const total = [...players.sent.values()].reduce((x, y) => x + y, 0);
  await until(() => cluster.log.length >= 2 * total, 20_000, 'every input processed');
  const uuids = new Map(cluster.proxy.sessions().map((s) => [s.username, s.uuid]));
  for (const [c, n] of players.sent) {
    const uuid = uuids.get((c as unknown as { identity: { username: string } }).identity.username)!;
    const expected = Array.from({ length: n }, (_, i) => i + 1);
    expect(processedSeqs(cluster.log, uuid, 'chat')).toEqual(expected);
    expect([...processedSeqs(cluster.log, uuid, 'input')].sort((x, y) => x - y)).toEqual(expected);
  }
  expect(cluster.log.length).toBe(2 * total);
}

describe('drains', () => {
  it('proxy.drain moves 50 playing bots off a backend under 5 % loss: every bot on another backend, 0 inputs lost, 0 disconnects, the backend leaves the pool', async () => {
    const cluster = await memCluster(['a'], { seed: 5 });
    open.push(cluster);
    const players = await playOn(cluster, 50);
    expect(cluster.proxy.sessions().every((s) => s.backendId === 'a')).toBe(true);
    await cluster.addBackend('b');
    await cluster.addBackend('c');
    await new Promise((r) => setTimeout(r, 100)); // play a little on a first
    const result = await cluster.proxy.drain('a', { concurrency: 8 });
    expect(result).toMatchObject({ backendId: 'a', moved: 50, failed: [], removed: true });
    const where = cluster.proxy.sessions().map((s) => s.backendId);
    expect(where).toHaveLength(50);
    expect(where.every((b) => b === 'b' || b === 'c')).toBe(true);
    // spread over the pool (least loaded first), not all on one
    expect(where.filter((b) => b === 'b').length).toBeGreaterThan(10);
    expect(await cluster.registry.get('a')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 100)); // play on the new backends
    await expectNothingLost(cluster, players);
    expect(players.disconnects).toEqual([]);
    expect(players.clients.every((c) => c.connected)).toBe(true);
    expect(cluster.proxy.stats.migration.completed).toBe(50);
    // new players go elsewhere
    const late = cluster.client();
    timers.push(setInterval(() => late.step(), 20));
    await late.connect(cluster.hub.client(cluster.address), { username: 'late' });
    expect(cluster.proxy.sessions().find((s) => s.username === 'late')?.backendId).not.toBe('a');
  }, 90_000);

  it('server.drain (a backend told to stop) hands its players to the proxy, which moves them all; then it closes', async () => {
    const cluster = await memCluster(['a'], { seed: 9 });
    open.push(cluster);
    const players = await playOn(cluster, 20);
    await cluster.addBackend('b');
    await new Promise((r) => setTimeout(r, 100));
    const a = cluster.backends.get('a')!.server;
    const result = await a.drain({ timeoutMs: 20_000 });
    expect(result).toEqual({ moved: 20, remaining: 0 });
    expect(cluster.proxy.sessions().every((s) => s.backendId === 'b')).toBe(true);
    expect((await cluster.registry.get('a'))?.health).not.toBe('up');
    await new Promise((r) => setTimeout(r, 100));
    await expectNothingLost(cluster, players);
    expect(players.disconnects).toEqual([]);
  }, 90_000);

  it('a handed-off player is marked leaving on its old backend during the overlap window, then leaves', async () => {
    const cluster = await memCluster(['a', 'b'], { proxy: { migration: { overlapMs: 400 } } });
    open.push(cluster);
    const players = await playOn(cluster, 1);
    const s = cluster.proxy.sessions()[0];
    const from = cluster.backends.get(s.backendId!)!.server;
    const to = s.backendId === 'a' ? 'b' : 'a';
    expect(from.users.map((u) => u.leaving)).toEqual([false]);
    expect((await cluster.proxy.migrate(s.id, to)).ok).toBe(true);
    // still a user there (the rollback window), but leaving; the other backend has it playing
    expect(from.users.map((u) => u.leaving)).toEqual([true]);
    expect(cluster.backends.get(to)!.server.users.map((u) => u.leaving)).toEqual([false]);
    expect(from.users[0].uuid).toBe(cluster.backends.get(to)!.server.users[0].uuid);
    await until(() => from.users.length === 0, 5000, 'the old session closes after the window');
    await expectNothingLost(cluster, players);
  }, 60_000);

  it('drains through the admin endpoint and serves Prometheus metrics whose migration counters moved', async () => {
    const token = 'drain-test-token-0123456789';
    const cluster = await memCluster(['a'], { proxy: { admin: { port: 0, token } } });
    open.push(cluster);
    const players = await playOn(cluster, 3);
    await cluster.addBackend('b');
    const base = `http://127.0.0.1:${cluster.proxy.adminPort}`;
    const post = {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    };
    // a drain moves players: without the token (or as a non-JSON simple POST) it is refused
    expect((await fetch(`${base}/backends/a/drain`, { method: 'POST' })).status).toBe(401);
    expect(
      (await fetch(`${base}/backends/a/drain`, { ...post, headers: { authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(415);
    expect((await fetch(`${base}/backends/nope/drain`, post)).status).toBe(404);
    const res = await fetch(`${base}/backends/a/drain`, post);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ moved: 3, failed: [], removed: true });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^baton_proxy_migrations_total\{outcome="ok",state="Done",proxy="proxy-1"\} 3$/m);
    expect(text).toMatch(/^baton_proxy_migration_freeze_seconds_count\{proxy="proxy-1"\} 3$/m);
    expect(text).toMatch(/^baton_proxy_sessions\{state="active",proxy="proxy-1"\} 3$/m);
    await expectNothingLost(cluster, players);
  }, 60_000);
});
