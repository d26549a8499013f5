import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BitReader } from './BitReader.js';
import { BitWriter } from './BitWriter.js';
import { DecodeError } from './DecodeError.js';
import { component, message } from './definitions.js';
import { type Infer, type Schema, SchemaCodec } from './Schema.js';
import { type PropType, t } from './types.js';

const RUNS = process.env.BATON_DEEP === '1' ? 10_000 : 200;

/**
 * Field types a random schema draws from, each with values that round-trip exactly
 * (f32 values are pre-rounded, quantized values sit on the grid), so records compare with toEqual.
 */
const FIELDS: [PropType<unknown>, fc.Arbitrary<unknown>][] = [
  [t.bool, fc.boolean()],
  [t.u8, fc.integer({ min: 0, max: 0xff })],
  [t.u16, fc.integer({ min: 0, max: 0xffff })],
  [t.u32, fc.integer({ min: 0, max: 0xffffffff })],
  [t.i8, fc.integer({ min: -0x80, max: 0x7f })],
  [t.i16, fc.integer({ min: -0x8000, max: 0x7fff })],
  [t.i32, fc.integer({ min: -0x80000000, max: 0x7fffffff })],
  [t.varuint, fc.maxSafeNat()],
  [t.varint, fc.maxSafeInteger().map((v) => (v === 0 ? 0 : v))],
  [t.f32, fc.float({ noNaN: true })],
  [t.f64, fc.double({ noNaN: true })],
  [t.quantized({ min: 0, max: 255, bits: 8 }), fc.integer({ min: 0, max: 255 })],
  [t.string(24), fc.string({ unit: 'binary', maxLength: 6 })],
  [t.bytes(16), fc.uint8Array({ maxLength: 16 })],
];

/** A random schema with 0..10 fields and a matching random record. */
const schemaAndRecord = fc.array(fc.nat(FIELDS.length - 1), { maxLength: 10 }).chain((picks) => {
  const schema: Schema = {};
  const values: Record<string, fc.Arbitrary<unknown>> = {};
  picks.forEach((p, i) => {
    schema[`f${i}`] = FIELDS[p][0];
    values[`f${i}`] = FIELDS[p][1];
  });
  return fc.tuple(fc.constant(schema), fc.record(values));
});

/** Encodes `value`, which a test may deliberately get wrong (hence not typed as Infer<S>). */
function encode<S extends Schema>(codec: SchemaCodec<S>, value: Record<string, unknown>): BitWriter {
  const w = new BitWriter();
  codec.write(w, value as Infer<S>);
  return w;
}

const Input = { seq: t.u32, dx: t.i8, dy: t.i8, name: t.string(32), x: t.f32, y: t.f32 };

describe('SchemaCodec', () => {
  it('round-trips records of random schemas', () => {
    fc.assert(
      fc.property(schemaAndRecord, ([schema, record]) => {
        const codec = new SchemaCodec(schema);
        const w = encode(codec, record);
        const r = new BitReader(w.finish());
        expect(codec.read(r)).toEqual(record);
        expect(r.position).toBe(w.bitLength);
        r.expectEnd();
      }),
      { numRuns: RUNS },
    );
  });

  it('round-trips the bench input record', () => {
    const codec = new SchemaCodec(Input);
    const rec = { seq: 123456, dx: -3, dy: 7, name: 'päivää 🌞', x: 1.5, y: -0.25 };
    expect(codec.read(new BitReader(encode(codec, rec).finish()))).toEqual(rec);
  });

  it('writes fields in declaration order whatever the key order of the value', () => {
    const codec = new SchemaCodec({ a: t.u8, b: t.u8, c: t.u8 });
    expect([...encode(codec, { c: 3, b: 2, a: 1 }).finish()]).toEqual([1, 2, 3]);
    expect(codec.keys).toEqual(['a', 'b', 'c']);
  });

  it('the read record has exactly the schema keys, in order', () => {
    const codec = new SchemaCodec({ z: t.bool, a: t.u16 });
    const rec = codec.read(new BitReader(encode(codec, { z: true, a: 9 }).finish()));
    expect(Object.keys(rec)).toEqual(['z', 'a']);
  });

  it('id describes names and types in order', () => {
    expect(new SchemaCodec(Input).id).toBe('{seq:u32,dx:i8,dy:i8,name:string(32),x:f32,y:f32}');
    expect(new SchemaCodec({}).id).toBe('{}');
  });

  it('create() fills defaults, overlays a partial, and never shares a default bytes buffer', () => {
    const codec = new SchemaCodec({
      n: t.u8,
      s: t.string(8),
      b: t.bytes(4),
      q: t.quantized({ min: 2, max: 3, bits: 4 }),
    });
    expect(codec.create()).toEqual({ n: 0, s: '', b: new Uint8Array(0), q: 2 });
    expect(codec.create({ n: 5 })).toEqual({ n: 5, s: '', b: new Uint8Array(0), q: 2 });
    expect(codec.create().b).not.toBe(codec.create().b);
  });

  it('an empty schema encodes to nothing', () => {
    const codec = new SchemaCodec({});
    const w = encode(codec, {});
    expect(w.bitLength).toBe(0);
    expect(codec.read(new BitReader(new Uint8Array(0)))).toEqual({});
  });

  it('encoding a field its type cannot hold throws EncodeError', () => {
    const codec = new SchemaCodec(Input);
    expect(() => encode(codec, { seq: -1, dx: 0, dy: 0, name: '', x: 0, y: 0 })).toThrow(/u32/);
    expect(() => encode(codec, { seq: 0, dx: 0, dy: 0, name: 'x'.repeat(33), x: 0, y: 0 })).toThrow(
      /exceeds/,
    );
  });

  it('decoding arbitrary bytes only ever throws DecodeError', () => {
    fc.assert(
      fc.property(schemaAndRecord, fc.uint8Array({ maxLength: 64 }), ([schema], bytes) => {
        const codec = new SchemaCodec(schema);
        try {
          const rec = codec.read(new BitReader(bytes));
          encode(codec, rec); // anything that decodes is a valid record
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('every truncation of a valid record throws DecodeError(truncated)', () => {
    fc.assert(
      fc.property(schemaAndRecord, ([schema, record]) => {
        const codec = new SchemaCodec(schema);
        const bytes = encode(codec, record).finish();
        for (let len = 0; len < bytes.length; len++) {
          let thrown: unknown;
          try {
            codec.read(new BitReader(bytes.subarray(0, len)));
          } catch (e) {
            thrown = e;
          }
          expect(thrown).toBeInstanceOf(DecodeError);
          expect((thrown as DecodeError).code).toBe('truncated');
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('message() and component()', () => {
  it('carry a name, a kind and a codec for the schema', () => {
    const m = message('Input', { seq: t.u32, dx: t.i8, dy: t.i8 });
    const c = component('Position', { x: t.f32, y: t.f32 });
    expect(m.kind).toBe('message');
    expect(m.name).toBe('Input');
    expect(m.codec.id).toBe('{seq:u32,dx:i8,dy:i8}');
    expect(c.kind).toBe('component');
    expect(c.name).toBe('Position');
    expect(c.codec.create()).toEqual({ x: 0, y: 0 });
  });
});
