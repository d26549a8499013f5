/**
 * The signalling of the WebRTC transport: JSON text messages over the WebSocket that the client
 * opens first (and keeps open: its close is the peer's close). The client offers, the server
 * answers, both trickle ICE candidates. Browser-safe.
 */

/** One signalling message. */
export type WebRtcSignal =
  | { readonly t: 'offer'; readonly sdp: string }
  | { readonly t: 'answer'; readonly sdp: string }
  | { readonly t: 'candidate'; readonly candidate: string; readonly mid: string };

/** Largest signalling message either side accepts (an SDP is a few KiB). */
export const WEBRTC_MAX_SIGNAL_BYTES = 16 * 1024;

/** Label of the one data channel: unordered, no retransmission (the link layer does reliability). */
export const WEBRTC_CHANNEL_LABEL = 'baton';

/** Parses a signalling message; `undefined` for anything malformed (the caller counts it). */
export function parseSignal(text: unknown): WebRtcSignal | undefined {
  if (typeof text !== 'string' || text.length > WEBRTC_MAX_SIGNAL_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.t === 'offer' && typeof v.sdp === 'string') return { t: 'offer', sdp: v.sdp };
  if (v.t === 'answer' && typeof v.sdp === 'string') return { t: 'answer', sdp: v.sdp };
  if (v.t === 'candidate' && typeof v.candidate === 'string' && typeof v.mid === 'string') {
    return { t: 'candidate', candidate: v.candidate, mid: v.mid };
  }
  return undefined;
}

/** Encodes a signalling message. */
export function formatSignal(signal: WebRtcSignal): string {
  return JSON.stringify(signal);
}
