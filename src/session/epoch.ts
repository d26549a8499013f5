/**
 * World epochs on the client ↔ proxy hop (DESIGN §5 "Cutover"). A proxied session announces
 * them in `ProxyHello`; from then on every world frame and every server → client channel
 * message on the hop starts with one `u8 epoch` byte, +1 (mod 256) per seamless migration, so
 * each one says by itself which backend's side of a swap it belongs to.
 */

/** `ProxyHello.flags` bit 0: world frames (both directions) carry a leading epoch byte. */
export const EPOCH_WORLD_FRAMES = 1;
/** `ProxyHello.flags` bit 1: server → client channel messages carry a leading epoch byte. */
export const EPOCH_MESSAGES = 2;
/** Every flag bit defined so far. */
export const PROXY_HELLO_FLAGS = EPOCH_WORLD_FRAMES | EPOCH_MESSAGES;

/** `bytes` behind one epoch byte (a copy). */
export function withEpoch(epoch: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = epoch;
  out.set(bytes, 1);
  return out;
}

/** How many migrations `to` is after `from` (0..255, mod 256). */
export function epochsAhead(from: number, to: number): number {
  return (to - from) & 0xff;
}
