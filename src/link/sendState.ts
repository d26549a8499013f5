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

/** An unreliable (or sequenced-unreliable) message waiting for the next flush. */
export interface UnreliableItem {
  readonly payload: Uint8Array;
  readonly id: number;
  readonly size: number;
}

/** Send side of one channel. */
export class SendChannel {
  nextId = 0;
  /** Reliable: messages in id order from the oldest not yet released (its id is the window base). */
  readonly window = new Fifo<OutMessage>();
  /** Reliable: units never sent yet, in id order. */
  readonly unsent = new Fifo<OutUnit>();
  /** Unreliable modes: messages for the next flush. */
  readonly unreliable = new Fifo<UnreliableItem>();

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
