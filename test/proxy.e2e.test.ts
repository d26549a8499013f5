import { describe, expect, it } from 'vitest';
import type { Client } from '../src/client/index.js';
import { InMemoryRegistry } from '../src/cluster/index.js';
import { udpClient, websocketClient } from '../src/transport/index.js';
import {
  type ClusterChannels,
  clusterProtocol,
  newClient,
  Position,
  startBackend,
  startProxy,
  useClusterFixture,
} from './helpers/cluster.js';
import { Chat, Input, Ping, State } from './helpers/protocol.js';
import { waitFor } from './helpers/transports.js';

/**
 * The whole proxied path on real sockets: clients on UDP and WebSocket → proxy → mutual-TLS
 * stream → backend Server, 127.0.0.1 port 0, real time.
 */
const fx = useClusterFixture();
const { open } = fx;

describe('proxy end to end', () => {
  for (const kind of ['udp', 'ws'] as const) {
    it(`relays every channel mode and replicates entities over ${kind}`, async () => {
      const registry = new InMemoryRegistry();
      const b = await startBackend(fx.certs, registry, 'backend-a');
      open.push(b.server);
      const { proxy, udp, ws } = await startProxy(fx.certs, registry);
      open.push(proxy);

      const server = b.server;
      const room = server.createRoom();
      const crate = server.spawn().insert(Position, { x: 1, y: 2 });
      room.addEntity(crate);
      server.on('connect', (u) => room.addUser(u));
      const got: string[] = [];
      // echo every message back on the same channel (or on 'state' for client-to-server ones)
      server.on('message', (user, channel, def, value) => {
        got.push(`${channel}:${def.name}`);
        const info = clusterProtocol.channel(channel);
        const back = info.direction === 'client-to-server' ? 'state' : channel;
        if (def === Input) {
          const v = value as { seq: number };
          server.send(user, back, State, { tick: v.seq, x: 0, y: 0 });
        } else server.send(user, back, def, value as never);
      });

      const client = newClient();
      open.push(client);
      const echoes: string[] = [];
      client.on('message', (channel, def) => echoes.push(`${channel}:${def.name}`));
      const info = await client.connect(kind === 'udp' ? udpClient(udp) : websocketClient(ws), {
        username: 'ann',
      });
      expect(info.serverInfo?.name).toBe('backend-a');
      expect(server.users.map((u) => u.username)).toEqual(['ann']);
      expect(server.users[0].address).toMatch(/^proxy\(proxy-1\):(udp|websocket):/);
      expect(proxy.sessions().map((s) => [s.username, s.backendId, s.state])).toEqual([
        ['ann', 'backend-a', 'active'],
      ]);

      const send = (c: Client<ClusterChannels>) => {
        c.send('chat', Chat, { from: 0, text: 'hi' });
        c.send('input', Input, { seq: 7, dx: 1, dy: -1 });
        c.send('seqUnreliable', Ping, { seq: 1 });
        c.send('unordered', Ping, { seq: 2 });
        c.send('seqReliable', Ping, { seq: 3 });
      };
      send(client);
      const expected = [
        'chat:Chat',
        'input:Input',
        'seqUnreliable:Ping',
        'unordered:Ping',
        'seqReliable:Ping',
      ];
      // unreliable channels may lose a packet even on loopback: resend until everything came through
      expect(
        await waitFor(() => {
          if (!expected.every((e) => got.includes(e))) send(client);
          return expected.every((e) => got.includes(e));
        }, 8000),
      ).toBe(true);
      expect(
        await waitFor(
          () =>
            ['chat:Chat', 'state:State', 'unordered:Ping', 'seqReliable:Ping'].every((e) =>
              echoes.includes(e),
            ),
          8000,
        ),
      ).toBe(true);

      // replication through the proxy: spawn, then updates converge
      const remote = () => [...client.entities()].filter((e) => !e.isLocal);
      expect(await waitFor(() => remote().length === 1, 8000)).toBe(true);
      expect(remote()[0].get(Position)).toMatchObject({ x: 1, y: 2 });
      for (let i = 0; i < 20; i++) crate.get(Position).x = 10 + i;
      expect(await waitFor(() => remote()[0]?.get(Position).x === 29, 8000)).toBe(true);

      const stats = proxy.stats;
      expect(stats.relayed.backendToClientWorldFrames).toBeGreaterThan(0);
      expect(stats.relayed.clientToBackendWorldFrames).toBeGreaterThan(0);
      expect(stats.dropped).toMatchObject({ malformedBackendFrames: 0, unknownSession: 0, unexpected: 0 });
      expect(server.stats.world.framesDropped).toBe(0);
      // the backend's RTT of a proxied user covers both hops (0 until either hop is measured)
      expect(server.users[0].rttMs).toBeGreaterThan(0);

      await client.close('bye');
      expect(await waitFor(() => server.users.length === 0 && proxy.sessions().length === 0)).toBe(true);
    }, 30_000);
  }

  it('balances players over the pool and reports load', async () => {
    const registry = new InMemoryRegistry();
    const a = await startBackend(fx.certs, registry, 'backend-a');
    const b = await startBackend(fx.certs, registry, 'backend-b');
    open.push(a.server, b.server);
    const { proxy, udp } = await startProxy(fx.certs, registry);
    open.push(proxy);
    const clients = Array.from({ length: 4 }, () => newClient());
    open.push(...clients);
    for (const [i, c] of clients.entries()) await c.connect(udpClient(udp), { username: `p${i}` });
    expect(a.server.users.length).toBe(2);
    expect(b.server.users.length).toBe(2);
    expect((await registry.get('backend-a'))?.load).toBe(2);
    const status = await proxy.poolStatus('default');
    expect(status).toMatchObject({ backends: 2, healthy: 2, seamlessMigration: false });
    expect(status.reason).toMatch(/ticket/);
    expect(proxy.stats.poolsWithoutMigration).toBe(1);
  }, 30_000);
});
