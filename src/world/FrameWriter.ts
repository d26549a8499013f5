import { BitWriter } from '../serde/BitWriter.js';
import { EncodeError } from '../serde/DecodeError.js';

const textEncoder = new TextEncoder();
const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);
const scratch = new DataView(new ArrayBuffer(8));
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Frames handed out by {@link FrameWriter.take} are carved from shared 256 KiB blocks that are
 * never written again once handed out: one backing-store allocation per block instead of one
 * per frame (a server sends ~1000 frames per step at 100 users). A retained frame keeps its
 * block alive; that is the price.
 */
const ARENA_BYTES = 256 * 1024;
let arena = new Uint8Array(ARENA_BYTES);
/** Word view of {@link arena}: frames start 8-byte aligned, so whole words are stored directly. */
let arenaWords = new Uint32Array(arena.buffer);
let arenaPos = 0;
/** Frames up to this many words are copied word by word (larger ones: one `set`, a memcpy). */
const SMALL_FRAME_WORDS = 64;

/**
 * The world layer's bit writer: the same bytes as {@link BitWriter} (it *is* one, so property
 * types write into it unchanged), stored as 32-bit words with a pending accumulator instead of
 * byte by byte, plus {@link appendWords} to splice in bits encoded elsewhere.
 *
 * Why: the server's frame writing is the hot path (users × changed components per step). An
 * n-bit write here is an OR, a compare and at most one word store; and an update body encoded
 * once per step (see `UpdateCache`) is copied into every user's frame a word at a time.
 *
 * Every public method of BitWriter is overridden (a test checks this), so none of the base
 * class's byte buffer is ever used. The LSB-first stream is exactly a sequence of little-endian
 * 32-bit words, which is what makes word-at-a-time storage byte-compatible.
 */
export class FrameWriter extends BitWriter {
  private words: Uint32Array;
  /** Byte view of {@link words} (renewed when it grows). */
  private bytes: Uint8Array;
  /** Complete words written. */
  private count = 0;
  /** Pending low bits of the next word (fewer than 32). */
  private acc = 0;
  private accBits = 0;

  constructor(initialBytes = 256) {
    super(8);
    this.words = new Uint32Array(Math.max(2, (initialBytes + 3) >>> 2));
    this.bytes = new Uint8Array(this.words.buffer);
  }

  /** The complete words written so far (valid up to {@link wordCount}; read-only for callers). */
  get wordBuffer(): Uint32Array {
    return this.words;
  }

  /** Number of complete words written (bits in the accumulator are not included). */
  get wordCount(): number {
    return this.count;
  }

  override get bitLength(): number {
    return this.count * 32 + this.accBits;
  }

  override get byteLength(): number {
    return (this.bitLength + 7) >>> 3;
  }

  override reset(): void {
    this.count = 0;
    this.acc = 0;
    this.accBits = 0;
  }

  private pushWord(word: number): void {
    if (this.count === this.words.length) this.grow(this.count + 1);
    this.words[this.count++] = word;
  }

  private grow(minWords: number): void {
    let cap = this.words.length * 2;
    while (cap < minWords) cap *= 2;
    const next = new Uint32Array(cap);
    next.set(this.words);
    this.words = next;
    this.bytes = new Uint8Array(next.buffer);
  }

  override writeBits(value: number, count: number): void {
    if (count === 0) return;
    const v = count === 32 ? value >>> 0 : (value & ((1 << count) - 1)) >>> 0;
    const used = this.accBits;
    const total = used + count;
    if (total < 32) {
      this.acc = (this.acc | (v << used)) >>> 0;
      this.accBits = total;
      return;
    }
    this.pushWord((this.acc | (v << used)) >>> 0);
    // JavaScript shifts count mod 32, so v >>> 32 would be v: the used === 0 case carries nothing
    this.acc = used === 0 ? 0 : v >>> (32 - used);
    this.accBits = total - 32;
  }

  /** Pad with zero bits to the next 32-bit boundary (so the next bits start a fresh word). */
  alignToWord(): void {
    if (this.accBits !== 0) {
      this.pushWord(this.acc);
      this.acc = 0;
      this.accBits = 0;
    }
  }

  /**
   * Append `bits` bits stored word-aligned in `src` from word `start` (as written by another
   * FrameWriter after {@link alignToWord}; bits past `bits` in the last word must be zero or are
   * masked off).
   */
  appendWords(src: Uint32Array, start: number, bits: number): void {
    if (bits <= 0) return;
    // room for every word this can complete, so the loop below stores without checks
    const need = this.count + ((this.accBits + bits) >>> 5) + 1;
    if (need > this.words.length) this.grow(need);
    const words = this.words;
    let n = this.count;
    let acc = this.acc;
    const used = this.accBits;
    let i = start;
    let left = bits;
    if (used === 0) {
      while (left >= 32) {
        words[n++] = src[i++];
        left -= 32;
      }
      acc = left > 0 ? (src[i] & ((1 << left) - 1)) >>> 0 : 0;
      this.accBits = left;
    } else {
      const back = 32 - used;
      while (left >= 32) {
        const v = src[i++];
        words[n++] = (acc | (v << used)) >>> 0;
        acc = v >>> back;
        left -= 32;
      }
      if (left > 0) {
        const v = (src[i] & (left === 32 ? -1 : (1 << left) - 1)) >>> 0;
        acc = (acc | (v << used)) >>> 0;
        const total = used + left;
        if (total >= 32) {
          words[n++] = acc;
          acc = v >>> back;
          this.accBits = total - 32;
        } else this.accBits = total;
      } else this.accBits = used;
    }
    this.acc = acc;
    this.count = n;
  }

  override writeBool(value: boolean): void {
    this.writeBits(value ? 1 : 0, 1);
  }

