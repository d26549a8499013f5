/**
 * What every framed stream connection shares: framing, control frames, counters, early-frame
 * holding, backpressure accounting and the close bookkeeping. Subclasses only move bytes
 * (TLS socket, in-memory queue). Browser-safe (no `node:` imports).
 */
import { DecodeError, EncodeError } from '../../serde/DecodeError.js';
import {
  DEFAULT_MAX_PAYLOAD,
  encodeFrame,
  FRAME_TYPE_CLOSE,
  FRAME_TYPE_READY,
  FRAME_TYPE_RESERVED_MIN,
  FrameDecoder,
  MAX_CLOSE_REASON_BYTES,
} from './frame.js';
import { createStreamStats } from './stats.js';
import type { StreamConnection, StreamFrameHandler, StreamPeerIdentity, StreamStats } from './types.js';

/** Default cap on queued outgoing bytes before `sendFrame` refuses: 8 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Limits shared by every stream connection. */
export interface StreamLimits {
  /** Largest payload sent or accepted. Default 1 MiB ({@link DEFAULT_MAX_PAYLOAD}). */
  maxPayload?: number;
  /** Cap on queued outgoing bytes. Default 8 MiB ({@link DEFAULT_MAX_BUFFERED_BYTES}). */
  maxBufferedBytes?: number;
}

const noop = () => {};
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
const EMPTY = new Uint8Array(0);

interface HeldFrame {
  type: number;
  sessionId: number;
  payload: Uint8Array;
}

/** UTF-8 bytes of `reason`, cut to at most `MAX_CLOSE_REASON_BYTES` on a character boundary. */
function encodeReason(reason: string): Uint8Array {
  let bytes = textEncoder.encode(reason);
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return bytes;
  let cut = MAX_CLOSE_REASON_BYTES;
  // back up over UTF-8 continuation bytes (10xxxxxx) so the cut stays valid UTF-8
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--;
  bytes = bytes.subarray(0, cut);
  return bytes;
}

export abstract class StreamConnectionBase implements StreamConnection {
  readonly stats: StreamStats = createStreamStats();
  readonly maxPayload: number;
  readonly maxBufferedBytes: number;
  onDrain: () => void = noop;
  abstract readonly remoteAddress: string;

  /** Internal: told of each protocol violation (a server sums them). */
  protocolErrorListener: (() => void) | undefined;

  private readonly decoder: FrameDecoder;
  private frameHandler: StreamFrameHandler | undefined;
  private closeHandler: ((reason: string) => void) | undefined;
  private readonly held: HeldFrame[] = [];
  private flushScheduled = false;
  private open = true;
  private closedByOwner = false;
  /** onClose was called, suppressed, or is pending: it happens at most once. */
  private closeDecided = false;
  private pendingClose: string | undefined;
  private blocked = false;
  /** The owner asked for no more frames ({@link pause}) until {@link resume}. */
  private ownerPaused = false;
  private shutdownPromise: Promise<void> | undefined;
  private readonly finishedCallbacks: (() => void)[] = [];
  private isFinished = false;

  constructor(
    readonly id: string,
    readonly peer: StreamPeerIdentity | undefined,
    limits: StreamLimits = {},
  ) {
    this.maxPayload = limits.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.maxBufferedBytes = limits.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    // a CLOSE frame's reason may always come through, whatever the payload limit
    this.decoder = new FrameDecoder({ maxPayload: Math.max(this.maxPayload, MAX_CLOSE_REASON_BYTES) });
  }

  abstract get bufferedBytes(): number;
  /** Hand bytes to the underlying stream. Only called while it can still write. */
  protected abstract writeBytes(bytes: Uint8Array): void;
  /** Whether the underlying stream still accepts writes (used for CLOSE frames while closing). */
  protected abstract canWrite(): boolean;
  /** End the underlying stream after what is queued; resolve when it is gone. Called once. */
  protected abstract shutdownStream(): Promise<void>;
  /** Stop / restart delivering received bytes (flow control while frames are held). */
  protected abstract pauseReading(): void;
  protected abstract resumeReading(): void;

