import { describe, expect, it } from 'vitest';
import { ConnectError, RejectCode } from '../src/client/index.js';
import { InMemoryRegistry } from '../src/cluster/index.js';
import { udpClient } from '../src/transport/index.js';
import {
  clusterProtocol,
  newClient,
  startBackend,
  startProxy,
  useClusterFixture,
} from './helpers/cluster.js';
import { RawPeer } from './helpers/rawPeer.js';
import { waitFor } from './helpers/transports.js';

const fx = useClusterFixture();
const { open } = fx;

describe('proxy pending-handshake cap', () => {
  it('is its own option, separate from maxPlayers', async () => {
    const registry = new InMemoryRegistry();
    const a = await startBackend(fx.certs, registry, 'backend-a');
    open.push(a.server);
    const { proxy, udp } = await startProxy(fx.certs, registry, {
      id: 'proxy-1',
      maxPlayers: 100,
      maxPendingHandshakes: 1,
    });
    open.push(proxy);
    // one peer that proves its address and then never answers AuthGrant holds the only slot
    const raw = await RawPeer.open(udpClient(udp));
    open.push(raw);
    raw.connect({ protocolHash: clusterProtocol.hash });
    expect(await waitFor(() => proxy.stats.session.handshakesStarted === 1)).toBe(true);
    const c = newClient();
    open.push(c);
    const error = await c.connect(udpClient(udp), { username: 'late' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).rejectCode).toBe(RejectCode.ServerBusy);
  });
});
