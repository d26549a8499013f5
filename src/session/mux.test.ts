import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../serde/index.js';
import {
  decodeHandoff,
  decodeMigrateOpen,
  decodeMuxMessage,
  decodePlayerAccept,
  decodePlayerOpen,
  decodeReason,
  decodeRestore,
  decodeRestored,
  decodeTicketReply,
  encodeHandoff,
  encodeMigrateOpen,
  encodeMuxMessage,
  encodePlayerAccept,
  encodePlayerOpen,
  encodeReason,
  encodeRestore,
  encodeRestored,
  encodeTicketReply,
  encodeU32,
  encodeVarUint,
  MuxFrame,
  type PlayerOpen,
} from './mux.js';
import { decodeLinkHello, encodeLinkHello } from './muxLinkHello.js';

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
  ['LinkHello', encodeLinkHello({ epoch: 2, heartbeatIntervalMs: 500, timeoutMs: 3000 })],
  ['TicketRequest b', encodeReason('b', 64)],
  ['TicketReply refused', encodeTicketReply({ ok: false, reason: 'no' })],
  [
    'Handoff',
    encodeHandoff({
      tick: 5,
      state: Uint8Array.of(0xaa),
      carried: [7],
      tickMessages: [],
      entities: Uint8Array.of(0xbb),
    }),
  ],
  [
    'Restore',
    encodeRestore({ source: 'a', state: new Uint8Array(0), carried: [], entities: new Uint8Array(0) }),
  ],
  ['Restored', encodeRestored([{ from: 3, to: 7 }])],
  ['MigrateCancel "late"', encodeReason('late')],
];

describe('mux wire format', () => {
  it('golden bytes are documented in docs/wire/mux.md', () => {
    const doc = readFileSync(new URL('../../docs/wire/mux.md', import.meta.url), 'utf8');
    for (const [name, bytes] of golden) expect(doc, name).toContain(`\`${hex(bytes)}\``);
    expect(hex(encodePlayerAccept(300))).toBe('ac 02');
    expect(hex(encodeMuxMessage(1, Uint8Array.of(9), 258))).toBe('01 01 02 01 00 00 09');
    expect(MuxFrame.MigrateCancel).toBe(0x14);
    expect(hex(encodeReason('late'))).toBe('04 6c 61 74 65');
  });

  it('LinkHello round-trips and rejects garbage with DecodeError', () => {
    const h = { epoch: 0xfffffffe, heartbeatIntervalMs: 1, timeoutMs: 3_600_000 };
    expect(decodeLinkHello(encodeLinkHello(h))).toEqual(h);
    expect(MuxFrame.LinkHello).toBe(0x20);
    expect(() => decodeLinkHello(Uint8Array.of(2, 0, 0, 0, 0, 1, 1))).toThrow(DecodeError); // version
    expect(() => decodeLinkHello(Uint8Array.of(1, 0, 0, 0, 0, 0, 1))).toThrow(DecodeError); // 0 ms
    expect(() => decodeLinkHello(Uint8Array.of(1, 0, 0, 0, 0, 1, 1, 9))).toThrow(DecodeError); // trailing
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), (bytes) => {
        try {
          decodeLinkHello(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: runs },
    );
  });

  it('round-trips', () => {
    expect(decodePlayerOpen(encodePlayerOpen(open))).toEqual(open);
    expect(decodePlayerAccept(encodePlayerAccept(300))).toBe(300);
    expect(decodeReason(encodeReason('bye'))).toBe('bye');
    const m = decodeMuxMessage(encodeMuxMessage(1, Uint8Array.of(9), 258));
    expect([m.channel, m.tick, [...m.payload]]).toEqual([1, 258, [9]]);
  });

  it('migration frames round-trip and reject garbage with DecodeError', () => {
    const h = {
      tick: 9,
      state: Uint8Array.of(1, 2),
      carried: [2 ** 40, 3],
      tickMessages: [{ channel: 1, tick: 77, payload: Uint8Array.of(5) }],
      entities: Uint8Array.of(1, 2, 3),
    };
    expect(decodeHandoff(encodeHandoff(h))).toEqual(h);
    const t = { ok: true as const, ticket: Uint8Array.of(1), state: Uint8Array.of(2) };
    expect(decodeTicketReply(encodeTicketReply(t))).toEqual(t);
    const m = { source: 'a', ticket: Uint8Array.of(1), state: Uint8Array.of(3), open };
    expect(decodeMigrateOpen(encodeMigrateOpen(m))).toEqual(m);
    const r = { source: 'a', state: Uint8Array.of(4), carried: [1], entities: Uint8Array.of(9) };
    expect(decodeRestore(encodeRestore(r))).toEqual(r);
    const pairs = [{ from: 2 ** 32 - 1, to: 0 }];
    expect(decodeRestored(encodeRestored(pairs))).toEqual(pairs);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        for (const d of [
          decodeHandoff,
          decodeTicketReply,
          decodeMigrateOpen,
          decodeRestore,
          decodeRestored,
        ]) {
          try {
            d(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError);
          }
        }
      }),
      { numRuns: runs },
    );
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