  get isOpen(): boolean {
    return this.open;
  }

  get paused(): boolean {
    return this.ownerPaused;
  }

  pause(): void {
    if (this.ownerPaused || !this.open) return;
    this.ownerPaused = true;
    this.pauseReading();
  }

  resume(): void {
    if (!this.ownerPaused) return;
    this.ownerPaused = false;
    // frames held meanwhile go first, on a microtask: never inside the owner's own call
    this.scheduleFlush();
  }

  get onFrame(): StreamFrameHandler {
    return this.frameHandler ?? noop;
  }

  set onFrame(handler: StreamFrameHandler) {
    this.frameHandler = handler;
    if (this.held.length > 0 || this.pendingClose !== undefined) this.scheduleFlush();
  }

  get onClose(): (reason: string) => void {
    return this.closeHandler ?? noop;
  }

  set onClose(handler: (reason: string) => void) {
    this.closeHandler = handler;
    if (this.pendingClose !== undefined) this.scheduleFlush();
  }

  sendFrame(type: number, sessionId: number, payload: Uint8Array): boolean {
    if (type >= FRAME_TYPE_RESERVED_MIN && type <= 0xffffffff) {
      throw new EncodeError(`frame type ${type} is reserved for the transport`);
    }
    const bytes = encodeFrame(type, sessionId, payload, this.maxPayload);
    if (!this.open) {
      this.stats.refusedClosed++;
      return false;
    }
    const buffered = this.bufferedBytes;
    if (buffered > 0 && buffered + bytes.byteLength > this.maxBufferedBytes) {
      this.stats.refusedBackpressure++;
      this.blocked = true;
      return false;
    }
    this.writeBytes(bytes);
    this.stats.framesSent++;
    this.stats.bytesSent += bytes.byteLength;
    return true;
  }

  close(reason = 'closed'): Promise<void> {
    if (!this.closedByOwner) {
      this.closedByOwner = true;
      const wasOpen = this.open;
      this.open = false;
      this.closeDecided = true;
      this.pendingClose = undefined;
      this.held.length = 0;
      this.decoder.clear();
      if (wasOpen) this.writeControl(FRAME_TYPE_CLOSE, encodeReason(reason));
    }
    return this.shutdownOnce();
  }

  /** Internal: `callback` runs once the underlying stream is gone (at once if it already is). */
  onceFinished(callback: () => void): void {
    if (this.isFinished) callback();
    else this.finishedCallbacks.push(callback);
  }

  /** Subclasses call this once the underlying stream is completely gone. */
  protected finished(): void {
    if (this.isFinished) return;
    this.isFinished = true;
    for (const callback of this.finishedCallbacks.splice(0)) callback();
  }

  /** Subclasses call this for every chunk of bytes read from the stream. */
  protected receiveBytes(chunk: Uint8Array): void {
    if (!this.open) return;
    this.stats.bytesReceived += chunk.byteLength;
    try {
      this.decoder.push(chunk, this.dispatch);
    } catch (error) {
      // dispatch catches handler errors, so only the decoder's own DecodeError lands here
      const message = error instanceof Error ? error.message : String(error);
      const oversize = error instanceof DecodeError && error.code === 'too-long';
      this.protocolError(oversize ? 'closedOversize' : 'closedInvalid', message);
    }
  }

  /** Subclasses call this when the stream ended by itself (peer, network, error). */
  protected transportClosed(reason: string): void {
    this.open = false;
    this.decoder.clear();
    if (this.closeDecided) return;
    this.closeDecided = true;
    if (this.closeHandler && this.held.length === 0) {
      this.callHandler(this.closeHandler, reason);
      return;
    }
    this.pendingClose = reason;
    if (this.closeHandler || this.frameHandler) this.scheduleFlush();
  }

  /** Subclasses call this whenever queued bytes were flushed: fires `onDrain` after a refusal. */
  protected checkDrain(): void {
    if (!this.blocked || !this.open) return;
    if (this.bufferedBytes > this.maxBufferedBytes / 2) return;
    this.blocked = false;
    this.callHandler(this.onDrain);
  }

