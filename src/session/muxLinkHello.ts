/**
 * LinkHello: the proxy's first frame on a new backend link (session 0). It tells the backend
 * the link's fencing epoch and how long the proxy waits in silence before it gives the backend
 * up (and moves its players elsewhere), so the backend can stop applying that link's input
 * before the proxy may have moved them (docs/wire/mux.md "Fencing"). Browser-safe.
 */
import { BitReader, BitWriter, DecodeError } from '../serde/index.js';

/** Version byte of LinkHello. */
export const LINK_HELLO_VERSION = 1;
/** Largest timeout a LinkHello may announce, ms (one hour). */
export const LINK_HELLO_MAX_MS = 3_600_000;

/** What a proxy announces on a new backend link. */
export interface LinkHello {
  /** The proxy's generation number of its link to this backend (1, 2, … per re-connection). */
  readonly epoch: number;
  /** How often the proxy pings, ms. */
  readonly heartbeatIntervalMs: number;
  /** The proxy declares the backend lost after this long without a frame from it, ms. */
  readonly timeoutMs: number;
}

export function encodeLinkHello(h: LinkHello): Uint8Array {
  const w = new BitWriter(16);
  w.writeU8(LINK_HELLO_VERSION);
  w.writeU32(h.epoch >>> 0);
  w.writeVarUint(Math.max(1, Math.min(LINK_HELLO_MAX_MS, Math.round(h.heartbeatIntervalMs))));
  w.writeVarUint(Math.max(1, Math.min(LINK_HELLO_MAX_MS, Math.round(h.timeoutMs))));
  return w.finish();
}

export function decodeLinkHello(bytes: Uint8Array): LinkHello {
  const r = new BitReader(bytes);
  const version = r.readU8();
  if (version !== LINK_HELLO_VERSION) throw new DecodeError('out-of-range', `LinkHello version ${version}`);
  const epoch = r.readU32();
  const heartbeatIntervalMs = r.readVarUint();
  const timeoutMs = r.readVarUint();
  r.expectEnd();
  for (const v of [heartbeatIntervalMs, timeoutMs]) {
    if (v < 1 || v > LINK_HELLO_MAX_MS) throw new DecodeError('out-of-range', `LinkHello interval ${v} ms`);
  }
  return { epoch, heartbeatIntervalMs, timeoutMs };
}
