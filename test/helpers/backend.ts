import { generateEd25519KeyPair, type InMemoryRegistry } from '../../src/cluster/index.js';
import type { Protocol } from '../../src/index.js';
import { OfflineAuthenticator, Server } from '../../src/server/index.js';
import type { ProxyListenOptions } from '../../src/server/ProxiedSessions.js';
import { tlsStreamServer } from '../../src/transport/stream/index.js';
import { type ClusterChannels, clusterProtocol, type TestBackend } from './cluster.js';
import type { TestCertificates } from './testCertificates.js';

/**
 * A backend like `startBackend` (mutual TLS on 127.0.0.1 port 0, registered in `registry`)
 * whose proxy listener options the test chooses, and optionally another protocol.
 */
export async function startTunedBackend(
  certs: TestCertificates,
  registry: InMemoryRegistry,
  id: string,
  listen: ProxyListenOptions = {},
  protocol: Protocol = clusterProtocol,
): Promise<TestBackend> {
  const server = new Server(protocol as typeof clusterProtocol, {
    authenticator: new OfflineAuthenticator(),
    name: id,
  }) as Server<ClusterChannels>;
  const address = await server.listenProxies(
    tlsStreamServer({ cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert, port: 0 }),
    { backendId: id, heartbeatIntervalMs: 200, timeoutMs: 2000, ...listen },
  );
  await registry.register({
    id,
    pool: 'default',
    address: { host: '127.0.0.1', port: address.port },
    capacity: 100,
    publicKey: generateEd25519KeyPair().publicKey,
  });
  return { id, server, port: address.port };
}