  override writeU8(value: number): void {
    checkInt(value, 0, 0xff, 'u8');
    this.writeBits(value, 8);
  }

  override writeU16(value: number): void {
    checkInt(value, 0, 0xffff, 'u16');
    this.writeBits(value, 16);
  }

  override writeU32(value: number): void {
    checkInt(value, 0, 0xffffffff, 'u32');
    this.writeBits(value, 32);
  }

  override writeI8(value: number): void {
    checkInt(value, -0x80, 0x7f, 'i8');
    this.writeBits(value & 0xff, 8);
  }

  override writeI16(value: number): void {
    checkInt(value, -0x8000, 0x7fff, 'i16');
    this.writeBits(value & 0xffff, 16);
  }

  override writeI32(value: number): void {
    checkInt(value, -0x80000000, 0x7fffffff, 'i32');
    this.writeBits(value | 0, 32);
  }

  override writeVarUint(value: number): void {
    if (value >= 0 && value < 0x80 && (value | 0) === value) {
      this.writeBits(value, 8);
      return;
    }
    checkInt(value, 0, Number.MAX_SAFE_INTEGER, 'varuint');
    let v = value;
    while (v >= 0x80) {
      this.writeBits((v % 0x80) | 0x80, 8);
      v = Math.floor(v / 0x80);
    }
    this.writeBits(v, 8);
  }

  /** Same bytes as {@link BitWriter.writeVarInt} (zigzag, sign in the first group). */
  override writeVarInt(value: number): void {
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

  override writeF32(value: number): void {
    if (Number.isNaN(value)) {
      this.writeBits(0x7fc00000, 32);
      return;
    }
    // a Float32Array and a Uint32Array over one buffer: the float's bits, whatever the host byte order
    f32[0] = value;
    this.writeBits(f32Bits[0], 32);
  }

  override writeF64(value: number): void {
    if (Number.isNaN(value)) {
      this.writeBits(0, 32);
      this.writeBits(0x7ff80000, 32);
      return;
    }
    scratch.setFloat64(0, value, true);
    this.writeBits(scratch.getUint32(0, true), 32);
    this.writeBits(scratch.getUint32(4, true), 32);
  }

  override writeQuantized(value: number, min: number, max: number, bits: number): void {
    const steps = 2 ** bits - 1;
    const clamped = Number.isNaN(value) ? min : Math.min(max, Math.max(min, value));
    const q = Math.round(((clamped - min) / (max - min)) * steps);
    this.writeBits(q, bits);
  }

  override writeRaw(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.writeBits(bytes[i], 8);
  }

  override writeBytes(bytes: Uint8Array, maxLength: number): void {
    if (bytes.length > maxLength) throw new EncodeError(`bytes length ${bytes.length} exceeds ${maxLength}`);
    this.writeVarUint(bytes.length);
    this.writeRaw(bytes);
  }

  override writeString(value: string, maxBytes: number): void {
    const bytes = textEncoder.encode(value);
    if (bytes.length > maxBytes) throw new EncodeError(`string of ${bytes.length} bytes exceeds ${maxBytes}`);
    this.writeVarUint(bytes.length);
    this.writeRaw(bytes);
  }

  override alignToByte(): void {
    const rem = this.accBits & 7;
    if (rem !== 0) this.writeBits(0, 8 - rem);
  }

  override finish(): Uint8Array {
    const out = new Uint8Array(this.byteLength);
    this.copyTo(out);
    return out;
  }

  /**
   * The bytes written so far, like {@link finish}, but in a view of a shared block (see
   * ARENA_BYTES): the view is the caller's and never overwritten, its `buffer` holds other
   * frames too (use `byteOffset`).
   */
  take(): Uint8Array {
    const n = this.byteLength;
    if (arenaPos + n > arena.length) {
      // (a whole number of words, so the word view covers every frame's last partial word)
      arena = new Uint8Array((Math.max(ARENA_BYTES, n) + 7) & ~7);
      arenaWords = new Uint32Array(arena.buffer);
      arenaPos = 0;
    }
    const start = arenaPos;
    const out = arena.subarray(start, start + n);
    // keep views 8-byte aligned (cheap, and friendlier to consumers that view the buffer wider)
    arenaPos = (start + n + 7) & ~7;
    const full = this.count;
    if (LITTLE_ENDIAN && full <= SMALL_FRAME_WORDS) {
      // word by word into the arena: no temporary view of our buffer and no `set` call for a
      // frame of a few dozen words. The last word may hold bits past `n`: they are zero (the
      // accumulator holds only written bits) and lie in this frame's alignment padding, which
      // no view covers.
      const words = this.words;
      const base = start >>> 2;
      for (let i = 0; i < full; i++) arenaWords[base + i] = words[i];
      if (full * 4 < n) arenaWords[base + full] = this.acc;
    } else this.copyTo(out);
    return out;
  }

  private copyTo(out: Uint8Array): void {
    const n = out.length;
    const full = this.count;
    if (LITTLE_ENDIAN) out.set(this.bytes.subarray(0, full * 4));
    else {
      for (let i = 0; i < full; i++) {
        const w = this.words[i];
        out[i * 4] = w & 0xff;
        out[i * 4 + 1] = (w >>> 8) & 0xff;
        out[i * 4 + 2] = (w >>> 16) & 0xff;
        out[i * 4 + 3] = w >>> 24;
      }
    }
    let w = this.acc;
    for (let i = full * 4; i < n; i++) {
      out[i] = w & 0xff;
      w >>>= 8;
    }
  }
}

function checkInt(value: number, min: number, max: number, type: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new EncodeError(`${type}: ${value} is not an integer in [${min}, ${max}]`);
  }
}
