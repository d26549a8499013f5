import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../serde/index.js';
import { decodeSessionPacket, encodeSessionPacket } from './codec.js';
import { RejectCode } from './kinds.js';
import type { SessionPacket } from './types.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const UUID = '00112233-4455-6677-8899-aabbccddeeff';

/** Golden bytes: these are the layouts documented in docs/wire/session.md. */
const golden: [SessionPacket, string][] = [
  [
    {
      type: 'Connect',
      protocolHash: 0x0123456789abcdefn,
      clientType: 'game',
      language: 'en',
      uuid: UUID,
      username: 'ann',
    },
    '01' +
      'efcdab8967452301' +
      '0467616d65' +
      '02656e' +
      '00112233445566778899aabbccddeeff' +
      '03616e6e' +
      '00',
  ],
  [
    {
      type: 'Connect',
      protocolHash: 1n,
      clientType: '',
      language: '',
      uuid: UUID,
      username: 'a',
      identityToken: Uint8Array.of(0xaa),
      referralData: Uint8Array.of(0xbb, 0xcc),
    },
    '01' +
      '0100000000000000' +
      '00' +
      '00' +
      '00112233445566778899aabbccddeeff' +
      '0161' +
      '03' +
      '01aa' +
      '02bbcc',
  ],
  [
    { type: 'AuthGrant', authorizationGrant: Uint8Array.of(1, 2), serverIdentityToken: new Uint8Array() },
    '0202010200',
  ],
  [
    { type: 'AuthToken', accessToken: Uint8Array.of(1, 2), serverAuthorizationGrant: Uint8Array.of(3) },
    '030201020103',
  ],
  [{ type: 'ServerAuthToken', serverAccessToken: Uint8Array.of(9) }, '040109'],
  [{ type: 'ConnectAccept', serverTick: 300 }, '05ac02'],
  [{ type: 'ConnectReject', code: RejectCode.ProtocolMismatch, reason: 'no' }, '0601026e6f'],
  [{ type: 'SetClientId', clientId: 5 }, '0705'],
  [{ type: 'ServerInfo', name: 'S', motd: 'hi', maxPlayers: 200 }, '080153026869c801'],
  [{ type: 'WorldSettings', data: Uint8Array.of(7) }, '090107'],
  [{ type: 'ViewRadius', radius: 1 }, '0a0000803f'],
  [{ type: 'PlayerOptions', data: new Uint8Array() }, '0b00'],
  [{ type: 'JoinWorld', worldId: 3, clearWorld: true, fade: false }, '0c0301'],
  [{ type: 'JoinWorld', worldId: 0, clearWorld: false, fade: true }, '0c0002'],
  [{ type: 'ClientReady' }, '0d'],
  [{ type: 'ClientReferral', host: 'h', port: 0x1234, data: Uint8Array.of(1) }, '0e0168341201' + '01'],
  [{ type: 'Disconnect', reason: 'bye' }, '0f03627965'],
  [
    {
      type: 'Migrate',
      epoch: 1,
      backendId: 'b',
      serverTick: 300,
      barrier: [{ linkChannel: 2, count: 5 }],
      setup: [
        { type: 'SetClientId', clientId: 5 },
        { type: 'JoinWorld', worldId: 0, clearWorld: true, fade: false },
      ],
      carried: [{ from: 3, to: 7 }],
    },
    '10' + '01' + '0162' + 'ac02' + '01' + '0205' + '02' + '020705' + '030c0001' + '01' + '0307',
  ],
  [{ type: 'MigrateAck', epoch: 1 }, '1101'],
  [{ type: 'ProxyHello', flags: 3, epoch: 0 }, '120300'],
];

describe('session packet codec', () => {
  it.each(golden.map(([p, h]) => [p.type, p, h] as const))('%s golden bytes', (_name, packet, bytes) => {
    expect(hex(encodeSessionPacket(packet))).toBe(bytes);
    const back = decodeSessionPacket(fromHex(bytes));
    expect(back).toEqual(packet);
  });

  it('rejects unknown, reserved (migration) and trailing input', () => {
    expect(() => decodeSessionPacket(Uint8Array.of(0x00))).toThrow(DecodeError);
    expect(() => decodeSessionPacket(Uint8Array.of(0x13))).toThrow(/migration/);
    // a Migrate may only nest setup packets
    expect(() =>
      decodeSessionPacket(fromHex('10' + '01' + '0162' + '00' + '00' + '01' + '010d' + '00')),
    ).toThrow(/inside Migrate/);
    expect(() => decodeSessionPacket(Uint8Array.of(0x0d, 0x00))).toThrow(DecodeError);
    expect(() => decodeSessionPacket(new Uint8Array())).toThrow(DecodeError);
    // reserved flag bit of JoinWorld
    expect(() => decodeSessionPacket(Uint8Array.of(0x0c, 0x00, 0x04))).toThrow(DecodeError);
    // reserved flag bits of ProxyHello (bits 0 and 1 are defined)
    expect(() => decodeSessionPacket(Uint8Array.of(0x12, 0x04, 0x00))).toThrow(DecodeError);
    expect(() => encodeSessionPacket({ type: 'ProxyHello', flags: 4, epoch: 0 })).toThrow();
    // negative view radius
    expect(() => decodeSessionPacket(Uint8Array.of(0x0a, 0, 0, 0x80, 0xbf))).toThrow(DecodeError);
    // empty username
    const c = fromHex(golden[0][1]);
    const bad = Uint8Array.from([...c.subarray(0, 33), 0x00, 0x00]);
    expect(() => decodeSessionPacket(bad)).toThrow(/empty username/);
  });

  it('enforces bounds on encode and decode', () => {
    expect(() =>
      encodeSessionPacket({ type: 'ClientReferral', host: 'h', port: 1, data: new Uint8Array(4097) }),
    ).toThrow();
    // a length prefix beyond the bound fails before any allocation
    expect(() => decodeSessionPacket(Uint8Array.of(0x0f, 0xff, 0xff, 0x03))).toThrow(/too-long/);
  });

  it('every truncation and random mutation throws only DecodeError', () => {
    const samples = golden.map(([p]) => encodeSessionPacket(p));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: samples.length - 1 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.nat(),
        (i, noise, at) => {
          const s = samples[i];
          const mutated = Uint8Array.from(s);
          if (mutated.length > 0) mutated[at % mutated.length] ^= noise[0] ?? 0x55;
          for (const input of [
            s.subarray(0, at % (s.length + 1)),
            mutated,
            Uint8Array.from([...s, ...noise]),
          ]) {
            try {
              decodeSessionPacket(input);
            } catch (e) {
              expect(e).toBeInstanceOf(DecodeError);
            }
          }
        },
      ),
      { numRuns: process.env.BATON_DEEP === '1' ? 100_000 : 2000 },
    );
  });
});

function fromHex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}
