/**
 * Unreliable traffic over WebRTC data channels vs WebSocket, same run: a client sends numbered
 * pings on an unreliable channel at a steady rate, a direct server echoes each on an unreliable
 * channel; the rows are the echo round trip (p50, p99) and the share of pings echoed, at 0 %
 * and 5 % loss each way on the seeded link conditioner.
 *
 * The loss is applied honestly per transport: WebRTC's data channel is unordered with no
 * retransmission, so a lost datagram is gone (the conditioner drops it); a WebSocket runs over
 * TCP, which never loses a byte but resends it late and holds everything after it, so there the
 * conditioner models a loss as a resend after 200 ms (Linux's minimum retransmission timeout)
 * with head-of-line blocking. That model is the one figure here that is not measured.
 */
import { Client } from '../src/client/Client.js';
import { defineProtocol, message, t } from '../src/index.js';
import { OfflineAuthenticator, Server } from '../src/server/index.js';
import { conditionedClient } from '../src/transport/ConditionedClient.js';
import { webrtcClient, webrtcServer, websocketClient, websocketServer } from '../src/transport/index.js';
import type {
  DatagramClientTransport,
  DatagramServerTransport,
  TransportAddress,
} from '../src/transport/types.js';
import { type BenchContext, type BenchModule, type BenchRow, percentile, row } from './harness.js';

const Ping = message('Ping', { seq: t.u32 });
const protocol = defineProtocol({
  tickRate: 60,
  messages: [Ping],
  channels: { ping: { mode: 'unreliable' } },
});

/** Modelled TCP resend delay for a lost segment under a WebSocket (Linux RTO floor). */
const TCP_RESEND_MS = 200;
/** Pings per second: a fast game's input rate. */
const RATE_HZ = 60;
/** A ping not echoed by then counts as lost. */
const REPLY_TIMEOUT_MS = 1000;

interface Kind {
  name: string;
  server(): DatagramServerTransport;
  client(a: TransportAddress, loss: number, seed: number): DatagramClientTransport;
}

const KINDS: Kind[] = [
  {
    name: 'webrtc',
    server: () => webrtcServer({ host: '127.0.0.1', port: 0 }),
    client: (a, loss, seed) => conditionedClient(webrtcClient(a), { loss }, seed),
  },
  {
    name: 'websocket',
    server: () => websocketServer({ host: '127.0.0.1', port: 0 }),
    client: (a, loss, seed) =>
      conditionedClient(websocketClient(a), { loss }, seed, { resendMs: TCP_RESEND_MS }),
  },
];

interface Result {
  p50: number;
  p99: number;
  delivered: number;
}

async function measure(kind: Kind, loss: number, pings: number): Promise<Result> {
  const server = new Server(protocol, { authenticator: new OfflineAuthenticator() });
  server.onMessage(Ping, (user, v) => server.send(user, 'ping', Ping, v));
  const client = new Client(protocol);
  try {
    const address = await server.listen(kind.server());
    await client.connect(kind.client(address, loss, 11), { username: `bench-${kind.name}` });
    const sentAt = new Map<number, number>();
    const rtts: number[] = [];
    client.onMessage(Ping, (v) => {
      const at = sentAt.get(v.seq);
      if (at === undefined) return;
      sentAt.delete(v.seq);
      rtts.push(performance.now() - at);
    });
    for (let seq = 1; seq <= pings; seq++) {
      sentAt.set(seq, performance.now());
      client.send('ping', Ping, { seq });
      await new Promise((r) => setTimeout(r, 1000 / RATE_HZ));
    }
    const deadline = performance.now() + REPLY_TIMEOUT_MS;
    while (sentAt.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return {
      p50: rtts.length ? percentile(rtts, 50) : Number.NaN,
      p99: rtts.length ? percentile(rtts, 99) : Number.NaN,
      delivered: rtts.length / pings,
    };
  } finally {
    await client.close('bench done').catch(() => {});
    await server.close();
  }
}

export const webrtcBench: BenchModule = {
  name: 'webrtc',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const pings = ctx.quick ? 120 : 600;
    const rows: BenchRow[] = [];
    for (const loss of [0, 0.05]) {
      const results = new Map<string, Result>();
      for (const kind of KINDS) {
        ctx.log(`webrtc: ${kind.name} at ${loss * 100} % loss, ${pings} pings at ${RATE_HZ} Hz`);
        results.set(kind.name, await measure(kind, loss, pings));
      }
      const ws = results.get('websocket')!;
      const rtc = results.get('webrtc')!;
      const pct = `${loss * 100}% loss`;
      rows.push(
        row(`unreliable echo over websocket, ${pct}: RTT p50`, ws.p50 * 1000, 'µs'),
        row(`unreliable echo over webrtc, ${pct}: RTT p50`, rtc.p50 * 1000, 'µs', {
          name: `websocket ${pct} p50`,
          value: ws.p50 * 1000,
        }),
        row(`unreliable echo over websocket, ${pct}: RTT p99`, ws.p99 * 1000, 'µs'),
        row(`unreliable echo over webrtc, ${pct}: RTT p99`, rtc.p99 * 1000, 'µs', {
          name: `websocket ${pct} p99`,
          value: ws.p99 * 1000,
        }),
        row(`unreliable echo over websocket, ${pct}: delivered`, ws.delivered * 100, '%'),
        row(`unreliable echo over webrtc, ${pct}: delivered`, rtc.delivered * 100, '%', {
          name: `websocket ${pct} delivered`,
          value: ws.delivered * 100,
        }),
      );
    }
    return rows;
  },
};
