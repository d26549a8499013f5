import { describe, expect, it } from 'vitest';
import { Client, ConnectError } from '../src/client/index.js';
import { InMemoryRegistry } from '../src/cluster/index.js';
import { udpClient } from '../src/transport/index.js';
import {
  clusterProtocol,
  newClient,
  startBackend,
  startProxy,
  useClusterFixture,
} from './helpers/cluster.js';
import { waitFor } from './helpers/transports.js';

/** Transfers by referral: signed token in ClientReferral, verified by the proxy on reconnect. */
const fx = useClusterFixture();
const { open } = fx;

async function cluster() {
  const registry = new InMemoryRegistry();
  const a = await startBackend(fx.certs, registry, 'backend-a');
  const b = await startBackend(fx.certs, registry, 'backend-b');
  open.push(a.server, b.server);
  const { proxy, udp } = await startProxy(fx.certs, registry, { id: 'proxy-1' });
  open.push(proxy);
  return { registry, a, b, proxy, udp };
}

describe('referral', () => {
  it('server.transfer: the client gets a signed referral and lands on the named backend', async () => {
    const { a, b, proxy, udp } = await cluster();
    const c = newClient();
    open.push(c);
    const uuid = crypto.randomUUID();
    await c.connect(udpClient(udp), { username: 'ann', uuid });
    const from = a.server.users.length === 1 ? a : b;
    const to = from === a ? b : a;
    const referrals: { host: string; port: number; data: Uint8Array }[] = [];
    c.on('referral', (r) => referrals.push(r));
    expect(from.server.transfer(from.server.users[0], to.id)).toBe(true);
    expect(await waitFor(() => referrals.length === 1)).toBe(true);
    const r = referrals[0];
    expect([r.host, r.port]).toEqual(['127.0.0.1', udp.port]);
    expect(r.data.length).toBeGreaterThan(64);
    expect(r.data.length).toBeLessThanOrEqual(4096);
    expect(await waitFor(() => from.server.users.length === 0)).toBe(true);

    // reconnect with the token: the proxy verifies it and routes to the named backend
    const again = newClient();
    open.push(again);
    await again.connect(udpClient({ transport: 'udp', host: r.host, port: r.port }), {
      username: 'ann',
      uuid,
      referralData: r.data,
    });
    expect(to.server.users.map((u) => u.username)).toEqual(['ann']);
    expect(to.server.users[0].referralData).toEqual(r.data);
    expect(proxy.stats.referrals).toMatchObject({ sent: 1, verified: 1, rejected: 0 });
    expect(proxy.sessions()[0].captured.referralVerified).toBe(true);

    // single use: the same token again is refused
    const replay = newClient();
    open.push(replay);
    const replayed = await replay
      .connect(udpClient(udp), { username: 'ann', uuid, referralData: r.data })
      .then(
        () => undefined,
        (e) => e as ConnectError,
      );
    expect(replayed).toBeInstanceOf(ConnectError);
    expect(replayed!.reason).toMatch(/referral rejected: replayed/);
  }, 30_000);

  it('a Client with followReferrals reconnects by itself and lands on the named backend', async () => {
    const { a, b, udp } = await cluster();
    const c = new Client(clusterProtocol, {
      handshakeTimeoutMs: 4000,
      followReferrals: (to) => udpClient({ transport: 'udp', host: to.host, port: to.port }),
    });
    open.push(c);
    const events: string[] = [];
    c.on('referral', () => events.push('referral'));
    c.on('disconnect', () => events.push('disconnect'));
    c.on('reconnect', () => events.push('reconnect'));
    c.on('connect', () => events.push('connect'));
    await c.connect(udpClient(udp), { username: 'cy' });
    const from = a.server.users.length === 1 ? a : b;
    const to = from === a ? b : a;
    expect(from.server.transfer(from.server.users[0], to.id)).toBe(true);
    expect(await waitFor(() => to.server.users.length === 1 && c.connected, 8000)).toBe(true);
    expect(events).toEqual(['connect', 'referral', 'disconnect', 'reconnect', 'connect']);
    expect(c.serverInfo?.name).toBe(to.id);
    expect(from.server.users.length).toBe(0);
  }, 30_000);

  it('proxy.transfer by an operator; tampered or foreign tokens are rejected', async () => {
    const { a, b, proxy, udp } = await cluster();
    const c = newClient();
    open.push(c);
    const uuid = crypto.randomUUID();
    await c.connect(udpClient(udp), { username: 'bob', uuid });
    const session = proxy.sessions()[0];
    const target = session.backendId === 'backend-a' ? 'backend-b' : 'backend-a';
    const referrals: Uint8Array[] = [];
    c.on('referral', (r) => referrals.push(r.data));
    expect(await proxy.transfer(session.id, 'nope')).toMatch(/unknown backend/);
    expect(await proxy.transfer(session.id, target)).toBe(true);
    expect(await waitFor(() => referrals.length === 1)).toBe(true);

    const tampered = referrals[0].slice();
    tampered[10] ^= 0xff;
    const t1 = newClient();
    open.push(t1);
    const e1 = await t1.connect(udpClient(udp), { username: 'bob', uuid, referralData: tampered }).then(
      () => undefined,
      (e) => e as ConnectError,
    );
    expect(e1?.reason).toMatch(/referral rejected/);
    // someone else's uuid with bob's token
    const t2 = newClient();
    open.push(t2);
    const e2 = await t2.connect(udpClient(udp), { username: 'eve', referralData: referrals[0] }).then(
      () => undefined,
      (e) => e as ConnectError,
    );
    expect(e2?.reason).toMatch(/referral rejected: wrong-subject/);
    expect(proxy.stats.referrals.rejected).toBe(2);
    // the real one still works and lands on the target
    const ok = newClient();
    open.push(ok);
    await ok.connect(udpClient(udp), { username: 'bob', uuid, referralData: referrals[0] });
    const landed = target === 'backend-a' ? a : b;
    expect(landed.server.users.map((u) => u.username)).toEqual(['bob']);
  }, 30_000);
});
