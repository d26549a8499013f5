import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import { OfflineAuthenticator, Server } from '../src/server/index.js';
import { udpClient, udpServer } from '../src/transport/UdpTransport.js';
import { protocol } from './helpers/protocol.js';
import { connectDatagrams } from './helpers/rawPeer.js';

const DEEP = process.env.BATON_DEEP === '1';

/**
 * A cheap half-open flood: many sockets send well-formed Connects (what a spoofer, or anyone who
 * never reads its replies, can do at 25 KB/s) and never answer. Without address validation
 * each one got a session and a link (~44 KB) until the pending cap answered "server busy" to
 * everyone; with the retry cookie none of them gets any state, and newcomers connect.
 */
describe('half-open Connect flood on real UDP', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('300 sockets × 100 Connects/s: newcomers still connect, flooders hold no state', async () => {
    const server = new Server(protocol, { authenticator: new OfflineAuthenticator() });
    open.push(server);
    // a large receive buffer so the flood reaches the server instead of the kernel's drop counter
    const address = await server.listen(udpServer({ recvBufferSize: 8 * 1024 * 1024 }));
    const SOCKETS = 300;
    const RATE = 100; // Connects per socket per second
    const FLOOD_MS = DEEP ? 10_000 : 2500;
    const flooders: dgram.Socket[] = [];
    for (let i = 0; i < SOCKETS; i++) {
      const s = dgram.createSocket('udp4');
      s.on('error', () => {});
      await new Promise<void>((resolve) => s.connect(address.port, address.host, () => resolve()));
      flooders.push(s);
    }
    open.push({
      close: async () => {
        await Promise.all(flooders.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      },
    });
    // each flooder: a fresh nonce per Connect, one Connect every 1000 / RATE ms (as the timer allows)
    let sent = 0;
    let peakPending = 0;
    const start = Date.now();
    const datagram = connectDatagrams({ username: 'flood' })[0];
    const timer = setInterval(() => {
      if (Date.now() - start > FLOOD_MS) return;
      for (let i = 0; i < SOCKETS; i++) {
        const d = datagram.slice();
        new DataView(d.buffer).setUint32(2, (sent++ * 2654435761) >>> 0, true); // the nonce
        flooders[i].send(d);
      }
      peakPending = Math.max(peakPending, server.stats.pendingHandshakes);
    }, 1000 / RATE);
    open.push({ close: async () => clearInterval(timer) });

    // newcomers arrive while the flood is at full rate
    await new Promise((r) => setTimeout(r, 500));
    const newcomers = Array.from({ length: 5 }, () => {
      const c = new Client(protocol, { handshakeTimeoutMs: 10_000 });
      open.push(c);
      return c;
    });
    const outcomes = await Promise.all(
      newcomers.map((c, i) =>
        c.connect(udpClient(address), { username: `new${i}` }).then(
          () => 'connected',
          (e: Error) => e.message,
        ),
      ),
    );
    peakPending = Math.max(peakPending, server.stats.pendingHandshakes);
    expect(outcomes).toEqual(newcomers.map(() => 'connected'));
    while (Date.now() - start < FLOOD_MS + 200) await new Promise((r) => setTimeout(r, 100));
    clearInterval(timer);

    const stats = server.stats;
    console.log(
      `flood: ${sent} Connects sent in ${FLOOD_MS} ms, ${stats.datagramsIn} datagrams in, ${stats.connectsReceived} decoded Connects, ${stats.retriesSent} retries, ` +
        `${stats.dropped.queueOverflow} queue drops, peak pending ${peakPending}, reassembly ${stats.reassembly.entries}`,
    );
    // the flood reached the server and got only stateless answers
    expect(stats.retriesSent).toBeGreaterThan(SOCKETS);
    // per half-open peer the server holds nothing: only the newcomers ever had a session
    expect(stats.handshakesStarted).toBe(newcomers.length);
    expect(peakPending).toBeLessThanOrEqual(newcomers.length);
    expect(stats.reassembly.entries).toBe(0);
    expect(stats.dropped.amplification).toBe(0);
    expect(stats.users).toBe(newcomers.length);
  }, 60_000);
});
