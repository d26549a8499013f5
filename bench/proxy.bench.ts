/**
 * The proxy's data path: players → proxy (UDP) → mutual-TLS mux → backend, beside the same
 * players → a minimal raw UDP relay (one upstream `node:dgram` socket per player, bytes
 * forwarded untouched) → the same backend's UDP listener. Same run, same backend, same clients.
 *
 * Rows, at 1, 100 and 1 000 concurrent players (quick: 1 and 100):
 * - echo round trip p50/p99 through each path (the proxy's added latency is the difference),
 * - relayed echo packets per second (each player keeps a window of messages in flight),
 * - heap bytes per proxied player (connected, idle).
 */
import dgram from 'node:dgram';
import { Client } from '../src/client/index.js';
import { generateEd25519KeyPair, InMemoryRegistry } from '../src/cluster/index.js';
import { defineProtocol, message, t } from '../src/index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../src/proxy/index.js';
import { OfflineAuthenticator, Server } from '../src/server/index.js';
import { udpClient, udpServer } from '../src/transport/index.js';
import { tlsStreamServer } from '../src/transport/stream/index.js';
import { createTestCertificates } from '../src/transport/stream/testing/testCertificates.js';
import type { TransportAddress } from '../src/transport/types.js';
import { systemClock } from '../src/util/Clock.js';
import { type BenchContext, type BenchModule, type BenchRow, percentile, row } from './harness.js';

const Echo = message('Echo', { seq: t.u32, at: t.f64 });
const protocol = defineProtocol({
  tickRate: 500,
  messages: [Echo],
  channels: { echo: { mode: 'unordered-reliable' } },
});
const HOST = '127.0.0.1';

/** The reference relay: per client peer, an upstream socket to the backend; bytes forwarded as they are. */
async function rawRelay(
  target: TransportAddress,
): Promise<{ address: TransportAddress; close(): Promise<void> }> {
  const front = dgram.createSocket('udp4');
  front.on('error', () => {});
  const upstream = new Map<string, dgram.Socket>();
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let up = upstream.get(key);
    if (!up) {
      up = dgram.createSocket('udp4');
      up.on('error', () => {});
      up.on('message', (back) => front.send(back, rinfo.port, rinfo.address));
      up.bind(0, HOST);
      upstream.set(key, up);
    }
    up.send(msg, target.port, HOST);
  });
  await new Promise<void>((r) => front.bind(0, HOST, () => r()));
  return {
    address: { transport: 'udp', host: HOST, port: (front.address() as { port: number }).port },
    close: async () => {
      for (const s of upstream.values()) s.close();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
}

interface Measured {
  p50: number;
  p99: number;
  perSecond: number;
}

/** Connect `n` clients to `address`, keep `window` echoes in flight each for `ms`, measure. */
async function measure(
  address: TransportAddress,
  n: number,
  ms: number,
  window: number,
): Promise<Measured & { clients: Client<'echo'>[] }> {
  const clients: Client<'echo'>[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = Array.from(
      { length: Math.min(50, n - i) },
      () => new Client(protocol, { clock: systemClock, handshakeTimeoutMs: 15000 }),
    );
    const loop = setInterval(() => {
      for (const c of batch) c.step();
    }, 2);
    await Promise.all(batch.map((c, j) => c.connect(udpClient(address), { username: `p${i + j}` })));
    clearInterval(loop);
    clients.push(...batch);
  }
  const rtts: number[] = [];
  let received = 0;
  let measuring = false;
  const inFlight = new Map<Client<'echo'>, number>();
  for (const c of clients) {
    inFlight.set(c, 0);
    c.onMessage(Echo, (v) => {
      inFlight.set(c, (inFlight.get(c) ?? 1) - 1);
      if (!measuring) return;
      received++;
      if (rtts.length < 200_000) rtts.push(performance.now() - v.at);
    });
  }
  let seq = 0;
  const pump = () => {
    for (const c of clients) {
      while ((inFlight.get(c) ?? 0) < window) {
        c.send('echo', Echo, { seq: seq++, at: performance.now() });
        inFlight.set(c, (inFlight.get(c) ?? 0) + 1);
      }
      c.step();
    }
  };
  const timer = setInterval(pump, 2);
  await new Promise((r) => setTimeout(r, Math.min(500, ms / 2))); // warm-up
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  clearInterval(timer);
  return {
    p50: rtts.length ? percentile(rtts, 50) : Number.NaN,
    p99: rtts.length ? percentile(rtts, 99) : Number.NaN,
    perSecond: received / elapsed,
    clients,
  };
}

export const proxyBench: BenchModule = {
  name: 'proxy',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const certs = createTestCertificates();
    const backend = new Server(protocol, { authenticator: new OfflineAuthenticator(), maxPlayers: 5000 });
    backend.onMessage(Echo, (u, v) => backend.send(u, 'echo', Echo, v));
    const direct = await backend.listen(udpServer({ host: HOST, port: 0 }));
    const mux = await backend.listenProxies(
      tlsStreamServer({ cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert, port: 0 }),
      { backendId: 'b1' },
    );
    const registry = new InMemoryRegistry();
    await registry.register({
      id: 'b1',
      pool: 'default',
      address: { host: HOST, port: mux.port },
      capacity: 100_000,
      publicKey: generateEd25519KeyPair().publicKey,
    });
    const proxy = new Proxy({
      protocol,
      listen: [udpServer({ host: HOST, port: 0 })],
      tls: { cert: certs.client.cert, key: certs.client.key, ca: certs.ca.cert },
      registry,
      authenticator: new OfflineAuthenticator(),
      maxPlayers: 5000,
      log: () => {},
    });
    const [proxied] = await proxy.start();
    const relay = await rawRelay(direct);
    const rows: BenchRow[] = [];
    const ms = ctx.quick ? 1000 : 3000;
    const counts = ctx.quick ? [1, 100] : [1, 100, 1000];
    try {
      for (const n of counts) {
        ctx.log(`proxy: ${n} players`);
        const window = n >= 1000 ? 1 : 4;
        const base = await measure(relay.address, n, ms, window);
        await Promise.all(base.clients.map((c) => c.close()));
        const heapBefore = process.memoryUsage().heapUsed;
        const via = await measure(proxied, n, ms, window);
        const heapAfter = process.memoryUsage().heapUsed;
        await Promise.all(via.clients.map((c) => c.close()));
        const rawName = `raw UDP relay, ${n} players`;
        rows.push(row(`relay echo p50, ${n} players (raw relay)`, base.p50 * 1000, 'µs'));
        rows.push(
          row(`proxy echo p50, ${n} players`, via.p50 * 1000, 'µs', {
            name: rawName,
            value: base.p50 * 1000,
          }),
        );
        rows.push(
          row(`proxy echo p99, ${n} players`, via.p99 * 1000, 'µs', {
            name: rawName,
            value: base.p99 * 1000,
          }),
        );
        rows.push(
          row(`proxy echo pkts/s, ${n} players`, via.perSecond, 'ops/s', {
            name: rawName,
            value: base.perSecond,
          }),
        );
        if (n >= 100) {
          // includes the n clients living in this process too: an upper bound for the proxy alone
          rows.push(
            row(
              `heap per proxied player (incl. its client), ${n}`,
              Math.max(0, heapAfter - heapBefore) / n,
              'bytes',
            ),
          );
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    } finally {
      await relay.close();
      await proxy.close();
      await backend.close();
      certs.dispose();
    }
    return rows;
  },
};
