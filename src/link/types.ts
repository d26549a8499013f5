import type { ReceiveBudget } from './ReceiveBudget.js';

/**
 * Layer 2 contracts: the packet layer on one datagram hop. The implementation lives in
 * `LinkConnection.ts`; it is re-exported here so code written against `link/types.js` finds
 * every name of the contract in one place.
 */

/** How a channel delivers its messages. See docs/wire/link.md for the guarantees of each. */
export type ChannelMode =
  | 'unreliable'
  | 'sequenced-unreliable'
  | 'unordered-reliable'
  | 'ordered-reliable'
  | 'sequenced-reliable'
  | 'tick-buffered';

export interface ChannelConfig {
  readonly mode: ChannelMode;
  /** default 'both'; tick-buffered is always client-to-server */
  readonly direction?: 'both' | 'client-to-server' | 'server-to-client';
  /** higher first when the bandwidth budget cannot send everything; default 1 */
  readonly priority?: number;
}

/**
 * Per-connection tuning. Both peers of a link must use the same `mtu`, `maxMessageBytes` and
 * `maxPendingBytes` (they come from the shared protocol): the receiver enforces its own values
 * as bounds on what the sender may claim.
 */
export interface LinkOptions {
  /** Max packet bytes, default 1200 (64..65507). Packets longer than this are rejected on receive. */
  mtu?: number;
  /** Default 1000: send a packet (with acks) if nothing else went out for this long. */
  heartbeatIntervalMs?: number;
  /** Default 10000 without any valid packet from the peer → `timedOut`. */
  timeoutMs?: number;
  /** Token bucket per connection; default 1 MiB/s. */
  bandwidthBytesPerSecond?: number;
  /** Bucket depth (largest burst); default max(2 × mtu, bandwidth / 10). */
  bandwidthBurstBytes?: number;
  /**
   * Default 256 KiB. Larger reliable messages are fragmented; a message bigger than this →
   * EncodeError on send, and a peer claiming more → DecodeError.
   */
  maxMessageBytes?: number;
  /**
   * Bound on reliable bytes per connection (default 4 MiB): on the send side queued +
   * unacknowledged (+ acknowledged but held behind an unacknowledged one) — `send()` beyond it
   * throws `LinkBackpressureError`; on the receive side bytes held for reordering and
   * reassembly — a packet that would exceed it is rejected with `DecodeError`.
   */
  maxPendingBytes?: number;
  /** How far ahead of the server tick a tick-buffered message may be (default 64). */
  tickBufferTicks?: number;
  /**
   * The memory budget shared with other links for receive-side buffers (default: one budget per
   * process, `processReceiveBudget()`, 64 MiB). Over it, the link holding the most is evicted
   * (`evicted` becomes true; its owner closes it).
   */
  receiveBudget?: ReceiveBudget;
}

/** Counters for one connection. All monotonic. */
export interface LinkStats {
  /** Packets handed to `send` (data, ack-only and heartbeat packets). */
  packetsSent: number;
  /** Packets accepted by `receive` (duplicates, stale and malformed ones excluded). */
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Messages accepted by `send()`. */
  messagesSent: number;
  /** Messages delivered (`onMessage` or into the tick buffer). */
  messagesReceived: number;
  /** Reliable messages or fragments written again after their packet was judged lost. */
  messagesResent: number;
  /** Unreliable messages discarded because the flush could not fit them (MTU/budget). */
  messagesDropped: number;
  /** Malformed or bound-violating packets rejected with DecodeError. */
  packetsDropped: number;
  /** Packets ignored because that sequence was already received. */
  packetsDuplicate: number;
  /** Packets ignored because they were older than the 1024-packet receive window. */
  packetsStale: number;
  /** Ack-eliciting packets sent by us that were judged lost. */
  packetsLost: number;
  /** Heartbeat packets sent. */
  heartbeatsSent: number;
  /** Packets sent only to carry acknowledgements. */
  ackPacketsSent: number;
  /** Tick-buffered messages discarded: too far in the future, or the tick buffer was full. */
  tickMessagesDropped: number;
}

export { LinkConnection, type LinkConnectionArgs, type TickMessage } from './LinkConnection.js';
export { isLinkPacket, PacketType } from './wire.js';
