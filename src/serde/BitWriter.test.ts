import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader } from './BitReader.js';
import { BitWriter } from './BitWriter.js';
import { EncodeError } from './DecodeError.js';

const RUNS = process.env.BATON_DEEP === '1' ? 20_000 : 300;

/** (value, count) pairs with value fitting in count bits. */
const bitRun = fc
  .integer({ min: 0, max: 32 })
  .chain((count) =>
    fc.record({ count: fc.constant(count), value: fc.integer({ min: 0, max: 2 ** count - 1 }) }),
  );

describe('BitWriter', () => {
  it('writes least-significant bit first', () => {
    const w = new BitWriter();
    w.writeBits(1, 1); // bit 0
    w.writeBits(0b10, 2); // bits 1..2 → bit 2 set
    w.writeBits(0b11111, 5); // bits 3..7
    w.writeBits(0x1ff, 9); // bits 8..16
    expect([...w.finish()]).toEqual([0b11111101, 0xff, 0x01]);
    expect(w.bitLength).toBe(17);
    expect(w.byteLength).toBe(3);
  });

  it('byte-aligned multi-byte integers are plain little-endian', () => {
    const w = new BitWriter();
    w.writeU16(0x1234);
    w.writeU32(0xdeadbeef);
    w.writeI32(-2);
    expect([...w.finish()]).toEqual([0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 0xfe, 0xff, 0xff, 0xff]);
  });

  it('writeBits keeps only the low `count` bits of the value', () => {
    const w = new BitWriter();
    w.writeBits(0xff, 3);
    w.writeBits(-1, 32);
    const r = new BitReader(w.finish());
    expect(r.readBits(3)).toBe(0b111);
    expect(r.readBits(32)).toBe(0xffffffff);
    expect(r.remainingBits).toBe(5);
  });

  it('any sequence of bit runs round-trips, growing from the smallest buffer', () => {
    fc.assert(
      fc.property(fc.array(bitRun, { maxLength: 200 }), (runs) => {
        const w = new BitWriter(1);
        for (const { value, count } of runs) w.writeBits(value, count);
        const total = runs.reduce((n, r) => n + r.count, 0);
        expect(w.bitLength).toBe(total);
        const bytes = w.finish();
        expect(bytes.length).toBe(Math.ceil(total / 8));
        const r = new BitReader(bytes);
        for (const { value, count } of runs) expect(r.readBits(count)).toBe(value);
        // padding of the last byte is zero
        expect(r.remainingBits).toBeLessThan(8);
        expect(r.readBits(r.remainingBits)).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('reset() forgets everything: the next message is byte-identical to a fresh writer', () => {
    fc.assert(
      fc.property(fc.array(bitRun, { maxLength: 60 }), fc.array(bitRun, { maxLength: 60 }), (a, b) => {
        const reused = new BitWriter(4);
        for (const { value, count } of a) reused.writeBits(value, count);
        reused.reset();
        expect(reused.bitLength).toBe(0);
        const fresh = new BitWriter(4);
        for (const { value, count } of b) {
          reused.writeBits(value, count);
          fresh.writeBits(value, count);
        }
        expect(reused.finish()).toEqual(fresh.finish());
      }),
      { numRuns: RUNS },
    );
  });

  it('finish() returns a copy', () => {
    const w = new BitWriter();
    w.writeU8(1);
    const first = w.finish();
    first[0] = 99;
    w.writeU8(2);
    expect([...w.finish()]).toEqual([1, 2]);
  });

  it('alignToByte pads with zero bits, and is a no-op when aligned', () => {
    const w = new BitWriter();
    w.alignToByte();
    expect(w.bitLength).toBe(0);
    w.writeBits(0b111, 3);
    w.alignToByte();
    expect(w.bitLength).toBe(8);
    w.writeU8(0xaa);
    expect([...w.finish()]).toEqual([0b111, 0xaa]);
  });

  it('writeRaw copies bytes aligned and unaligned', () => {
    fc.assert(
      fc.property(fc.nat(7), fc.uint8Array({ maxLength: 600 }), (shift, bytes) => {
        const w = new BitWriter(1);
        w.writeBits(0, shift);
        w.writeRaw(bytes);
        const r = new BitReader(w.finish());
        r.readBits(shift);
        expect(r.readRaw(bytes.length)).toEqual(bytes);
      }),
      { numRuns: RUNS },
    );
  });

  it('varuint uses 7 bits per group: 1 byte to 127, 2 to 16383, 8 for 2^53 - 1', () => {
    const size = (v: number) => {
      const w = new BitWriter();
      w.writeVarUint(v);
      return w.byteLength;
    };
    expect([0, 127, 128, 16383, 16384, 2 ** 49 - 1, 2 ** 49, Number.MAX_SAFE_INTEGER].map(size)).toEqual([
      1, 1, 2, 2, 3, 7, 8, 8,
    ]);
  });

  it('varint zigzag keeps small magnitudes of either sign short, up to ±(2^53 - 1) in 8 bytes', () => {
    const size = (v: number) => {
      const w = new BitWriter();
      w.writeVarInt(v);
      return w.byteLength;
    };
    expect([0, -1, 63, -64, 64, -65, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER].map(size)).toEqual([
      1, 1, 1, 1, 2, 2, 8, 8,
    ]);
  });

  it('rejects values a fixed-width or varint write cannot hold', () => {
    const w = new BitWriter();
    expect(() => w.writeU8(256)).toThrow(EncodeError);
    expect(() => w.writeU8(-1)).toThrow(EncodeError);
    expect(() => w.writeU16(65536)).toThrow(EncodeError);
    expect(() => w.writeU32(2 ** 32)).toThrow(EncodeError);
    expect(() => w.writeI8(128)).toThrow(EncodeError);
    expect(() => w.writeI16(-32769)).toThrow(EncodeError);
    expect(() => w.writeI32(2 ** 31)).toThrow(EncodeError);
    expect(() => w.writeVarUint(-1)).toThrow(EncodeError);
    expect(() => w.writeVarUint(2 ** 53)).toThrow(EncodeError);
    expect(() => w.writeVarInt(2 ** 53)).toThrow(EncodeError);
    expect(() => w.writeVarInt(-(2 ** 53))).toThrow(EncodeError);
    expect(() => w.writeVarInt(0.5)).toThrow(EncodeError);
    expect(() => w.writeString('abc', 2)).toThrow(EncodeError);
    expect(() => w.writeBytes(new Uint8Array(3), 2)).toThrow(EncodeError);
    expect(w.bitLength).toBe(0);
  });
});
