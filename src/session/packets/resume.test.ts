import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../serde/index.js';
import { decodeResume, encodeResume, RESUME_BYTES } from './resume.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('Resume request', () => {
  const grant = Uint8Array.from({ length: 16 }, (_, i) => i);

  it('has the documented bytes (docs/wire/session.md)', () => {
    const bytes = encodeResume({ nonce: 0x01020304, grant });
    expect(bytes.length).toBe(RESUME_BYTES);
    expect(hex(bytes)).toBe('4f0204030201000102030405060708090a0b0c0d0e0f');
    expect(decodeResume(bytes)).toEqual({ nonce: 0x01020304, grant });
  });

  it('refuses anything else with a DecodeError', () => {
    const good = encodeResume({ nonce: 7, grant });
    const bad = [
      good.subarray(0, 21),
      new Uint8Array([...good, 0]),
      Uint8Array.from(good, (b, i) => (i === 0 ? 0x40 : b)),
      Uint8Array.from(good, (b, i) => (i === 1 ? 9 : b)),
    ];
    for (const b of bad) expect(() => decodeResume(b)).toThrow(DecodeError);
  });
});
