import { DecodeError, EncodeError } from '../serde/DecodeError.js';
import type { Clock } from '../util/Clock.js';
import { LinkBackpressureError, LinkUsageError } from './errors.js';
import { Fifo } from './Fifo.js';
import { processReceiveBudget, type ReceiveBudget } from './ReceiveBudget.js';
import { RttEstimator } from './RttEstimator.js';
import { Partial, RecvChannel } from './receiveState.js';
import {
  copyBytes,
  OutMessage,
  OutUnit,
  RECORD_ACKED,
  RECORD_EMPTY,
  RECORD_IN_FLIGHT,
  RECORD_LOST,
  SendChannel,
  SentRecord,
} from './sendState.js';
import { sequenceDiff, sequenceGreaterThan } from './sequence.js';
import { TokenBucket } from './TokenBucket.js';
import type { ChannelConfig, LinkOptions, LinkStats } from './types.js';
import {
  FIRST_RELIABLE_MODE,
  FRAGMENT_SLOT_CHARGE,
  MAX_MESSAGE_HEADER_BYTES,
  MAX_MTU,
  MIN_FRAGMENT_BYTES,
  MIN_MTU,
  MODE_CODES,
  MODE_ORDERED_RELIABLE,
  MODE_SEQUENCED_RELIABLE,
  MODE_SEQUENCED_UNRELIABLE,
  MODE_TICK_BUFFERED,
  MODE_UNRELIABLE,
  messageSize,
  PACKET_HEADER_BYTES,
  PACKET_WINDOW,
  PacketType,
  ParsedPacket,
  type ParseLimits,
  parsePacket,
  RELIABLE_WINDOW,
  writeVaruint,
} from './wire.js';

export interface LinkConnectionArgs {
  channels: readonly ChannelConfig[];
  role: 'client' | 'server';
  send: (packet: Uint8Array) => void;
  clock: Clock;
  options?: LinkOptions;
}

/** A tick-buffered message as the server takes it. */
export interface TickMessage {
  channel: number;
  tick: number;
  payload: Uint8Array;
}

const PACKET_MASK = PACKET_WINDOW - 1;
const WINDOW_MASK = RELIABLE_WINDOW - 1;
/** A packet is lost once this many later packets were acknowledged (QUIC's packet threshold). */
const PACKET_LOSS_THRESHOLD = 3;
/** Bound on tick-buffered messages held by the server (bytes are bounded by maxPendingBytes). */
const MAX_TICK_MESSAGES = 8192;
/** Ack-only packets one flush may send to report a burst (32 sequences each). */
const MAX_ACK_PACKETS_PER_FLUSH = 64;

const ACCEPT = 0;
const DUPLICATE = 1;
const STALE = 2;

/**
 * One parse target per MTU, shared by every connection: a packet is parsed and applied in one
 * synchronous `receive` (deliveries run after it is applied), so no two connections ever hold
 * it at once, and a server with many links does not keep ~12 bytes × MTU of arrays per link.
 */
const parsedByMtu = new Map<number, ParsedPacket>();
function sharedParsedPacket(mtu: number): ParsedPacket {
  let p = parsedByMtu.get(mtu);
  if (p === undefined) {
    p = new ParsedPacket(mtu);
    parsedByMtu.set(mtu, p);
  }
  return p;
}

/**
 * Packets are written straight into a slab shared by every connection and handed out as views
 * of it, so building a packet neither copies it nor allocates a buffer of its own. A slab region
 * is never written again once handed out, so an owner may keep a packet as long as it likes
 * (a kept packet keeps its slab alive, as pooled Buffers do in node).
 */
const SLAB_BYTES = 32 * 1024;
/** Above this MTU a slab would hold few packets and a kept packet would pin far more than itself. */
const MAX_SLAB_MTU = SLAB_BYTES / 8;
const NO_PACKET = new Uint8Array(0);
const slab = { bytes: new Uint8Array(0), pos: 0 };

/**
 * Claims `mtu` bytes for one packet and returns where they start in `slab.bytes`. The whole MTU
 * is claimed up front so a connection flushed from inside another's send callback never writes
 * into a packet still being built.
 */
function claimPacketRegion(mtu: number): number {
  if (slab.bytes.length - slab.pos < mtu) {
    slab.bytes = new Uint8Array(Math.max(SLAB_BYTES, mtu));
    slab.pos = 0;
  }
  const start = slab.pos;
  slab.pos += mtu;
  return start;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value > 0) || !Number.isFinite(value)) throw new LinkUsageError(`${name} must be a positive number`);
  return value;
}

/**
 * One end of a link: the packet layer over a single datagram hop (DESIGN §1, layer 2).
 *
 * Nothing here does I/O or reads time by itself: the owner feeds packets to {@link receive},
 * calls {@link flush} once per tick (or more), and the connection hands finished packets to the
 * `send` callback. Wire layout and guarantees: docs/wire/link.md.
 */
export class LinkConnection {
  /** Delivery callback for every channel except tick-buffered (set by the owner). */
  onMessage: (channel: number, payload: Uint8Array) => void = () => {};
  readonly stats: LinkStats = {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    messagesResent: 0,
    messagesDropped: 0,
    packetsDropped: 0,
    packetsDuplicate: 0,
    packetsStale: 0,
    packetsLost: 0,
    heartbeatsSent: 0,
    ackPacketsSent: 0,
    tickMessagesDropped: 0,
  };
  readonly role: 'client' | 'server';

