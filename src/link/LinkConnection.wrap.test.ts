import { describe, expect, it } from 'vitest';
import {
  ONE_CHANNEL_PER_MODE,
  ORDERED,
  SEQ_REL,
  SEQ_UNREL,
  TICK,
  UNORDERED,
  UNREL,
} from './testing/channels.js';
import { checkIndexedPayload, createLinkPair, indexedPayload, type LinkPair } from './testing/linkPair.js';

const DEEP = process.env.BATON_DEEP === '1';

/** Step until the client has nothing reliable outstanding; a bug that never settles fails, not hangs. */
function drain(pair: LinkPair, maxSteps = 20_000): void {
  for (let steps = 0; pair.client.pendingBytes > 0; steps++) {
    if (steps > maxSteps) throw new Error('link did not settle');
    pair.step();
  }
}

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
    // One message per mode per step, so the sequenced modes see every id (a newer message
    // supersedes an older one only when both are queued in one flush).
    const N = DEEP ? 140_000 : 66_000 + 4_000;
    const pair = createLinkPair({
      channels: ONE_CHANNEL_PER_MODE,
      pipe: { seed: 4242, latencyMs: 5, jitterMs: 5, loss: 0.05, duplicate: 0.03, reorder: 0.05 },
      tickMs: 10,
    });
    const unreliable = new Uint8Array(N);
    const unordered = new Uint8Array(N);
    let ordered = 0;
    const sequenced = { [SEQ_UNREL]: [] as number[], [SEQ_REL]: [] as number[] };
    // plain checks in the hot path (expect() per message would dominate the run time)
    const fail = (what: string) => {
      throw new Error(what);
    };
    pair.server.onMessage = (channel, payload) => {
      const i = checkIndexedPayload(payload);
      if (channel === UNREL) {
        if (unreliable[i]) fail(`unreliable ${i} twice`);
        unreliable[i] = 1;
      } else if (channel === UNORDERED) {
        if (unordered[i]) fail(`unordered ${i} twice`);
        unordered[i] = 1;
      } else if (channel === ORDERED) {
        if (i !== ordered) fail(`ordered: ${i} where ${ordered} was due`);
        ordered++;
      } else if (channel === SEQ_UNREL || channel === SEQ_REL) {
        const list = sequenced[channel];
        const last = list.length > 0 ? list[list.length - 1] : -1;
        if (i <= last) fail(`sequenced channel ${channel}: ${i} after ${last}`);
        list.push(i);
      } else {
        fail(`unexpected channel ${channel}`);
      }
    };
    const ticks = new Uint8Array(N);
    let ticked = 0;
    const take = (tick: number) => {
      for (const m of pair.server.takeTickMessages(tick)) {
        const i = checkIndexedPayload(m.payload);
        if (m.channel !== TICK || m.tick !== i) fail(`tick message ${i} on ${m.channel} at tick ${m.tick}`);
        if (ticks[i]) fail(`tick message ${i} twice`);
        ticks[i] = 1;
        ticked++;
      }
    };
    for (let i = 0; i < N; i++) {
      for (const channel of [UNREL, SEQ_UNREL, UNORDERED, ORDERED, SEQ_REL]) {
        pair.client.send(channel, indexedPayload(i, 6));
      }
      pair.client.send(TICK, indexedPayload(i, 6), i);
      pair.step();
      take(i);
    }
    drain(pair);
    for (let i = 0; i < 30; i++) pair.step(); // unreliable stragglers
    take(N);

    const afterWrap = (list: ArrayLike<number>, isIndex: boolean) => {
      let n = 0;
      for (let k = 0; k < list.length; k++) {
        if (isIndex ? list[k] >= 65_536 : list[k] === 1 && k >= 65_536) n++;
      }
      return n;
    };
    const wrapped = N - 65_536;
    // reliable modes: everything, exactly once
    expect(ordered).toBe(N);
    expect(afterWrap(unordered, false)).toBe(wrapped);
    expect(unordered.every((v) => v === 1)).toBe(true);
    expect(ticked).toBe(N);
    // sequenced-reliable: the newest message always arrives; most others do at 5 % loss
    expect(sequenced[SEQ_REL].at(-1)).toBe(N - 1);
    expect(afterWrap(sequenced[SEQ_REL], true)).toBeGreaterThan(wrapped * 0.5);
    // unreliable modes: most of what was sent after the wrap arrives, too
    expect(afterWrap(sequenced[SEQ_UNREL], true)).toBeGreaterThan(wrapped * 0.8);
    expect(afterWrap(unreliable, false)).toBeGreaterThan(wrapped * 0.8);
    // the ids really wrapped on every mode that numbers its messages
    expect(pair.client.stats.messagesSent).toBe(6 * N);
  });
});
