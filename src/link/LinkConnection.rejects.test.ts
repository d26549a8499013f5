import { describe, expect, it } from 'vitest';
import { DecodeError } from '../serde/DecodeError.js';
import { ManualClock } from '../util/Clock.js';
import { LinkConnection } from './LinkConnection.js';
import { indexedPayload } from './testing/linkPair.js';
import { craftPacket, createTwins } from './testing/twins.js';
import type { ChannelConfig, LinkOptions } from './types.js';

const CHANNELS: ChannelConfig[] = [
  { mode: 'unreliable' },
  { mode: 'ordered-reliable' },
  { mode: 'unordered-reliable' },
  { mode: 'sequenced-reliable' },
  { mode: 'tick-buffered' },
  { mode: 'ordered-reliable', direction: 'server-to-client' },
];
const ORDERED = 1;
const UNORDERED = 2;
const SEQ_REL = 3;
const TICK = 4;
const D = 0x01; // Data

function varuint(v: number): number[] {
  return v < 0x80
    ? [v]
    : v < 0x4000
      ? [(v & 0x7f) | 0x80, v >>> 7]
      : [(v & 0x7f) | 0x80, ((v >>> 7) & 0x7f) | 0x80, v >>> 14];
}
/** A reliable-mode message: channel, id, (len << 1 | fragmented), [index, count], payload. */
function reliable(channel: number, id: number, payload: number[], frag?: [number, number]): number[] {
  const head = [channel, id & 0xff, id >>> 8, ...varuint(payload.length * 2 + (frag ? 1 : 0))];
  return [...head, ...(frag ? [...varuint(frag[0]), ...varuint(frag[1])] : []), ...payload];
}
const bytes = (n: number, v = 7) => new Array<number>(n).fill(v);

interface Scenario {
  options?: LinkOptions;
  seqRelSize?: number;
  /** Valid packets fed to b and its twin alike at round 10 (to build state worth attacking). */
  both?: () => Uint8Array[];
  /** Packets fed to b alone at round 10, each with the DecodeError code it must raise. */
  bad: () => Array<[Uint8Array, string]>;
}

/** b must reject every bad packet with DecodeError and stay indistinguishable from its twin. */
function expectRejectedWithoutEffect(s: Scenario) {
  const t = createTwins(CHANNELS, s.options);
  for (let round = 0; round < 40; round++) {
    if (round < 20) {
      t.a.send(ORDERED, indexedPayload(round, 20));
      t.a.send(UNORDERED, indexedPayload(round, 20));
      t.a.send(SEQ_REL, indexedPayload(round, s.seqRelSize ?? 2000));
      t.a.send(TICK, indexedPayload(round, 8), round);
    }
    if (round === 10) {
      for (const packet of s.both?.() ?? []) {
        t.b.receive(packet);
        t.twin.receive(packet);
      }
      for (const [packet, code] of s.bad()) {
        let error: unknown;
        try {
          t.b.receive(packet);
        } catch (e) {
          error = e;
        }
        expect(error, Buffer.from(packet).toString('hex')).toBeInstanceOf(DecodeError);
        expect((error as DecodeError).code, (error as Error).message).toBe(code);
      }
    }
    t.pump();
  }
  const tr = t.transcript();
  expect(tr.b).toEqual(tr.twin);
  expect(tr.b.got.length).toBeGreaterThan(40);
  expect(t.b.takeTickMessages(100)).toEqual(t.twin.takeTickMessages(100));
  expect(t.b.stats.packetsDropped).toBe(s.bad().length);
  expect({ ...t.b.stats, packetsDropped: 0 }).toEqual({ ...t.twin.stats, packetsDropped: 0 });
  expect(t.a.pendingBytes).toBe(0);
}

