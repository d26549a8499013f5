import { describe, expect, it } from 'vitest';
import { ConnectError } from '../src/client/index.js';
import { InMemoryRegistry } from '../src/cluster/index.js';
import { defineProtocol } from '../src/index.js';
import { udpClient } from '../src/transport/index.js';
import { startTunedBackend } from './helpers/backend.js';
import { newClient, Position, startProxy, useClusterFixture } from './helpers/cluster.js';
import { testMessagesAndChannels } from './helpers/protocol.js';

/**
 * A backend built from other protocol definitions than its proxy and players refuses every
 * player the proxy opens on it, with a reason that names its protocol hash: it never admits a
 * player whose bytes it would misread.
 */
const fx = useClusterFixture();
const { open } = fx;

/** The cluster protocol at another tick rate: same names, another hash. */
const otherClusterProtocol = defineProtocol({
  tickRate: 30,
  clientAuthoritativeEntities: true,
  components: [Position],
  ...testMessagesAndChannels,
});

describe('backend: protocol hash check behind the proxy', () => {
  it('a player whose protocol hash differs from the backend’s is refused with a reason', async () => {
    const registry = new InMemoryRegistry();
    const b = await startTunedBackend(fx.certs, registry, 'backend-other', {}, otherClusterProtocol);
    open.push(b.server);
    const { proxy, udp } = await startProxy(fx.certs, registry);
    open.push(proxy);
    const c = newClient();
    open.push(c);
    const error = await c.connect(udpClient(udp), { username: 'ann' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).reason).toMatch(
      new RegExp(`protocol mismatch: backend ${otherClusterProtocol.hashHex}`),
    );
    expect(b.server.users.length).toBe(0);
    expect(b.server.proxiedStats!.playersRejected).toBe(1);
    expect(b.server.proxiedStats!.playersOpened).toBe(0);
    expect(proxy.sessions().length).toBe(0);
  }, 20_000);
});
