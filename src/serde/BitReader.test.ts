import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader } from './BitReader.js';
import { BitWriter } from './BitWriter.js';
import { DecodeError, type DecodeErrorCode } from './DecodeError.js';

const RUNS = process.env.BATON_DEEP === '1' ? 20_000 : 300;

function decodeErrorOf(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
  throw new Error('expected a DecodeError, nothing was thrown');
}

function expectCode(code: DecodeErrorCode, fn: () => unknown): void {
  expect(decodeErrorOf(fn).code).toBe(code);
}

const reader = (...bytes: number[]) => new BitReader(new Uint8Array(bytes));

describe('BitReader', () => {
  it('window: reads only inside [byteOffset, byteOffset + byteLength)', () => {
    const buf = new Uint8Array([1, 2, 3, 4, 5]);
    const r = new BitReader(buf, 1, 2);
    expect(r.position).toBe(8);
    expect(r.remainingBits).toBe(16);
    expect(r.readU8()).toBe(2);
    expect(r.readU8()).toBe(3);
    expectCode('truncated', () => r.readBits(1));
    expectCode('truncated', () => new BitReader(buf, 4, 2));
    expectCode('truncated', () => new BitReader(buf, -1, 1));
    expectCode('truncated', () => new BitReader(buf, 6));
  });

  it('a failed read reports truncated and does not move', () => {
    const r = reader(0xff);
    r.readBits(3);
    expectCode('truncated', () => r.readBits(6));
    expect(r.position).toBe(3);
    expect(r.readBits(5)).toBe(0b11111);
  });

  it('signed fixed-width reads sign-extend', () => {
    expect(reader(0x80).readI8()).toBe(-128);
    expect(reader(0xff, 0xff).readI16()).toBe(-1);
    expect(reader(0x00, 0x00, 0x00, 0x80).readI32()).toBe(-(2 ** 31));
    expect(reader(0xff, 0xff, 0xff, 0xff).readU32()).toBe(2 ** 32 - 1);
  });

  describe('varuint', () => {
    it('more than 8 groups → overflow', () => {
      expectCode('overflow', () =>
        reader(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01).readVarUint(),
      );
      expectCode('overflow', () => reader(...new Array(20).fill(0xff)).readVarUint());
    });

    it('8 groups above 2^53 - 1 → overflow', () => {
      // 2^53: seven 0x80 groups then 0x10 (bit 4 of the 8th group = 2^(49+4))
      expectCode('overflow', () => reader(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10).readVarUint());
      expect(reader(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f).readVarUint()).toBe(2 ** 53 - 1);
    });

    it('non-minimal (a trailing zero group) → invalid', () => {
      expectCode('invalid', () => reader(0x80, 0x00).readVarUint());
      expectCode('invalid', () => reader(0x81, 0x80, 0x00).readVarUint());
      expect(reader(0x00).readVarUint()).toBe(0);
    });

    it('cut short → truncated', () => {
      expectCode('truncated', () => reader(0x80).readVarUint());
      expectCode('truncated', () => reader().readVarUint());
    });
  });

  describe('varint', () => {
    it('zigzag: 0, -1, 1, -2 → 0, 1, 2, 3', () => {
      expect([0, 1, 2, 3].map((b) => reader(b).readVarInt())).toEqual([0, -1, 1, -2]);
    });

    it('reaches ±(2^53 - 1); one step further → overflow', () => {
      const max = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f]; // zigzag 2^54 - 2
      const min = [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f]; // zigzag 2^54 - 3
      expect(reader(...max).readVarInt()).toBe(Number.MAX_SAFE_INTEGER);
      expect(reader(...min).readVarInt()).toBe(-Number.MAX_SAFE_INTEGER);
      expectCode('overflow', () => reader(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f).readVarInt()); // -2^53
      expectCode('overflow', () => reader(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20).readVarInt()); // 2^53
    });

    it('overlong → overflow, non-minimal → invalid, cut short → truncated', () => {
      expectCode('overflow', () => reader(...new Array(9).fill(0x80), 0x01).readVarInt());
      expectCode('invalid', () => reader(0x81, 0x00).readVarInt());
      expectCode('truncated', () => reader(0x81).readVarInt());
    });

    it('same bytes as the varuint of the zigzag value', () => {
      fc.assert(
        fc.property(fc.integer({ min: -(2 ** 52), max: 2 ** 52 - 1 }), (v) => {
          const a = new BitWriter();
          a.writeVarInt(v);
          const b = new BitWriter();
          b.writeVarUint(v >= 0 ? 2 * v : -2 * v - 1);
          expect(a.finish()).toEqual(b.finish());
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe('lengths', () => {
    it('a length prefix above the maximum → too-long, before reading or allocating the body', () => {
      expectCode('too-long', () => reader(5, 1, 2, 3, 4, 5).readBytes(4));
      expectCode('too-long', () => reader(5, 0x61, 0x62, 0x63, 0x64, 0x65).readString(4));
      // a huge declared length with a generous maximum: truncated, no giant allocation
      const huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
      expectCode('truncated', () => reader(...huge).readBytes(Number.MAX_SAFE_INTEGER));
      expectCode('truncated', () => reader(...huge, 1, 2).readString(Number.MAX_SAFE_INTEGER));
    });

    it('readRaw past the end → truncated', () => {
      expectCode('truncated', () => reader(1, 2).readRaw(3));
      const r = reader(1, 2, 3);
      r.readBits(1);
      expectCode('truncated', () => r.readRaw(3));
    });

    it('readRaw returns a copy, aligned or not', () => {
      const buf = new Uint8Array([0x10, 0x20, 0x30]);
      const a = new BitReader(buf).readRaw(2);
      buf[0] = 0;
      expect([...a]).toEqual([0x10, 0x20]);
    });
  });

  describe('invalid UTF-8 → invalid-utf8', () => {
    const bad: [string, number[]][] = [
      ['stray continuation byte', [0x80]],
      ['0xff never appears in UTF-8', [0xff]],
      ['overlong encoding of "/"', [0xc0, 0xaf]],
      ['overlong NUL', [0xc0, 0x80]],
      ['UTF-16 surrogate D800', [0xed, 0xa0, 0x80]],
      ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
      ['multi-byte sequence cut short by the length', [0xe2, 0x82]],
      ['lead byte followed by ASCII', [0xe2, 0x41, 0x41]],
    ];
    for (const [what, bytes] of bad) {
      it(what, () => {
        expectCode('invalid-utf8', () => reader(bytes.length, ...bytes).readString(16));
      });
    }

    it('any byte string that is not valid UTF-8 is rejected, any valid one accepted', () => {
      const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 12 }), (body) => {
          let expected: string | undefined;
          try {
            expected = strict.decode(body);
          } catch {
            expected = undefined;
          }
          const r = reader(body.length, ...body);
          if (expected === undefined) expectCode('invalid-utf8', () => r.readString(16));
          else expect(r.readString(16)).toBe(expected);
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe('expectEnd', () => {
    it('accepts zero padding in the last byte', () => {
      const r = reader(0b0000_0101);
      r.readBits(3);
      r.expectEnd();
    });

    it('unread whole bytes → trailing', () => {
      const r = reader(1, 2);
      r.readBits(7);
      expectCode('trailing', () => r.expectEnd());
    });

    it('non-zero padding bits → invalid', () => {
      const r = reader(0b0000_1101);
      r.readBits(3);
      expectCode('invalid', () => r.expectEnd());
    });
  });

  it('alignToByte skips to the next byte boundary', () => {
    const r = reader(0xff, 0x42);
    r.alignToByte();
    expect(r.position).toBe(0);
    r.readBits(1);
    r.alignToByte();
    expect(r.readU8()).toBe(0x42);
  });

  it('quantized: any bit pattern decodes inside [min, max]', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 1, max: 32 }),
        (b, bits) => {
          const v = new BitReader(b).readQuantized(-0.1, 0.2, bits);
          expect(v).toBeGreaterThanOrEqual(-0.1);
          expect(v).toBeLessThanOrEqual(0.2);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('fuzz: any sequence of reads over arbitrary bytes only ever throws DecodeError', () => {
    type Op = (r: BitReader) => unknown;
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.integer({ min: 0, max: 32 }).map(
        (n): Op =>
          (r) =>
            r.readBits(n),
      ),
      fc.constantFrom<Op>(
        (r) => r.readBool(),
        (r) => r.readU8(),
        (r) => r.readU16(),
        (r) => r.readU32(),
        (r) => r.readI8(),
        (r) => r.readI16(),
        (r) => r.readI32(),
        (r) => r.readVarUint(),
        (r) => r.readVarInt(),
        (r) => r.readF32(),
        (r) => r.readF64(),
        (r) => r.alignToByte(),
        (r) => r.expectEnd(),
      ),
      fc.nat(64).map(
        (n): Op =>
          (r) =>
            r.readString(n),
      ),
      fc.nat(64).map(
        (n): Op =>
          (r) =>
            r.readBytes(n),
      ),
      fc.nat(16).map(
        (n): Op =>
          (r) =>
            r.readRaw(n),
      ),
      fc.integer({ min: 1, max: 32 }).map(
        (n): Op =>
          (r) =>
            r.readQuantized(0, 1, n),
      ),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), fc.array(op, { maxLength: 24 }), (bytes, ops) => {
        const r = new BitReader(bytes);
        try {
          for (const o of ops) o(r);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
        expect(r.position).toBeLessThanOrEqual(bytes.length * 8);
      }),
      { numRuns: RUNS },
    );
  });
});
