import type { ReceiveBudget } from '../link/ReceiveBudget.js';
import type { Clock } from '../util/Clock.js';
import {
  type ChannelDirection,
  type ChannelMode,
  CONTROL_CHANNEL,
  type Protocol,
  WORLD_CHANNEL,
} from './Protocol.js';

/**
 * What the session layer uses of a link connection (`src/link`'s LinkConnection satisfies it
 * structurally). Kept as an interface so the session can be unit-tested over any link and so
 * `LinkConnection` is imported in exactly one place (`defaultLink.ts`).
 */
export interface LinkLike {
  send(channel: number, payload: Uint8Array, tick?: number): void;
  /** Throws DecodeError on a malformed packet. */
  receive(packet: Uint8Array): void;
  onMessage: (channel: number, payload: Uint8Array) => void;
  takeTickMessages(tick: number): Array<{ channel: number; tick: number; payload: Uint8Array }>;
  flush(): void;
  readonly rttMs: number;
  readonly timedOut: boolean;
  /** Largest payload an unreliable channel carries in one packet (when the link can tell). */
  maxUnfragmentedPayload?(channel: number): number;
  /** The shared receive budget evicted this link: it receives nothing more; close the session. */
  readonly evicted?: boolean;
  /** Release what the link holds (its share of the receive budget). */
  close?(): void;
}

/** A link channel as the session configures it (the link's `ChannelConfig`). */
export interface SessionChannelConfig {
  readonly mode: ChannelMode;
  readonly direction?: ChannelDirection;
  readonly priority?: number;
}

/** Link tuning passed through to the link layer (its `LinkOptions`). */
export interface SessionLinkOptions {
  mtu?: number;
  heartbeatIntervalMs?: number;
  timeoutMs?: number;
  bandwidthBytesPerSecond?: number;
  maxMessageBytes?: number;
  maxPendingBytes?: number;
  tickBufferTicks?: number;
  /** Receive-buffer budget shared by links (default: the process-wide one, 64 MiB). */
  receiveBudget?: ReceiveBudget;
}

export interface LinkFactoryArgs {
  readonly channels: readonly SessionChannelConfig[];
  readonly role: 'client' | 'server';
  readonly send: (packet: Uint8Array) => void;
  readonly clock: Clock;
  readonly options?: SessionLinkOptions;
}

/** Builds the link of one session. */
export type LinkFactory = (args: LinkFactoryArgs) => LinkLike;

/** Default link MTU (bytes of one datagram). */
export const DEFAULT_MTU = 1200;

/**
 * The link channels of a session: 0 = session control (ordered-reliable), 1 = world frames
 * (unreliable), then the protocol's channels in declaration order.
 */
export function linkChannelsFor(protocol: Protocol): SessionChannelConfig[] {
  const out: SessionChannelConfig[] = [];
  out[CONTROL_CHANNEL] = { mode: 'ordered-reliable', direction: 'both', priority: 1000 };
  out[WORLD_CHANNEL] = { mode: 'unreliable', direction: 'both', priority: 0 };
  for (const c of protocol.channels) out.push({ mode: c.mode, direction: c.direction, priority: c.priority });
  return out;
}

/** Room for a world frame in one link packet (asked of the link; else a generous header allowance). */
export function worldFrameRoom(link: LinkLike, mtu: number): number {
  return link.maxUnfragmentedPayload?.(WORLD_CHANNEL) ?? mtu - 32;
}
