import type { BitReader } from './BitReader.js';
import type { BitWriter } from './BitWriter.js';
import { EncodeError } from './DecodeError.js';

/**
 * A property type a protocol declares. `id` is a stable text description (it feeds the
 * protocol hash, so two peers only agree when their types agree exactly).
 */
export interface PropType<T> {
  readonly id: string;
  /** The value a fresh component or message field starts with. */
  readonly default: T;
  write(w: BitWriter, value: T): void;
  read(r: BitReader): T;
  /** Whether two values encode identically; used to skip unchanged properties. */
  equals(a: T, b: T): boolean;
  /** A copy safe to keep after the caller mutates its own (only matters for bytes). */
  clone(value: T): T;
}

/** The TypeScript type a {@link PropType} carries. */
export type ValueOf<P> = P extends PropType<infer T> ? T : never;

// Object.is: NaN equals NaN, and 0 differs from -0 (f32/f64 encode them differently)
const same = <T>(a: T, b: T): boolean => Object.is(a, b);
const ident = <T>(v: T): T => v;

/** Floats validate like integers do: a value that is not a number is refused, not sent as NaN. */
function checkFloat(v: unknown, type: string): asserts v is number {
  if (typeof v !== 'number') throw new EncodeError(`${type}: ${String(v)} (${typeof v}) is not a number`);
}

function prim<T>(
  id: string,
  def: T,
  write: (w: BitWriter, v: T) => void,
  read: (r: BitReader) => T,
): PropType<T> {
  return { id, default: def, write, read, equals: same, clone: ident };
}

/** Options of {@link t.quantized}. */
export interface QuantizedOptions {
  min: number;
  max: number;
  /** 1..32 */
  bits: number;
}

function quantized(opts: QuantizedOptions): PropType<number> {
  const { min, max, bits } = opts;
  if (!(Number.isInteger(bits) && bits >= 1 && bits <= 32))
    throw new EncodeError('quantized bits must be 1..32');
  if (!(Number.isFinite(min) && Number.isFinite(max) && max > min && Number.isFinite(max - min))) {
    throw new EncodeError('quantized needs finite min < max');
  }
  return prim(
    `q(${min},${max},${bits})`,
    min,
    (w, v) => w.writeQuantized(v, min, max, bits),
    (r) => r.readQuantized(min, max, bits),
  );
}

function string(maxBytes: number): PropType<string> {
  return prim(
    `string(${maxBytes})`,
    '',
    (w, v) => w.writeString(v, maxBytes),
    (r) => r.readString(maxBytes),
  );
}

function bytes(maxLength: number): PropType<Uint8Array> {
  return {
    id: `bytes(${maxLength})`,
    default: new Uint8Array(0),
    write: (w, v) => w.writeBytes(v, maxLength),
    read: (r) => r.readBytes(maxLength),
    equals: (a, b) => a.length === b.length && a.every((x, i) => x === b[i]),
    clone: (v) => v.slice(),
  };
}

/**
 * The property types a protocol declares.
 *
 * ```ts
 * const Position = component('Position', { x: t.f32, y: t.f32 });
 * ```
 */
export const t = {
  bool: prim<boolean>(
    'bool',
    false,
    (w, v) => w.writeBool(v),
    (r) => r.readBool(),
  ),
  u8: prim<number>(
    'u8',
    0,
    (w, v) => w.writeU8(v),
    (r) => r.readU8(),
  ),
  u16: prim<number>(
    'u16',
    0,
    (w, v) => w.writeU16(v),
    (r) => r.readU16(),
  ),
  u32: prim<number>(
    'u32',
    0,
    (w, v) => w.writeU32(v),
    (r) => r.readU32(),
  ),
  i8: prim<number>(
    'i8',
    0,
    (w, v) => w.writeI8(v),
    (r) => r.readI8(),
  ),
  i16: prim<number>(
    'i16',
    0,
    (w, v) => w.writeI16(v),
    (r) => r.readI16(),
  ),
  i32: prim<number>(
    'i32',
    0,
    (w, v) => w.writeI32(v),
    (r) => r.readI32(),
  ),
  /** Unsigned varint, 0 .. 2^53 - 1. */
  varuint: prim<number>(
    'varuint',
    0,
    (w, v) => w.writeVarUint(v),
    (r) => r.readVarUint(),
  ),
  /** Signed zigzag varint, ±(2^53 - 1). */
  varint: prim<number>(
    'varint',
    0,
    (w, v) => w.writeVarInt(v),
    (r) => r.readVarInt(),
  ),
  /** 32-bit float: any number f32 can hold (NaN, ±Infinity included); a finite value beyond its range is refused. */
  f32: prim<number>(
    'f32',
    0,
    (w, v) => {
      checkFloat(v, 'f32');
      if (Number.isFinite(v) && !Number.isFinite(Math.fround(v)))
        throw new EncodeError(`f32: ${v} is outside the f32 range (it would arrive as ${Math.fround(v)})`);
      w.writeF32(v);
    },
    (r) => r.readF32(),
  ),
  f64: prim<number>(
    'f64',
    0,
    (w, v) => {
      checkFloat(v, 'f64');
      w.writeF64(v);
    },
    (r) => r.readF64(),
  ),
  quantized,
  string,
  bytes,
} as const;
