import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from '../../serde/DecodeError.js';
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder } from './frame.js';

const RUNS = process.env.BATON_DEEP === '1' ? 5_000 : 200;

interface Frame {
  type: number;
  sessionId: number;
  payload: number[];
}

function collect(decoder: FrameDecoder, chunks: Uint8Array[]): Frame[] {
  const out: Frame[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk, (type, sessionId, payload) => out.push({ type, sessionId, payload: [...payload] }));
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Split `bytes` at the given cut points (any values; reduced modulo the length). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort(
    (a, b) => a - b,
  );
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(at, p));
    at = p;
  }
  chunks.push(bytes.subarray(at));
  return chunks;
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const frameArb = fc.record({
  type: u32,
  sessionId: u32,
  payload: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 300 }),
});

describe('encodeFrame', () => {
  it('writes [u32 length][u32 type][u32 sessionId][payload], little-endian, length = payload only', () => {
    const bytes = encodeFrame(7, 0x01020304, Uint8Array.from([0xaa, 0xbb]));
    expect([...bytes]).toEqual([2, 0, 0, 0, 7, 0, 0, 0, 4, 3, 2, 1, 0xaa, 0xbb]);
    expect(encodeFrame(0, 0, new Uint8Array(0)).byteLength).toBe(FRAME_HEADER_BYTES);
  });

  it('copies the payload', () => {
    const payload = Uint8Array.from([1, 2, 3]);
    const bytes = encodeFrame(1, 1, payload);
    payload.fill(9);
    expect([...bytes.subarray(FRAME_HEADER_BYTES)]).toEqual([1, 2, 3]);
  });

  it('throws EncodeError for non-u32 fields and oversize payloads', () => {
    const p = new Uint8Array(1);
    expect(() => encodeFrame(-1, 0, p)).toThrow(EncodeError);
    expect(() => encodeFrame(0x1_0000_0000, 0, p)).toThrow(EncodeError);
    expect(() => encodeFrame(1.5, 0, p)).toThrow(EncodeError);
    expect(() => encodeFrame(1, Number.NaN, p)).toThrow(EncodeError);
    expect(() => encodeFrame(1, 1, new Uint8Array(11), 10)).toThrow(EncodeError);
    expect(encodeFrame(1, 1, new Uint8Array(10), 10).byteLength).toBe(22);
  });
});

describe('FrameDecoder', () => {
  it('decodes frames split byte by byte and many frames in one chunk', () => {
    const frames = [encodeFrame(1, 2, Uint8Array.from([3])), encodeFrame(4, 5, new Uint8Array(0))];
    const all = concat(frames);
    const bytewise = collect(
      new FrameDecoder(),
      [...all].map((b) => Uint8Array.of(b)),
    );
    const whole = collect(new FrameDecoder(), [all]);
    expect(bytewise).toEqual([
      { type: 1, sessionId: 2, payload: [3] },
      { type: 4, sessionId: 5, payload: [] },
    ]);
    expect(whole).toEqual(bytewise);
  });

  it('property: any chunking of any frame sequence decodes identically', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, cuts) => {
          const bytes = concat(
            frames.map((f) => encodeFrame(f.type, f.sessionId, Uint8Array.from(f.payload))),
          );
          const decoder = new FrameDecoder();
          expect(collect(decoder, split(bytes, cuts))).toEqual(frames);
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('hands out plain Uint8Array payloads that later pushes never overwrite', () => {
    const decoder = new FrameDecoder();
    const got: Uint8Array[] = [];
    const onFrame = (_t: number, _s: number, p: Uint8Array) => got.push(p);
    const a = encodeFrame(1, 1, Uint8Array.from([1, 1, 1]));
    const b = encodeFrame(1, 1, Uint8Array.from([2, 2, 2]));
    decoder.push(a.subarray(0, 13), onFrame);
    decoder.push(a.subarray(13), onFrame);
    decoder.push(b, onFrame);
    expect(got.map((p) => [...p])).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
  });

  it('rejects an oversize length as soon as the header is in, before any payload is buffered', () => {
    const decoder = new FrameDecoder({ maxPayload: 1024 });
    const header = encodeFrame(1, 1, new Uint8Array(0));
    new DataView(header.buffer).setUint32(0, 0xffffffff, true);
    let error: unknown;
    try {
      decoder.push(header, () => {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as DecodeError).code).toBe('too-long');
    expect(decoder.bufferedBytes).toBe(0);
    // failed for good: the stream has lost framing
    expect(() => decoder.push(encodeFrame(1, 1, new Uint8Array(0)), () => {})).toThrow(DecodeError);
  });

  it('accepts exactly maxPayload', () => {
    const decoder = new FrameDecoder({ maxPayload: 16 });
    expect(collect(decoder, [encodeFrame(9, 9, new Uint8Array(16))])).toHaveLength(1);
    expect(() => collect(decoder, [encodeFrame(9, 9, new Uint8Array(17), 17)])).toThrow(DecodeError);
  });

  it('acceptType refuses unknown types with out-of-range', () => {
    const decoder = new FrameDecoder({ acceptType: (t) => t < 10 });
    expect(collect(decoder, [encodeFrame(9, 0, new Uint8Array(0))])).toHaveLength(1);
    expect(() => collect(decoder, [encodeFrame(10, 0, new Uint8Array(0))])).toThrow(
      expect.objectContaining({ code: 'out-of-range' }),
    );
  });

  it('clear() from inside a callback stops the frames after it', () => {
    const decoder = new FrameDecoder();
    const seen: number[] = [];
    const bytes = concat([1, 2, 3].map((t) => encodeFrame(t, 0, new Uint8Array(0))));
    decoder.push(bytes, (type) => {
      seen.push(type);
      if (type === 2) decoder.clear();
    });
    expect(seen).toEqual([1, 2]);
  });

  it('fuzz: garbage in any chunking throws DecodeError or nothing, and buffers at most one frame', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 0, max: 512 }),
        (garbage, cuts, maxPayload) => {
          const decoder = new FrameDecoder({ maxPayload });
          try {
            for (const chunk of split(garbage, cuts)) {
              decoder.push(chunk, (_t, _s, payload) => {
                expect(payload.byteLength).toBeLessThanOrEqual(maxPayload);
              });
              expect(decoder.bufferedBytes).toBeLessThanOrEqual(FRAME_HEADER_BYTES + maxPayload);
            }
          } catch (error) {
            expect(error).toBeInstanceOf(DecodeError);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
