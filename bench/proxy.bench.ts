/**
 * The proxy's data path: players → proxy (UDP) → mutual-TLS mux → backend, beside the same
 * players → a minimal raw UDP relay (one upstream `node:dgram` socket per player, bytes
 * forwarded untouched) → the same backend's UDP listener. Same run, same backend, same clients.
 *
 * Only the relays under test live in this process. The backend and the players run in a child
 * process (`proxy.load.ts`): they would otherwise share this event loop and this heap, and at
 * 1 000 players the load generator, not the relay, set the figures.
 *
 * Rows, at 1, 100 and 1 000 concurrent players (quick: 1 and 100):
 * - echo round trip p50/p99 through each path (the proxy's added latency is the difference),
 * - relayed echo packets per second (each player keeps a window of messages in flight),
 * - heap bytes per player of the proxy alone (connected, idle, after a forced GC), beside the
 *   raw relay's heap per player measured the same way.
 */
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import v8 from 'node:v8';
import vm from 'node:vm';
import { generateEd25519KeyPair, InMemoryRegistry } from '../src/cluster/index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../src/proxy/index.js';
import { OfflineAuthenticator } from '../src/server/index.js';
import { udpServer } from '../src/transport/index.js';
import type { TransportAddress } from '../src/transport/types.js';
import { createTestCertificates } from '../test/helpers/testCertificates.js';
import { type BenchContext, type BenchModule, type BenchRow, row } from './harness.js';
import { type LoadReply, type LoadRequest, protocol } from './proxy.load.js';

const HOST = '127.0.0.1';

/** A forced full GC (`--expose-gc` turned on at run time), so heap figures are live bytes only. */
function forcedGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

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

/** The child process holding the backend and the players, request by request. */
class Load {
  private readonly child = fork(new URL('./proxy.load.ts', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  private waiting: ((m: LoadReply) => void) | undefined;

  constructor() {
    this.child.on('message', (m: LoadReply) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.(m);
    });
  }

  ask<T extends LoadReply['type']>(m: LoadRequest, expect: T): Promise<Extract<LoadReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) =>
        r.type === expect
          ? resolve(r as Extract<LoadReply, { type: T }>)
          : reject(new Error(`load: ${r.type}`));
      this.child.send(m);
    });
  }

  async exit(): Promise<void> {
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.send({ type: 'exit' } satisfies LoadRequest);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null) this.child.kill();
  }
}

interface Measured {
  p50: number;
  p99: number;
  perSecond: number;
  /** Heap growth of this process per connected player, after a forced GC. */
  heapPerPlayer: number;
}

/** Connect `n` players to `port` (heap measured while they idle), keep `window` echoes in flight each for `ms`. */
async function measure(
  load: Load,
  gc: () => void,
  port: number,
  n: number,
  ms: number,
  window: number,
): Promise<Measured> {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  await load.ask({ type: 'connect', port, n }, 'connected');
  await new Promise((r) => setTimeout(r, 100)); // handshake stragglers
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const m = await load.ask({ type: 'run', ms, window }, 'measured');
  await load.ask({ type: 'closeClients' }, 'closed');
  return {
    p50: m.p50,
    p99: m.p99,
    perSecond: m.perSecond,
    heapPerPlayer: Math.max(0, heapAfter - heapBefore) / n,
  };
}

export const proxyBench: BenchModule = {
  name: 'proxy',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const certs = await createTestCertificates();
    const gc = forcedGc();
    const load = new Load();
    const ready = await load.ask(
      { type: 'init', cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert },
      'ready',
    );
    const direct: TransportAddress = { transport: 'udp', host: HOST, port: ready.directPort };
    const registry = new InMemoryRegistry();
    await registry.register({
      id: 'b1',
      pool: 'default',
      address: { host: HOST, port: ready.muxPort },
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
        const base = await measure(load, gc, relay.address.port, n, ms, window);
        const via = await measure(load, gc, proxied.port, n, ms, window);
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
          rows.push(
            row(`heap per proxied player (proxy alone), ${n}`, via.heapPerPlayer, 'bytes', {
              name: `raw UDP relay heap/player, ${n}`,
              value: base.heapPerPlayer,
            }),
          );
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    } finally {
      await relay.close();
      await proxy.close();
      await load.exit();
      certs.dispose();
    }
    return rows;
  },
};
