import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../util/SeededRandom.js';
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
const runs = (normal: number, deep: number) => (DEEP ? deep : normal);

/** Every mode but tick-buffered, whose messages go to the tick buffer rather than `onMessage`. */
const CHANNELS = ONE_CHANNEL_PER_MODE.slice(0, TICK);

const network = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  loss: fc.double({ min: 0, max: 0.3, noNaN: true }),
  duplicate: fc.double({ min: 0, max: 0.2, noNaN: true }),
  reorder: fc.double({ min: 0, max: 0.3, noNaN: true }),
  latencyMs: fc.integer({ min: 0, max: 60 }),
  jitterMs: fc.integer({ min: 0, max: 30 }),
});

/** Step until both sides have nothing reliable outstanding; fail if that takes unreasonably long. */
function settle(pair: LinkPair, maxSteps = 20_000): number {
  let steps = 0;
  while (pair.client.pendingBytes > 0 || pair.server.pendingBytes > 0) {
    pair.step();
    if (++steps > maxSteps) throw new Error('link did not settle');
  }
  // let in-flight unreliable datagrams land too
  for (let i = 0; i < 30; i++) pair.step();
  return steps;
}

function byChannel(list: Array<[number, Uint8Array]>, channel: number): number[] {
  return list.filter(([c]) => c === channel).map(([, p]) => checkIndexedPayload(p));
}

function strictlyIncreasing(xs: number[]): boolean {
  for (let i = 1; i < xs.length; i++) if (xs[i] <= xs[i - 1]) return false;
  return true;
}

describe('link properties under loss, duplication and reordering', () => {
  it('every mode keeps its guarantee (both directions, mixed sizes incl. fragments)', () => {
    fc.assert(
      fc.property(
        network,
        fc.integer({ min: 1, max: 150 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 0x7fffffff }),
        (net, count, perStep, sizeSeed) => {
          const pair = createLinkPair({ channels: CHANNELS, pipe: net });
          const rng = new SeededRandom(sizeSeed);
          const size = (max: number) => (rng.chance(0.05) ? rng.int(1200, max) : rng.int(4, 120));
          let sent = 0;
          while (sent < count) {
            for (let k = 0; k < perStep && sent < count; k++, sent++) {
              for (const side of [pair.client, pair.server]) {
                side.send(UNREL, indexedPayload(sent, rng.int(4, 300)));
                side.send(SEQ_UNREL, indexedPayload(sent, rng.int(4, 300)));
                side.send(UNORDERED, indexedPayload(sent, size(4000)));
                side.send(ORDERED, indexedPayload(sent, size(4000)));
                side.send(SEQ_REL, indexedPayload(sent, size(3000)));
              }
            }
            pair.step();
          }
          settle(pair);
          const all = Array.from({ length: count }, (_, i) => i);
          for (const got of [pair.received.client, pair.received.server]) {
            expect(byChannel(got, ORDERED)).toEqual(all);
            expect(byChannel(got, UNORDERED).sort((a, b) => a - b)).toEqual(all);
            const seqRel = byChannel(got, SEQ_REL);
            expect(strictlyIncreasing(seqRel)).toBe(true);
            expect(seqRel[seqRel.length - 1]).toBe(count - 1);
            expect(strictlyIncreasing(byChannel(got, SEQ_UNREL))).toBe(true);
            const unrel = byChannel(got, UNREL);
            expect(new Set(unrel).size).toBe(unrel.length);
            for (const i of unrel) expect(i).toBeLessThan(count);
          }
          if (net.loss === 0 && net.duplicate === 0 && net.reorder === 0 && net.jitterMs === 0) {
            // a perfect pipe delivers even the unreliable channels completely
            expect(byChannel(pair.received.server, UNREL)).toEqual(all);
          }
        },
      ),
      { numRuns: runs(100, 1000) },
    );
  });

  it('fragmented messages of 10–100 KB reassemble byte-exact on every reliable mode', () => {
    fc.assert(
      fc.property(
        network,
        fc.array(fc.integer({ min: 10_000, max: 100_000 }), { minLength: 1, maxLength: 4 }),
        (net, sizes) => {
          const pair = createLinkPair({ channels: CHANNELS, pipe: net });
          const seed = net.seed;
          const make = (i: number, n: number) => {
            const r = new SeededRandom(seed + i);
            const out = new Uint8Array(n);
            for (let j = 0; j < n; j++) out[j] = (r.next() * 256) | 0;
            return out;
          };
          const sentPayloads = sizes.map((n, i) => make(i, n));
          for (const p of sentPayloads) {
            pair.client.send(ORDERED, p);
            pair.client.send(UNORDERED, p);
          }
          pair.server.send(SEQ_REL, sentPayloads[sentPayloads.length - 1]);
          settle(pair);
          const ordered = pair.received.server.filter(([c]) => c === ORDERED).map(([, p]) => p);
          expect(ordered.length).toBe(sentPayloads.length);
          for (let i = 0; i < ordered.length; i++)
            expect(Buffer.compare(ordered[i], sentPayloads[i])).toBe(0);
          const unordered = pair.received.server.filter(([c]) => c === UNORDERED).map(([, p]) => p);
          expect(unordered.length).toBe(sentPayloads.length);
          for (const p of sentPayloads) expect(unordered.some((q) => Buffer.compare(p, q) === 0)).toBe(true);
          const seqRel = pair.received.client.filter(([c]) => c === SEQ_REL).map(([, p]) => p);
          expect(seqRel.length).toBe(1);
          expect(Buffer.compare(seqRel[0], sentPayloads[sentPayloads.length - 1])).toBe(0);
          expect(pair.server.receiveBufferedBytes).toBe(0);
          expect(pair.client.receiveBufferedBytes).toBe(0);
        },
      ),
      { numRuns: runs(25, 300) },
    );
  });

  it('tick-buffered messages arrive exactly once, with their tick, never before it', () => {
    fc.assert(
      fc.property(
        network,
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 1, max: 200 }),
        (net, lead, count) => {
          const pair = createLinkPair({ channels: [{ mode: 'tick-buffered' }], pipe: net, tickMs: 16 });
          const taken = new Map<number, { tick: number; takenAt: number }>();
          let tick = 0;
          const take = () => {
            for (const m of pair.server.takeTickMessages(tick)) {
              const i = checkIndexedPayload(m.payload);
              expect(taken.has(i)).toBe(false);
              taken.set(i, { tick: m.tick, takenAt: tick });
            }
          };
          const sentTick: number[] = [];
          for (let i = 0; i < count; i++) {
            tick++;
            sentTick.push(tick + lead);
            pair.client.send(0, indexedPayload(i, 12), tick + lead);
            pair.step();
            take();
          }
          for (let guard = 0; pair.client.pendingBytes > 0 || tick <= count + lead; guard++) {
            if (guard > 20_000) throw new Error('tick-buffered channel did not settle');
            tick++;
            pair.step();
            take();
          }
          tick++;
          take();
          expect(taken.size).toBe(count);
          for (const [i, t] of taken) {
            expect(t.tick).toBe(sentTick[i]);
            expect(t.takenAt).toBeGreaterThanOrEqual(t.tick);
          }
          expect(pair.server.stats.tickMessagesDropped).toBe(0);
        },
      ),
      { numRuns: runs(60, 600) },
    );
  });
});
