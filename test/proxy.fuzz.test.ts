import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateEd25519KeyPair, InMemoryRegistry } from '../src/cluster/index.js';
import { encodeMuxControl, encodePlayerAccept, encodePlayerOpen, MuxFrame } from '../src/session/mux.js';
import { udpClient } from '../src/transport/index.js';
import { type StreamConnection, tlsStreamClient, tlsStreamServer } from '../src/transport/stream/index.js';
import {
  clusterProtocol,
  newClient,
  startBackend,
  startProxy,
  useClusterFixture,
} from './helpers/cluster.js';
import { waitFor } from './helpers/transports.js';

/** Garbage on the backend link (both directions) and from players: counted, dropped, or one session ended. */
const fx = useClusterFixture();
const { open } = fx;
const runs = process.env.BATON_DEEP === '1' ? 2000 : 150;
const UUID = '00112233-4455-6677-8899-aabbccddeeff';

const frameArb = fc.record({
  type: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 0xffffffef })),
  session: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.nat()),
  payload: fc.uint8Array({ maxLength: 200 }),
});

describe('fuzz: proxy ↔ backend link and player input', () => {
  it('a backend survives arbitrary frames from an authenticated proxy', async () => {
    const registry = new InMemoryRegistry();
    const b = await startBackend(fx.certs, registry, 'backend-a');
    open.push(b.server);
    const conn = await tlsStreamClient({
      host: '127.0.0.1',
      port: b.port,
      cert: fx.certs.client.cert,
      key: fx.certs.client.key,
      ca: fx.certs.ca.cert,
    }).connect();
    open.push(conn);
    const validOpen = encodePlayerOpen({
      connect: {
        type: 'Connect',
        protocolHash: clusterProtocol.hash,
        clientType: 'g',
        language: 'en',
        uuid: UUID,
        username: 'f',
      },
      clientAddress: 'udp:1.1.1.1:1',
      clientRttMs: 1,
      authResult: new Uint8Array(0),
      referralVerified: false,
      maxWorldFrameBytes: 1100,
    });
    conn.sendFrame(MuxFrame.PlayerOpen, 1, validOpen);
    fc.assert(
      fc.property(frameArb, fc.nat(validOpen.length - 1), (f, cut) => {
        conn.sendFrame(f.type, f.session, f.payload);
        conn.sendFrame(MuxFrame.PlayerOpen, 2 + (f.session % 5), validOpen.slice(0, cut));
      }),
      { numRuns: runs },
    );
    expect(await waitFor(() => (b.server.proxiedStats?.framesIn ?? 0) >= runs * 2, 8000)).toBe(true);
    const s = b.server.proxiedStats!;
    expect(s.dropped.malformed + s.dropped.unknownSession + s.dropped.unexpected).toBeGreaterThan(0);
    expect(s.playersRejected).toBeGreaterThan(0);
    // the backend still takes real players through a real proxy
    const { proxy, udp } = await startProxy(fx.certs, registry);
    open.push(proxy);
    const c = newClient();
    open.push(c);
    await c.connect(udpClient(udp), { username: 'real' });
    expect(b.server.users.some((u) => u.username === 'real')).toBe(true);
  }, 30_000);

  it('a proxy survives arbitrary frames from a backend; only that player is affected', async () => {
    const registry = new InMemoryRegistry();
    const good = await startBackend(fx.certs, registry, 'backend-good', { pool: 'good' });
    open.push(good.server);
    // a "backend" that accepts each player, then answers with garbage
    const evil = await tlsStreamServer({
      cert: fx.certs.server.cert,
      key: fx.certs.server.key,
      ca: fx.certs.ca.cert,
      port: 0,
    }).listen();
    open.push(evil);
    const streams: StreamConnection[] = [];
    evil.onConnection = (c) => {
      streams.push(c);
      c.onFrame = (type, sid) => {
        if (type === MuxFrame.Ping) return;
        if (type === MuxFrame.PlayerOpen) {
          c.sendFrame(MuxFrame.Control, sid, encodeMuxControl({ type: 'SetClientId', clientId: 9 }));
          c.sendFrame(MuxFrame.PlayerAccept, sid, encodePlayerAccept(1));
        }
      };
    };
    await registry.register({
      id: 'backend-evil',
      pool: 'evil',
      address: { host: '127.0.0.1', port: evil.address.port },
      capacity: 10,
      publicKey: generateEd25519KeyPair().publicKey,
    });
    const { proxy, udp } = await startProxy(fx.certs, registry, {
      pools: ['good', 'evil'],
      choosePool: (c) => (c.username.startsWith('evil') ? 'evil' : 'good'),
    });
    open.push(proxy);
    const victim = newClient();
    const bystander = newClient();
    open.push(victim, bystander);
    await bystander.connect(udpClient(udp), { username: 'fine' });
    await victim.connect(udpClient(udp), { username: 'evil-victim' });
    const sid = proxy.sessions().find((s) => s.username === 'evil-victim')!.id;
    fc.assert(
      fc.property(frameArb, (f) => {
        streams[0].sendFrame(f.type, f.session % 2 === 0 ? sid : f.session, f.payload);
      }),
      { numRuns: runs },
    );
    expect(await waitFor(() => !victim.connected, 8000)).toBe(true);
    const st = proxy.stats.dropped;
    expect(st.malformedBackendFrames + st.unknownSession + st.unexpected).toBeGreaterThan(0);
    expect(bystander.connected).toBe(true);
    expect(good.server.users.map((u) => u.username)).toEqual(['fine']);
  }, 30_000);

  it('a proxy counts and drops garbage datagrams from players, and keeps serving', async () => {
    const registry = new InMemoryRegistry();
    const b = await startBackend(fx.certs, registry, 'backend-a');
    open.push(b.server);
    const { proxy, udp } = await startProxy(fx.certs, registry);
    open.push(proxy);
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1300 }), (bytes) => {
        sock.send(bytes, udp.port, '127.0.0.1');
      }),
      { numRuns: runs },
    );
    const d = () => proxy.stats.session.dropped;
    expect(await waitFor(() => d().malformed + d().unknownPeer > runs / 4, 5000)).toBe(true);
    sock.close();
    const c = newClient();
    open.push(c);
    await c.connect(udpClient(udp), { username: 'after' });
    expect(b.server.users.map((u) => u.username)).toEqual(['after']);
    expect(d().internalErrors).toBe(0);
  }, 30_000);
});