  private readonly clock: Clock;
  private readonly sendPacket: (packet: Uint8Array) => void;
  private readonly mtu: number;
  private readonly heartbeatMs: number;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly maxPendingBytes: number;
  private readonly tickBufferTicks: number;
  /** Payload bytes per fragment: a fragment with the largest message header fills one packet. */
  private readonly fragmentBytes: number;
  private readonly limits: ParseLimits;

  private readonly modes: Uint8Array;
  private readonly receivable: Uint8Array;
  private readonly sendChannels: SendChannel[];
  /** Channels this side may send on, highest priority first (ties: lower index first). */
  private readonly sendOrder: SendChannel[];
  private readonly recvChannels: RecvChannel[];

  // --- sending
  /**
   * The slab holding the packet being built, which occupies `[outStart, outStart + mtu)` of it
   * (see {@link claimPacketRegion}); `outPos` is the write position in the slab.
   */
  private out: Uint8Array;
  private outPos = 0;
  private outStart = 0;
  /** Packet buffer of a connection whose MTU is too large for the shared slab. */
  private privateOut: Uint8Array | undefined = undefined;
  private nextSeq = 0;
  /** Ring of sent-packet records, created as sequences first reach a slot (idle links stay small). */
  private readonly sent: (SentRecord | undefined)[];
  private current: SentRecord;
  /** Oldest sequence whose packet is not yet known acked or lost (== nextSeq when none). */
  private oldestUnresolved = 0;
  private newestAcked = -1;
  private readonly resendQueue = new Fifo<OutUnit>();
  private pending = 0;
  private lastSendAt: number;
  private readonly rtt = new RttEstimator();
  private readonly bucket: TokenBucket;
  private flushing = false;
  /** Counts packets built, so a packet never carries two fragments of one message. */
  private packetStamp = 0;

  // --- receiving
  private remoteSeq = -1;
  private readonly recvRing: Int32Array;
  /** Received ack-eliciting sequences not yet covered by an ack we sent. */
  private readonly unreported: Int32Array;
  /** Entries of `unreported` that are set; they are always within the packet window. */
  private unreportedCount = 0;
  private pickedBits = 0;
  private lastReceiveAt: number;
  private recvBuffered = 0;
  /** What the shared budget counts for this link (synced with `recvBuffered` after each packet). */
  private budgetHeld = 0;
  private readonly budget: ReceiveBudget;
  private evictedForBudget = false;
  private readonly parsed: ParsedPacket;
  private readonly seenKeys = new Set<number>();
  private stamp = 0;
  private readonly deliveryChannels: number[] = [];
  private readonly deliveryPayloads: Uint8Array[] = [];
  private delivering = false;

  // --- tick buffer (server)
  private tickBuffer: TickMessage[] = [];
  private tickBytes = 0;
  private lastTakenTick = -1;

  constructor(args: LinkConnectionArgs) {
    const { channels, role, send, clock } = args;
    const options = args.options ?? {};
    this.role = role;
    this.clock = clock;
    this.sendPacket = send;

    const mtu = options.mtu ?? 1200;
    if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
      throw new LinkUsageError(`mtu must be an integer in [${MIN_MTU}, ${MAX_MTU}]`);
    }
    this.mtu = mtu;
    this.heartbeatMs = positive('heartbeatIntervalMs', options.heartbeatIntervalMs, 1000);
    this.timeoutMs = positive('timeoutMs', options.timeoutMs, 10_000);
    this.maxMessageBytes = Math.floor(positive('maxMessageBytes', options.maxMessageBytes, 256 * 1024));
    this.maxPendingBytes = positive('maxPendingBytes', options.maxPendingBytes, 4 * 1024 * 1024);
    this.tickBufferTicks = positive('tickBufferTicks', options.tickBufferTicks, 64);
    const rate = positive('bandwidthBytesPerSecond', options.bandwidthBytesPerSecond, 1024 * 1024);
    const burst = positive('bandwidthBurstBytes', options.bandwidthBurstBytes, Math.max(2 * mtu, rate / 10));
    this.fragmentBytes = mtu - PACKET_HEADER_BYTES - MAX_MESSAGE_HEADER_BYTES;
    this.limits = {
      maxPacketBytes: mtu,
      maxMessageBytes: this.maxMessageBytes,
      maxFragments: Math.ceil(this.maxMessageBytes / MIN_FRAGMENT_BYTES),
    };

    if (channels.length > 255) throw new LinkUsageError('at most 255 channels');
    this.modes = new Uint8Array(channels.length);
    this.receivable = new Uint8Array(channels.length);
    this.sendChannels = [];
    this.recvChannels = [];
    channels.forEach((config, index) => {
      const mode = MODE_CODES[config.mode];
      if (mode === undefined) throw new LinkUsageError(`channel ${index}: unknown mode '${config.mode}'`);
      let direction = config.direction ?? 'both';
      if (mode === MODE_TICK_BUFFERED) {
        if (config.direction !== undefined && config.direction !== 'client-to-server') {
          throw new LinkUsageError(`channel ${index}: tick-buffered channels are client-to-server`);
        }
        direction = 'client-to-server';
      }
      const mine = role === 'client' ? 'client-to-server' : 'server-to-client';
      const theirs = role === 'client' ? 'server-to-client' : 'client-to-server';
      const priority = config.priority ?? 1;
      if (!Number.isFinite(priority)) throw new LinkUsageError(`channel ${index}: priority must be finite`);
      this.modes[index] = mode;
      this.receivable[index] = direction === 'both' || direction === theirs ? 1 : 0;
      this.sendChannels.push(
        new SendChannel(
          index,
          mode,
          priority,
          direction === 'both' || direction === mine,
          mode >= FIRST_RELIABLE_MODE,
        ),
      );
      this.recvChannels.push(new RecvChannel(mode));
    });
    this.sendOrder = this.sendChannels
      .filter((c) => c.canSend)
      .sort((a, b) => b.priority - a.priority || a.index - b.index);

