import { EncodeError } from './DecodeError.js';

const textEncoder = new TextEncoder();
const scratch = new DataView(new ArrayBuffer(8));

/**
 * Appends values bit by bit to a growable buffer.
 *
 * Bit order: least-significant bit first. Bit `i` of the stream is bit `i % 8` of byte `i >> 3`,
 * and an n-bit value is emitted from its lowest bit up. Byte-aligned writes therefore produce
 * plain little-endian bytes, which keeps golden-byte tests readable (see docs/WIRE.md).
 */
export class BitWriter {
  private buf: Uint8Array;
  private bitPos = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(8, initialCapacity));
  }

  /** Number of bits written so far. */
  get bitLength(): number {
    return this.bitPos;
  }

  /** Number of bytes {@link finish} would return now. */
  get byteLength(): number {
    return (this.bitPos + 7) >>> 3;
  }

  /** Forget everything written, keeping the allocation. */
  reset(): void {
    this.buf.fill(0, 0, this.byteLength);
    this.bitPos = 0;
  }

  private ensure(bits: number): void {
    const needBytes = (this.bitPos + bits + 7) >>> 3;
    if (needBytes <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < needBytes) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf);
    this.buf = next;
  }

  /** Write the low `count` bits (0..32) of `value`. */
  writeBits(value: number, count: number): void {
    if (count === 0) return;
    this.ensure(count);
    let v = value >>> 0;
    let remaining = count;
    while (remaining > 0) {
      const byteIndex = this.bitPos >>> 3;
      const bitOffset = this.bitPos & 7;
      const take = Math.min(8 - bitOffset, remaining);
      const mask = (1 << take) - 1;
      this.buf[byteIndex] |= (v & mask) << bitOffset;
      v = take === 32 ? 0 : v >>> take;
      remaining -= take;
      this.bitPos += take;
    }
  }

  writeBool(value: boolean): void {
    this.writeBits(value ? 1 : 0, 1);
  }

  writeU8(value: number): void {
    checkInt(value, 0, 0xff, 'u8');
    this.writeBits(value, 8);
  }

  writeU16(value: number): void {
    checkInt(value, 0, 0xffff, 'u16');
    this.writeBits(value, 16);
  }

  writeU32(value: number): void {
    checkInt(value, 0, 0xffffffff, 'u32');
    this.writeBits(value, 32);
  }

  writeI8(value: number): void {
    checkInt(value, -0x80, 0x7f, 'i8');
    this.writeBits(value & 0xff, 8);
  }

  writeI16(value: number): void {
    checkInt(value, -0x8000, 0x7fff, 'i16');
    this.writeBits(value & 0xffff, 16);
  }

  writeI32(value: number): void {
    checkInt(value, -0x80000000, 0x7fffffff, 'i32');
    this.writeBits(value | 0, 32);
  }

  /** Unsigned LEB128-style varint: 7 value bits per group, high bit = more. Up to 2^53 - 1. */
  writeVarUint(value: number): void {
    checkInt(value, 0, Number.MAX_SAFE_INTEGER, 'varuint');
    let v = value;
    while (v >= 0x80) {
      this.writeBits((v % 0x80) | 0x80, 8);
      v = Math.floor(v / 0x80);
    }
    this.writeBits(v, 8);
  }

  /**
   * Zigzag-encoded signed varint, ±(2^53 - 1): small magnitudes of either sign stay short.
   * The zigzag value is `2 * m + sign` (m = v for v ≥ 0, -v - 1 for v < 0), written as a
   * varuint. It reaches 2^54 - 2, past what a double holds exactly, so it is never formed as
   * one number: the first group carries the sign bit and m's low 6 bits, the rest of m follows
   * as ordinary 7-bit groups. The bytes are the same as the varuint of the zigzag value.
   */
  writeVarInt(value: number): void {
    checkInt(value, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'varint');
    const sign = value < 0 ? 1 : 0;
    const m = sign === 1 ? -value - 1 : value;
    const first = sign | ((m % 0x40) * 2);
    let rest = Math.floor(m / 0x40);
    if (rest === 0) {
      this.writeBits(first, 8);
      return;
    }
    this.writeBits(first | 0x80, 8);
    while (rest >= 0x80) {
      this.writeBits((rest % 0x80) | 0x80, 8);
      rest = Math.floor(rest / 0x80);
    }
    this.writeBits(rest, 8);
  }

  /** IEEE 754 binary32, little-endian bit pattern. Every NaN is written as 0x7fc00000. */
  writeF32(value: number): void {
    // the NaN bit pattern a DataView stores is engine-defined; pin it so bytes match across engines
    if (Number.isNaN(value)) {
      this.writeBits(0x7fc00000, 32);
      return;
    }
    scratch.setFloat32(0, value, true);
    this.writeBits(scratch.getUint32(0, true), 32);
  }

  /** IEEE 754 binary64, little-endian (low word first). Every NaN is written as 0x7ff8000000000000. */
  writeF64(value: number): void {
    if (Number.isNaN(value)) {
      this.writeBits(0, 32);
      this.writeBits(0x7ff80000, 32);
      return;
    }
    scratch.setFloat64(0, value, true);
    this.writeBits(scratch.getUint32(0, true), 32);
    this.writeBits(scratch.getUint32(4, true), 32);
  }

  /**
   * Quantise `value` into `bits` bits over [min, max] (clamped). The reader gets back the
   * nearest representable value; the step is (max - min) / (2^bits - 1).
   */
  writeQuantized(value: number, min: number, max: number, bits: number): void {
    const steps = 2 ** bits - 1;
    const clamped = Number.isNaN(value) ? min : Math.min(max, Math.max(min, value));
    const q = Math.round(((clamped - min) / (max - min)) * steps);
    this.writeBits(q, bits);
  }

  /** Raw bytes with no length prefix. */
  writeRaw(bytes: Uint8Array): void {
    if ((this.bitPos & 7) === 0) {
      this.ensure(bytes.length * 8);
      this.buf.set(bytes, this.bitPos >>> 3);
      this.bitPos += bytes.length * 8;
      return;
    }
    for (let i = 0; i < bytes.length; i++) this.writeBits(bytes[i], 8);
  }

  /** Length-prefixed (varuint) bytes; throws if longer than `maxLength`. */
  writeBytes(bytes: Uint8Array, maxLength: number): void {
    if (bytes.length > maxLength) throw new EncodeError(`bytes length ${bytes.length} exceeds ${maxLength}`);
    this.writeVarUint(bytes.length);
    this.writeRaw(bytes);
  }

  /** UTF-8, length-prefixed in bytes; throws if the encoding is longer than `maxBytes`. */
  writeString(value: string, maxBytes: number): void {
    const bytes = textEncoder.encode(value);
    if (bytes.length > maxBytes) throw new EncodeError(`string of ${bytes.length} bytes exceeds ${maxBytes}`);
    this.writeVarUint(bytes.length);
    this.writeRaw(bytes);
  }

  /** Pad with zero bits to the next byte boundary. */
  alignToByte(): void {
    const rem = this.bitPos & 7;
    if (rem !== 0) this.writeBits(0, 8 - rem);
  }

  /** A copy of the bytes written so far (the final partial byte zero-padded). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.byteLength);
  }
}

function checkInt(value: number, min: number, max: number, type: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new EncodeError(`${type}: ${value} is not an integer in [${min}, ${max}]`);
  }
}
