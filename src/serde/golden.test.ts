import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BitReader } from './BitReader.js';
import { BitWriter } from './BitWriter.js';
import { SchemaCodec } from './Schema.js';
import { t } from './types.js';

/**
 * The worked examples of docs/wire/serde.md, byte for byte. If one of these changes, the wire
 * format changed: update the document in the same change, and think about old peers.
 */
interface Golden {
  name: string;
  hex: string;
  write(w: BitWriter): void;
  /** Reads the example back and returns what it read, compared with `expected`. */
  read(r: BitReader): unknown;
  expected: unknown;
}

const q10 = t.quantized({ min: -1, max: 1, bits: 10 });
const q3 = t.quantized({ min: 0, max: 7, bits: 3 });
const Input = new SchemaCodec({ seq: t.u32, dx: t.i8, dy: t.i8 });
const Position = new SchemaCodec({ x: t.f32, y: t.f32 });
const Record6 = new SchemaCodec({ seq: t.u32, dx: t.i8, dy: t.i8, name: t.string(32), x: t.f32, y: t.f32 });
const MAX = Number.MAX_SAFE_INTEGER;

const one = <T>(
  name: string,
  hex: string,
  write: (w: BitWriter, v: T) => void,
  read: (r: BitReader) => T,
  value: T,
  expected: unknown = value,
): Golden => ({ name, hex, write: (w) => write(w, value), read, expected });

