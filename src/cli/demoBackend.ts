import type { BackendRegistration, Registry } from '../proxy/registry.js';
import type { BackendTicketOptions } from '../server/BackendTickets.js';
import type { Server } from '../server/Server.js';
import { tlsStreamServer } from '../transport/stream/index.js';
import type { DemoCertificates } from './certsDemo.js';

/**
 * The backend side the cluster demos share: `server` takes players from `proxy-1` over mutual
 * TLS (127.0.0.1, port 0) and is registered in the default pool. Returns the port it listens on.
 */
export async function listenDemoBackend<C extends string>(
  server: Server<C>,
  id: string,
  certs: DemoCertificates,
  registry: Registry,
  o: Pick<BackendRegistration, 'capacity' | 'publicKey'> & { tickets?: BackendTicketOptions },
): Promise<number> {
  const address = await server.listenProxies(
    tlsStreamServer({ cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert, port: 0 }),
    { backendId: id, allowedProxies: ['proxy-1'], tickets: o.tickets },
  );
  await registry.register({
    id,
    pool: 'default',
    address: { host: '127.0.0.1', port: address.port },
    capacity: o.capacity,
    publicKey: o.publicKey,
  });
  return address.port;
}