    this.out = NO_PACKET;
    this.sent = new Array<SentRecord | undefined>(PACKET_WINDOW).fill(undefined);
    this.current = new SentRecord();
    this.sent[0] = this.current;
    this.recvRing = new Int32Array(PACKET_WINDOW).fill(-1);
    this.unreported = new Int32Array(PACKET_WINDOW).fill(-1);
    this.parsed = sharedParsedPacket(mtu);
    const now = clock.now();
    this.lastSendAt = now;
    this.lastReceiveAt = now;
    this.bucket = new TokenBucket(rate, burst, now);
    this.budget = options.receiveBudget ?? processReceiveBudget();
  }

  /**
   * The shared receive budget evicted this link (it held the most when the process ran out):
   * its buffers are gone and it accepts no more packets. The owner should close it with a reason.
   */
  get evicted(): boolean {
    return this.evictedForBudget;
  }

  /** Called by the {@link ReceiveBudget}: give up every buffered byte and stop receiving. */
  evictForBudget(): void {
    this.evictedForBudget = true;
    this.releaseReceiveBuffers();
  }

  /** The owner is done with this link: release what it holds of the shared receive budget. */
  close(): void {
    this.releaseReceiveBuffers();
  }

  private releaseReceiveBuffers(): void {
    for (const rc of this.recvChannels) {
      rc.partials.clear();
      rc.seqPartial = undefined;
      rc.buffered.fill(undefined);
    }
    this.recvBuffered = 0;
    if (this.budgetHeld !== 0) {
      this.budgetHeld = 0;
      this.budget.set(this, 0);
    }
  }

  /** Smoothed RTT estimate in ms (RFC 6298 style); 100 before the first sample. */
  get rttMs(): number {
    return this.rtt.rttMs;
  }

  /** No valid packet from the peer within `timeoutMs`. */
  get timedOut(): boolean {
    return this.clock.now() - this.lastReceiveAt > this.timeoutMs;
  }

  /** Reliable bytes counted against `maxPendingBytes` on the send side (0 = everything acknowledged). */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Bytes held on the receive side for reordering and reassembly (bounded by `maxPendingBytes`). */
  get receiveBufferedBytes(): number {
    return this.recvBuffered;
  }

  /** Tick-buffered messages held for `takeTickMessages`. */
  get tickBufferedMessages(): number {
    return this.tickBuffer.length;
  }

  /** Largest payload `send` accepts on an unreliable or sequenced-unreliable channel (one packet). */
  maxUnfragmentedPayload(channel: number): number {
    const mode = this.channelFor(channel).mode;
    let length = this.mtu - PACKET_HEADER_BYTES;
    while (length > 0 && messageSize(mode, length, 0, 0) > this.mtu - PACKET_HEADER_BYTES) length--;
    return length;
  }

  private channelFor(channel: number): SendChannel {
    const ch = this.sendChannels[channel];
    if (ch === undefined) throw new LinkUsageError(`channel ${channel} does not exist`);
    return ch;
  }

  /**
   * Queue one message on a channel (tick: required for tick-buffered). The payload is copied.
   * Throws EncodeError for a message larger than `maxMessageBytes` (or, on an unreliable mode,
   * larger than one packet), LinkBackpressureError when the reliable backlog is full, and
   * LinkUsageError for an unknown channel or one closed in this direction.
   */
  send(channel: number, payload: Uint8Array, tick?: number): void {
    const ch = this.channelFor(channel);
    if (!ch.canSend) throw new LinkUsageError(`channel ${channel} does not send from the ${this.role}`);
    const length = payload.length;
    if (length > this.maxMessageBytes) {
      throw new EncodeError(`message of ${length} bytes exceeds maxMessageBytes ${this.maxMessageBytes}`);
    }
    const mode = ch.mode;
    let messageTick = 0;
    if (mode === MODE_TICK_BUFFERED) {
      if (tick === undefined || !Number.isInteger(tick) || tick < 0 || tick > 0xffffffff) {
        throw new EncodeError(`tick-buffered message needs an integer tick in [0, 2^32), got ${tick}`);
      }
      messageTick = tick;
    }
    const room = this.mtu - PACKET_HEADER_BYTES;
    const single = messageSize(mode, length, 0, 0);
    if (!ch.reliable) {
      if (single > room) {
        throw new EncodeError(
          `unreliable message of ${length} bytes does not fit one packet (max ${this.maxUnfragmentedPayload(channel)})`,
        );
      }
      const id = ch.nextId;
      if (mode === MODE_SEQUENCED_UNRELIABLE) ch.nextId = (id + 1) & 0xffff;
      ch.unreliable.push(payload, id, single);
      this.stats.messagesSent++;
      return;
    }

    const fragCount = single <= room ? 1 : Math.ceil(length / this.fragmentBytes);
    const charge = length + (fragCount > 1 ? fragCount * FRAGMENT_SLOT_CHARGE : 0);
    let freed = 0;
    if (mode === MODE_SEQUENCED_RELIABLE) {
      for (let i = 0; i < ch.window.size; i++) freed += ch.window.at(i).charge;
    }
    if (this.pending - freed + charge > this.maxPendingBytes) {
      throw new LinkBackpressureError(this.pending - freed, charge, this.maxPendingBytes);
    }
    if (mode === MODE_SEQUENCED_RELIABLE && ch.window.size > 0) {
      // a newer message supersedes everything older on a sequenced channel: stop sending it
      while (ch.window.size > 0) ch.window.shift().abandoned = true;
      ch.unsent.clear();
      this.pending -= freed;
    }

    const copy = payload.slice();
    const id = ch.nextId;
    ch.nextId = (id + 1) & 0xffff;
    const msg = new OutMessage(channel, id, messageTick, charge, fragCount);
    if (fragCount === 1) {
      ch.unsent.push(new OutUnit(msg, copy, 0, 0, single));
    } else {
      const size = this.fragmentBytes;
      for (let i = 0; i < fragCount; i++) {
        const part = copy.subarray(i * size, Math.min(length, (i + 1) * size));
        ch.unsent.push(new OutUnit(msg, part, i, fragCount, messageSize(mode, part.length, i, fragCount)));
      }
    }
    ch.window.push(msg);
    this.pending += charge;
    this.stats.messagesSent++;
  }

  /**
   * Pack queued messages into as few packets as fit (MTU, bandwidth budget, priority), resend
   * what was judged lost, send acks and heartbeats. Call once per tick or more.
   */
  flush(): void {
    if (this.flushing) return; // re-entered from the send callback
    this.flushing = true;
    try {
      const now = this.clock.now();
      this.bucket.refill(now);
      this.detectLosses(now);
      let packets = 0;
      for (;;) {
        const cap = Math.min(this.mtu, Math.floor(this.bucket.tokens));
        if (cap < PACKET_HEADER_BYTES + 2) break;
        // at most a ring's worth of data packets in flight: beyond that we could not track acks
        if (((this.nextSeq - this.oldestUnresolved) & 0xffff) >= PACKET_WINDOW) break;
        if (!this.hasQueuedData()) break;
        this.beginPacket();
        if (!this.fillPacket(cap)) {
          this.releasePacketTail(0);
          break;
        }
        this.finishPacket(PacketType.Data, now);
        packets++;
      }
      // unreliable messages live for one flush only
      for (const ch of this.sendOrder) {
        if (ch.unreliable.size > 0) {
          this.stats.messagesDropped += ch.unreliable.size;
          ch.unreliable.clear();
        }
      }
      if (packets === 0 && now - this.lastSendAt >= this.heartbeatMs) {
        this.beginPacket();
        this.finishPacket(PacketType.Heartbeat, now);
        this.stats.heartbeatsSent++;
      }
      for (let i = 0; i < MAX_ACK_PACKETS_PER_FLUSH && this.hasUnreportedAcks(); i++) {
        this.beginPacket();
        this.finishPacket(PacketType.Data, now);
        this.stats.ackPacketsSent++;
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Server side: take the tick-buffered messages for `tick` and any older ones not yet taken. */
  takeTickMessages(tick: number): TickMessage[] {
    const taken: TickMessage[] = [];
    if (this.tickBuffer.length > 0) {
      const keep: TickMessage[] = [];
      for (const m of this.tickBuffer) {
        if (m.tick <= tick) {
          taken.push(m);
          this.tickBytes -= m.payload.length;
        } else {
          keep.push(m);
        }
      }
      this.tickBuffer = keep;
      taken.sort((a, b) => a.tick - b.tick); // stable: arrival order within a tick
    }
    if (tick > this.lastTakenTick) this.lastTakenTick = tick;
    return taken;
  }

  /**
   * Feed one packet from the peer. Throws DecodeError on malformed input or on a packet that
   * would break a receive bound; such a packet leaves the connection's state unchanged (only
   * `stats.packetsDropped` counts it). Duplicate and stale packets are ignored.
   */
  receive(packet: Uint8Array): void {
    const p = this.parsed;
    let verdict: number;
    try {
      if (this.evictedForBudget) throw new DecodeError('invalid', 'link evicted by the receive budget');
      parsePacket(packet, this.modes, this.receivable, this.limits, p);
      verdict = this.classifyPacket(p.sequence);
      if (verdict === ACCEPT) {
        const charge = this.precheckMessages(p);
        if (this.recvBuffered + charge > this.maxPendingBytes) {
          throw new DecodeError('too-long', `receive buffers would exceed ${this.maxPendingBytes} bytes`);
        }
        if (charge > 0 && !this.budget.reserve(this, charge)) {
          throw new DecodeError('too-long', 'process-wide receive budget exhausted: this link held the most');
        }
      }
    } catch (error) {
      if (error instanceof DecodeError) this.stats.packetsDropped++;
      throw error;
    }
    if (verdict === DUPLICATE) {
      this.stats.packetsDuplicate++;
      return;
    }
    if (verdict === STALE) {
      this.stats.packetsStale++;
      return;
    }
    this.applyPacket(p, packet);
    if (this.recvBuffered !== this.budgetHeld) {
      this.budgetHeld = this.recvBuffered;
      this.budget.set(this, this.recvBuffered);
    }
    this.drainDeliveries();
  }

  // ------------------------------------------------------------------ sending internals

  private detectLosses(now: number): void {
    const delay = this.rtt.lossDelayMs;
    while (this.oldestUnresolved !== this.nextSeq) {
      const rec = this.sent[this.oldestUnresolved & PACKET_MASK]!;
      if (rec.state === RECORD_IN_FLIGHT) {
        const late = now - rec.sentAt >= delay;
        let overtaken = false;
        if (this.newestAcked >= 0) {
          const d = sequenceDiff(this.newestAcked, rec.seq);
          overtaken = d >= PACKET_LOSS_THRESHOLD && d < PACKET_WINDOW;
        }
        if (!late && !overtaken) break; // later packets are younger and less overtaken
        this.loseRecord(rec);
      }
      this.oldestUnresolved = (this.oldestUnresolved + 1) & 0xffff;
    }
  }

  private loseRecord(rec: SentRecord): void {
    rec.state = RECORD_LOST;
    // an ack-only packet is acked only if the peer happens to send: its "loss" means nothing
    if (rec.eliciting) this.stats.packetsLost++;
    for (const u of rec.units) {
      // only the newest copy's loss counts: an older copy may be lost while a resend is in flight
      if (!u.acked && !u.msg.abandoned && u.lastSeq === rec.seq && !u.resendQueued) {
        u.resendQueued = true;
        this.resendQueue.push(u);
      }
    }
  }

  private beginPacket(): void {
    if (((this.nextSeq - this.oldestUnresolved) & 0xffff) >= PACKET_WINDOW) {
      // only an ack or heartbeat gets here (data stops at a full ring): its slot is the oldest
      // packet's, which is as good as lost
      const old = this.sent[this.oldestUnresolved & PACKET_MASK];
      if (old !== undefined && old.state === RECORD_IN_FLIGHT) this.loseRecord(old);
      this.oldestUnresolved = (this.oldestUnresolved + 1) & 0xffff;
    }
    let rec = this.sent[this.nextSeq & PACKET_MASK];
    if (rec === undefined) {
      rec = new SentRecord();
      this.sent[this.nextSeq & PACKET_MASK] = rec;
    }
    rec.seq = -1;
    rec.state = RECORD_EMPTY;
    // pop rather than `length = 0`: the length setter is a slow runtime call, and packets
    // carry few units
    const units = rec.units;
    while (units.length > 0) units.pop();
    this.current = rec;
    if (this.mtu > MAX_SLAB_MTU) {
      // large MTU: build in a private buffer and copy each packet out (finishPacket)
      if (this.privateOut === undefined) this.privateOut = new Uint8Array(this.mtu);
      this.out = this.privateOut;
      this.outStart = 0;
      this.outPos = PACKET_HEADER_BYTES;
    } else {
      const start = claimPacketRegion(this.mtu);
      this.outStart = start;
      this.out = slab.bytes;
      this.outPos = start + PACKET_HEADER_BYTES;
    }
    this.packetStamp++;
  }

  /** Gives back the unused tail of the packet's slab region when nothing was claimed after it. */
  private releasePacketTail(used: number): void {
    if (slab.bytes === this.out && slab.pos === this.outStart + this.mtu) {
      slab.pos = this.outStart + used;
    }
  }

  /** Anything a data packet could carry right now (before claiming a packet for it). */
  private hasQueuedData(): boolean {
    if (this.resendQueue.size > 0) return true;
    const order = this.sendOrder;
    for (let i = 0; i < order.length; i++) {
      const ch = order[i];
      if ((ch.reliable ? ch.unsent.size : ch.unreliable.size) > 0) return true;
    }
    return false;
  }

  /** Write whatever fits into the open packet: resends first, then channels by priority. */
  private fillPacket(capBytes: number): boolean {
    const start = this.outPos;
    const cap = this.outStart + capBytes;
    const rq = this.resendQueue;
    while (rq.size > 0) {
      const u = rq.peek();
      if (u.acked || u.msg.abandoned) {
        rq.shift();
        u.resendQueued = false;
        continue;
      }
      if (this.outPos + u.size > cap || u.msg.packetStamp === this.packetStamp) break;
      rq.shift();
      u.resendQueued = false;
      this.writeUnit(u);
    }
    for (const ch of this.sendOrder) {
      if (ch.reliable) {
        const q = ch.unsent;
        if (q.size === 0) continue;
        const base = ch.baseId;
        while (q.size > 0) {
          const u = q.peek();
          // the receiver accepts ids in [base, base + window): beyond that, wait for acks
          if (((u.msg.id - base) & 0xffff) >= RELIABLE_WINDOW) break;
          if (this.outPos + u.size > cap || u.msg.packetStamp === this.packetStamp) break;
          q.shift();
          this.writeUnit(u);
        }
      } else {
        const q = ch.unreliable;
        while (q.size > 0) {
          if (this.outPos + q.peekSize() > cap) break;
          this.writeUnreliable(ch);
          q.shift();
        }
      }
    }
    return this.outPos > start;
  }

  private writeUnit(u: OutUnit): void {
    const b = this.out;
    let p = this.outPos;
    const msg = u.msg;
    const id = msg.id;
    b[p] = msg.channel;
    b[p + 1] = id & 0xff;
    b[p + 2] = id >>> 8;
    p += 3;
    if (this.modes[msg.channel] === MODE_TICK_BUFFERED) {
      const t = msg.tick;
      b[p] = t & 0xff;
      b[p + 1] = (t >>> 8) & 0xff;
      b[p + 2] = (t >>> 16) & 0xff;
      b[p + 3] = t >>> 24;
      p += 4;
    }
    const length = u.payload.length;
    if (u.fragCount > 1) {
      p = writeVaruint(b, p, length * 2 + 1);
      p = writeVaruint(b, p, u.fragIndex);
      p = writeVaruint(b, p, u.fragCount);
    } else {
      p = writeVaruint(b, p, length * 2);
    }
    copyBytes(u.payload, 0, length, b, p);
    this.outPos = p + length;
    if (u.sends > 0) this.stats.messagesResent++;
    u.sends++;
    u.lastSeq = this.nextSeq;
    msg.packetStamp = this.packetStamp;
    this.current.units.push(u);
  }

  /** Writes the channel's oldest unreliable message (the caller shifts it off). */
  private writeUnreliable(ch: SendChannel): void {
    const q = ch.unreliable;
    const b = this.out;
    let p = this.outPos;
    b[p++] = ch.index;
    if (ch.mode === MODE_SEQUENCED_UNRELIABLE) {
      const id = q.peekId();
      b[p++] = id & 0xff;
      b[p++] = id >>> 8;
    }
    const length = q.peekLength();
    p = writeVaruint(b, p, length);
    q.copyPeekTo(b, p);
    this.outPos = p + length;
  }

  private finishPacket(type: number, now: number): void {
    const b = this.out;
    const o = this.outStart;
    const seq = this.nextSeq;
    const ack = this.pickAck();
    const bits = this.pickedBits;
    b[o] = type;
    b[o + 1] = seq & 0xff;
    b[o + 2] = seq >>> 8;
    b[o + 3] = ack & 0xff;
    b[o + 4] = ack >>> 8;
    b[o + 5] = bits & 0xff;
    b[o + 6] = (bits >>> 8) & 0xff;
    b[o + 7] = (bits >>> 16) & 0xff;
    b[o + 8] = bits >>> 24;
    const length = this.outPos - o;
    const packet = b === this.privateOut ? b.slice(o, o + length) : b.subarray(o, o + length);
    this.releasePacketTail(length);
    const rec = this.current;
    rec.seq = seq;
    rec.state = RECORD_IN_FLIGHT;
    rec.sentAt = now;
    rec.eliciting = type === PacketType.Heartbeat || length > PACKET_HEADER_BYTES;
    this.nextSeq = (seq + 1) & 0xffff;
    this.stats.packetsSent++;
    this.stats.bytesSent += length;
    this.lastSendAt = now;
    this.bucket.consume(length);
    this.sendPacket(packet);
  }

  /**
   * Choose the ack for the next header: normally the newest received sequence; when a burst
   * left older ack-eliciting packets unreported, the newest of those, so a few ack packets can
   * cover any burst (each header covers 32 sequences).
   */
  private pickAck(): number {
    this.pickedBits = 0;
    const remote = this.remoteSeq;
    if (remote < 0) return 0;
    const unreported = this.unreported;
    const ring = this.recvRing;
    let ack = remote;
    if (this.unreportedCount > 0) {
      // the newest unreported sequence: entries never fall outside the window, so this ends
      for (let d = 0; d < PACKET_WINDOW; d++) {
        const s = (remote - d) & 0xffff;
        if (unreported[s & PACKET_MASK] === s) {
          ack = s;
          break;
        }
      }
    }
    let bits = 0;
    for (let i = 0; i < 32; i++) {
      const s = (ack - i) & 0xffff;
      const slot = s & PACKET_MASK;
      if (ring[slot] === s && ((remote - s) & 0xffff) < PACKET_WINDOW) {
        bits |= 1 << i;
        if (unreported[slot] === s) {
          unreported[slot] = -1;
          this.unreportedCount--;
        }
      }
    }
    this.pickedBits = bits >>> 0;
    return ack;
  }

  private hasUnreportedAcks(): boolean {
    return this.unreportedCount > 0;
  }

  private processAcks(ack: number, bits: number, now: number, fresh = true): void {
    // visit set bits only (int32 arithmetic: bit 31 is the sign bit)
    for (let rest = bits | 0; rest !== 0; ) {
      const low = rest & -rest;
      rest ^= low;
      const i = 31 - Math.clz32(low);
      const s = (ack - i) & 0xffff;
      const rec = this.sent[s & PACKET_MASK];
      // a slot holds the latest sequence written there: a sequence we never sent cannot match
      if (rec === undefined || rec.seq !== s || rec.state === RECORD_ACKED || rec.state === RECORD_EMPTY)
        continue;
      rec.state = RECORD_ACKED;
      // ack-only packets are acked whenever the peer next sends: their acks say nothing about RTT
      if (i === 0 && rec.eliciting && fresh) this.rtt.sample(now - rec.sentAt);
      if (this.newestAcked < 0 || sequenceGreaterThan(s, this.newestAcked)) this.newestAcked = s;
      for (const u of rec.units) this.ackUnit(u);
    }
  }

  private ackUnit(u: OutUnit): void {
    if (u.acked) return;
    u.acked = true;
    const msg = u.msg;
    if (msg.abandoned || --msg.unacked > 0) return;
    msg.acked = true;
    const window = this.sendChannels[msg.channel].window;
    while (window.size > 0 && window.peek().acked) this.pending -= window.shift().charge;
  }

  // ------------------------------------------------------------------ receiving internals

  private classifyPacket(seq: number): number {
    if (this.remoteSeq < 0) return ACCEPT;
    const d = sequenceDiff(seq, this.remoteSeq);
    if (d > 0) return ACCEPT;
    if (d <= -PACKET_WINDOW) return STALE;
    return this.recvRing[seq & PACKET_MASK] === seq ? DUPLICATE : ACCEPT;
  }

  /**
   * The state-dependent checks, without changing state: window bounds, fragment consistency,
   * and the bytes the packet would add to receive buffers (returned).
   */
  private precheckMessages(p: ParsedPacket): number {
    const seen = this.seenKeys;
    // a single message cannot repeat itself: skip the set for the common one-message packet
    const checkRepeats = p.count > 1;
    if (checkRepeats && seen.size > 0) seen.clear();
    const stamp = ++this.stamp;
    let charge = 0;
    for (let i = 0; i < p.count; i++) {
      const channel = p.channel[i];
      const mode = this.modes[channel];
      if (mode < FIRST_RELIABLE_MODE) continue;
      const id = p.id[i];
      const key = (channel << 16) | id;
      if (checkRepeats) {
        if (seen.has(key)) throw new DecodeError('invalid', 'a message appears twice in one packet');
        seen.add(key);
      }
      const rc = this.recvChannels[channel];
      const fragmented = p.fragCount[i] > 1;
      if (mode === MODE_SEQUENCED_RELIABLE) {
        if (rc.newest >= 0 && !sequenceGreaterThan(id, rc.newest)) continue;
        const part = rc.seqPartial;
        if (part !== undefined && part.id !== id) {
          if (sequenceGreaterThan(part.id, id)) continue; // older than the one being reassembled
          if (rc.freedStamp !== stamp) {
            rc.freedStamp = stamp;
            charge -= part.charge; // superseded by this newer message
          }
          if (fragmented) charge += this.fragmentCharge(undefined, p, i);
        } else if (fragmented) {
          charge += this.fragmentCharge(part, p, i);
        }
        continue;
      }
      const d = (id - rc.base) & 0xffff;
      if (d >= 0x8000) continue; // before the window: already received
      if (d >= RELIABLE_WINDOW) {
        throw new DecodeError(
          'out-of-range',
          `message id ${id} beyond the receive window of channel ${channel}`,
        );
      }
      if (mode === MODE_ORDERED_RELIABLE) {
        if (rc.buffered[id & WINDOW_MASK] !== undefined) continue;
        charge += fragmented ? this.fragmentCharge(rc.partials.get(id), p, i) : p.length[i];
      } else if (rc.received[id & WINDOW_MASK] === 0 && fragmented) {
        charge += this.fragmentCharge(rc.partials.get(id), p, i);
      }
    }
    return charge;
  }

  private fragmentCharge(part: Partial | undefined, p: ParsedPacket, i: number): number {
    const length = p.length[i];
    const count = p.fragCount[i];
    if (part === undefined) return length + count * FRAGMENT_SLOT_CHARGE;
    if (part.count !== count)
      throw new DecodeError('invalid', 'fragment count differs from earlier fragments');
    const index = p.fragIndex[i];
    if (part.slots[index] !== undefined) return 0; // duplicate fragment
    const last = index === count - 1;
    if (!last && part.fragLen !== 0 && part.fragLen !== length) {
      throw new DecodeError('invalid', 'fragment length differs from earlier fragments');
    }
    const fragLen = last ? part.fragLen : length;
    const lastLen = last ? length : part.lastLen;
    if (fragLen !== 0 && lastLen > fragLen)
      throw new DecodeError('invalid', 'final fragment longer than the others');
    if (fragLen !== 0 && (count - 1) * fragLen + (lastLen || 1) > this.maxMessageBytes) {
      throw new DecodeError('too-long', `fragmented message exceeds ${this.maxMessageBytes} bytes`);
    }
    return length;
  }

  /** Everything here has been validated: it must not throw. */
  private applyPacket(p: ParsedPacket, buf: Uint8Array): void {
    const now = this.clock.now();
    this.lastReceiveAt = now;
    this.stats.packetsReceived++;
    this.stats.bytesReceived += buf.length;
    const seq = p.sequence;
    // Its acks time an RTT only if we hold the peer's previous packet: after a gap, a lost
    // earlier packet may have carried the same ack, and this one, sent up to a resend later,
    // would count that wait as RTT (a handshake then saw 500 ms samples on a 150 ms path and a
    // 1.5 s loss delay).
    const prev = (seq - 1) & 0xffff;
    const fresh = this.remoteSeq < 0 ? seq === 0 : this.recvRing[prev & PACKET_MASK] === prev;
    if (this.remoteSeq < 0) {
      this.remoteSeq = seq;
    } else {
      const d = sequenceDiff(seq, this.remoteSeq);
      if (d > 0) {
        // forget sequences that fell out of the window so their slots cannot fake a duplicate
        const clear = Math.min(d, PACKET_WINDOW);
        for (let k = 1; k <= clear; k++) {
          const slot = (this.remoteSeq + k) & PACKET_MASK;
          this.recvRing[slot] = -1;
          // its sequence left the window: no longer worth reporting
          if (this.unreported[slot] !== -1) {
            this.unreported[slot] = -1;
            this.unreportedCount--;
          }
        }
        this.remoteSeq = seq;
      }
    }
    this.recvRing[seq & PACKET_MASK] = seq;
    if ((p.type === PacketType.Heartbeat || p.count > 0) && this.unreported[seq & PACKET_MASK] !== seq) {
      if (this.unreported[seq & PACKET_MASK] === -1) this.unreportedCount++;
      this.unreported[seq & PACKET_MASK] = seq;
    }
    this.processAcks(p.ack, p.ackBits, now, fresh);
    for (let i = 0; i < p.count; i++) this.applyMessage(p, i, buf);
  }

  private applyMessage(p: ParsedPacket, i: number, buf: Uint8Array): void {
    const channel = p.channel[i];
    const mode = this.modes[channel];
    const offset = p.offset[i];
    if (mode === MODE_UNRELIABLE) {
      this.deliver(channel, buf.slice(offset, offset + p.length[i]));
      return;
    }
    const rc = this.recvChannels[channel];
    const id = p.id[i];
    if (mode === MODE_SEQUENCED_UNRELIABLE) {
      if (rc.newest < 0 || sequenceGreaterThan(id, rc.newest)) {
        rc.newest = id;
        this.deliver(channel, buf.slice(offset, offset + p.length[i]));
      }
      return;
    }
    if (mode === MODE_SEQUENCED_RELIABLE) {
      this.applySequencedReliable(rc, channel, id, p, i, buf);
      return;
    }
    const slot = id & WINDOW_MASK;
    if (((id - rc.base) & 0xffff) >= 0x8000) return; // already received
    const ordered = mode === MODE_ORDERED_RELIABLE;
    if (ordered ? rc.buffered[slot] !== undefined : rc.received[slot] !== 0) return;
    let payload: Uint8Array | undefined;
    if (p.fragCount[i] > 1) {
      let part = rc.partials.get(id);
      if (part === undefined) {
        part = new Partial(id, p.fragCount[i]);
        rc.partials.set(id, part);
        this.recvBuffered += part.charge;
      }
      payload = this.addFragment(part, p, i, buf);
      if (payload === undefined) return;
      rc.partials.delete(id);
    } else {
      payload = buf.slice(offset, offset + p.length[i]);
    }
    if (ordered) {
      if (id !== rc.base) {
        rc.buffered[slot] = payload;
        this.recvBuffered += payload.length;
        return;
      }
      this.deliver(channel, payload);
      rc.base = (rc.base + 1) & 0xffff;
      for (
        let next = rc.buffered[rc.base & WINDOW_MASK];
        next !== undefined;
        next = rc.buffered[rc.base & WINDOW_MASK]
      ) {
        rc.buffered[rc.base & WINDOW_MASK] = undefined;
        this.recvBuffered -= next.length;
        this.deliver(channel, next);
        rc.base = (rc.base + 1) & 0xffff;
      }
      return;
    }
    rc.received[slot] = 1;
    while (rc.received[rc.base & WINDOW_MASK] !== 0) {
      rc.received[rc.base & WINDOW_MASK] = 0;
      rc.base = (rc.base + 1) & 0xffff;
    }
    if (mode === MODE_TICK_BUFFERED) this.bufferTick(channel, p.tick[i], payload);
    else this.deliver(channel, payload);
  }

  private applySequencedReliable(
    rc: RecvChannel,
    channel: number,
    id: number,
    p: ParsedPacket,
    i: number,
    buf: Uint8Array,
  ): void {
    if (rc.newest >= 0 && !sequenceGreaterThan(id, rc.newest)) return;
    let part = rc.seqPartial;
    if (p.fragCount[i] <= 1) {
      if (part !== undefined && !sequenceGreaterThan(part.id, id)) {
        this.recvBuffered -= part.charge;
        rc.seqPartial = undefined;
      }
      rc.newest = id;
      this.deliver(channel, buf.slice(p.offset[i], p.offset[i] + p.length[i]));
      return;
    }
    if (part !== undefined && part.id !== id) {
      if (sequenceGreaterThan(part.id, id)) return;
      this.recvBuffered -= part.charge;
      part = undefined;
    }
    if (part === undefined) {
      part = new Partial(id, p.fragCount[i]);
      rc.seqPartial = part;
      this.recvBuffered += part.charge;
    }
    const payload = this.addFragment(part, p, i, buf);
    if (payload === undefined) return;
    rc.seqPartial = undefined;
    rc.newest = id;
    this.deliver(channel, payload);
  }

  /** Adds a fragment; on completion releases the partial's charge and returns the message. */
  private addFragment(part: Partial, p: ParsedPacket, i: number, buf: Uint8Array): Uint8Array | undefined {
    const index = p.fragIndex[i];
    if (part.slots[index] !== undefined) return undefined;
    const offset = p.offset[i];
    const data = buf.slice(offset, offset + p.length[i]);
    this.recvBuffered += data.length;
    if (!part.add(index, data)) return undefined;
    this.recvBuffered -= part.charge;
    return part.assemble();
  }

  private bufferTick(channel: number, tick: number, payload: Uint8Array): void {
    if (this.lastTakenTick >= 0 && tick > this.lastTakenTick + this.tickBufferTicks) {
      this.stats.tickMessagesDropped++;
      return;
    }
    if (
      this.tickBuffer.length >= MAX_TICK_MESSAGES ||
      this.tickBytes + payload.length > this.maxPendingBytes
    ) {
      this.stats.tickMessagesDropped++;
      return;
    }
    this.tickBuffer.push({ channel, tick, payload });
    this.tickBytes += payload.length;
    this.stats.messagesReceived++;
  }

  private deliver(channel: number, payload: Uint8Array): void {
    this.deliveryChannels.push(channel);
    this.deliveryPayloads.push(payload);
    this.stats.messagesReceived++;
  }

  /** Runs `onMessage` after the packet is fully applied, so a callback sees consistent state. */
  private drainDeliveries(): void {
    if (this.delivering) return; // a nested receive appends; the outer loop delivers in order
    this.delivering = true;
    let failed = false;
    let firstError: unknown;
    try {
      for (let k = 0; k < this.deliveryPayloads.length; k++) {
        try {
          this.onMessage(this.deliveryChannels[k], this.deliveryPayloads[k]);
        } catch (error) {
          if (!failed) {
            failed = true;
            firstError = error;
          }
        }
      }
    } finally {
      const channels = this.deliveryChannels;
      const payloads = this.deliveryPayloads;
      while (payloads.length > 0) payloads.pop();
      while (channels.length > 0) channels.pop();
      this.delivering = false;
    }
    if (failed) throw firstError;
  }
}
