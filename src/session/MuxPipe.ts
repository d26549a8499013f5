import type { TickMessage } from './LinkPipe.js';
import type { LinkLike } from './linkTypes.js';
import { decodeMuxMessage, encodeMuxControl, encodeMuxMessage, MuxFrame } from './mux.js';
import { CONTROL_CHANNEL, FIRST_PROTOCOL_CHANNEL, WORLD_CHANNEL } from './Protocol.js';
import { decodeSessionPacket } from './packets/codec.js';
import type { SessionPacket } from './packets/types.js';
import type { SessionPipe } from './SessionPipe.js';

/** Where a MuxPipe sends its frames: one stream, shared by every player on it. */
export interface MuxSender {
  /** Queue one frame; false if refused (closed or backpressure), see `StreamConnection.sendFrame`. */
  sendFrame(type: number, sessionId: number, payload: Uint8Array): boolean;
  /** Current round-trip estimate of the stream itself, ms. */
  readonly streamRttMs: number;
  /** Largest frame payload the stream carries. */
  readonly maxPayload: number;
}

/** Bounds of the tick buffer (tick-buffered messages waiting for their server tick). */
export interface MuxPipeLimits {
  /** Most messages held (default 1024). */
  maxTickMessages?: number;
  /** Most bytes held (default 1 MiB). */
  maxTickBytes?: number;
  /** Largest world frame sent in one piece (default 1200: what a client link carries). */
  maxWorldFrameBytes?: number;
}

const noop = () => {};

/**
 * {@link SessionPipe} of one player multiplexed on a proxy ↔ backend stream (the backend's
 * end). Protocol channel `i` travels as a Message frame with channel `i`; world frames as World
 * frames; session control packets as Control frames. Tick-buffered messages carry the client's
 * tick and are held here until the server takes that tick, like the link layer does for a
 * direct client.
 *
 * `rttMs` is what the world layer uses for resend timing: the client's RTT on its datagram hop
 * as the proxy last reported it, plus this stream's own RTT estimate (the two hops in series).
 *
 * It is also a {@link LinkLike} on link-channel numbering (0 control, 1 world, 2 + i protocol
 * channel i), so the session layer's `sendControl` works on it unchanged.
 */
export class MuxPipe implements SessionPipe, LinkLike {
  onWorldFrame: (frame: Uint8Array) => void = noop;
  onMessage: (channel: number, payload: Uint8Array) => void = noop;
  /** Set by the owner: control packets from the proxy (ViewRadius, PlayerOptions, ClientReady, Disconnect). */
  onControl: (packet: SessionPacket) => void = noop;
  /** Client RTT on its datagram hop, as the proxy reported it. */
  clientRttMs = 0;
  /** Frames the sender refused (stream closed or backed up): the player is cut off by the owner. */
  refused = 0;
  /** Tick messages dropped because the buffer was full. */
  tickDropped = 0;
  closed = false;
  /**
   * Frozen for a migration: world frames are not sent (counted in `worldFramesWithheld`; the
   * world layer resends their content once thawed). Input is held by the owner.
   */
  frozen = false;
  /** World frames not sent because the player was frozen. */
  worldFramesWithheld = 0;
  readonly maxWorldFrameBytes: number;
  private tickBuffer: TickMessage[] = [];
  private tickBytes = 0;
  private readonly maxTickMessages: number;
  private readonly maxTickBytes: number;

  constructor(
    readonly sessionId: number,
    private readonly sender: MuxSender,
    private readonly protocolChannels: number,
    limits: MuxPipeLimits = {},
  ) {
    this.maxTickMessages = limits.maxTickMessages ?? 1024;
    this.maxTickBytes = limits.maxTickBytes ?? 1024 * 1024;
    this.maxWorldFrameBytes = Math.min(limits.maxWorldFrameBytes ?? 1200, sender.maxPayload);
  }

  /** Client RTT + stream RTT (both hops). */
  get rttMs(): number {
    return this.clientRttMs + this.sender.streamRttMs;
  }

  /** LinkLike: a mux player does not time out by itself (the stream's heartbeats do). */
  get timedOut(): boolean {
    return false;
  }

