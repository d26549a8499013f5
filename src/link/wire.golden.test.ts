import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/Clock.js';
import { LinkConnection } from './LinkConnection.js';
import type { ChannelConfig } from './types.js';

/**
 * The worked examples of docs/wire/link.md, byte for byte. If one of these changes, the link's
 * wire format changed: update the page in the same change, and think about old peers.
 */
const CHANNELS: ChannelConfig[] = [
  { mode: 'unreliable' },
  { mode: 'sequenced-unreliable' },
  { mode: 'ordered-reliable' },
  { mode: 'tick-buffered' },
];

const hex = (p: Uint8Array) =>
  Buffer.from(p)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
const unhex = (s: string) => Uint8Array.from(s.split(' ').map((b) => Number.parseInt(b, 16)));

const GOLDEN = {
  data: '01 00 00 00 00 00 00 00 00 00 01 aa 01 00 00 02 bb cc 02 00 00 06 01 02 03 03 00 00 04 03 02 01 02 07',
  ackOnly: '01 00 00 00 00 01 00 00 00',
  heartbeat: '02 01 00 00 00 01 00 00 00',
  fragments: [
    `01 00 00 00 00 00 00 00 00 02 00 00 4f 00 03 ${range(0, 39)}`,
    `01 01 00 00 00 00 00 00 00 02 00 00 4f 01 03 ${range(39, 78)}`,
    `01 02 00 00 00 00 00 00 00 02 00 00 2d 02 03 ${range(78, 100)}`,
  ],
};

function range(from: number, to: number): string {
  return hex(Uint8Array.from({ length: to - from }, (_, i) => from + i));
}

function scenario() {
  const clock = new ManualClock(0);
  const c2s: Uint8Array[] = [];
  const s2c: Uint8Array[] = [];
  const client = new LinkConnection({ channels: CHANNELS, role: 'client', send: (p) => c2s.push(p), clock });
  const server = new LinkConnection({ channels: CHANNELS, role: 'server', send: (p) => s2c.push(p), clock });
  const got: string[] = [];
  server.onMessage = (ch, p) => got.push(`${ch}:${hex(p)}`);
  client.send(0, Uint8Array.of(0xaa));
  client.send(1, Uint8Array.of(0xbb, 0xcc));
  client.send(2, Uint8Array.of(1, 2, 3));
  client.send(3, Uint8Array.of(7), 0x01020304);
  client.flush();
  server.receive(c2s[0]);
  server.flush();
  client.receive(s2c[0]);
  clock.advance(1000);
  client.flush();
  return { c2s, s2c, got, server };
}

describe('link golden bytes (docs/wire/link.md)', () => {
  it('a data packet, its ack, and a heartbeat', () => {
    const { c2s, s2c, got, server } = scenario();
    expect(c2s.map(hex)).toEqual([GOLDEN.data, GOLDEN.heartbeat]);
    expect(s2c.map(hex)).toEqual([GOLDEN.ackOnly]);
    expect(got).toEqual(['0:aa', '1:bb cc', '2:01 02 03']);
    expect(server.takeTickMessages(0x01020304).map((m) => [m.channel, m.tick, hex(m.payload)])).toEqual([
      [3, 0x01020304, '07'],
    ]);
  });

  it('a 100-byte ordered-reliable message fragmented at mtu 64', () => {
    const clock = new ManualClock(0);
    const out: Uint8Array[] = [];
    const link = new LinkConnection({
      channels: CHANNELS,
      role: 'client',
      send: (p) => out.push(p),
      clock,
      options: { mtu: 64 },
    });
    link.send(
      2,
      Uint8Array.from({ length: 100 }, (_, i) => i),
    );
    link.flush();
    expect(out.map(hex)).toEqual(GOLDEN.fragments);
    // and the documented bytes decode: delivered once, whole, whatever the arrival order
    const server = new LinkConnection({
      channels: CHANNELS,
      role: 'server',
      send: () => {},
      clock,
      options: { mtu: 64 },
    });
    const got: Uint8Array[] = [];
    server.onMessage = (_ch, p) => got.push(p);
    for (const h of [GOLDEN.fragments[2], GOLDEN.fragments[0], GOLDEN.fragments[2], GOLDEN.fragments[1]]) {
      server.receive(unhex(h));
    }
    expect(got.map(hex)).toEqual([range(0, 100)]);
  });

  it('every byte string above appears on the page', () => {
    const page = readFileSync(new URL('../../docs/wire/link.md', import.meta.url), 'utf8').replace(
      /\s+/g,
      ' ',
    );
    for (const h of [GOLDEN.data, GOLDEN.ackOnly, GOLDEN.heartbeat]) expect(page).toContain(h);
    // fragment packets are shown by header (their payload is bytes 00..63 in order)
    for (const h of GOLDEN.fragments) expect(page).toContain(h.slice(0, 3 * 15 - 1));
  });
});
