import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitWriter } from '../serde/BitWriter.js';
import { FrameWriter } from './FrameWriter.js';

const DEEP = process.env.BATON_DEEP === '1';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

type Op = (w: BitWriter) => void;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 32 }), fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 })).map(
    ([n, v]) =>
      (w: BitWriter) =>
        w.writeBits(v, n),
  ),
  fc.boolean().map((b) => (w: BitWriter) => w.writeBool(b)),
  fc.integer({ min: 0, max: 255 }).map((v) => (w: BitWriter) => w.writeU8(v)),
  fc.integer({ min: 0, max: 0xffff }).map((v) => (w: BitWriter) => w.writeU16(v)),
  fc.integer({ min: 0, max: 0xffffffff }).map((v) => (w: BitWriter) => w.writeU32(v)),
  fc.integer({ min: -128, max: 127 }).map((v) => (w: BitWriter) => w.writeI8(v)),
  fc.integer({ min: -0x8000, max: 0x7fff }).map((v) => (w: BitWriter) => w.writeI16(v)),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((v) => (w: BitWriter) => w.writeI32(v)),
  fc.maxSafeNat().map((v) => (w: BitWriter) => w.writeVarUint(v)),
  fc.nat(300).map((v) => (w: BitWriter) => w.writeVarUint(v)),
  fc.maxSafeInteger().map((v) => (w: BitWriter) => w.writeVarInt(v)),
  fc.double().map((v) => (w: BitWriter) => w.writeF32(v)),
  fc.double().map((v) => (w: BitWriter) => w.writeF64(v)),
  fc.double().map((v) => (w: BitWriter) => w.writeQuantized(v, -10, 10, 12)),
  fc.uint8Array({ maxLength: 9 }).map((b) => (w: BitWriter) => w.writeBytes(b, 16)),
  fc.string({ maxLength: 6 }).map((s) => (w: BitWriter) => w.writeString(s, 64)),
  fc.constant((w: BitWriter) => w.alignToByte()),
);

describe('FrameWriter', () => {
  it('overrides every public method of BitWriter (none of the base buffer is ever used)', () => {
    const base = Object.getOwnPropertyNames(BitWriter.prototype).filter(
      (k) => k !== 'constructor' && k !== 'ensure',
    );
    const own = new Set(Object.getOwnPropertyNames(FrameWriter.prototype));
    expect(base.filter((k) => !own.has(k))).toEqual([]);
  });

  it('writes the same bytes as BitWriter for any sequence of writes', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const a = new BitWriter(8);
        const b = new FrameWriter(8);
        for (const op of ops) {
          op(a);
          op(b);
          expect(b.bitLength).toBe(a.bitLength);
        }
        expect(b.byteLength).toBe(a.byteLength);
        expect(hex(b.finish())).toBe(hex(a.finish()));
        b.reset();
        for (const op of ops) op(b);
        expect(hex(b.finish())).toBe(hex(a.finish()));
      }),
      { numRuns: DEEP ? 5000 : 300 },
    );
  });

  it('throws the same EncodeErrors', () => {
    for (const op of [
      (w: BitWriter) => w.writeU8(256),
      (w: BitWriter) => w.writeVarUint(-1),
      (w: BitWriter) => w.writeVarUint(1.5),
      (w: BitWriter) => w.writeI8(1.5),
      (w: BitWriter) => w.writeString('abc', 2),
    ]) {
      expect(() => op(new FrameWriter())).toThrow(/./);
      let msg = '';
      try {
        op(new BitWriter());
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(() => op(new FrameWriter())).toThrow(msg);
    }
  });

  it('appendWords splices word-aligned bits at any offset', () => {
    fc.assert(
      fc.property(
        fc.nat(40),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 32 }), fc.nat()), { maxLength: 12 }),
        (lead, chunks) => {
          const body = new FrameWriter(4);
          body.writeBits(0x5, 3);
          body.alignToWord();
          const start = body.wordCount;
          for (const [n, v] of chunks) body.writeBits(v, n);
          const bits = body.bitLength - start * 32;
          body.alignToWord();
          const a = new BitWriter();
          const b = new FrameWriter(4);
          for (let i = 0; i < lead; i++) {
            a.writeBool(i % 3 === 0);
            b.writeBool(i % 3 === 0);
          }
          for (const [n, v] of chunks) a.writeBits(v, n);
          b.appendWords(body.wordBuffer, start, bits);
          expect(hex(b.finish())).toBe(hex(a.finish()));
        },
      ),
      { numRuns: DEEP ? 5000 : 300 },
    );
  });

  it('take() hands out the same bytes as finish(), small and large frames, zero-padded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 32 }), fc.nat()), { maxLength: 400 }),
        (writes) => {
          const w = new FrameWriter(16);
          for (const [n, v] of writes) w.writeBits(v, n);
          const taken = w.take();
          expect(Array.from(taken)).toEqual(Array.from(w.finish()));
          // the alignment padding after the frame (no view covers it) stays zero
          const pad = new Uint8Array(
            taken.buffer,
            taken.byteOffset + taken.length,
            ((taken.length + 7) & ~7) - taken.length,
          );
          expect(pad.every((b) => b === 0)).toBe(true);
          // a frame handed out is never written again
          const copy = Array.from(taken);
          w.reset();
          w.writeBits(0xffffffff, 32);
          w.take();
          expect(Array.from(taken)).toEqual(copy);
        },
      ),
      { numRuns: DEEP ? 2000 : 200 },
    );
  });
});