  sendWorldFrame(frame: Uint8Array): void {
    if (frame.length > this.maxWorldFrameBytes) {
      throw new RangeError(`world frame of ${frame.length} bytes exceeds ${this.maxWorldFrameBytes}`);
    }
    if (this.frozen) {
      this.worldFramesWithheld++;
      return;
    }
    this.emit(MuxFrame.World, frame);
  }

  sendMessage(channel: number, payload: Uint8Array, tick?: number): void {
    if (!Number.isInteger(channel) || channel < 0 || channel >= this.protocolChannels) {
      throw new RangeError(`no protocol channel ${channel}`);
    }
    this.emit(MuxFrame.Message, encodeMuxMessage(channel, payload, tick));
  }

  /** Send one session control packet to the player (through the proxy). */
  sendControl(packet: SessionPacket): void {
    this.emit(MuxFrame.Control, encodeMuxControl(packet));
  }

  /** LinkLike send, on link-channel numbering. */
  send(channel: number, payload: Uint8Array, tick?: number): void {
    if (channel === CONTROL_CHANNEL) this.emit(MuxFrame.Control, payload);
    else if (channel === WORLD_CHANNEL) this.sendWorldFrame(payload);
    else this.sendMessage(channel - FIRST_PROTOCOL_CHANNEL, payload, tick);
  }

  /** LinkLike: frames arrive through {@link deliverFrame}, never as link packets. */
  receive(): void {
    throw new Error('MuxPipe receives frames through deliverFrame');
  }

  /** LinkLike: frames are written to the stream as they are sent. */
  flush(): void {}

  maxUnfragmentedPayload(): number {
    return this.maxWorldFrameBytes;
  }

  /**
   * Route one frame the stream delivered for this player. Throws `DecodeError` for a malformed
   * payload (the owner counts it and ends the player's session) and returns false for a frame
   * type this end does not take.
   */
  deliverFrame(type: number, payload: Uint8Array): boolean {
    if (this.closed) return true;
    switch (type) {
      case MuxFrame.World:
        this.onWorldFrame(payload);
        return true;
      case MuxFrame.Message: {
        const m = decodeMuxMessage(payload);
        if (m.channel >= this.protocolChannels) return false;
        if (m.tick !== undefined) this.bufferTick(m.channel, m.tick, m.payload);
        else this.onMessage(m.channel, m.payload);
        return true;
      }
      case MuxFrame.Control:
        this.onControl(decodeSessionPacket(payload));
        return true;
      default:
        return false;
    }
  }

  /** Tick-buffered messages the client tagged with `tick` or earlier, in tick order (arrival order within a tick). */
  takeTickMessages(tick: number): TickMessage[] {
    if (this.tickBuffer.length === 0) return [];
    const taken: TickMessage[] = [];
    const keep: TickMessage[] = [];
    for (const m of this.tickBuffer) {
      if (m.tick <= tick) {
        taken.push(m);
        this.tickBytes -= m.payload.length;
      } else keep.push(m);
    }
    this.tickBuffer = keep;
    taken.sort((a, b) => a.tick - b.tick);
    return taken;
  }

  /** The link-style `deliver` (link channel numbering), for owners that route by link channel. */
  deliver(linkChannel: number, payload: Uint8Array): boolean {
    if (linkChannel === WORLD_CHANNEL) {
      this.onWorldFrame(payload);
      return true;
    }
    const channel = linkChannel - FIRST_PROTOCOL_CHANNEL;
    if (channel < 0 || channel >= this.protocolChannels) return false;
    this.onMessage(channel, payload);
    return true;
  }

  private bufferTick(channel: number, tick: number, payload: Uint8Array): void {
    if (
      this.tickBuffer.length >= this.maxTickMessages ||
      this.tickBytes + payload.length > this.maxTickBytes
    ) {
      this.tickDropped++;
      return;
    }
    // the payload is a view into the stream's chunk; keep a copy so the chunk can go
    this.tickBuffer.push({ channel, tick, payload: payload.slice() });
    this.tickBytes += payload.length;
  }

  private emit(type: number, payload: Uint8Array): void {
    if (this.closed) return;
    if (!this.sender.sendFrame(type, this.sessionId, payload)) this.refused++;
  }
}
