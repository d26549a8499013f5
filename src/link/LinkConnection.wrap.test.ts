import { describe, expect, it } from 'vitest';
import { sendEveryModeAcrossTheWrap } from './testing/allModesWrap.js';
import { checkIndexedPayload, createLinkPair, drain, indexedPayload } from './testing/linkPair.js';

const DEEP = process.env.BATON_DEEP === '1';

describe('16-bit wrap', () => {
  it('delivers > 65 536 messages per reliable channel exactly once (ordered: in order) across the id wrap', () => {
    const N = DEEP ? 200_000 : 70_000;
    const pair = createLinkPair({
      channels: [{ mode: 'ordered-reliable' }, { mode: 'unordered-reliable' }],
      pipe: { seed: 65_537, latencyMs: 10, jitterMs: 5, loss: 0.05, duplicate: 0.02, reorder: 0.05 },
      tickMs: 10,
    });
    let nextOrdered = 0;
    const seen = new Uint8Array(N);
    let unorderedCount = 0;
    pair.server.onMessage = (channel, payload) => {
      const i = checkIndexedPayload(payload);
      if (channel === 0) {
        expect(i).toBe(nextOrdered);
        nextOrdered++;
      } else {
        expect(seen[i]).toBe(0);
        seen[i] = 1;
        unorderedCount++;
      }
    };
    let sent = 0;
    let steps = 0;
    while (sent < N || pair.client.pendingBytes > 0) {
      for (let k = 0; k < 4000 && sent < N; k++, sent++) {
        pair.client.send(0, indexedPayload(sent, 4));
        pair.client.send(1, indexedPayload(sent, 4));
      }
      pair.step();
      if (++steps > 50_000) throw new Error('did not finish');
    }
    expect(nextOrdered).toBe(N);
    expect(unorderedCount).toBe(N);
    expect(pair.client.stats.messagesResent).toBeGreaterThan(0);
    expect(pair.server.receiveBufferedBytes).toBe(0);
  });

  it('packet sequence numbers wrap without losing, duplicating or reordering anything', () => {
    const N = DEEP ? 140_000 : 70_000;
    const pair = createLinkPair({
      channels: [{ mode: 'ordered-reliable' }, { mode: 'unreliable' }],
      pipe: { seed: 99, latencyMs: 5, loss: 0.1, duplicate: 0.05, reorder: 0.05 },
      tickMs: 10,
    });
    let next = 0;
    const unreliable = new Set<number>();
    const back = new Set<number>();
    pair.client.onMessage = (_channel, payload) => {
      const i = checkIndexedPayload(payload);
      expect(back.has(i)).toBe(false);
      back.add(i);
    };
    pair.server.onMessage = (channel, payload) => {
      const i = checkIndexedPayload(payload);
      if (channel === 0) {
        expect(i).toBe(next);
        next++;
      } else {
        expect(unreliable.has(i)).toBe(false);
        unreliable.add(i);
      }
    };
    for (let i = 0; i < N; i++) {
      pair.client.send(0, indexedPayload(i, 4));
      pair.client.send(1, indexedPayload(i, 4));
      pair.server.send(1, indexedPayload(i, 4));
      pair.step();
    }
    drain(pair);
    expect(next).toBe(N);
    // one packet per step at least: the 16-bit packet sequence wrapped
    expect(pair.client.stats.packetsSent).toBeGreaterThan(65_536);
    expect(pair.server.stats.packetsSent).toBeGreaterThan(65_536);
    expect(unreliable.size).toBeGreaterThan(N * 0.8);
    expect(back.size).toBeGreaterThan(N * 0.8);
  });

  it('every channel mode keeps delivering, in its guarantee, past message 65 536', () => {
    sendEveryModeAcrossTheWrap(DEEP ? 140_000 : 70_000, 0);
  });
});
