import { connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConnectError } from '../src/client/index.js';
import { InMemoryRegistry } from '../src/cluster/index.js';
import { udpClient } from '../src/transport/index.js';
import { encodeFrame } from '../src/transport/stream/index.js';
import { newClient, startBackend, startProxy, useClusterFixture } from './helpers/cluster.js';
import type { CertificateAndKey } from './helpers/testCertificates.js';
import { waitFor } from './helpers/transports.js';

/** Trust between proxy and backend comes from mutual TLS, both ways. */
const fx = useClusterFixture();
const { open } = fx;

async function attempt(
  proxyIdentity: CertificateAndKey,
  backend: { identity?: CertificateAndKey; allowed?: string[] } = {},
) {
  const registry = new InMemoryRegistry();
  const b = await startBackend(fx.certs, registry, 'backend-a', {
    identity: backend.identity,
    allowedProxies: backend.allowed,
  });
  open.push(b.server);
  const { proxy, udp } = await startProxy(fx.certs, registry, {
    tls: { cert: proxyIdentity.cert, key: proxyIdentity.key, ca: fx.certs.ca.cert, handshakeTimeoutMs: 2000 },
  });
  open.push(proxy);
  const c = newClient();
  open.push(c);
  const error = await c.connect(udpClient(udp), { username: 'ann' }).then(
    () => undefined,
    (e) => e as ConnectError,
  );
  return { error, backend: b, proxy, registry };
}

describe('mutual TLS between proxy and backend', () => {
  it('accepts a proxy certificate signed by the CA', async () => {
    const { error, backend } = await attempt(fx.certs.client);
    expect(error).toBeUndefined();
    expect(backend.server.proxiedStats?.proxiesConnected).toBe(1);
  }, 20_000);

  for (const [name, pick] of [
    ['unknown (other CA)', () => fx.certs.otherCaClient],
    ['expired', () => fx.certs.expiredClient],
    ['self-signed', () => fx.certs.selfSignedClient],
  ] as const) {
    it(`a backend refuses a proxy whose certificate is ${name}`, async () => {
      const { error, backend, proxy, registry } = await attempt(pick());
      expect(error).toBeInstanceOf(ConnectError);
      expect(error!.reason).toMatch(/backend unavailable/);
      expect(backend.server.users.length).toBe(0);
      expect(backend.server.proxiedStats?.proxiesConnected).toBe(0);
      expect(proxy.stats.backends.connectFailures).toBe(1);
      expect((await registry.get('backend-a'))?.health).toBe('down');
    }, 20_000);
  }

  it('a backend refuses a proxy CN outside its allow-list before accepting it: a configuration error, not a lost backend', async () => {
    const { error, backend, proxy, registry } = await attempt(fx.certs.client, { allowed: ['proxy-9'] });
    expect(error).toBeInstanceOf(ConnectError);
    expect(error!.reason).toMatch(/configuration error: backend backend-a refused this proxy: .*not allowed/);
    expect(backend.server.proxiedStats?.proxiesRefused).toBeGreaterThanOrEqual(1);
    // refused before READY: the stream was never accepted
    expect(backend.server.proxiedStats?.proxiesConnected).toBe(0);
    expect(backend.server.users.length).toBe(0);
    expect(proxy.stats.backends.refused).toBe(1);
    expect(proxy.stats.backends.lost + proxy.stats.backends.connectFailures).toBe(0);
    expect(proxy.stats.backends.unavailable.map((u) => [u.id, u.kind])).toEqual([['backend-a', 'refused']]);
    expect((await registry.get('backend-a'))?.health).toBe('up');
  }, 20_000);

  it('the proxy refuses a backend it cannot verify', async () => {
    const { error, backend } = await attempt(fx.certs.client, { identity: fx.certs.otherCaServer });
    expect(error).toBeInstanceOf(ConnectError);
    expect(error!.reason).toMatch(/backend unavailable/);
    expect(backend.server.users.length).toBe(0);
  }, 20_000);

  it('a backend refuses plain TCP', async () => {
    const registry = new InMemoryRegistry();
    const b = await startBackend(fx.certs, registry, 'backend-a');
    open.push(b.server);
    const socket = netConnect(b.port, '127.0.0.1');
    let closed = false;
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
    });
    socket.on('connect', () => socket.write(encodeFrame(1, 1, new Uint8Array(8))));
    expect(await waitFor(() => closed, 5000)).toBe(true);
    expect(b.server.proxiedStats?.proxiesConnected).toBe(0);
    expect(b.server.users.length).toBe(0);
  }, 20_000);
});
