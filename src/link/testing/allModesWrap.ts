import { expect } from 'vitest';
import { ONE_CHANNEL_PER_MODE, ORDERED, SEQ_REL, SEQ_UNREL, TICK, UNORDERED, UNREL } from './channels.js';
import { checkIndexedPayload, createLinkPair, drain, indexedPayload } from './linkPair.js';

/** Internals the near-wrap variant presets (the ids a link would reach after `startId` messages). */
interface ChannelIds {
  sendChannels: { nextId: number }[];
  recvChannels: { base: number }[];
}

/**
 * Sends `count` messages on one channel of every mode (one per mode per step, so the sequenced
 * modes see every id), client → server over a lossy, duplicating, reordering pipe, and checks
 * each mode's guarantee on every delivery. `startId` > 0 starts every channel's message ids
 * there (as if that many messages had gone before), so a short run crosses the 16-bit wrap.
 */
export function sendEveryModeAcrossTheWrap(count: number, startId: number): void {
  const pair = createLinkPair({
    channels: ONE_CHANNEL_PER_MODE,
    pipe: { seed: 4242, latencyMs: 5, jitterMs: 5, loss: 0.05, duplicate: 0.03, reorder: 0.05 },
    tickMs: 10,
  });
  if (startId > 0) {
    const client = pair.client as unknown as ChannelIds;
    const server = pair.server as unknown as ChannelIds;
    for (const channel of [SEQ_UNREL, UNORDERED, ORDERED, SEQ_REL, TICK]) {
      client.sendChannels[channel].nextId = startId;
      server.recvChannels[channel].base = startId;
    }
  }
  const wrapsAt = 65_536 - startId; // the first message index whose id is 0 again
  const unreliable = new Uint8Array(count);
  const unordered = new Uint8Array(count);
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
      // never an older message after a newer one
      if (i <= last) fail(`sequenced channel ${channel}: ${i} after ${last}`);
      list.push(i);
    } else {
      fail(`unexpected channel ${channel}`);
    }
  };
  const ticks = new Uint8Array(count);
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
  for (let i = 0; i < count; i++) {
    for (const channel of [UNREL, SEQ_UNREL, UNORDERED, ORDERED, SEQ_REL]) {
      pair.client.send(channel, indexedPayload(i, 6));
    }
    pair.client.send(TICK, indexedPayload(i, 6), i);
    pair.step();
    take(i);
  }
  drain(pair);
  for (let i = 0; i < 30; i++) pair.step(); // unreliable stragglers
  take(count);

  const indicesAfterWrap = (list: readonly number[]) => list.filter((i) => i >= wrapsAt).length;
  const flagsAfterWrap = (flags: Uint8Array) => flags.subarray(wrapsAt).reduce((n, v) => n + v, 0);
  const wrapped = count - wrapsAt;
  expect(wrapped).toBeGreaterThan(0);
  // reliable modes: everything, exactly once (ordered: in order)
  expect(ordered).toBe(count);
  expect(unordered.every((v) => v === 1)).toBe(true);
  expect(ticked).toBe(count);
  // sequenced-reliable: the newest message always arrives; most others do at 5 % loss
  expect(sequenced[SEQ_REL].at(-1)).toBe(count - 1);
  expect(indicesAfterWrap(sequenced[SEQ_REL])).toBeGreaterThan(wrapped * 0.5);
  // unreliable modes: most of what was sent after the wrap arrives too
  expect(indicesAfterWrap(sequenced[SEQ_UNREL])).toBeGreaterThan(wrapped * 0.8);
  expect(flagsAfterWrap(unreliable)).toBeGreaterThan(wrapped * 0.8);
  expect(pair.client.stats.messagesSent).toBe(6 * count);
}
