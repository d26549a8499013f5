/**
 * The stream frame: `[u32 length][u32 type][u32 sessionId][payload]`, little-endian, where
 * `length` counts the **payload only** (the 12-byte header is never included). See
 * docs/wire/stream.md. Browser-safe (no `node:` imports).
 */
import { DecodeError, EncodeError } from '../../serde/DecodeError.js';

/** Bytes before the payload: length, type, session id (3 × u32). */
export const FRAME_HEADER_BYTES = 12;

/** Default largest payload a connection accepts from its peer (and lets its owner send): 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * Frame types at or above this value are reserved for the transport itself; `sendFrame`
 * refuses them and the receiving side never hands them to `onFrame`.
 */
export const FRAME_TYPE_RESERVED_MIN = 0xfffffff0;

/** Transport control frame: "I am closing", payload = UTF-8 reason (≤ 256 bytes), session id 0. */
export const FRAME_TYPE_CLOSE = 0xffffffff;

/**
 * Transport control frame: "you are accepted", empty payload, session id 0. A TLS server sends
 * it once, right after the handshake and its own checks, because in TLS 1.3 a client finishes
 * its handshake before the server has judged the client certificate; the client's `connect()`
 * resolves only once READY arrives, so a refused certificate rejects `connect()` instead of
 * surfacing later as a closed connection.
 */
export const FRAME_TYPE_READY = 0xfffffffe;

/** Longest close reason carried in a CLOSE frame, in UTF-8 bytes (longer ones are truncated). */
export const MAX_CLOSE_REASON_BYTES = 256;

const U32_MAX = 0xffffffff;

/** What the decoder hands out for each complete frame. */
export type FrameHandler = (type: number, sessionId: number, payload: Uint8Array) => void;

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new EncodeError(`${what}: ${value} is not a u32`);
  }
}

function writeHeader(out: Uint8Array, length: number, type: number, sessionId: number): void {
  const view = new DataView(out.buffer, out.byteOffset, FRAME_HEADER_BYTES);
  view.setUint32(0, length, true);
  view.setUint32(4, type, true);
  view.setUint32(8, sessionId, true);
}

/**
 * One frame as bytes (a fresh buffer: the caller may reuse `payload` afterwards). Throws
 * {@link EncodeError} if `type` or `sessionId` is not a u32 or the payload is longer than
 * `maxPayload`. Reserved types are allowed here (the transport sends its control frames with it).
 */
export function encodeFrame(
  type: number,
  sessionId: number,
  payload: Uint8Array,
  maxPayload = DEFAULT_MAX_PAYLOAD,
): Uint8Array {
  checkU32(type, 'frame type');
  checkU32(sessionId, 'session id');
  if (payload.byteLength > maxPayload) {
    throw new EncodeError(`frame payload of ${payload.byteLength} bytes exceeds ${maxPayload}`);
  }
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  writeHeader(out, payload.byteLength, type, sessionId);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Options of a {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest payload accepted; a longer length field fails with `too-long`. Default 1 MiB. */
  maxPayload?: number;
  /**
   * Extra check on the frame type, run as soon as the header is complete (before buffering the
   * payload). Returning false fails with `out-of-range`. Default: every type is accepted.
   */
  acceptType?: (type: number) => boolean;
}

/**
 * Incremental frame parser: feed it bytes in chunks split anywhere, it calls back once per
 * complete frame, in order. Memory is bounded: it never holds more than one frame's header
 * and payload (≤ 12 + maxPayload bytes) plus the rest of the chunk being parsed, because the
 * length is checked against `maxPayload` as soon as the 12-byte header is in.
 *
 * The only error it throws is {@link DecodeError}; after one, the decoder is failed for good
 * (the stream has lost framing) and every later `push` throws the same error again.
 *
 * Payloads are views into the pushed chunks when a frame lies inside one chunk (no copy) and
 * fresh buffers when it spans several; the decoder never writes into either, so they stay
 * valid for as long as the receiver keeps them.
 */
export class FrameDecoder {
  readonly maxPayload: number;
  private readonly acceptType: ((type: number) => boolean) | undefined;
  private readonly chunks: Uint8Array[] = [];
  /** Read offset inside `chunks[0]`. */
  private offset = 0;
  private buffered = 0;
  /** -1 while waiting for a header; otherwise the payload length of the frame in progress. */
  private pendingLength = -1;
  private pendingType = 0;
  private pendingSession = 0;
  private failure: DecodeError | undefined;
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private readonly headerView = new DataView(this.header.buffer);

  constructor(options: FrameDecoderOptions = {}) {
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.acceptType = options.acceptType;
  }

  /** Bytes received but not yet handed out as a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The error that failed this decoder, if any. */
  get error(): DecodeError | undefined {
    return this.failure;
  }

  /** Forget buffered bytes (the decoder stays failed if it was). Stops a `push` in progress. */
  clear(): void {
    this.chunks.length = 0;
    this.offset = 0;
    this.buffered = 0;
    this.pendingLength = -1;
  }

  /**
   * Add received bytes and call `onFrame` for every frame they complete. `chunk` is kept (not
   * copied) until consumed: do not write into it afterwards. If `onFrame` throws, the error
   * propagates and the frames after it stay buffered until the next `push`.
   */
  push(chunk: Uint8Array, onFrame: FrameHandler): void {
    if (this.failure) throw this.failure;
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.byteLength;
    }
    for (;;) {
      if (this.pendingLength < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) return;
        this.take(FRAME_HEADER_BYTES, this.header);
        const length = this.headerView.getUint32(0, true);
        const type = this.headerView.getUint32(4, true);
        if (length > this.maxPayload) {
          this.fail(
            new DecodeError('too-long', `frame payload of ${length} bytes exceeds ${this.maxPayload}`),
          );
        }
        if (this.acceptType && !this.acceptType(type)) {
          this.fail(new DecodeError('out-of-range', `frame type ${type} not accepted`));
        }
        this.pendingLength = length;
        this.pendingType = type;
        this.pendingSession = this.headerView.getUint32(8, true);
      }
      if (this.buffered < this.pendingLength) return;
      const payload = this.take(this.pendingLength);
      const type = this.pendingType;
      const sessionId = this.pendingSession;
      this.pendingLength = -1;
      onFrame(type, sessionId, payload);
      if (this.failure) return;
    }
  }

  private fail(error: DecodeError): never {
    this.failure = error;
    this.clear();
    throw error;
  }

  /** Remove `n` buffered bytes (n ≤ buffered): a view when they lie in one chunk, else a copy (into `into` if given). */
  private take(n: number, into?: Uint8Array): Uint8Array {
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === 0) return into ?? new Uint8Array(0);
    if (first.byteLength - this.offset >= n && !into) {
      const view = first.subarray(this.offset, this.offset + n);
      this.advance(first, n);
      return view;
    }
    const out = into ?? new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      const available = chunk.byteLength - this.offset;
      const count = Math.min(available, n - filled);
      out.set(chunk.subarray(this.offset, this.offset + count), filled);
      filled += count;
      this.advance(chunk, count);
    }
    return out;
  }

  private advance(chunk: Uint8Array, count: number): void {
    this.offset += count;
    if (this.offset === chunk.byteLength) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}