  /** Subclasses that expect a READY frame override this and return true; otherwise READY is a protocol error. */
  protected handleReady(): boolean {
    return false;
  }

  /** Send the READY control frame (a server that accepted this connection). */
  protected sendReady(): void {
    this.writeControl(FRAME_TYPE_READY, EMPTY);
  }

  /** Forget the close handler (a connect helper hands the connection to its owner). */
  protected detachCloseHandler(): void {
    this.closeHandler = undefined;
  }

  private readonly dispatch = (type: number, sessionId: number, payload: Uint8Array): void => {
    if (!this.open) return;
    if (type >= FRAME_TYPE_RESERVED_MIN) {
      this.control(type, sessionId, payload);
      return;
    }
    if (payload.byteLength > this.maxPayload) {
      // only reachable between maxPayload and the CLOSE-reason allowance
      this.protocolError(
        'closedOversize',
        `frame payload of ${payload.byteLength} bytes exceeds ${this.maxPayload}`,
      );
      return;
    }
    this.stats.framesReceived++;
    if (this.frameHandler && this.held.length === 0 && !this.ownerPaused) {
      this.callHandler(this.frameHandler, type, sessionId, payload);
      return;
    }
    this.held.push({ type, sessionId, payload });
    // nothing more is read until the owner takes these: TCP flow control bounds the backlog
    this.pauseReading();
    if (this.frameHandler) this.scheduleFlush();
  };

  private control(type: number, sessionId: number, payload: Uint8Array): void {
    if (type === FRAME_TYPE_CLOSE && sessionId === 0 && payload.byteLength <= MAX_CLOSE_REASON_BYTES) {
      let reason: string;
      try {
        reason = textDecoder.decode(payload);
      } catch {
        this.protocolError('closedInvalid', 'close reason is not UTF-8');
        return;
      }
      this.transportClosed(reason ? `peer closed: ${reason}` : 'peer closed');
      void this.shutdownOnce();
      return;
    }
    if (type === FRAME_TYPE_READY && sessionId === 0 && payload.byteLength === 0 && this.handleReady())
      return;
    this.protocolError('closedInvalid', `unexpected control frame 0x${type.toString(16)}`);
  }

  private protocolError(counter: 'closedOversize' | 'closedInvalid', message: string): void {
    if (!this.open) return;
    this.stats[counter]++;
    this.protocolErrorListener?.();
    const reason = `protocol error: ${message}`;
    this.writeControl(FRAME_TYPE_CLOSE, encodeReason(reason));
    this.transportClosed(reason);
    void this.shutdownOnce();
  }

  private writeControl(type: number, payload: Uint8Array): void {
    if (!this.canWrite()) return;
    const bytes = encodeFrame(type, 0, payload, MAX_CLOSE_REASON_BYTES);
    this.writeBytes(bytes);
    this.stats.bytesSent += bytes.byteLength;
  }

  private shutdownOnce(): Promise<void> {
    if (!this.shutdownPromise) {
      this.shutdownPromise = this.shutdownStream().then(() => this.finished());
    }
    return this.shutdownPromise;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.held.length > 0 && this.frameHandler && !this.closedByOwner && !this.ownerPaused) {
      const frame = this.held.shift()!;
      this.callHandler(this.frameHandler, frame.type, frame.sessionId, frame.payload);
    }
    if (this.held.length > 0 || this.closedByOwner || this.ownerPaused) return;
    if (this.pendingClose !== undefined) {
      if (!this.closeHandler) return;
      const reason = this.pendingClose;
      this.pendingClose = undefined;
      this.callHandler(this.closeHandler, reason);
      return;
    }
    if (this.open) this.resumeReading();
  }

  // biome-ignore lint/suspicious/noExplicitAny: forwards whatever the handler takes
  private callHandler<A extends any[]>(handler: (...args: A) => void, ...args: A): void {
    try {
      handler(...args);
    } catch (error) {
      this.stats.handlerErrors++;
      console.error(`baton: stream ${this.id} handler threw`, error);
    }
  }
}
