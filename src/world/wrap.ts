/**
 * Wrap-safe arithmetic on the 16-bit ids the world layer puts on the wire (frame indices,
 * command ids). Internally the world layer works with *unwrapped* integers (exact up to 2^53),
 * so per-entity ordering never meets a wrap; only the wire carries 16 bits.
 */
export const SEQ_MOD = 0x10000;
const HALF = 0x8000;

/** True when `a` is after `b` on the 16-bit circle (the nearer way round). */
export function seqGreater(a: number, b: number): boolean {
  const d = (a - b) & 0xffff;
  return d !== 0 && d < HALF;
}

/** Signed distance a - b on the 16-bit circle, in [-32768, 32767]. */
export function seqDiff(a: number, b: number): number {
  return (((a - b + HALF) & 0xffff) - HALF) | 0;
}

/**
 * Turns a 16-bit wire id back into the full integer nearest to a reference (the highest or
 * next-expected id seen so far). Correct as long as the sender keeps every id it still sends
 * within ±32767 of what the receiver has seen, which both senders guarantee with a send window.
 */
export function unwrapSeq(wire: number, reference: number): number {
  return reference + seqDiff(wire, reference & 0xffff);
}
