import { DecodeError } from '../serde/DecodeError.js';

/**
 * Byte layout of link packets (docs/wire/link.md is the normative description, held by
 * golden-byte tests). Everything is byte-aligned and little-endian: the hot path reads and
 * writes plain bytes, no bit cursor.
 */

/** First byte of every link packet. 0x00..0x3F is the link's range; 0x40..0xFF is the session's. */
export const PacketType = {
  /** Header followed by zero or more messages. With zero messages it is a pure acknowledgement. */
  Data: 0x01,
  /** Header only; asks the peer to answer (with at least an ack) so RTT stays measured when idle. */
  Heartbeat: 0x02,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** True when a datagram's first byte belongs to the link layer (0x00..0x3F). */
export function isLinkPacket(firstByte: number): boolean {
  return Number.isInteger(firstByte) && firstByte >= 0 && firstByte <= 0x3f;
}

/** type u8, sequence u16, ack u16, ack bits u32. */
export const PACKET_HEADER_BYTES = 9;
/** Worst-case message header: channel 1 + id 2 + tick 4 + length 3 + fragment index 3 + count 3. */
export const MAX_MESSAGE_HEADER_BYTES = 16;
export const MIN_MTU = 64;
export const MAX_MTU = 65507;
/** Non-final fragments carry at least this many bytes, which bounds the fragment count a peer can claim. */
export const MIN_FRAGMENT_BYTES = 32;
/** Bookkeeping bytes charged per fragment slot of a reassembly (sender and receiver agree on it). */
export const FRAGMENT_SLOT_CHARGE = 8;
/** Reliable message ids in flight per channel; far below 2^15 so 16-bit ids compare safely. */
export const RELIABLE_WINDOW = 1024;
/** Packet sequences remembered for de-duplication and acks. */
export const PACKET_WINDOW = 1024;

/** Internal mode codes (the wire never carries a mode: both peers share the channel list). */
export const MODE_UNRELIABLE = 0;
export const MODE_SEQUENCED_UNRELIABLE = 1;
export const MODE_UNORDERED_RELIABLE = 2;
export const MODE_ORDERED_RELIABLE = 3;
export const MODE_SEQUENCED_RELIABLE = 4;
export const MODE_TICK_BUFFERED = 5;

/** Modes at or above this code are reliable (message id + length/fragment flag). */
export const FIRST_RELIABLE_MODE = MODE_UNORDERED_RELIABLE;

export const MODE_CODES = {
  unreliable: MODE_UNRELIABLE,
  'sequenced-unreliable': MODE_SEQUENCED_UNRELIABLE,
  'unordered-reliable': MODE_UNORDERED_RELIABLE,
  'ordered-reliable': MODE_ORDERED_RELIABLE,
  'sequenced-reliable': MODE_SEQUENCED_RELIABLE,
  'tick-buffered': MODE_TICK_BUFFERED,
} as const;

/** Bytes of a link varuint (7 bits per byte, at most 3 bytes: values below 2^21). */
function varuintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : 3;
}

/** Writes `v` (< 2^21) at `pos`, returns the new position. */
export function writeVaruint(buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** Encoded size of one message or fragment on a channel of `mode`. */
export function messageSize(
  mode: number,
  payloadLength: number,
  fragIndex: number,
  fragCount: number,
): number {
  let size = 1 + payloadLength;
  if (mode === MODE_UNRELIABLE) return size + varuintSize(payloadLength);
  size += 2;
  if (mode === MODE_SEQUENCED_UNRELIABLE) return size + varuintSize(payloadLength);
  if (mode === MODE_TICK_BUFFERED) size += 4;
  if (fragCount > 1) {
    return size + varuintSize(payloadLength * 2 + 1) + varuintSize(fragIndex) + varuintSize(fragCount);
  }
  return size + varuintSize(payloadLength * 2);
}

/** Limits a receiver enforces while parsing (its own options). */
export interface ParseLimits {
  readonly maxPacketBytes: number;
  readonly maxMessageBytes: number;
  readonly maxFragments: number;
}

/**
 * One parsed packet, as parallel arrays so parsing allocates nothing. Offsets point into the
 * packet passed to {@link parsePacket}; nothing is copied until a message is accepted.
 */
export class ParsedPacket {
  type = 0;
  sequence = 0;
  ack = 0;
  ackBits = 0;
  count = 0;
  channel: Uint8Array;
  id: Uint16Array;
  tick: Uint32Array;
  fragIndex: Uint32Array;
  /** 0 for an unfragmented message. */
  fragCount: Uint32Array;
  offset: Uint32Array;
  length: Uint32Array;

  constructor(maxPacketBytes: number) {
    // the smallest message (unreliable, empty) is 2 bytes
    const capacity = Math.ceil(maxPacketBytes / 2) + 1;
    this.channel = new Uint8Array(capacity);
    this.id = new Uint16Array(capacity);
    this.tick = new Uint32Array(capacity);
    this.fragIndex = new Uint32Array(capacity);
    this.fragCount = new Uint32Array(capacity);
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
  }
}

function readVaruint(buf: Uint8Array, pos: number, end: number, out: { pos: number }): number {
  let value = 0;
  let shift = 0;
  for (let group = 0; group < 3; group++) {
    if (pos >= end) throw new DecodeError('truncated', 'varuint runs past the packet');
    const byte = buf[pos++];
    value |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) {
      if (group > 0 && byte === 0) throw new DecodeError('invalid', 'non-minimal varuint');
      out.pos = pos;
      return value;
    }
    shift += 7;
  }
  throw new DecodeError('overflow', 'link varuint longer than 3 bytes');
}

