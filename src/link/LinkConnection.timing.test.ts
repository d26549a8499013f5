import { describe, expect, it } from 'vitest';
import { createLinkPair, indexedPayload } from './testing/linkPair.js';

const CHANNELS = [{ mode: 'ordered-reliable' as const }, { mode: 'unreliable' as const }];

describe('RTT, heartbeat and timeout', () => {
  for (const latency of [20, 50, 120]) {
    it(`RTT converges to the simulated round trip (${latency} ms one way, 5 ms ticks)`, () => {
      const pair = createLinkPair({
        channels: CHANNELS,
        pipe: { seed: latency, latencyMs: latency },
        tickMs: 5,
      });
      for (let i = 0; i < 2000; i++) {
        pair.client.send(1, indexedPayload(i, 8));
        pair.server.send(1, indexedPayload(i, 8));
        pair.step();
      }
      // the ack waits at most one tick for the peer's next flush
      expect(pair.client.rttMs).toBeGreaterThanOrEqual(2 * latency);
      expect(pair.client.rttMs).toBeLessThanOrEqual(2 * latency + 5 + 1);
      expect(pair.server.rttMs).toBeGreaterThanOrEqual(2 * latency);
      expect(pair.server.rttMs).toBeLessThanOrEqual(2 * latency + 5 + 1);
    });
  }

  it('RTT also converges under jitter and loss (to the mean round trip, loosely)', () => {
    const pair = createLinkPair({
      channels: CHANNELS,
      pipe: { seed: 5, latencyMs: 40, jitterMs: 10, loss: 0.1 },
      tickMs: 10,
    });
    for (let i = 0; i < 3000; i++) {
      pair.client.send(0, indexedPayload(i, 8));
      pair.step();
    }
    expect(pair.client.rttMs).toBeGreaterThan(80);
    expect(pair.client.rttMs).toBeLessThan(120);
  });

  it('heartbeats keep an idle link alive and measured, about one per interval', () => {
    const pair = createLinkPair({ channels: CHANNELS, pipe: { seed: 1, latencyMs: 30 }, tickMs: 10 });
    for (let t = 0; t < 60_000; t += pair.tickMs) pair.step();
    expect(pair.client.timedOut).toBe(false);
    expect(pair.server.timedOut).toBe(false);
    for (const side of [pair.client, pair.server]) {
      expect(side.stats.heartbeatsSent).toBeGreaterThanOrEqual(58);
      expect(side.stats.heartbeatsSent).toBeLessThanOrEqual(61);
      // a heartbeat asks for an ack, so an idle link still measures its RTT
      expect(side.rttMs).toBeGreaterThanOrEqual(60);
      expect(side.rttMs).toBeLessThanOrEqual(71);
    }
    // idle traffic: heartbeats plus their acks, nothing else
    expect(pair.client.stats.packetsSent).toBeLessThanOrEqual(2 * 61);
  });

  it('no heartbeat while data flows', () => {
    const pair = createLinkPair({ channels: CHANNELS, pipe: { seed: 1, latencyMs: 10 }, tickMs: 50 });
    for (let i = 0; i < 200; i++) {
      pair.client.send(1, indexedPayload(i, 8));
      pair.server.send(1, indexedPayload(i, 8));
      pair.step();
    }
    expect(pair.client.stats.heartbeatsSent).toBe(0);
    expect(pair.server.stats.heartbeatsSent).toBe(0);
  });

  it('times out after timeoutMs of silence, not before', () => {
    const pair = createLinkPair({
      channels: CHANNELS,
      pipe: { seed: 1, latencyMs: 10 },
      tickMs: 10,
      options: { timeoutMs: 3000 },
    });
    for (let i = 0; i < 100; i++) pair.step();
    expect(pair.client.timedOut).toBe(false);
    pair.pipe.configure({ loss: 1 });
    const silentFrom = pair.clock.now();
    // the last packet that made it may still be in the pipe: allow one latency
    let timedOutAt = -1;
    for (let i = 0; i < 1000 && timedOutAt < 0; i++) {
      pair.step();
      if (pair.client.timedOut) timedOutAt = pair.clock.now();
    }
    expect(timedOutAt - silentFrom).toBeGreaterThan(3000);
    expect(timedOutAt - silentFrom).toBeLessThanOrEqual(3000 + 10 + pair.tickMs);
    expect(pair.server.timedOut).toBe(true);
    // traffic again: no longer timed out
    pair.pipe.configure({ loss: 0 });
    for (let i = 0; i < 200; i++) pair.step();
    expect(pair.client.timedOut).toBe(false);
    expect(pair.server.timedOut).toBe(false);
  });
});
