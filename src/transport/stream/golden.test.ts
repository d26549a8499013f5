import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FRAME_TYPE_CLOSE, FRAME_TYPE_READY, FrameDecoder } from './frame.js';

/**
 * The examples of docs/wire/stream.md, byte for byte. If one of these changes, the wire format
 * changed: update the document in the same change, and think about deployed proxies/backends.
 */
interface Golden {
  name: string;
  hex: string;
  type: number;
  sessionId: number;
  payload: number[];
}

const GOLDEN: Golden[] = [
  {
    name: 'type 7, session 0x01020304, payload aa bb',
    hex: '02 00 00 00 07 00 00 00 04 03 02 01 aa bb',
    type: 7,
    sessionId: 0x01020304,
    payload: [0xaa, 0xbb],
  },
  {
    name: 'type 1, session 0, empty payload',
    hex: '00 00 00 00 01 00 00 00 00 00 00 00',
    type: 1,
    sessionId: 0,
    payload: [],
  },
  {
    name: 'type 0x10, session 0xffffffff, payload 00',
    hex: '01 00 00 00 10 00 00 00 ff ff ff ff 00',
    type: 0x10,
    sessionId: 0xffffffff,
    payload: [0],
  },
  {
    name: 'READY',
    hex: '00 00 00 00 fe ff ff ff 00 00 00 00',
    type: FRAME_TYPE_READY,
    sessionId: 0,
    payload: [],
  },
  {
    name: 'CLOSE "bye"',
    hex: '03 00 00 00 ff ff ff ff 00 00 00 00 62 79 65',
    type: FRAME_TYPE_CLOSE,
    sessionId: 0,
    payload: [...new TextEncoder().encode('bye')],
  },
];

const toHex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
const fromHex = (hex: string) => Uint8Array.from(hex.split(' ').map((h) => Number.parseInt(h, 16)));

describe('golden bytes (docs/wire/stream.md)', () => {
  for (const g of GOLDEN) {
    it(`${g.name} → ${g.hex}`, () => {
      expect(toHex(encodeFrame(g.type, g.sessionId, Uint8Array.from(g.payload)))).toBe(g.hex);
      const frames: unknown[] = [];
      new FrameDecoder().push(fromHex(g.hex), (type, sessionId, payload) =>
        frames.push({ type, sessionId, payload: [...payload] }),
      );
      expect(frames).toEqual([{ type: g.type, sessionId: g.sessionId, payload: g.payload }]);
    });
  }

  it('every golden byte string appears in docs/wire/stream.md', () => {
    const doc = readFileSync(new URL('../../../docs/wire/stream.md', import.meta.url), 'utf8');
    const missing = GOLDEN.filter((g) => !doc.includes(`\`${g.hex}\``)).map((g) => `${g.name}: ${g.hex}`);
    expect(missing).toEqual([]);
  });
});
