import { DecodeError } from './DecodeError.js';

// ignoreBOM: keep a leading U+FEFF as part of the string instead of silently stripping it
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
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
      // `>>> 0` keeps bit 31 from turning the result negative; a shift rather than
      // `bits * 2 ** shift` because V8 compiles a variable `**` to a slow Math.pow call (5× slower reads)
      value += (bits << shift) >>> 0;
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

  /** Inverse of {@link BitWriter.writeVarInt}; the same group limit and minimality rules as varuint. */
  readVarInt(): number {
    const first = this.readBits(8);
    const sign = first & 1;
    let m = (first & 0x7f) >>> 1;
    if ((first & 0x80) !== 0) {
      let scale = 0x40;
      let done = false;
      for (let group = 1; group < 8; group++) {
        const byte = this.readBits(8);
        m += (byte & 0x7f) * scale;
        if ((byte & 0x80) === 0) {
          if (byte === 0) throw new DecodeError('invalid', 'non-minimal varint');
          done = true;
          break;
        }
        scale *= 0x80;
      }
      if (!done) throw new DecodeError('overflow', 'varint longer than 8 groups');
    }
    // m ≥ 2^53 cannot be held exactly; -(m + 1) must stay ≥ -(2^53 - 1)
    if (m > Number.MAX_SAFE_INTEGER - sign) throw new DecodeError('overflow', 'varint beyond ±(2^53 - 1)');
    return sign === 1 ? -m - 1 : m;
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
    // the ends are returned exactly: min + 1 * (max - min) can round past max (e.g. -0.1..0.2)
    if (q === 0) return min;
    if (q === steps) return max;
    return Math.min(max, min + (q / steps) * (max - min));
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
    const left = this.bitEnd - this.bitPos;
    if (left >= 8) {
      throw new DecodeError('trailing', `${left >>> 3} unread bytes`);
    }
    // the writer pads with zeros; anything else would give one message two encodings
    if (left > 0 && this.buf[this.bitPos >>> 3] >>> (this.bitPos & 7) !== 0) {
      throw new DecodeError('invalid', 'non-zero padding bits');
    }
  }
}
