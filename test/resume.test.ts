import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import { InMemoryRegistry } from '../src/cluster/index.js';
import { OfflineAuthenticator, Server, type User } from '../src/server/index.js';
import { encodeResume } from '../src/session/packets/resume.js';
import {
  udpClient,
  udpServer,
  webrtcClient,
  webrtcServer,
  websocketClient,
  websocketServer,
} from '../src/transport/index.js';
import type { DatagramClientTransport, TransportAddress } from '../src/transport/types.js';
import {
  type ClusterChannels,
  clusterProtocol,
  Position,
  startBackend,
  startProxy,
  useClusterFixture,
} from './helpers/cluster.js';
import { cuttable } from './helpers/cuttable.js';
import { Chat } from './helpers/protocol.js';
import { waitFor } from './helpers/transports.js';

/**
 * Session resume: the client's connection is cut mid-game (inputs and server messages flowing
 * both ways), stays down 0.5 s or 5 s, and the client comes back on a new connection with its
 * Resume request. Asserted: the same session goes on (no disconnect on either side, the same
 * user, the server's entity never despawned), every input sent before, during and after the
 * drop processed exactly once and in order, and every server message received once and in
 * order. Direct and through the proxy (whose backend must see nothing), over UDP and WebSocket.
 */
const WINDOW_MS = 8000;
const kinds: {
  name: string;
  server: () => ReturnType<typeof udpServer>;
  client: (a: TransportAddress) => DatagramClientTransport;
  drops: number[];
}[] = [
  {
    name: 'udp',
    server: () => udpServer({ host: '127.0.0.1', port: 0 }),
    client: (a) => udpClient(a),
    drops: [500, 5000],
  },
  {
    name: 'websocket',
    server: () => websocketServer({ host: '127.0.0.1', port: 0 }),
    client: (a) => websocketClient(a),
    drops: [500, 5000],
  },
  // the same machinery over WebRTC data channels (a new peer connection on resume)
  {
    name: 'webrtc',
    server: () => webrtcServer({ host: '127.0.0.1', port: 0 }),
    client: (a) => webrtcClient(a),
    drops: [500],
  },
];

