import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519KeyPair, InMemoryRegistry } from '../src/cluster/index.js';
import { udpClient } from '../src/transport/index.js';
import { newClient, startBackend, startProxy } from './helpers/cluster.js';
import { Chat } from './helpers/protocol.js';
import { createTestCertificates, type TestCertificates } from './helpers/testCertificates.js';
import { waitFor } from './helpers/transports.js';

/**
 * A backend dies mid-session — a child process killed (SIGKILL: its sockets vanish) or frozen
 * (SIGSTOP: it stops answering heartbeats) — and the proxy refers its players to a healthy
 * backend or disconnects them with a reason, within the timeout, while serving everyone else.
 */
const here = dirname(fileURLToPath(import.meta.url));
let certs: TestCertificates;
beforeAll(async () => {
  certs = await createTestCertificates();
});
afterAll(() => certs?.dispose());
const open: { close(): Promise<void> }[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {});
});

/** Everything each child printed so far, by child. */
const outputs = new Map<ChildProcess, string>();

async function childBackend(id: string, registry: InMemoryRegistry, pool = 'default'): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(here, 'fixtures/backendProcess.ts')], {
    env: {
      ...process.env,
      BACKEND_ID: id,
      BACKEND_CERT: certs.server.cert,
      BACKEND_KEY: certs.server.key,
      BACKEND_CA: certs.ca.cert,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const port = await new Promise<number>((resolvePort, reject) => {
    outputs.set(child, '');
    child.stdout!.on('data', (d) => {
      const out = outputs.get(child)! + d;
      outputs.set(child, out);
      const m = /PORT (\d+)/.exec(out);
      if (m) resolvePort(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`backend child exited ${code}`)));
  });
  await registry.register({
    id,
    pool,
    address: { host: '127.0.0.1', port },
    capacity: 100,
    publicKey: generateEd25519KeyPair().publicKey,
  });
  return child;
}

describe('backend death', () => {
  it('killed backend: its players are referred to the healthy one, the others keep being served', async () => {
    const registry = new InMemoryRegistry();
    const child = await childBackend('backend-child', registry);
    const { proxy, udp } = await startProxy(certs, registry);
    open.push(proxy);
    // both players land on the child (the only backend), then a healthy one joins the pool
    const doomed = newClient();
    open.push(doomed);
    await doomed.connect(udpClient(udp), { username: 'doomed' });
    expect(proxy.sessions()[0].backendId).toBe('backend-child');
    const healthy = await startBackend(certs, registry, 'backend-ok');
    open.push(healthy.server);
    await registry.update('backend-child', { load: 50 });
    const other = newClient();
    open.push(other);
    await other.connect(udpClient(udp), { username: 'other' });
    expect(healthy.server.users.map((u) => u.username)).toEqual(['other']);

    const referral: { host: string; port: number; data: Uint8Array }[] = [];
    doomed.on('referral', (r) => referral.push(r));
    const reasons: string[] = [];
    doomed.on('disconnect', (r) => reasons.push(r));
    const killedAt = Date.now();
    child.kill('SIGKILL');
    // a killed process's sockets close at once; the bound leaves room for a loaded CI machine
    expect(await waitFor(() => referral.length === 1 && reasons.length >= 1, 6000)).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(5000);
    expect(referral[0].port).toBe(udp.port);
    expect(reasons[0]).toMatch(/backend-ok/);
    expect((await registry.get('backend-child'))?.health).toBe('down');
    expect(proxy.stats.backends.lost).toBe(1);
    // the other player is untouched
    expect(other.connected).toBe(true);
    expect(healthy.server.users.map((u) => u.username)).toEqual(['other']);
  }, 30_000);

  it('frozen backend (no heartbeat answers): its players are disconnected with a reason within the timeout', async () => {
    const registry = new InMemoryRegistry();
    const child = await childBackend('backend-frozen', registry, 'solo');
    const ok = await startBackend(certs, registry, 'backend-ok', { pool: 'default' });
    open.push(ok.server);
    const { proxy, udp } = await startProxy(certs, registry, {
      pools: ['default', 'solo'],
      choosePool: (c) => (c.username.startsWith('solo') ? 'solo' : 'default'),
      backendTimeoutMs: 800,
    });
    open.push(proxy);
    const frozen = newClient();
    const fine = newClient();
    open.push(frozen, fine);
    await frozen.connect(udpClient(udp), { username: 'solo-1' });
    await fine.connect(udpClient(udp), { username: 'fine' });
    const reasons: string[] = [];
    frozen.on('disconnect', (r) => reasons.push(r));
    const frozenAt = Date.now();
    child.kill('SIGSTOP');
    expect(await waitFor(() => reasons.length === 1, 8000)).toBe(true);
    // the 800 ms heartbeat timeout plus one maintenance pass, with slack for a loaded machine
    expect(Date.now() - frozenAt).toBeLessThan(800 + 3000);
    expect(reasons[0]).toMatch(/backend backend-frozen lost .*heartbeats.*no other backend in pool 'solo'/);
    expect(proxy.stats.disconnectsOnBackendLoss).toBe(1);
    expect(fine.connected).toBe(true);
    expect(ok.server.users.length).toBe(1);
  }, 30_000);

  it('fencing: a backend stalled past the proxy timeout applies none of the input that reaches it after', async () => {
    const registry = new InMemoryRegistry();
    const child = await childBackend('backend-stall', registry);
    const { proxy, udp } = await startProxy(certs, registry, { backendProbe: false });
    open.push(proxy);
    const c = newClient();
    open.push(c);
    await c.connect(udpClient(udp), { username: 'mover' });
    const ok = await startBackend(certs, registry, 'backend-ok');
    open.push(ok.server);
    const out = () => outputs.get(child)!;
    const referrals: unknown[] = [];
    c.on('referral', (r) => referrals.push(r));
    // input flows the whole time, up to the referral
    let seq = 0;
    const sender = setInterval(() => {
      if (c.connected) c.send('chat', Chat, { from: seq++, text: 'x' });
    }, 10);
    try {
      expect(await waitFor(() => out().includes('MSG mover 5'), 8000)).toBe(true);
      child.kill('SIGSTOP');
      // everything sent from now on can only be read by the child after it wakes
      const seqAtStop = seq;
      expect(await waitFor(() => referrals.length === 1, 8000)).toBe(true);
      // the proxy relayed input to the frozen backend until it gave it up
      const sentWhileStalled = seq;
      await new Promise((r) => setTimeout(r, 300));
      const before = out().length;
      child.kill('SIGCONT');
      expect(await waitFor(() => /BYE mover/.test(out().slice(before)), 8000)).toBe(true);
      const after = out().slice(before);
      const stale = [...after.matchAll(/MSG mover (\d+)/g)].map((m) => Number(m[1]));
      // none of the input relayed during the stall is applied; at most the one frame the stop
      // caught between its fence check and its application (read before the stop) shows up late
      expect(stale.filter((n) => n >= seqAtStop)).toEqual([]);
      expect(stale.length).toBeLessThanOrEqual(1);
      expect(after).toMatch(/BYE mover .*fenced/);
      expect(sentWhileStalled - seqAtStop).toBeGreaterThan(5);
    } finally {
      clearInterval(sender);
    }
  }, 40_000);

  it('a backend marked down after a transient stall is probed and comes back up in the registry', async () => {
    const registry = new InMemoryRegistry();
    const child = await childBackend('backend-flaky', registry);
    const { proxy, udp } = await startProxy(certs, registry, {
      backendProbe: { initialMs: 200, maxMs: 1000 },
    });
    open.push(proxy);
    const first = newClient();
    open.push(first);
    await first.connect(udpClient(udp), { username: 'first' });
    const recovered: string[] = [];
    proxy.on('backendRecovered', (id) => recovered.push(id));
    const health: string[] = [];
    registry.events.on('health', (r) => health.push(r.health));
    child.kill('SIGSTOP');
    expect(await waitFor(() => health.includes('down'), 8000)).toBe(true);
    expect(proxy.stats.backends.unavailable.map((u) => u.id)).toEqual(['backend-flaky']);
    child.kill('SIGCONT');
    expect(await waitFor(() => recovered.length === 1, 15_000)).toBe(true);
    expect((await registry.get('backend-flaky'))?.health).toBe('up');
    expect(proxy.stats.backends.recovered).toBe(1);
    expect(proxy.stats.backends.unavailable).toEqual([]);
    // and it takes players again
    const second = newClient();
    open.push(second);
    await second.connect(udpClient(udp), { username: 'second' });
    expect(proxy.sessions().find((s) => s.username === 'second')?.backendId).toBe('backend-flaky');
  }, 40_000);
});
