import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader } from './BitReader.js';
import { BitWriter } from './BitWriter.js';
import { DecodeError, EncodeError } from './DecodeError.js';
import { type PropType, t } from './types.js';

const RUNS = process.env.BATON_DEEP === '1' ? 20_000 : 300;
const MAX = Number.MAX_SAFE_INTEGER;

/** One property type under test: how to generate valid values and what a round trip must give back. */
interface Case {
  name: string;
  type: PropType<unknown>;
  arb: fc.Arbitrary<unknown>;
  /** Throws (via expect) unless `decoded` is what encoding `value` must give back. */
  check(value: unknown, decoded: unknown): void;
}

const exact = (value: unknown, decoded: unknown) => {
  if (value instanceof Uint8Array) expect(decoded).toEqual(value);
  else expect(Object.is(decoded, value), `${String(decoded)} vs ${String(value)}`).toBe(true);
};

const interesting = <T>(...xs: T[]) => fc.constantFrom(...xs);

function quantCase(min: number, max: number, bits: number): Case {
  const range = max - min;
  const halfStep = range / (2 ** bits - 1) / 2;
  return {
    name: `quantized(${min},${max},${bits})`,
    type: t.quantized({ min, max, bits }),
    arb: fc.oneof(
      fc.double({ min: min - range, max: max + range, noNaN: true }),
      interesting(min, max, (min + max) / 2, -Infinity, Infinity, Number.NaN),
    ),
    check: (v: number, d: number) => expectQuantized(v, d, min, max, halfStep),
  };
}

function expectQuantized(v: number, d: number, min: number, max: number, halfStep: number): void {
  expect(d).toBeGreaterThanOrEqual(min);
  expect(d).toBeLessThanOrEqual(max);
  // documented: NaN encodes as min; out-of-range values clamp to the exact ends
  if (Number.isNaN(v) || v <= min) {
    expect(d).toBe(min);
    return;
  }
  if (v >= max) {
    expect(d).toBe(max);
    return;
  }
  // half a step, plus float rounding in the scale-and-offset arithmetic
  expect(Math.abs(d - v)).toBeLessThanOrEqual(halfStep * (1 + 1e-9) + Math.abs(max - min) * 1e-15);
}

const f32Specials = interesting(
  Number.NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  3.4028234663852886e38, // largest f32
  3.5e38, // rounds to Infinity
  2 ** -149, // smallest subnormal f32
  2 ** -150, // rounds to 0 (ties to even)
  1.1754943508222875e-38, // smallest normal f32
  0.1,
);

/** Every type in `t`, with parameterised ones at a few settings. */
const CASES: Case[] = [
  { name: 'bool', type: t.bool, arb: fc.boolean(), check: exact },
  { name: 'u8', type: t.u8, arb: fc.integer({ min: 0, max: 0xff }), check: exact },
  { name: 'u16', type: t.u16, arb: fc.integer({ min: 0, max: 0xffff }), check: exact },
  { name: 'u32', type: t.u32, arb: fc.integer({ min: 0, max: 0xffffffff }), check: exact },
  { name: 'i8', type: t.i8, arb: fc.integer({ min: -0x80, max: 0x7f }), check: exact },
  { name: 'i16', type: t.i16, arb: fc.integer({ min: -0x8000, max: 0x7fff }), check: exact },
  { name: 'i32', type: t.i32, arb: fc.integer({ min: -0x80000000, max: 0x7fffffff }), check: exact },
  {
    name: 'varuint',
    type: t.varuint,
    arb: fc.oneof(fc.nat(300), fc.maxSafeNat(), interesting(0, 127, 128, 16383, 16384, 2 ** 49, MAX)),
    check: exact,
  },
  {
    name: 'varint',
    type: t.varint,
    arb: fc.oneof(
      fc.integer({ min: -300, max: 300 }),
      fc.maxSafeInteger(),
      interesting(0, -1, 63, -64, 64, -65, 2 ** 52, -(2 ** 52), MAX, -MAX, MAX - 1, -MAX + 1),
    ),
    // -0 is an integer too; it comes back as 0
    check: (v: number, d: number) => exact(v === 0 ? 0 : v, d),
  },
  {
    name: 'f32',
    type: t.f32,
    // finite doubles beyond f32's range are refused (tested below), not rounded to Infinity
    arb: fc
      .oneof(fc.double(), fc.float(), f32Specials)
      .filter((v) => !Number.isFinite(v) || Number.isFinite(Math.fround(v))),
    check: (v: number, d: number) => exact(Math.fround(v), d),
  },
  { name: 'f64', type: t.f64, arb: fc.oneof(fc.double(), f32Specials), check: exact },
  quantCase(-1, 1, 10),
  quantCase(0, 100, 7),
  quantCase(-0.1, 0.2, 8),
  quantCase(0, 1, 1),
  quantCase(-1000, 1000, 32),
  {
    name: 'string(32)',
    type: t.string(32),
    arb: fc.string({ unit: 'grapheme', maxLength: 8 }).filter((s) => utf8Length(s) <= 32),
    check: exact,
  },
  {
    name: 'string(1000)',
    type: t.string(1000),
    arb: fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      interesting('', '\uFEFF', '\uFEFFbom first', '\u0000nul', '😀', 'héllo wörld'),
    ),
    check: exact,
  },
  { name: 'bytes(64)', type: t.bytes(64), arb: fc.uint8Array({ maxLength: 64 }), check: exact },
  { name: 'bytes(0)', type: t.bytes(0), arb: fc.constant(new Uint8Array(0)), check: exact },
];

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