const GOLDEN: Golden[] = [
  {
    name: 'bit order: bool true, bool false, bits(5,3), bits(0xA,4)',
    hex: '55 01',
    write: (w) => {
      w.writeBool(true);
      w.writeBool(false);
      w.writeBits(5, 3);
      w.writeBits(0xa, 4);
    },
    read: (r) => [r.readBool(), r.readBool(), r.readBits(3), r.readBits(4)],
    expected: [true, false, 5, 0xa],
  },
  {
    name: 'zero padding: bool true, bool true',
    hex: '03',
    write: (w) => {
      w.writeBool(true);
      w.writeBool(true);
    },
    read: (r) => [r.readBool(), r.readBool()],
    expected: [true, true],
  },
  {
    name: 'unaligned u16: bool true, u16 0x1234',
    hex: '69 24 00',
    write: (w) => {
      w.writeBool(true);
      w.writeU16(0x1234);
    },
    read: (r) => [r.readBool(), r.readU16()],
    expected: [true, 0x1234],
  },
  one(
    'u8 200',
    'c8',
    (w, v) => w.writeU8(v),
    (r) => r.readU8(),
    200,
  ),
  one(
    'u16 0x1234',
    '34 12',
    (w, v) => w.writeU16(v),
    (r) => r.readU16(),
    0x1234,
  ),
  one(
    'u32 0xdeadbeef',
    'ef be ad de',
    (w, v) => w.writeU32(v),
    (r) => r.readU32(),
    0xdeadbeef,
  ),
  one(
    'i8 -2',
    'fe',
    (w, v) => w.writeI8(v),
    (r) => r.readI8(),
    -2,
  ),
  one(
    'i16 -2',
    'fe ff',
    (w, v) => w.writeI16(v),
    (r) => r.readI16(),
    -2,
  ),
  one(
    'i32 -2',
    'fe ff ff ff',
    (w, v) => w.writeI32(v),
    (r) => r.readI32(),
    -2,
  ),
  ...(
    [
      [0, '00'],
      [127, '7f'],
      [128, '80 01'],
      [300, 'ac 02'],
      [16384, '80 80 01'],
      [MAX, 'ff ff ff ff ff ff ff 0f'],
    ] as const
  ).map(([v, hex]) =>
    one(
      `varuint ${v}`,
      hex,
      (w, x: number) => w.writeVarUint(x),
      (r) => r.readVarUint(),
      v,
    ),
  ),
  ...(
    [
      [0, '00'],
      [-1, '01'],
      [1, '02'],
      [-2, '03'],
      [63, '7e'],
      [-64, '7f'],
      [64, '80 01'],
      [-65, '81 01'],
      [300, 'd8 04'],
      [-300, 'd7 04'],
      [MAX, 'fe ff ff ff ff ff ff 1f'],
      [-MAX, 'fd ff ff ff ff ff ff 1f'],
    ] as const
  ).map(([v, hex]) =>
    one(
      `varint ${v}`,
      hex,
      (w, x: number) => w.writeVarInt(x),
      (r) => r.readVarInt(),
      v,
    ),
  ),
  ...(
    [
      [1, '00 00 80 3f'],
      [-0, '00 00 00 80'],
      [0.1, 'cd cc cc 3d', Math.fround(0.1)],
      [-2.5, '00 00 20 c0'],
      [Number.NaN, '00 00 c0 7f'],
      [Infinity, '00 00 80 7f'],
      [2 ** -149, '01 00 00 00'],
    ] as const
  ).map(([v, hex, expected]) =>
    one(
      `f32 ${Object.is(v, -0) ? '-0' : v}`,
      hex,
      (w, x: number) => w.writeF32(x),
      (r) => r.readF32(),
      v,
      expected ?? v,
    ),
  ),
  ...(
    [
      [1, '00 00 00 00 00 00 f0 3f'],
      [-0, '00 00 00 00 00 00 00 80'],
      [0.1, '9a 99 99 99 99 99 b9 3f'],
      [-2.5, '00 00 00 00 00 00 04 c0'],
      [Number.NaN, '00 00 00 00 00 00 f8 7f'],
      [Infinity, '00 00 00 00 00 00 f0 7f'],
    ] as const
  ).map(([v, hex]) =>
    one(
      `f64 ${Object.is(v, -0) ? '-0' : v}`,
      hex,
      (w, x: number) => w.writeF64(x),
      (r) => r.readF64(),
      v,
    ),
  ),
  one('quantized(-1,1,10) 0.5', 'ff 02', q10.write, q10.read, 0.5, -1 + (767 / 1023) * 2),
  one('quantized(-1,1,10) 2 clamps to max', 'ff 03', q10.write, q10.read, 2, 1),
  one('quantized(-1,1,10) -1', '00 00', q10.write, q10.read, -1),
  {
    name: 'quantized(0,7,3) 2.4 then 6.6',
    hex: '3a',
    write: (w) => {
      q3.write(w, 2.4);
      q3.write(w, 6.6);
    },
    read: (r) => [q3.read(r), q3.read(r)],
    expected: [2, 7],
  },
  ...(
    [
      ['', '00'],
      ['hi', '02 68 69'],
      ['é', '02 c3 a9'],
      ['😀', '04 f0 9f 98 80'],
    ] as const
  ).map(([v, hex]) =>
    one(
      `string ${JSON.stringify(v)}`,
      hex,
      (w, x: string) => w.writeString(x, 32),
      (r) => r.readString(32),
      v,
    ),
  ),
  one(
    'bytes [1,2,3]',
    '03 01 02 03',
    (w, v: Uint8Array) => w.writeBytes(v, 8),
    (r) => r.readBytes(8),
    new Uint8Array([1, 2, 3]),
  ),
  {
    name: 'unaligned string: bool true, "hi"',
    hex: '05 d0 d2 00',
    write: (w) => {
      w.writeBool(true);
      w.writeString('hi', 8);
    },
    read: (r) => [r.readBool(), r.readString(8)],
    expected: [true, 'hi'],
  },
  one('record Input', '02 01 00 00 ff 02', Input.write.bind(Input), Input.read.bind(Input), {
    seq: 258,
    dx: -1,
    dy: 2,
  }),
  one(
    'record Position',
    '00 00 80 3f 00 00 00 c0',
    Position.write.bind(Position),
    Position.read.bind(Position),
    {
      x: 1,
      y: -2,
    },
  ),
  one(
    'record { seq, dx, dy, name, x, y }',
    '01 00 00 00 ff 01 03 61 6e 6e 00 00 00 3f 00 00 00 bf',
    Record6.write.bind(Record6),
    Record6.read.bind(Record6),
    { seq: 1, dx: -1, dy: 1, name: 'ann', x: 0.5, y: -0.5 },
  ),
];

const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
const fromHex = (s: string) => new Uint8Array(s.split(' ').map((x) => Number.parseInt(x, 16)));

describe('golden bytes (docs/wire/serde.md)', () => {
  for (const g of GOLDEN) {
    it(`${g.name} → ${g.hex}`, () => {
      const w = new BitWriter();
      g.write(w);
      expect(toHex(w.finish())).toBe(g.hex);
      const r = new BitReader(fromHex(g.hex));
      const got = g.read(r);
      // toEqual treats NaN as equal to NaN and tells -0 from 0, which is what we want here
      expect(got).toEqual(g.expected);
      if (typeof g.expected === 'number') expect(Object.is(got, g.expected)).toBe(true);
      r.expectEnd();
    });
  }

  it('every golden byte string appears in docs/wire/serde.md', () => {
    const doc = readFileSync(new URL('../../docs/wire/serde.md', import.meta.url), 'utf8');
    const missing = GOLDEN.filter((g) => !doc.includes(`\`${g.hex}\``)).map((g) => `${g.name}: ${g.hex}`);
    expect(missing).toEqual([]);
  });
});
