import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from '../serde/DecodeError.js';
import { ManualClock } from '../util/Clock.js';
import { LinkBackpressureError, LinkUsageError } from './errors.js';
import { LinkConnection } from './LinkConnection.js';
import { ONE_CHANNEL_PER_MODE } from './testing/channels.js';
import { checkIndexedPayload, createLinkPair, indexedPayload } from './testing/linkPair.js';
import type { ChannelConfig } from './types.js';
import { isLinkPacket } from './wire.js';

const ALL = ONE_CHANNEL_PER_MODE;

function indices(list: Array<[number, Uint8Array]>, channel: number): number[] {
  return list.filter(([c]) => c === channel).map(([, p]) => checkIndexedPayload(p));
}

describe('LinkConnection basics', () => {
  it('delivers on every mode over a clean pipe, both directions', () => {
    const pair = createLinkPair({ channels: ALL, pipe: { seed: 1, latencyMs: 5 } });
    for (let i = 0; i < 5; i++) {
      for (let ch = 0; ch < 5; ch++) {
        pair.client.send(ch, indexedPayload(i, 10));
        pair.server.send(ch, indexedPayload(i, 10));
      }
      pair.client.send(5, indexedPayload(i, 10), 100 + i);
    }
    for (let s = 0; s < 10; s++) pair.step();
    for (const side of ['client', 'server'] as const) {
      const got = pair.received[side];
      for (let ch = 0; ch < 4; ch++) expect(indices(got, ch)).toEqual([0, 1, 2, 3, 4]);
      // sequenced-reliable: sent in one tick, only the newest is worth delivering
      expect(indices(got, 4)).toEqual([4]);
    }
    expect(pair.client.pendingBytes).toBe(0);
    expect(pair.server.pendingBytes).toBe(0);
    const ticks = pair.server.takeTickMessages(104);
    expect(ticks.map((m) => [m.channel, m.tick, checkIndexedPayload(m.payload)])).toEqual([
      [5, 100, 0],
      [5, 101, 1],
      [5, 102, 2],
      [5, 103, 3],
      [5, 104, 4],
    ]);
    expect(pair.server.takeTickMessages(105)).toEqual([]);
  });

  it('packs many small messages into one packet', () => {
    const pair = createLinkPair({ channels: ALL, pipe: { seed: 1 } });
    for (let i = 0; i < 100; i++) pair.client.send(3, indexedPayload(i, 4));
    pair.client.flush();
    expect(pair.client.stats.packetsSent).toBe(1);
    // 9 header + 100 × (1 channel + 2 id + 1 length + 4 payload)
    expect(pair.client.stats.bytesSent).toBe(9 + 100 * 8);
  });

  it('ignores a duplicated packet entirely', () => {
    const clock = new ManualClock();
    const sent: Uint8Array[] = [];
    const a = new LinkConnection({ channels: ALL, role: 'client', send: (p) => sent.push(p), clock });
    const b = new LinkConnection({ channels: ALL, role: 'server', send: () => {}, clock });
    const got: number[] = [];
    b.onMessage = (ch) => got.push(ch);
    a.send(0, new Uint8Array([1]));
    a.send(1, new Uint8Array([2]));
    a.send(2, new Uint8Array([3]));
    a.flush();
    expect(sent).toHaveLength(1);
    b.receive(sent[0]);
    b.receive(sent[0]);
    b.receive(sent[0].slice());
    expect(got).toEqual([0, 1, 2]);
    expect(b.stats.packetsDuplicate).toBe(2);
    expect(b.stats.packetsReceived).toBe(1);
  });

  it('enforces channel direction on send and on receive', () => {
    const channels: ChannelConfig[] = [
      { mode: 'ordered-reliable', direction: 'server-to-client' },
      { mode: 'tick-buffered' },
    ];
    const clock = new ManualClock();
    const sent: Uint8Array[] = [];
    const client = new LinkConnection({ channels, role: 'client', send: () => {}, clock });
    const server = new LinkConnection({ channels, role: 'server', send: (p) => sent.push(p), clock });
    expect(() => client.send(0, new Uint8Array(1))).toThrow(LinkUsageError);
    expect(() => server.send(1, new Uint8Array(1), 3)).toThrow(LinkUsageError);
    expect(() => client.send(7, new Uint8Array(1))).toThrow(LinkUsageError);
    expect(() => client.send(1, new Uint8Array(1))).toThrow(EncodeError); // no tick
    // a server→client packet fed back into the server is a direction violation
    server.send(0, new Uint8Array([9]));
    server.flush();
    expect(() => server.receive(sent[0])).toThrow(DecodeError);
    expect(
      () =>
        new LinkConnection({
          channels: [{ mode: 'tick-buffered', direction: 'both' }],
          role: 'client',
          send: () => {},
          clock,
        }),
    ).toThrow(LinkUsageError);
  });

  it('rejects oversized messages with EncodeError', () => {
    const clock = new ManualClock();
    const link = new LinkConnection({
      channels: ALL,
      role: 'client',
      send: () => {},
      clock,
      options: { maxMessageBytes: 5000 },
    });
    expect(() => link.send(3, new Uint8Array(5001))).toThrow(EncodeError);
    expect(() => link.send(0, new Uint8Array(1200))).toThrow(EncodeError);
    expect(link.maxUnfragmentedPayload(0)).toBe(1188);
    expect(link.maxUnfragmentedPayload(1)).toBe(1186);
    link.send(0, new Uint8Array(1188));
    expect(() => link.send(0, new Uint8Array(1189))).toThrow(EncodeError);
    link.send(3, new Uint8Array(5000)); // fragmented
  });

  it('throws LinkBackpressureError beyond maxPendingBytes, and recovers once acked', () => {
    const pair = createLinkPair({
      channels: ALL,
      pipe: { seed: 3, latencyMs: 5 },
      options: { maxPendingBytes: 1000 },
    });
    for (let i = 0; i < 10; i++) pair.client.send(3, indexedPayload(i, 100));
    expect(pair.client.pendingBytes).toBe(1000);
    expect(() => pair.client.send(3, indexedPayload(10, 1))).toThrow(LinkBackpressureError);
    for (let s = 0; s < 5; s++) pair.step();
    expect(pair.client.pendingBytes).toBe(0);
    pair.client.send(3, indexedPayload(10, 100));
    for (let s = 0; s < 5; s++) pair.step();
    expect(indices(pair.received.server, 3)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('sequenced-reliable supersedes older unacked messages', () => {
    const pair = createLinkPair({ channels: ALL, pipe: { seed: 1, latencyMs: 5 } });
    pair.client.send(4, indexedPayload(0, 50));
    pair.client.send(4, indexedPayload(1, 50));
    pair.client.send(4, indexedPayload(2, 50));
    expect(pair.client.pendingBytes).toBe(50);
    for (let s = 0; s < 5; s++) pair.step();
    expect(indices(pair.received.server, 4)).toEqual([2]);
  });

  it('resends a reliable message whose packet was lost, in a new packet', () => {
    const pair = createLinkPair({ channels: ALL, pipe: { seed: 1, latencyMs: 20 } });
    pair.pipe.configure({ loss: 1 });
    pair.client.send(3, indexedPayload(7, 20));
    pair.step();
    pair.pipe.configure({ loss: 0 });
    for (let s = 0; s < 60; s++) pair.step();
    expect(indices(pair.received.server, 3)).toEqual([7]);
    expect(pair.client.stats.messagesResent).toBeGreaterThanOrEqual(1);
    expect(pair.client.stats.packetsLost).toBeGreaterThanOrEqual(1);
  });

  it('recovers everything in order after a blackout with more than 1024 packets outstanding', () => {
    const pair = createLinkPair({ channels: ALL, pipe: { seed: 9, latencyMs: 15 }, tickMs: 10 });
    let sent = 0;
    const burst = () => {
      for (let k = 0; k < 40; k++, sent++) {
        pair.client.send(2, indexedPayload(sent, 150)); // ~12 kB per tick
        pair.client.send(3, indexedPayload(sent, 150));
      }
    };
    for (let s = 0; s < 20; s++) {
      burst();
      pair.step();
    }
    pair.pipe.configure({ loss: 1 });
    for (let s = 0; s < 300; s++) {
      if (s < 30) burst();
      pair.step();
    }
    expect(pair.client.stats.packetsSent).toBeGreaterThan(1100);
    pair.pipe.configure({ loss: 0 });
    let guard = 0;
    while (pair.client.pendingBytes > 0 && guard++ < 5000) pair.step();
    expect(pair.client.pendingBytes).toBe(0);
    expect(indices(pair.received.server, 3)).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(indices(pair.received.server, 2).sort((x, y) => x - y)).toEqual(
      Array.from({ length: sent }, (_, i) => i),
    );
  });

  it('at most 1024 packets in flight: the rest waits, and nothing is lost for real', () => {
    const pair = createLinkPair({
      channels: ALL,
      pipe: { seed: 2, latencyMs: 15 },
      options: { mtu: 64, bandwidthBytesPerSecond: 1e9 },
    });
    pair.pipe.configure({ loss: 1 });
    for (let i = 0; i < 1000; i++) {
      pair.client.send(2, indexedPayload(i, 40)); // one message per packet at mtu 64
      pair.client.send(3, indexedPayload(i, 40));
    }
    pair.client.flush(); // the budget would allow 2000 packets, no time passes to judge any lost
    expect(pair.client.stats.packetsSent).toBe(1024);
    expect(pair.client.stats.packetsLost).toBe(0);
    pair.client.flush();
    expect(pair.client.stats.packetsSent).toBe(1024);
    pair.pipe.configure({ loss: 0 });
    let guard = 0;
    while (pair.client.pendingBytes > 0 && guard++ < 5000) pair.step();
    expect(indices(pair.received.server, 3)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(indices(pair.received.server, 2).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 1000 }, (_, i) => i),
    );
  });

  it('delivers messages in a callback-consistent way when onMessage re-enters', () => {
    const pair = createLinkPair({ channels: ALL, pipe: { seed: 1 } });
    const echoed: number[] = [];
    pair.server.onMessage = (ch, p) => {
      echoed.push(checkIndexedPayload(p));
      pair.server.send(ch, p); // reply from inside the callback
      pair.server.flush();
    };
    for (let i = 0; i < 3; i++) pair.client.send(3, indexedPayload(i, 8));
    for (let s = 0; s < 5; s++) pair.step();
    expect(echoed).toEqual([0, 1, 2]);
    expect(indices(pair.received.client, 3)).toEqual([0, 1, 2]);
  });

  it('isLinkPacket splits the first-byte space at 0x40', () => {
    expect(isLinkPacket(0x00)).toBe(true);
    expect(isLinkPacket(0x01)).toBe(true);
    expect(isLinkPacket(0x3f)).toBe(true);
    expect(isLinkPacket(0x40)).toBe(false);
    expect(isLinkPacket(0xff)).toBe(false);
    expect(isLinkPacket(-1)).toBe(false);
    expect(isLinkPacket(1.5)).toBe(false);
  });
});
