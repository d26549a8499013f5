import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../serde/index.js';
import {
  decodeMuxMessage,
  decodePlayerAccept,
  decodePlayerOpen,
  decodeReason,
  encodeMuxMessage,
  encodePlayerAccept,
  encodePlayerOpen,
  encodeReason,
  encodeU32,
  encodeVarUint,
  type PlayerOpen,
} from './mux.js';

const hex = (b: Uint8Array) =>
  Buffer.from(b)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
const UUID = '00112233-4455-6677-8899-aabbccddeeff';
const runs = process.env.BATON_DEEP === '1' ? 20_000 : 500;

const open: PlayerOpen = {
  connect: {
    type: 'Connect',
    protocolHash: 1n,
    clientType: 'g',
    language: 'en',
    uuid: UUID,
    username: 'ann',
  },
  clientAddress: 'udp:1.2.3.4:5',
  clientRttMs: 20,
  authResult: Uint8Array.of(0xaa),
  referralVerified: true,
  maxWorldFrameBytes: 1160,
};

/** Golden bytes: the layouts of docs/wire/mux.md (each must appear there verbatim). */
const golden: [string, Uint8Array][] = [
  ['PlayerOpen', encodePlayerOpen(open)],
  ['PlayerAccept tick 300', encodePlayerAccept(300)],
  ['PlayerClose "bye"', encodeReason('bye')],
  ['Message ch 2 payload 07 08', encodeMuxMessage(2, Uint8Array.of(7, 8))],
  ['Message ch 1 tick 258 payload 09', encodeMuxMessage(1, Uint8Array.of(9), 258)],
  ['ClientRtt 150', encodeVarUint(150)],
  ['Ping seq 1', encodeU32(1)],
];

describe('mux wire format', () => {
  it('golden bytes are documented in docs/wire/mux.md', () => {
    const doc = readFileSync(new URL('../../docs/wire/mux.md', import.meta.url), 'utf8');
    for (const [name, bytes] of golden) expect(doc, name).toContain(`\`${hex(bytes)}\``);
    expect(hex(encodePlayerAccept(300))).toBe('ac 02');
    expect(hex(encodeMuxMessage(1, Uint8Array.of(9), 258))).toBe('01 01 02 01 00 00 09');
  });

  it('round-trips', () => {
    expect(decodePlayerOpen(encodePlayerOpen(open))).toEqual(open);
    expect(decodePlayerAccept(encodePlayerAccept(300))).toBe(300);
    expect(decodeReason(encodeReason('bye'))).toBe('bye');
    const m = decodeMuxMessage(encodeMuxMessage(1, Uint8Array.of(9), 258));
    expect([m.channel, m.tick, [...m.payload]]).toEqual([1, 258, [9]]);
  });

  it('decoders throw only DecodeError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        for (const decode of [decodePlayerOpen, decodePlayerAccept, decodeReason, decodeMuxMessage]) {
          try {
            decode(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(DecodeError);
          }
        }
      }),
      { numRuns: runs },
    );
  });

  it('mutated PlayerOpen frames decode or throw DecodeError', () => {
    const base = encodePlayerOpen(open);
    fc.assert(
      fc.property(
        fc.nat(base.length - 1),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(base.length),
        (i, v, cut) => {
          const b = base.slice(0, Math.max(cut, i + 1));
          b[i] = v;
          try {
            decodePlayerOpen(b);
          } catch (error) {
            expect(error).toBeInstanceOf(DecodeError);
          }
        },
      ),
      { numRuns: runs },
    );
  });
});
