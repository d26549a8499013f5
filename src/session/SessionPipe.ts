import type { TickMessage } from './LinkPipe.js';

/**
 * What the layers above the session (world replication, the API) see of one player's session,
 * whatever carries it: `LinkPipe` (a datagram link, direct or client↔proxy) or, later,
 * `MuxPipe` (one player multiplexed on a proxy↔backend stream).
 *
 * World frames are sent unreliably on purpose: the world layer acknowledges its own frames
 * end to end (DESIGN §3), so it is correct over a lossy hop and over a proxy alike.
 */
export interface WorldFramePipe {
  /** Send one world frame; it may be lost, duplicated or reordered. Must be ≤ maxWorldFrameBytes. */
  sendWorldFrame(frame: Uint8Array): void;
  /** Largest world frame the pipe carries in one piece. */
  readonly maxWorldFrameBytes: number;
  /** Current round-trip estimate of the path in ms (used for resend timing). */
  readonly rttMs: number;
}

/** One player's session as seen from above the session layer. */
export interface SessionPipe extends WorldFramePipe {
  /** Send an application message on a protocol channel (by index into the protocol's channel list). */
  sendMessage(channel: number, payload: Uint8Array, tick?: number): void;
  /** Set by the owner: world frames from the peer. */
  onWorldFrame: (frame: Uint8Array) => void;
  /** Set by the owner: application messages from the peer. */
  onMessage: (channel: number, payload: Uint8Array) => void;
}

/**
 * What a server-side session's pipe offers beyond {@link SessionPipe}: inbound routing by
 * link-channel number and the tick buffer. `LinkPipe` (a direct or proxied-to client) and
 * `MuxPipe` (a player behind a proxy) both implement it.
 */
export interface ServerSessionPipe extends SessionPipe {
  deliver(linkChannel: number, payload: Uint8Array): boolean;
  takeTickMessages(tick: number): TickMessage[];
}