describe('session resume', () => {
  const fixture = useClusterFixture();

  /** The game: a server that gives each player an entity, counts inputs and streams messages. */
  function play(server: Server<ClusterChannels>) {
    const room = server.createRoom();
    const got: number[] = [];
    const users: User[] = [];
    const disconnects: string[] = [];
    let sent = 0;
    server.on('connect', (u) => {
      users.push(u);
      room.addUser(u).addEntity(server.spawn().insert(Position, { x: 1, y: 2 }));
    });
    server.on('disconnect', (_u, reason) => disconnects.push(reason));
    server.onMessage(Chat, (_u, v) => got.push(v.from));
    const timer = setInterval(() => {
      const u = users[0];
      if (u && disconnects.length === 0) server.send(u, 'chat', Chat, { from: ++sent, text: 's' });
    }, 20);
    return { got, users, disconnects, sentCount: () => sent, stop: () => clearInterval(timer) };
  }

  async function runScenario(
    server: Server<ClusterChannels>,
    game: ReturnType<typeof play>,
    dial: DatagramClientTransport,
    dropMs: number,
  ): Promise<void> {
    const link = cuttable(dial);
    const client = new Client(clusterProtocol, { resumeWindowMs: WINDOW_MS, handshakeTimeoutMs: 4000 });
    fixture.open.push({ close: () => client.close() });
    const events: string[] = [];
    client.on('disconnect', (r) => events.push(`disconnect ${r}`));
    client.on('resuming', () => events.push('resuming'));
    client.on('resumed', () => events.push('resumed'));
    client.on('despawn', () => events.push('despawn'));
    const received: number[] = [];
    client.onMessage(Chat, (v) => received.push(v.from));
    await client.connect(link.transport, { username: 'resumer' });
    let inputs = 0;
    const sender = setInterval(() => client.send('chat', Chat, { from: ++inputs, text: 'i' }), 20);
    try {
      expect(await waitFor(() => [...client.entities()].length === 1 && received.length > 5, 5000)).toBe(
        true,
      );
      const [entity] = [...client.entities()];
      const addressBefore = game.users[0].address;
      link.cut(dropMs);
      expect(await waitFor(() => events.includes('resumed'), dropMs + 6000), events.join(', ')).toBe(true);
      // play on a little after the resume, then stop and let everything arrive
      await new Promise((r) => setTimeout(r, 300));
      clearInterval(sender);
      game.stop();
      const n = inputs;
      expect(await waitFor(() => game.got.length >= n && received.length >= game.sentCount(), 10_000)).toBe(
        true,
      );
      expect(game.got).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(received).toEqual(Array.from({ length: game.sentCount() }, (_, i) => i + 1));
      expect(events).toEqual(['resuming', 'resumed']);
      expect([...client.entities()]).toEqual([entity]);
      expect(game.disconnects).toEqual([]);
      expect(server.users).toEqual([game.users[0]]);
      if (server.stats.sessionsResumed > 0) expect(game.users[0].address).not.toBe(addressBefore);
      expect(link.connects).toBe(2);
    } finally {
      clearInterval(sender);
      game.stop();
    }
  }

  for (const kind of kinds) {
    for (const dropMs of kind.drops) {
      it(`direct over ${kind.name}: a ${dropMs} ms drop resumes, nothing lost or doubled`, async () => {
        const server = new Server(clusterProtocol, {
          authenticator: new OfflineAuthenticator(),
          resumeWindowMs: WINDOW_MS,
        });
        fixture.open.push({ close: () => server.close() });
        const game = play(server);
        const address = await server.listen(kind.server());
        await runScenario(server, game, kind.client(address), dropMs);
        expect(server.stats.sessionsResumed).toBe(1);
      }, 30_000);

      it(`through the proxy over ${kind.name}: a ${dropMs} ms drop resumes, the backend sees nothing`, async () => {
        const registry = new InMemoryRegistry();
        const backend = await startBackend(fixture.certs, registry, 'b1');
        fixture.open.push({ close: () => backend.server.close() });
        const game = play(backend.server);
        const { proxy } = await startProxy(fixture.certs, registry, {
          listen: [kind.server()],
          resumeWindowMs: WINDOW_MS,
        });
        fixture.open.push({ close: () => proxy.close() });
        const closed: string[] = [];
        proxy.on('sessionClosed', (_i, reason) => closed.push(reason));
        await runScenario(backend.server, game, kind.client(proxy.listenAddresses[0]), dropMs);
        expect(closed).toEqual([]);
        expect(proxy.sessions()).toHaveLength(1);
      }, 30_000);
    }
  }

  it('a Resume that matches no session is dropped and counted, and moves nothing', async () => {
    const server = new Server(clusterProtocol, {
      authenticator: new OfflineAuthenticator(),
      resumeWindowMs: WINDOW_MS,
    });
    fixture.open.push({ close: () => server.close() });
    const game = play(server);
    const address = await server.listen(udpServer({ host: '127.0.0.1', port: 0 }));
    const client = new Client(clusterProtocol, { resumeWindowMs: WINDOW_MS });
    fixture.open.push({ close: () => client.close() });
    await client.connect(udpClient(address), { username: 'victim' });
    const before = server.users[0].address;
    const attacker = dgram.createSocket('udp4');
    try {
      const forged = encodeResume({ nonce: 1234, grant: new Uint8Array(16).fill(7) });
      await new Promise<void>((ok) => attacker.send(forged, address.port, '127.0.0.1', () => ok()));
      expect(await waitFor(() => server.stats.dropped.unexpected >= 1, 5000)).toBe(true);
      expect(server.users[0].address).toBe(before);
      expect(server.stats.sessionsResumed).toBe(0);
      expect(game.disconnects).toEqual([]);
    } finally {
      attacker.close();
      game.stop();
    }
  });
});