function roundTrip(type: PropType<unknown>, value: unknown): { decoded: unknown; bytes: Uint8Array } {
  const w = new BitWriter();
  type.write(w, value);
  const bytes = w.finish();
  const r = new BitReader(bytes);
  const decoded = type.read(r);
  expect(r.position).toBe(w.bitLength);
  r.expectEnd();
  return { decoded, bytes };
}

/** Runs `fn`; passes if it returns or throws a DecodeError, rethrows anything else. */
function onlyDecodeErrors(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
}

describe('t: every property type', () => {
  it('has a test case for every key of t', () => {
    const covered = new Set(CASES.map((c) => c.name.replace(/\(.*$/, '')));
    for (const key of Object.keys(t)) expect(covered, key).toContain(key);
  });

  for (const c of CASES) {
    describe(c.name, () => {
      it('round-trips', () => {
        fc.assert(
          fc.property(c.arb, (v) => c.check(v, roundTrip(c.type, v).decoded)),
          { numRuns: RUNS },
        );
      });

      it('round-trips at any bit offset, after a random bit run', () => {
        fc.assert(
          fc.property(fc.array(fc.boolean(), { maxLength: 40 }), c.arb, (prefix, v) => {
            const w = new BitWriter(1);
            for (const b of prefix) w.writeBool(b);
            c.type.write(w, v);
            w.writeBits(0b101, 3);
            const r = new BitReader(w.finish());
            for (const b of prefix) expect(r.readBool()).toBe(b);
            c.check(v, c.type.read(r));
            expect(r.readBits(3)).toBe(0b101);
            expect(r.position).toBe(w.bitLength);
          }),
          { numRuns: RUNS },
        );
      });

      it('every truncation of a valid encoding throws DecodeError(truncated)', () => {
        fc.assert(
          fc.property(fc.nat(15), c.arb, (shift, v) => {
            const w = new BitWriter();
            w.writeBits(0, shift % 8); // vary the starting bit so multi-byte values straddle bytes
            c.type.write(w, v);
            const bytes = w.finish();
            for (let len = 0; len < bytes.length; len++) {
              const r = new BitReader(bytes.subarray(0, len));
              let thrown: unknown;
              try {
                r.readBits(Math.min(shift % 8, r.remainingBits));
                c.type.read(r);
              } catch (e) {
                thrown = e;
              }
              expect(thrown).toBeInstanceOf(DecodeError);
              expect((thrown as DecodeError).code).toBe('truncated');
            }
          }),
          { numRuns: Math.ceil(RUNS / 3) },
        );
      });

      it('decoding arbitrary bytes only ever throws DecodeError', () => {
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 24 }), fc.nat(7), (bytes, skip) => {
            onlyDecodeErrors(() => {
              const r = new BitReader(bytes);
              r.readBits(Math.min(skip, r.remainingBits));
              const d = c.type.read(r);
              // whatever decodes must re-encode (decoded values are always valid values)
              c.type.write(new BitWriter(), d);
            });
          }),
          { numRuns: RUNS },
        );
      });

      it('equals(a, b) implies identical encodings', () => {
        fc.assert(
          fc.property(c.arb, c.arb, (a, b) => {
            if (!c.type.equals(a, b)) return;
            expect(roundTrip(c.type, a).bytes).toEqual(roundTrip(c.type, b).bytes);
          }),
          { numRuns: RUNS },
        );
        fc.assert(
          fc.property(c.arb, (a) => {
            expect(c.type.equals(a, a)).toBe(true);
            expect(c.type.equals(a, c.type.clone(a))).toBe(true);
          }),
          { numRuns: Math.ceil(RUNS / 3) },
        );
      });

      it('default round-trips', () => {
        c.check(c.type.default, roundTrip(c.type, c.type.default).decoded);
      });
    });
  }
});

