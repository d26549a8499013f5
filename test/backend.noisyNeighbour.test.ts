import { describe, expect, it } from 'vitest';
import { InMemoryRegistry } from '../src/cluster/index.js';
import { MuxFrame } from '../src/session/mux.js';
import { udpClient } from '../src/transport/index.js';
import { type StreamConnection, tlsStreamClient } from '../src/transport/stream/index.js';
import { startTunedBackend } from './helpers/backend.js';
import { newClient, startProxy, useClusterFixture } from './helpers/cluster.js';
import { Chat } from './helpers/protocol.js';
import { waitFor } from './helpers/transports.js';

/**
 * Issue 12.1: a second mTLS peer flooding a backend with tiny frames must cost only itself.
 * The healthy proxy's player inputs (already acknowledged to the client by the proxy's link)
 * all reach the game, in order, and its link is not closed for a heartbeat timeout.
 */
const fx = useClusterFixture();
const { open } = fx;

/** Write tiny frames as fast as the stream takes them until `stop()`; bounded by `maxFrames`. */
function flood(conn: StreamConnection, maxFrames: number): { stop(): void; sent(): number } {
  let sent = 0;
  let stopped = false;
  const empty = new Uint8Array(0);
  const burst = () => {
    if (stopped || !conn.isOpen) return;
    // bounded burst; the stream refuses once 8 MiB are queued, then onDrain resumes us
    for (let i = 0; i < 20_000 && sent < maxFrames; i++) {
      const ok =
        i % 2 === 0
          ? conn.sendFrame(MuxFrame.Message, 0xdead, empty) // a session the backend does not have
          : conn.sendFrame(MuxFrame.Ping, 0, new Uint8Array([1, 0, 0, 0]));
      if (!ok) return; // onDrain calls burst again
      sent++;
    }
    if (sent < maxFrames) setImmediate(burst);
  };
  conn.onDrain = burst;
  conn.onFrame = () => {};
  burst();
  return {
    stop: () => {
      stopped = true;
    },
    sent: () => sent,
  };
}

describe('backend: a noisy proxy peer does not cost a healthy one anything', () => {
  it('every input of the healthy proxy is processed once, in order; its link stays up', async () => {
    const registry = new InMemoryRegistry();
    // a small per-link budget so the flood crosses it many times
    // default heartbeat timeouts: a loaded test machine must not pass for a silent peer here
    const b = await startTunedBackend(fx.certs, registry, 'backend-a', {
      maxQueuedFrames: 2000,
      timeoutMs: 5000,
    });
    open.push(b.server);
    const { proxy, udp } = await startProxy(fx.certs, registry, { backendTimeoutMs: 3000 });
    open.push(proxy);
    const c = newClient();
    open.push(c);
    await c.connect(udpClient(udp), { username: 'healthy' });
    const got: number[] = [];
    b.server.on('message', (_u, channel, _def, value) => {
      if (channel === 'chat') got.push((value as { from: number }).from);
    });

    const noisy = await tlsStreamClient({
      host: '127.0.0.1',
      port: b.port,
      cert: fx.certs.client.cert,
      key: fx.certs.client.key,
      ca: fx.certs.ca.cert,
    }).connect();
    open.push(noisy);
    const f = flood(noisy, 3_000_000);

    // the healthy player keeps sending while the flood runs
    const total = 150;
    for (let seq = 0; seq < total && c.connected; seq++) {
      c.send('chat', Chat, { from: seq, text: 'x' });
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await waitFor(() => got.length >= total, 15_000)).toBe(true);
    f.stop();
    expect(f.sent()).toBeGreaterThan(10_000);
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(c.connected).toBe(true);
    expect(proxy.stats.backends.lost).toBe(0);
    expect(b.server.proxiedStats!.proxyLinksLost).toBe(0);
    // the flood was slowed down (its stream paused), never dropped
    const st = b.server.proxiedStats!;
    expect(st.backpressure.pauses).toBeGreaterThan(0);
    expect(st.dropped.discardedWithLink).toBe(0);
  }, 40_000);
});
