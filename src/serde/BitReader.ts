import { DecodeError } from './DecodeError.js';

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const scratch = new DataView(new ArrayBuffer(8));

/**
 * Reads what {@link BitWriter} wrote. Every read is bounds-checked and throws
 * {@link DecodeError} on bad input; no read allocates more than the bytes actually present.
 */
export class BitReader {
  private bitPos = 0;
  private readonly bitEnd: number;

  constructor(
    private readonly buf: Uint8Array,
    byteOffset = 0,
    byteLength = buf.length - byteOffset,
  ) {
    if (byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > buf.length) {
      throw new DecodeError('truncated', 'reader window outside buffer');
    }
    this.bitPos = byteOffset * 8;
    this.bitEnd = (byteOffset + byteLength) * 8;
  }

  /** Bits left to read. */
  get remainingBits(): number {
    return this.bitEnd - this.bitPos;
  }

  /** Current position in bits from the start of the buffer. */
  get position(): number {
    return this.bitPos;
  }

  private need(bits: number): void {
    if (this.bitPos + bits > this.bitEnd) {
      throw new DecodeError('truncated', `need ${bits} bits, ${this.bitEnd - this.bitPos} left`);
    }
  }

  /** Read `count` (0..32) bits as an unsigned number. */
  readBits(count: number): number {
    if (count === 0) return 0;
    this.need(count);
    let value = 0;
    let shift = 0;
    let remaining = count;
    while (remaining > 0) {
      const byteIndex = this.bitPos >>> 3;
      const bitOffset = this.bitPos & 7;
      const take = Math.min(8 - bitOffset, remaining);
      const bits = (this.buf[byteIndex] >>> bitOffset) & ((1 << take) - 1);
      // multiply rather than shift so bit 31 does not turn the result negative
      value += bits * 2 ** shift;
      shift += take;
      remaining -= take;
      this.bitPos += take;
    }
    return value;
  }

  readBool(): boolean {
    return this.readBits(1) === 1;
  }

  readU8(): number {
    return this.readBits(8);
  }

  readU16(): number {
    return this.readBits(16);
  }

  readU32(): number {
    return this.readBits(32);
  }

  readI8(): number {
    return (this.readBits(8) << 24) >> 24;
  }

  readI16(): number {
    return (this.readBits(16) << 16) >> 16;
  }

  readI32(): number {
    return this.readBits(32) | 0;
  }

  readVarUint(): number {
    let value = 0;
    let scale = 1;
    for (let group = 0; group < 8; group++) {
      const byte = this.readBits(8);
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (value > Number.MAX_SAFE_INTEGER) throw new DecodeError('overflow', 'varuint above 2^53 - 1');
        // reject non-minimal encodings (a trailing zero group) so each value has one encoding
        if (group > 0 && byte === 0) throw new DecodeError('invalid', 'non-minimal varuint');
        return value;
      }
      scale *= 0x80;
    }
    throw new DecodeError('overflow', 'varuint longer than 8 groups');
  }

  readVarInt(): number {
    const zz = this.readVarUint();
    return zz % 2 === 0 ? zz / 2 : -(zz + 1) / 2;
  }

  readF32(): number {
    scratch.setUint32(0, this.readBits(32), true);
    return scratch.getFloat32(0, true);
  }

  readF64(): number {
    const lo = this.readBits(32);
    const hi = this.readBits(32);
    scratch.setUint32(0, lo, true);
    scratch.setUint32(4, hi, true);
    return scratch.getFloat64(0, true);
  }

  readQuantized(min: number, max: number, bits: number): number {
    const q = this.readBits(bits);
    const steps = 2 ** bits - 1;
    if (q > steps) throw new DecodeError('out-of-range', 'quantised value above range');
    return min + (q / steps) * (max - min);
  }

  /** `length` raw bytes (checked against what remains before allocating). */
  readRaw(length: number): Uint8Array {
    this.need(length * 8);
    if ((this.bitPos & 7) === 0) {
      const start = this.bitPos >>> 3;
      this.bitPos += length * 8;
      return this.buf.slice(start, start + length);
    }
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.readBits(8);
    return out;
  }

  readBytes(maxLength: number): Uint8Array {
    const length = this.readVarUint();
    if (length > maxLength) throw new DecodeError('too-long', `bytes length ${length} exceeds ${maxLength}`);
    return this.readRaw(length);
  }

  readString(maxBytes: number): string {
    const length = this.readVarUint();
    if (length > maxBytes) throw new DecodeError('too-long', `string length ${length} exceeds ${maxBytes}`);
    const bytes = this.readRaw(length);
    try {
      return textDecoder.decode(bytes);
    } catch {
      throw new DecodeError('invalid-utf8', 'string is not valid UTF-8');
    }
  }

  /** Skip to the next byte boundary. */
  alignToByte(): void {
    const rem = this.bitPos & 7;
    if (rem !== 0) this.readBits(8 - rem);
  }

  /** Throw unless everything but zero padding of the last byte was consumed. */
  expectEnd(): void {
    if (this.bitEnd - this.bitPos >= 8) {
      throw new DecodeError('trailing', `${(this.bitEnd - this.bitPos) >>> 3} unread bytes`);
    }
  }
}