describe('mixed sequences', () => {
  type Item = { kind: 'value'; c: Case; v: unknown } | { kind: 'bits'; value: number; count: number };
  const item: fc.Arbitrary<Item> = fc.oneof(
    ...CASES.map((c) => c.arb.map((v): Item => ({ kind: 'value', c, v }))),
    fc
      .integer({ min: 0, max: 32 })
      .chain((count) =>
        fc
          .integer({ min: 0, max: count === 32 ? 0xffffffff : 2 ** count - 1 })
          .map((value): Item => ({ kind: 'bits', value, count })),
      ),
  );

  it('any sequence of values and raw bit runs round-trips in order', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 30 }), (items) => {
        const w = new BitWriter(1);
        for (const it of items) {
          if (it.kind === 'bits') w.writeBits(it.value, it.count);
          else it.c.type.write(w, it.v);
        }
        const r = new BitReader(w.finish());
        for (const it of items) {
          if (it.kind === 'bits') expect(r.readBits(it.count)).toBe(it.value);
          else it.c.check(it.v, it.c.type.read(r));
        }
        expect(r.position).toBe(w.bitLength);
        r.expectEnd();
      }),
      { numRuns: RUNS },
    );
  });
});

describe('encoding values a type cannot hold throws EncodeError', () => {
  const ints: [string, PropType<number>, number, number][] = [
    ['u8', t.u8, 0, 0xff],
    ['u16', t.u16, 0, 0xffff],
    ['u32', t.u32, 0, 0xffffffff],
    ['i8', t.i8, -0x80, 0x7f],
    ['i16', t.i16, -0x8000, 0x7fff],
    ['i32', t.i32, -0x80000000, 0x7fffffff],
    ['varuint', t.varuint, 0, MAX],
    ['varint', t.varint, -MAX, MAX],
  ];
  for (const [name, type, min, max] of ints) {
    it(`${name} rejects non-integers and values outside [${min}, ${max}] and writes nothing`, () => {
      const bad = fc.oneof(
        fc.double().filter((x) => !(Number.isInteger(x) && x >= min && x <= max)),
        fc.constantFrom(min - 1, max + 1, 0.5, Number.NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53)),
      );
      fc.assert(
        fc.property(bad, (v) => {
          const w = new BitWriter();
          w.writeBits(1, 1);
          expect(() => type.write(w, v)).toThrow(EncodeError);
          expect(w.bitLength).toBe(1);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('f32 and f64 reject non-numbers, and f32 finite values it cannot hold (they would arrive as Infinity), writing nothing', () => {
    const notNumbers: unknown[] = ['1', '', null, undefined, {}, [], true, 1n];
    for (const type of [t.f32, t.f64]) {
      for (const v of notNumbers) {
        const w = new BitWriter();
        w.writeBits(1, 1);
        expect(() => type.write(w, v as number), `${type.id} ${String(v)}`).toThrow(EncodeError);
        expect(w.bitLength).toBe(1);
      }
    }
    for (const v of [3.5e38, -3.5e38, Number.MAX_VALUE, 1e300]) {
      const w = new BitWriter();
      expect(() => t.f32.write(w, v)).toThrow(EncodeError);
      expect(w.bitLength).toBe(0);
      t.f64.write(w, v); // f64 holds it
    }
    // what a float can hold still goes: NaN, infinities, -0, the largest f32 and values rounding to it
    for (const v of [Number.NaN, Infinity, -Infinity, -0, 3.4028234663852886e38, 3.4028235e38, 1e-50]) {
      expect(() => t.f32.write(new BitWriter(), v)).not.toThrow();
      expect(() => t.f64.write(new BitWriter(), v)).not.toThrow();
    }
  });

  it('string longer than maxBytes (in UTF-8 bytes, not UTF-16 units) throws', () => {
    expect(() => t.string(3).write(new BitWriter(), 'abcd')).toThrow(EncodeError);
    expect(() => t.string(3).write(new BitWriter(), '😀')).toThrow(EncodeError); // 4 bytes, 2 units
    expect(() => t.string(4).write(new BitWriter(), '😀')).not.toThrow();
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), fc.nat(40), (s, maxBytes) => {
        const w = new BitWriter();
        if (utf8Length(s) > maxBytes) {
          expect(() => t.string(maxBytes).write(w, s)).toThrow(EncodeError);
          expect(w.bitLength).toBe(0);
        } else {
          t.string(maxBytes).write(w, s);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('bytes longer than maxLength throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), fc.nat(25), (b, maxLength) => {
        const w = new BitWriter();
        if (b.length > maxLength) expect(() => t.bytes(maxLength).write(w, b)).toThrow(EncodeError);
        else t.bytes(maxLength).write(w, b);
      }),
      { numRuns: RUNS },
    );
  });

  it('t.quantized rejects bad settings', () => {
    for (const bits of [0, 33, 1.5, Number.NaN]) {
      expect(() => t.quantized({ min: 0, max: 1, bits })).toThrow(EncodeError);
    }
    expect(() => t.quantized({ min: 1, max: 1, bits: 8 })).toThrow(EncodeError);
    expect(() => t.quantized({ min: 2, max: 1, bits: 8 })).toThrow(EncodeError);
    expect(() => t.quantized({ min: 0, max: Infinity, bits: 8 })).toThrow(EncodeError);
    expect(() => t.quantized({ min: Number.NaN, max: 1, bits: 8 })).toThrow(EncodeError);
    // finite ends whose difference overflows would quantise everything to min
    expect(() => t.quantized({ min: -1e308, max: 1e308, bits: 8 })).toThrow(EncodeError);
  });
});

describe('quantized', () => {
  it('stays within half a step for any range and bit count, and clamps', () => {
    const settings = fc
      .record({
        a: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        span: fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
        bits: fc.integer({ min: 1, max: 32 }),
      })
      .map(({ a, span, bits }) => ({ min: a, max: a + span, bits }))
      .filter(({ min, max }) => max > min);
    fc.assert(
      fc.property(settings, fc.double({ min: -2, max: 3, noNaN: true }), ({ min, max, bits }, frac) => {
        const type = t.quantized({ min, max, bits });
        const v = min + frac * (max - min);
        const d = roundTrip(type, v).decoded as number;
        expectQuantized(v, d, min, max, (max - min) / (2 ** bits - 1) / 2);
      }),
      { numRuns: RUNS },
    );
  });

  it('uses exactly `bits` bits', () => {
    for (const bits of [1, 5, 8, 13, 32]) {
      const w = new BitWriter();
      t.quantized({ min: 0, max: 1, bits }).write(w, 0.5);
      expect(w.bitLength).toBe(bits);
    }
  });
});

describe('string details', () => {
  it('keeps a leading byte-order mark (U+FEFF)', () => {
    expect(roundTrip(t.string(16), '\uFEFFx').decoded).toBe('\uFEFFx');
  });

  it('lone surrogates cannot be sent as-is: they arrive as U+FFFD (UTF-8 has no encoding for them)', () => {
    expect(roundTrip(t.string(16), 'a\uD800b').decoded).toBe('a\uFFFDb');
  });
});

describe('type ids (they feed the protocol hash)', () => {
  it('are stable', () => {
    expect(
      [t.bool, t.u8, t.u16, t.u32, t.i8, t.i16, t.i32, t.varuint, t.varint, t.f32, t.f64].map((x) => x.id),
    ).toEqual(['bool', 'u8', 'u16', 'u32', 'i8', 'i16', 'i32', 'varuint', 'varint', 'f32', 'f64']);
    expect(t.quantized({ min: -1, max: 1, bits: 10 }).id).toBe('q(-1,1,10)');
    expect(t.string(32).id).toBe('string(32)');
    expect(t.bytes(16).id).toBe('bytes(16)');
  });
});

describe('bytes values', () => {
  it('clone is a copy and the default is empty', () => {
    const b = new Uint8Array([1, 2, 3]);
    const c = t.bytes(8).clone(b);
    b[0] = 9;
    expect([...c]).toEqual([1, 2, 3]);
    expect(t.bytes(8).default.length).toBe(0);
  });

  it('decoded bytes do not alias the input buffer', () => {
    const { bytes } = roundTrip(t.bytes(8), new Uint8Array([7, 8]));
    const d = t.bytes(8).read(new BitReader(bytes));
    bytes[1] = 0;
    expect([...d]).toEqual([7, 8]);
  });
});