const cursor = { pos: 0 };

/**
 * Structural validation and parse of one packet — everything that can be checked without the
 * connection's state. Throws {@link DecodeError}; writes only into `out`.
 *
 * @param modes mode code per channel index
 * @param receivable 1 where this side may receive on the channel (direction), else 0
 */
export function parsePacket(
  buf: Uint8Array,
  modes: Uint8Array,
  receivable: Uint8Array,
  limits: ParseLimits,
  out: ParsedPacket,
): void {
  const end = buf.length;
  if (end < 1) throw new DecodeError('truncated', 'empty packet');
  const type = buf[0];
  if (type !== PacketType.Data && type !== PacketType.Heartbeat) {
    throw new DecodeError(
      type <= 0x3f ? 'out-of-range' : 'invalid',
      type <= 0x3f ? `unknown link packet type 0x${type.toString(16)}` : 'not a link packet',
    );
  }
  if (end < PACKET_HEADER_BYTES)
    throw new DecodeError('truncated', `packet of ${end} bytes has no full header`);
  if (end > limits.maxPacketBytes) {
    throw new DecodeError('too-long', `packet of ${end} bytes exceeds mtu ${limits.maxPacketBytes}`);
  }
  out.type = type;
  out.sequence = buf[1] | (buf[2] << 8);
  out.ack = buf[3] | (buf[4] << 8);
  out.ackBits = (buf[5] | (buf[6] << 8) | (buf[7] << 16) | (buf[8] << 24)) >>> 0;
  if (type === PacketType.Heartbeat && end !== PACKET_HEADER_BYTES) {
    throw new DecodeError('trailing', 'heartbeat carries no messages');
  }
  const channelCount = modes.length;
  const { maxMessageBytes, maxFragments } = limits;
  let pos = PACKET_HEADER_BYTES;
  let n = 0;
  while (pos < end) {
    const channel = buf[pos++];
    if (channel >= channelCount) throw new DecodeError('out-of-range', `channel ${channel} does not exist`);
    if (receivable[channel] === 0)
      throw new DecodeError('invalid', `channel ${channel} is not open in this direction`);
    const mode = modes[channel];
    let id = 0;
    let tick = 0;
    if (mode !== MODE_UNRELIABLE) {
      if (pos + 2 > end) throw new DecodeError('truncated', 'message id');
      id = buf[pos] | (buf[pos + 1] << 8);
      pos += 2;
    }
    if (mode === MODE_TICK_BUFFERED) {
      if (pos + 4 > end) throw new DecodeError('truncated', 'tick');
      tick = (buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)) >>> 0;
      pos += 4;
    }
    let length = readVaruint(buf, pos, end, cursor);
    pos = cursor.pos;
    let fragIndex = 0;
    let fragCount = 0;
    if (mode >= FIRST_RELIABLE_MODE) {
      const fragmented = (length & 1) === 1;
      length >>>= 1;
      if (fragmented) {
        fragIndex = readVaruint(buf, pos, end, cursor);
        fragCount = readVaruint(buf, cursor.pos, end, cursor);
        pos = cursor.pos;
        if (fragCount < 2 || fragCount > maxFragments) {
          throw new DecodeError('out-of-range', `fragment count ${fragCount} outside [2, ${maxFragments}]`);
        }
        if (fragIndex >= fragCount) throw new DecodeError('out-of-range', 'fragment index beyond count');
        if (fragIndex < fragCount - 1) {
          if (length < MIN_FRAGMENT_BYTES) throw new DecodeError('invalid', 'non-final fragment too short');
          if ((fragCount - 1) * length + 1 > maxMessageBytes) {
            throw new DecodeError('too-long', `fragmented message exceeds ${maxMessageBytes} bytes`);
          }
        } else if (length < 1 || (fragCount - 1) * MIN_FRAGMENT_BYTES + length > maxMessageBytes) {
          throw new DecodeError('invalid', 'bad final fragment length');
        }
      }
    }
    if (length > maxMessageBytes) throw new DecodeError('too-long', `message of ${length} bytes`);
    if (pos + length > end) throw new DecodeError('truncated', 'message payload');
    out.channel[n] = channel;
    out.id[n] = id;
    out.tick[n] = tick;
    out.fragIndex[n] = fragIndex;
    out.fragCount[n] = fragCount;
    out.offset[n] = pos;
    out.length[n] = length;
    n++;
    pos += length;
  }
  out.count = n;
}
