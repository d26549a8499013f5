import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../serde/index.js';
import { decodeSessionPacket, encodeSessionPacket } from './codec.js';
import {
  decodeConnectFragment,
  decodeConnectionlessReject,
  decodeConnectRetry,
  decodeSessionLink,
  encodeConnectlessReject,
  encodeConnectRequest,
  encodeConnectRetry,
  encodeSessionLink,
  MIN_CONNECT_DATAGRAM_BYTES,
  truncateUtf8,
} from './connectionless.js';
import { RejectCode } from './kinds.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('connectionless envelope', () => {
  it('golden bytes: a single-fragment ConnectRequest, zero-padded', () => {
    const [d] = encodeConnectRequest(Uint8Array.of(0x01, 0xaa, 0xbb), 0x01020304, 1200);
    expect(d.length).toBe(MIN_CONNECT_DATAGRAM_BYTES);
    expect(hex(d.subarray(0, 15))).toBe('4002' + '04030201' + '00' + '0300' + '0300' + '00' + '01aabb');
    expect(d.subarray(15).every((b) => b === 0)).toBe(true);
    expect(decodeConnectFragment(d)).toMatchObject({ nonce: 0x01020304, index: 0, count: 1, totalLength: 3 });
    expect(decodeConnectFragment(d).cookie.length).toBe(0);
  });

  it('golden bytes: a ConnectRequest echoing a cookie, the ConnectRetry that gave it, a SessionLink', () => {
    const cookie = Uint8Array.of(0xc0, 0x0c);
    const [d] = encodeConnectRequest(Uint8Array.of(0x01, 0xaa, 0xbb), 7, 1200, cookie);
    expect(d.length).toBe(MIN_CONNECT_DATAGRAM_BYTES);
    expect(hex(d.subarray(0, 17))).toBe('4002' + '07000000' + '00' + '0300' + '0300' + '02c00c' + '01aabb');
    expect(d.subarray(17).every((b) => b === 0)).toBe(true);
    expect(decodeConnectFragment(d).cookie).toEqual(cookie);
    // the split does not depend on the cookie: a retry re-sends the same fragments
    const big = new Uint8Array(5000);
    expect(encodeConnectRequest(big, 1, 1200, new Uint8Array(32)).length).toBe(
      encodeConnectRequest(big, 1, 1200).length,
    );

    const retry = encodeConnectRetry(7, cookie);
    expect(hex(retry)).toBe('4202' + '07000000' + '02c00c');
    expect(decodeConnectRetry(retry)).toEqual({ nonce: 7, cookie });
    for (const bad of [
      retry.subarray(0, 8),
      Uint8Array.of(...retry, 0),
      Uint8Array.of(0x42, 2, 7, 0, 0, 0, 0),
    ]) {
      expect(() => decodeConnectRetry(bad)).toThrow(DecodeError);
    }
    expect(() => encodeConnectRetry(7, new Uint8Array(33))).toThrow();

    const link = encodeSessionLink(7, Uint8Array.of(0x01, 0x02));
    expect(hex(link)).toBe('4302' + '07000000' + '0102');
    expect(decodeSessionLink(link)).toEqual({ nonce: 7, linkPacket: Uint8Array.of(0x01, 0x02) });
    for (const bad of [link.subarray(0, 6), Uint8Array.of(0x43, 1, 7, 0, 0, 0, 1)]) {
      expect(() => decodeSessionLink(bad)).toThrow(DecodeError);
    }
  });

  it('golden bytes: a stateless ConnectReject', () => {
    const d = encodeConnectlessReject(7, { code: RejectCode.ServerBusy, reason: 'busy' }, 256)!;
    expect(hex(d)).toBe(`410207000000060204${hex(new TextEncoder().encode('busy'))}`);
    expect(decodeConnectionlessReject(d)).toEqual({
      nonce: 7,
      reject: { type: 'ConnectReject', code: RejectCode.ServerBusy, reason: 'busy' },
    });
  });

  it('a reject never exceeds the datagram it answers', () => {
    const long = 'é'.repeat(200);
    for (const max of [9, 10, 20, 64, 256, 1000]) {
      const d = encodeConnectlessReject(1, { code: 1, reason: long }, max);
      if (d) {
        expect(d.length).toBeLessThanOrEqual(max);
        // the reason is cut at a character boundary: a prefix of the original, as long as fits
        const reason = decodeConnectionlessReject(d).reject.reason;
        expect(long.startsWith(reason)).toBe(true);
        // and as long as fits: the datagram, or the 256-byte bound on reasons (128 × 'é')
        expect(reason.length === 128 || d.length + 2 > max).toBe(true);
        expect(reason.length).toBeLessThanOrEqual(128);
      } else {
        expect(max).toBeLessThan(10);
      }
    }
    expect(encodeConnectlessReject(1, { code: 1, reason: 'x' }, 8)).toBeUndefined();
    expect(truncateUtf8('aé', 2)).toBe('a');
  });

  it('splits a large Connect into ≤ 8 self-describing fragments', () => {
    const connect = new Uint8Array(5000).map((_, i) => i & 0xff);
    const frags = encodeConnectRequest(connect, 9, 1200);
    expect(frags.length).toBe(5);
    const back = new Uint8Array(5000);
    for (const f of frags) {
      expect(f.length).toBeLessThanOrEqual(1200);
      const d = decodeConnectFragment(f);
      expect(d.count).toBe(5);
      back.set(d.bytes, d.index * d.fragmentSize);
    }
    expect(back).toEqual(connect);
    expect(() => encodeConnectRequest(new Uint8Array(7001), 1, 1200)).toThrow();
  });

  it('rejects malformed fragments with DecodeError', () => {
    const [d] = encodeConnectRequest(Uint8Array.of(1, 2, 3), 1, 1200);
    const bad = (f: (x: Uint8Array) => void) => {
      const c = Uint8Array.from(d);
      f(c);
      return c;
    };
    for (const input of [
      d.subarray(0, 100), // not padded
      bad((c) => (c[1] = 1)), // version
      bad((c) => (c[6] = 0x01)), // index 1 of 1
      bad((c) => (c[6] = 0x10)), // count 2 for 3 bytes with fragment size 2: fine; but length mismatch
      bad((c) => (c[7] = 0)), // total 0
      bad((c) => (c[9] = 2)), // fragment length mismatch
      bad((c) => (c[11] = 33)), // cookie longer than any the server issues
      bad((c) => (c[200] = 1)), // non-zero padding
    ]) {
      expect(() => decodeConnectFragment(input)).toThrow(DecodeError);
    }
  });

  it('the Connect inside decodes as a session packet', () => {
    const connect = encodeSessionPacket({
      type: 'Connect',
      protocolHash: 5n,
      clientType: 'bot',
      language: 'en',
      uuid: '00000000-0000-4000-8000-000000000000',
      username: 'x',
    });
    const [d] = encodeConnectRequest(connect, 1, 1200);
    expect(decodeSessionPacket(decodeConnectFragment(d).bytes)).toMatchObject({
      type: 'Connect',
      username: 'x',
    });
  });
});
