import { afterAll, afterEach, beforeAll } from 'vitest';
import { Client } from '../../src/client/index.js';
import { generateEd25519KeyPair, type InMemoryRegistry } from '../../src/cluster/index.js';
import { component, defineProtocol, t } from '../../src/index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy, type ProxyOptions } from '../../src/proxy/index.js';
import { OfflineAuthenticator, Server, type ServerOptions } from '../../src/server/index.js';
import { udpServer, websocketServer } from '../../src/transport/index.js';
import { tlsStreamServer } from '../../src/transport/stream/index.js';
import type { TransportAddress } from '../../src/transport/types.js';
import { testMessagesAndChannels } from './protocol.js';
import { type CertificateAndKey, createTestCertificates, type TestCertificates } from './testCertificates.js';

export const Position = component('Position', { x: t.f32, y: t.f32 });

/** Every channel mode once (as in helpers/protocol.ts) plus a replicated component. */
export const clusterProtocol = defineProtocol({
  tickRate: 50,
  // the migration tests carry a client-owned entity across backends
  clientAuthoritativeEntities: true,
  components: [Position],
  ...testMessagesAndChannels,
});
export type ClusterChannels = (typeof clusterProtocol.channels)[number]['name'];

export interface TestBackend {
  readonly id: string;
  readonly server: Server<ClusterChannels>;
  readonly port: number;
}

/** A backend Server taking players from proxies over mutual TLS on 127.0.0.1 port 0, registered in `registry`. */
export async function startBackend(
  certs: TestCertificates,
  registry: InMemoryRegistry,
  id: string,
  opts: {
    server?: ServerOptions;
    allowedProxies?: string[];
    identity?: CertificateAndKey;
    pool?: string;
  } = {},
): Promise<TestBackend> {
  const server = new Server(clusterProtocol, {
    authenticator: new OfflineAuthenticator(),
    name: id,
    ...opts.server,
  });
  const identity = opts.identity ?? certs.server;
  const address = await server.listenProxies(
    tlsStreamServer({ cert: identity.cert, key: identity.key, ca: certs.ca.cert, port: 0 }),
    { backendId: id, allowedProxies: opts.allowedProxies, heartbeatIntervalMs: 200, timeoutMs: 2000 },
  );
  await registry.register({
    id,
    pool: opts.pool ?? 'default',
    address: { host: '127.0.0.1', port: address.port },
    capacity: 100,
    publicKey: generateEd25519KeyPair().publicKey,
  });
  return { id, server, port: address.port };
}

/** A proxy on UDP and WebSocket (127.0.0.1, port 0) with the test client certificate. */
export async function startProxy(
  certs: TestCertificates,
  registry: InMemoryRegistry,
  extra: Partial<ProxyOptions> = {},
): Promise<{ proxy: Proxy; udp: TransportAddress; ws: TransportAddress }> {
  const proxy = new Proxy({
    protocol: clusterProtocol,
    listen: [udpServer({ host: '127.0.0.1', port: 0 }), websocketServer({ host: '127.0.0.1', port: 0 })],
    tls: { cert: certs.client.cert, key: certs.client.key, ca: certs.ca.cert },
    registry,
    authenticator: new OfflineAuthenticator(),
    heartbeatIntervalMs: 100,
    backendTimeoutMs: 1000,
    log: () => {},
    ...extra,
  });
  const [udp, ws] = await proxy.start();
  return { proxy, udp, ws };
}

export function newClient(): Client<ClusterChannels> {
  return new Client(clusterProtocol, { handshakeTimeoutMs: 4000 });
}

/**
 * Registers the vitest hooks a proxy test file shares: test certificates made once for the file
 * (and disposed after it), and everything a test pushes on `open` closed after that test,
 * newest first, ignoring close errors. `certs` is readable once `beforeAll` has run.
 */
export function useClusterFixture(): {
  readonly certs: TestCertificates;
  readonly open: { close(): Promise<void> }[];
} {
  let certs: TestCertificates | undefined;
  const open: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    certs = await createTestCertificates();
  });
  afterAll(() => certs?.dispose());
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close().catch(() => {});
  });
  return {
    get certs(): TestCertificates {
      if (!certs) throw new Error('useClusterFixture: certs are made in beforeAll');
      return certs;
    },
    open,
  };
}
