import { describe, expect, it } from 'vitest';
import { checkIndexedPayload, createLinkPair, drain, indexedPayload } from './testing/linkPair.js';
import type { ChannelConfig } from './types.js';

describe('bandwidth budget and priority', () => {
  it('never exceeds rate × time + burst, drops (and counts) unreliable overflow, delivers all reliable', () => {
    const channels: ChannelConfig[] = [
      { mode: 'unreliable', priority: 1 },
      { mode: 'ordered-reliable', priority: 5 },
    ];
    const rate = 20_000;
    const pair = createLinkPair({
      channels,
      pipe: { seed: 3, latencyMs: 20 },
      tickMs: 50,
      options: { bandwidthBytesPerSecond: rate },
    });
    const burst = Math.max(2 * 1200, rate / 10);
    const steps = 200; // 10 s
    let reliableSent = 0;
    for (let s = 0; s < steps; s++) {
      for (let k = 0; k < 10; k++) pair.client.send(0, indexedPayload(s * 10 + k, 200)); // 2 kB per tick: too much
      pair.client.send(1, indexedPayload(reliableSent++, 300));
      pair.step();
      const elapsed = (s + 1) * pair.tickMs;
      // ack-only packets may borrow a little: allow one packet of slack
      expect(pair.client.stats.bytesSent).toBeLessThanOrEqual((rate * elapsed) / 1000 + burst + 1200);
    }
    drain(pair);
    const reliable = pair.received.server.filter(([c]) => c === 1).map(([, p]) => checkIndexedPayload(p));
    expect(reliable).toEqual(Array.from({ length: reliableSent }, (_, i) => i));
    const unreliable = pair.received.server.filter(([c]) => c === 0).length;
    expect(pair.client.stats.messagesDropped).toBeGreaterThan(0);
    expect(unreliable + pair.client.stats.messagesDropped).toBe(steps * 10);
    // the budget was used, not wasted: well over half of it carried data
    expect(pair.client.stats.bytesSent).toBeGreaterThan(rate * 10 * 0.8);
  });

  it('higher priority channels are packed first when the budget is short', () => {
    const channels: ChannelConfig[] = [
      { mode: 'unreliable', priority: 1 },
      { mode: 'unreliable', priority: 3 },
      { mode: 'sequenced-unreliable', priority: 2 },
    ];
    const pair = createLinkPair({
      channels,
      pipe: { seed: 1 },
      options: { bandwidthBytesPerSecond: 1000, bandwidthBurstBytes: 1200 },
    });
    for (let i = 0; i < 6; i++) {
      pair.client.send(0, indexedPayload(i, 300));
      pair.client.send(1, indexedPayload(i, 300));
      pair.client.send(2, indexedPayload(i, 300));
    }
    pair.client.flush(); // one packet's worth of budget: 3 messages of ~303 bytes fit
    pair.step();
    expect(pair.received.server.map(([c]) => c)).toEqual([1, 1, 1]);
    expect(pair.client.stats.messagesDropped).toBe(15);
  });

  it('a reliable resend goes out before any new message, even of a higher-priority channel', () => {
    const channels: ChannelConfig[] = [
      { mode: 'unordered-reliable', priority: 1 },
      { mode: 'unreliable', priority: 10 },
    ];
    const pair = createLinkPair({
      channels,
      pipe: { seed: 1, latencyMs: 20 },
      tickMs: 100,
      options: { bandwidthBytesPerSecond: 6000, bandwidthBurstBytes: 1200 },
    });
    pair.pipe.configure({ loss: 1 });
    pair.client.send(0, indexedPayload(0, 500));
    pair.step();
    pair.pipe.configure({ loss: 0 });
    // from now on the high-priority channel alone could use the whole budget every tick
    let steps = 0;
    while (pair.received.server.every(([c]) => c !== 0)) {
      for (let k = 0; k < 5; k++) pair.client.send(1, indexedPayload(k, 300));
      pair.step();
      if (++steps > 20) throw new Error('the resend was starved');
    }
    expect(pair.client.stats.messagesResent).toBe(1);
    expect(pair.client.stats.messagesDropped).toBeGreaterThan(0);
  });

  it('reliable messages wait for budget (never dropped) and recover from a blackout', () => {
    const channels: ChannelConfig[] = [{ mode: 'ordered-reliable' }];
    const pair = createLinkPair({
      channels,
      pipe: { seed: 1, latencyMs: 20 },
      tickMs: 20,
      options: { bandwidthBytesPerSecond: 10_000 },
    });
    pair.pipe.configure({ loss: 1 });
    for (let i = 0; i < 20; i++) pair.client.send(0, indexedPayload(i, 500));
    for (let i = 0; i < 20; i++) pair.step();
    pair.pipe.configure({ loss: 0 });
    for (let i = 20; i < 40; i++) pair.client.send(0, indexedPayload(i, 500));
    let guard = 0;
    while (pair.client.pendingBytes > 0 && guard++ < 2000) pair.step();
    const got = pair.received.server.map(([, p]) => checkIndexedPayload(p));
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(pair.client.stats.messagesResent).toBeGreaterThan(0);
    expect(pair.client.stats.messagesDropped).toBe(0);
  });
});
