import { Fifo } from './Fifo.js';

/** One reliable message queued or in flight: the unit of ordering, windowing and backpressure. */
export class OutMessage {
  acked = false;
  /** Sequenced-reliable only: superseded by a newer message, never sent again. */
  abandoned = false;
  /** Packet (by build counter) that last carried a unit of this message: one fragment per packet. */
  packetStamp = 0;
  /** Units (fragments) not yet acknowledged. */
  unacked: number;

  constructor(
    readonly channel: number,
    readonly id: number,
    readonly tick: number,
    /** Bytes counted against `maxPendingBytes` (payload + fragment slot charge). */
    readonly charge: number,
    unitCount: number,
  ) {
    this.unacked = unitCount;
  }
}

/** One reliable message or one fragment of it: what a packet carries and an ack releases. */
export class OutUnit {
  acked = false;
  resendQueued = false;
  /** Sequence of the last packet that carried this unit; only that packet's loss triggers a resend. */
  lastSeq = -1;
  sends = 0;

  constructor(
    readonly msg: OutMessage,
    readonly payload: Uint8Array,
    readonly fragIndex: number,
    /** 0 when the message is not fragmented. */
    readonly fragCount: number,
    /** Encoded bytes in a packet. */
    readonly size: number,
  ) {}
}

const NO_BYTES = new Uint8Array(0);
/** Staging bigger than this is released when the queue empties, so a burst does not pin memory. */
const KEEP_STAGING_BYTES = 64 * 1024;
const KEEP_STAGING_ENTRIES = 4096;
/** Below this many bytes a plain loop beats creating a subarray view for `set`. */
const SMALL_COPY = 64;

/**
 * Unreliable (and sequenced-unreliable) messages waiting for the next flush. Payloads are copied
 * once into one staging buffer and described by parallel arrays, so queueing a message allocates
 * no per-message object or buffer; the queue lives for one flush.
 */
class UnreliableQueue {
  private bytes: Uint8Array = NO_BYTES;
  private used = 0;
  private head = 0;
  private count = 0;
  private readonly offsets: number[] = [];
  private readonly lengths: number[] = [];
  private readonly ids: number[] = [];
  private readonly sizes: number[] = [];

  get size(): number {
    return this.count - this.head;
  }

  /** Queue a copy of `payload` with its message id and encoded size. */
  push(payload: Uint8Array, id: number, size: number): void {
    const length = payload.length;
    const need = this.used + length;
    if (need > this.bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.bytes.length * 2, 2048));
      if (this.used > 0) grown.set(this.bytes.subarray(0, this.used));
      this.bytes = grown;
    }
    copyBytes(payload, 0, length, this.bytes, this.used);
    // parallel arrays reused across flushes (written by index, never shrunk by a length reset)
    const n = this.count++;
    this.offsets[n] = this.used;
    this.lengths[n] = length;
    this.ids[n] = id;
    this.sizes[n] = size;
    this.used = need;
  }

  /** Encoded size of the oldest message; only valid when size > 0. */
  peekSize(): number {
    return this.sizes[this.head];
  }

  peekId(): number {
    return this.ids[this.head];
  }

  peekLength(): number {
    return this.lengths[this.head];
  }

  /** Copies the oldest message's payload into `dst` at `pos`; only valid when size > 0. */
  copyPeekTo(dst: Uint8Array, pos: number): void {
    copyBytes(this.bytes, this.offsets[this.head], this.lengths[this.head], dst, pos);
  }

  shift(): void {
    this.head++;
    if (this.head === this.count) this.clear();
  }

  clear(): void {
    this.count = 0;
    this.head = 0;
    this.used = 0;
    if (this.bytes.length > KEEP_STAGING_BYTES) this.bytes = NO_BYTES;
    if (this.offsets.length > KEEP_STAGING_ENTRIES) {
      this.offsets.length = 0;
      this.lengths.length = 0;
      this.ids.length = 0;
      this.sizes.length = 0;
    }
  }
}

/** `dst.set(src.subarray(from, from + length), pos)` without a view for short copies. */
export function copyBytes(src: Uint8Array, from: number, length: number, dst: Uint8Array, pos: number): void {
  if (length <= SMALL_COPY) {
    for (let k = 0; k < length; k++) dst[pos + k] = src[from + k];
  } else if (from === 0 && length === src.length) {
    dst.set(src, pos);
  } else {
    dst.set(src.subarray(from, from + length), pos);
  }
}

/** Send side of one channel. */
export class SendChannel {
  nextId = 0;
  /** Reliable: messages in id order from the oldest not yet released (its id is the window base). */
  readonly window = new Fifo<OutMessage>();
  /** Reliable: units never sent yet, in id order. */
  readonly unsent = new Fifo<OutUnit>();
  /** Unreliable modes: messages for the next flush. */
  readonly unreliable = new UnreliableQueue();

  constructor(
    readonly index: number,
    readonly mode: number,
    readonly priority: number,
    readonly canSend: boolean,
    readonly reliable: boolean,
  ) {}

  /** Lowest id the receiver may still be waiting for: the base of the sliding window. */
  get baseId(): number {
    return this.window.size > 0 ? this.window.peek().id : this.nextId;
  }
}

/** What the sender remembers about one packet it sent. */
export class SentRecord {
  seq = -1;
  /** 0 empty, 1 in flight, 2 acked, 3 judged lost (a late ack still releases its units). */
  state = 0;
  sentAt = 0;
  /** Carried messages or was a heartbeat: the peer acks it promptly, so its ack is an RTT sample. */
  eliciting = false;
  readonly units: OutUnit[] = [];
}
export const RECORD_EMPTY = 0;
export const RECORD_IN_FLIGHT = 1;
export const RECORD_ACKED = 2;
export const RECORD_LOST = 3;
