/**
 * Wrap-safe comparison of 16-bit sequence numbers (packet sequences, message ids).
 *
 * `a` is newer than `b` when `(a - b) mod 2^16` lies in [1, 32767]. Two values exactly 32768
 * apart are neither newer nor older than each other; every window the link uses is far
 * smaller than half the space, so that case never decides anything.
 */
export function sequenceGreaterThan(a: number, b: number): boolean {
  const d = (a - b) & 0xffff;
  return d !== 0 && d < 0x8000;
}

/** `a` is older than `b` (see {@link sequenceGreaterThan}). */
export function sequenceLessThan(a: number, b: number): boolean {
  return sequenceGreaterThan(b, a);
}

/** Signed distance `a - b` in [-32768, 32767], wrap-aware. */
export function sequenceDiff(a: number, b: number): number {
  return ((a - b + 0x8000) & 0xffff) - 0x8000;
}