describe('rejected packets throw DecodeError and leave the connection unchanged', () => {
  it('structurally malformed packets', () => {
    expectRejectedWithoutEffect({
      bad: () => [
        [new Uint8Array(0), 'truncated'],
        [Uint8Array.from([D, 0, 0]), 'truncated'],
        [craftPacket(0x05, 800, 0, 1), 'out-of-range'],
        [craftPacket(0x40, 800, 0, 1), 'invalid'],
        [craftPacket(0x02, 800, 0, 1, [0]), 'trailing'],
        [craftPacket(D, 800, 0, 1, [9, 0]), 'out-of-range'],
        [craftPacket(D, 800, 0, 1, [5, 0, 0, 0]), 'invalid'], // server-to-client channel, into the server
        [craftPacket(D, 800, 0, 1, [0, 5, 1, 2]), 'truncated'],
        [craftPacket(D, 800, 0, 1, [0, 0x81, 0x00, 1]), 'invalid'], // non-minimal varuint
        [craftPacket(D, 800, 0, 1, [0, 0xff, 0xff, 0xff, 0x01]), 'overflow'],
        [craftPacket(D, 800, 0, 1, [ORDERED, 0]), 'truncated'],
        [craftPacket(D, 800, 0, 1, [TICK, 0, 0, 1, 2]), 'truncated'],
        [craftPacket(D, 800, 0, 1, [0, 0], bytes(1200)), 'too-long'],
        [craftPacket(D, 800, 0, 1, reliable(ORDERED, 0, bytes(40), [0, 1])), 'out-of-range'],
        [craftPacket(D, 800, 0, 1, reliable(ORDERED, 0, bytes(40), [3, 3])), 'out-of-range'],
        [craftPacket(D, 800, 0, 1, reliable(ORDERED, 0, bytes(40), [0, 9000])), 'out-of-range'],
        [craftPacket(D, 800, 0, 1, reliable(ORDERED, 0, bytes(10), [0, 3])), 'invalid'],
        [craftPacket(D, 800, 0, 1, reliable(ORDERED, 0, bytes(1000), [0, 300])), 'too-long'],
        [craftPacket(D, 800, 0, 1, reliable(ORDERED, 0, bytes(0), [299, 300])), 'invalid'],
        // a valid message followed by garbage: nothing of it may be applied
        [craftPacket(D, 800, 0, 1, [0, 1, 0xaa], reliable(ORDERED, 5, [1]), [0xee]), 'out-of-range'],
      ],
    });
  });

  it('message ids beyond the receive window, and a message repeated in one packet', () => {
    expectRejectedWithoutEffect({
      bad: () => [
        [craftPacket(D, 800, 0, 1, reliable(ORDERED, 0x4000, [1])), 'out-of-range'],
        [craftPacket(D, 801, 0, 1, reliable(UNORDERED, 0x4000, [1])), 'out-of-range'],
        [craftPacket(D, 802, 0, 1, [TICK, 0x00, 0x40, 1, 0, 0, 0, 2, 9]), 'out-of-range'],
        [craftPacket(D, 803, 0, 1, [0, 1, 0xaa], reliable(ORDERED, 0x4000, [1])), 'out-of-range'],
        [craftPacket(D, 804, 0, 1, reliable(ORDERED, 600, [1]), reliable(ORDERED, 600, [1])), 'invalid'],
      ],
    });
  });

  it('fragments inconsistent with an earlier fragment of the same message', () => {
    expectRejectedWithoutEffect({
      // a genuine first fragment of message 600 (3 × 40 bytes … final ≤ 40)
      both: () => [craftPacket(D, 700, 0, 1, reliable(ORDERED, 600, bytes(40), [0, 3]))],
      bad: () => [
        [craftPacket(D, 800, 0, 1, reliable(ORDERED, 600, bytes(40), [1, 4])), 'invalid'],
        [craftPacket(D, 801, 0, 1, reliable(ORDERED, 600, bytes(50), [1, 3])), 'invalid'],
        [craftPacket(D, 802, 0, 1, reliable(ORDERED, 600, bytes(41), [2, 3])), 'invalid'],
      ],
    });
  });

  it('a packet that would overflow the receive buffers (maxPendingBytes)', () => {
    expectRejectedWithoutEffect({
      options: { maxPendingBytes: 8000 },
      seqRelSize: 20,
      // six messages of 1150 bytes held behind a gap: 6900 bytes buffered
      both: () =>
        [0, 1, 2, 3, 4, 5].map((k) => craftPacket(D, 700 + k, 0, 1, reliable(ORDERED, 600 + k, bytes(1150)))),
      bad: () => [
        [craftPacket(D, 800, 0, 1, reliable(ORDERED, 610, bytes(1150))), 'too-long'],
        [craftPacket(D, 801, 0, 1, reliable(UNORDERED, 610, bytes(1100), [0, 2])), 'too-long'],
      ],
    });
  });
});

describe('tick buffer bounds', () => {
  it('drops and counts messages too far ahead of the server tick; late ones come with their tick', () => {
    const clock = new ManualClock();
    const packets: Uint8Array[] = [];
    const channels: ChannelConfig[] = [{ mode: 'tick-buffered' }];
    const client = new LinkConnection({ channels, role: 'client', send: (p) => packets.push(p), clock });
    const server = new LinkConnection({
      channels,
      role: 'server',
      send: () => {},
      clock,
      options: { tickBufferTicks: 10 },
    });
    expect(server.takeTickMessages(100)).toEqual([]);
    client.send(0, Uint8Array.of(1), 110); // exactly the limit: kept
    client.send(0, Uint8Array.of(2), 111); // beyond: dropped
    client.send(0, Uint8Array.of(3), 95); // late
    client.send(0, Uint8Array.of(4), 101);
    client.flush();
    for (const p of packets) server.receive(p);
    expect(server.stats.tickMessagesDropped).toBe(1);
    expect(server.takeTickMessages(101).map((m) => [m.tick, m.payload[0]])).toEqual([
      [95, 3],
      [101, 4],
    ]);
    expect(server.takeTickMessages(109)).toEqual([]);
    expect(server.takeTickMessages(110).map((m) => [m.tick, m.payload[0]])).toEqual([[110, 1]]);
    expect(server.tickBufferedMessages).toBe(0);
    // the client never has tick-buffered input to take
    expect(client.takeTickMessages(200)).toEqual([]);
  });
});
