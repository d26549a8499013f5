import { sequenceDiff } from '../link/sequence.js';

/**
 * Wrap-safe arithmetic on the 16-bit ids the world layer puts on the wire (frame indices,
 * command ids). Internally the world layer works with *unwrapped* integers (exact up to 2^53),
 * so per-entity ordering never meets a wrap; only the wire carries 16 bits. The comparisons are
 * the link layer's (same 16-bit circle), re-exported under the world API's names.
 */
export {
  /** Signed distance a - b on the 16-bit circle, in [-32768, 32767]. */
  sequenceDiff as seqDiff,
  /** True when `a` is after `b` on the 16-bit circle (the nearer way round). */
  sequenceGreaterThan as seqGreater,
} from '../link/sequence.js';

export const SEQ_MOD = 0x10000;

/**
 * Turns a 16-bit wire id back into the full integer nearest to a reference (the highest or
 * next-expected id seen so far). Correct as long as the sender keeps every id it still sends
 * within ±32767 of what the receiver has seen, which both senders guarantee with a send window.
 */
export function unwrapSeq(wire: number, reference: number): number {
  return reference + sequenceDiff(wire, reference & 0xffff);
}
