/**
 * The load side of `proxy.bench.ts`, run in a child process: the backend `Server` and the
 * players (real `Client`s speaking the full protocol over UDP). The bench process keeps only
 * what is measured — the proxy, or the raw relay it is compared with — so neither the clients
 * nor the backend share its event loop or its heap. Driven over IPC (see `LoadRequest`).
 *
 * The clients are driven cheaply so the generator does not saturate before the relay does: a
 * client is stepped when a datagram arrived for it (next `setImmediate`), and every client is
 * stepped on a slow tick (resends, acks, heartbeats). A client sends its next echo from the
 * echo handler, inside that step, so it leaves in the step's flush.
 */
import { Client } from '../src/client/index.js';
import { defineProtocol, message, t } from '../src/index.js';
import { OfflineAuthenticator, Server } from '../src/server/index.js';
import { udpClient, udpServer } from '../src/transport/index.js';
import { tlsStreamServer } from '../src/transport/stream/index.js';
import type {
  DatagramClientSocket,
  DatagramClientTransport,
  TransportAddress,
} from '../src/transport/types.js';
import { systemClock } from '../src/util/Clock.js';
import { percentile } from './harness.js';

export const Echo = message('Echo', { seq: t.u32, at: t.f64 });
export const protocol = defineProtocol({
  tickRate: 500,
  messages: [Echo],
  channels: { echo: { mode: 'unordered-reliable' } },
});
const HOST = '127.0.0.1';
/** Every client is stepped this often regardless of input (resends, acks, heartbeats). */
const SLOW_TICK_MS = 10;

export type LoadRequest =
  | { type: 'init'; cert: string; key: string; ca: string }
  | { type: 'connect'; port: number; n: number }
  | { type: 'run'; ms: number; window: number }
  | { type: 'closeClients' }
  | { type: 'exit' };

export type LoadReply =
  | { type: 'ready'; directPort: number; muxPort: number }
  | { type: 'connected' }
  | { type: 'measured'; p50: number; p99: number; perSecond: number }
  | { type: 'closed' };

/** A UDP client transport whose socket marks its client dirty when a datagram arrives. */
function markingTransport(address: TransportAddress, mark: () => void): DatagramClientTransport {
  const inner = udpClient(address);
  return {
    kind: inner.kind,
    async connect(): Promise<DatagramClientSocket> {
      const s = await inner.connect();
      let handler: (data: Uint8Array) => void = () => {};
      s.onDatagram = (data) => {
        mark();
        handler(data);
      };
      return {
        get maxDatagramSize() {
          return s.maxDatagramSize;
        },
        get onDatagram() {
          return handler;
        },
        set onDatagram(h: (data: Uint8Array) => void) {
          handler = h;
        },
        get onClosed() {
          return s.onClosed;
        },
        set onClosed(h: (reason: string) => void) {
          s.onClosed = h;
        },
        send: (data) => s.send(data),
        close: () => s.close(),
        get stats() {
          return s.stats;
        },
      };
    },
  };
}

let clients: Client<'echo'>[] = [];
const dirty = new Set<Client<'echo'>>();
let immediate = false;
let slowTimer: ReturnType<typeof setInterval> | undefined;

function stepDirty(): void {
  immediate = false;
  for (const c of dirty) c.step();
  dirty.clear();
}

function markDirty(c: Client<'echo'>): void {
  dirty.add(c);
  if (!immediate) {
    immediate = true;
    setImmediate(stepDirty);
  }
}

async function connect(port: number, n: number): Promise<void> {
  const address: TransportAddress = { transport: 'udp', host: HOST, port };
  clients = [];
  for (let i = 0; i < n; i += 50) {
    const batch: Client<'echo'>[] = [];
    for (let j = 0; j < Math.min(50, n - i); j++) {
      batch.push(new Client(protocol, { clock: systemClock, handshakeTimeoutMs: 15000 }));
    }
    const loop = setInterval(() => {
      for (const c of batch) c.step();
    }, 2);
    await Promise.all(
      batch.map((c, j) =>
        c.connect(
          markingTransport(address, () => markDirty(c)),
          { username: `p${i + j}` },
        ),
      ),
    );
    clearInterval(loop);
    clients.push(...batch);
  }
  slowTimer = setInterval(() => {
    for (const c of clients) c.step();
  }, SLOW_TICK_MS);
}

async function run(ms: number, window: number): Promise<LoadReply> {
  const rtts: number[] = [];
  let received = 0;
  let measuring = false;
  let sending = true;
  let seq = 0;
  const unsubscribe: (() => void)[] = [];
  for (const c of clients) {
    unsubscribe.push(
      c.onMessage(Echo, (v) => {
        if (measuring) {
          received++;
          if (rtts.length < 200_000) rtts.push(performance.now() - v.at);
        }
        // the next echo goes out in this step's flush
        if (sending) c.send('echo', Echo, { seq: seq++, at: performance.now() });
      }),
    );
  }
  for (const c of clients) {
    for (let k = 0; k < window; k++) c.send('echo', Echo, { seq: seq++, at: performance.now() });
    c.step();
  }
  await new Promise((r) => setTimeout(r, Math.min(500, ms / 2))); // warm-up
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  sending = false;
  await new Promise((r) => setTimeout(r, 100)); // let the window drain
  for (const u of unsubscribe) u();
  return {
    type: 'measured',
    p50: rtts.length ? percentile(rtts, 50) : Number.NaN,
    p99: rtts.length ? percentile(rtts, 99) : Number.NaN,
    perSecond: received / elapsed,
  };
}

async function main(): Promise<void> {
  let backend: { close(): Promise<unknown> } | undefined;
  const reply = (m: LoadReply) => process.send?.(m);
  process.on('message', async (m: LoadRequest) => {
    switch (m.type) {
      case 'init': {
        const b = new Server(protocol, { authenticator: new OfflineAuthenticator(), maxPlayers: 5000 });
        backend = b;
        b.onMessage(Echo, (u, v) => b.send(u, 'echo', Echo, v));
        const direct = await b.listen(udpServer({ host: HOST, port: 0 }));
        const mux = await b.listenProxies(tlsStreamServer({ cert: m.cert, key: m.key, ca: m.ca, port: 0 }), {
          backendId: 'b1',
        });
        reply({ type: 'ready', directPort: direct.port, muxPort: mux.port });
        return;
      }
      case 'connect':
        await connect(m.port, m.n);
        reply({ type: 'connected' });
        return;
      case 'run':
        reply(await run(m.ms, m.window));
        return;
      case 'closeClients':
        if (slowTimer) clearInterval(slowTimer);
        await Promise.all(clients.map((c) => c.close()));
        clients = [];
        dirty.clear();
        reply({ type: 'closed' });
        return;
      case 'exit':
        await backend?.close();
        process.disconnect?.();
        return;
    }
  });
}

// only as the bench's child process (importing this file for its protocol starts nothing)
if (process.send) void main();
