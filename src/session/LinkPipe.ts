import type { LinkLike } from './linkTypes.js';
import { FIRST_PROTOCOL_CHANNEL, WORLD_CHANNEL } from './Protocol.js';
import type { SessionPipe } from './SessionPipe.js';

/** A tick-buffered message as the pipe hands it out (protocol channel index). */
export interface TickMessage {
  readonly channel: number;
  readonly tick: number;
  readonly payload: Uint8Array;
}

const noop = () => {};

/**
 * {@link SessionPipe} over a datagram link: world frames on link channel 1, protocol channel
 * `i` on link channel `i + 2` (channel 0 is the session's own control channel and never
 * reaches the pipe's owner).
 */
export class LinkPipe implements SessionPipe {
  onWorldFrame: (frame: Uint8Array) => void = noop;
  onMessage: (channel: number, payload: Uint8Array) => void = noop;

  /**
   * @param link the session's link
   * @param protocolChannels how many protocol channels exist (link channels beyond are refused)
   * @param maxWorldFrameBytes largest world frame that fits one link packet
   */
  constructor(
    private readonly link: LinkLike,
    private readonly protocolChannels: number,
    readonly maxWorldFrameBytes: number,
  ) {}

  get rttMs(): number {
    return this.link.rttMs;
  }

  sendWorldFrame(frame: Uint8Array): void {
    if (frame.length > this.maxWorldFrameBytes) {
      throw new RangeError(`world frame of ${frame.length} bytes exceeds ${this.maxWorldFrameBytes}`);
    }
    this.link.send(WORLD_CHANNEL, frame);
  }

  sendMessage(channel: number, payload: Uint8Array, tick?: number): void {
    if (!Number.isInteger(channel) || channel < 0 || channel >= this.protocolChannels) {
      throw new RangeError(`no protocol channel ${channel}`);
    }
    this.link.send(FIRST_PROTOCOL_CHANNEL + channel, payload, tick);
  }

  /**
   * Route one message the link delivered on a non-control channel to the owner's handlers.
   * Returns false for a link channel that is not the pipe's (the caller counts the drop).
   */
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

  /** Tick-buffered messages the peer tagged with `tick`, with protocol channel indices. */
  takeTickMessages(tick: number): TickMessage[] {
    const out: TickMessage[] = [];
    for (const m of this.link.takeTickMessages(tick)) {
      const channel = m.channel - FIRST_PROTOCOL_CHANNEL;
      if (channel >= 0 && channel < this.protocolChannels)
        out.push({ channel, tick: m.tick, payload: m.payload });
    }
    return out;
  }
}
