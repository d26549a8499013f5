/**
 * The seeded link conditioner: decides, for one datagram on one direction of a link, whether
 * it is lost and when each of its copies arrives. Pure apart from the random source, so the
 * same seed and the same sequence of sends give the same decisions on every machine.
 */
import type { SeededRandom } from '../util/SeededRandom.js';

/** How one direction of a link misbehaves. All fields are required once resolved. */
export interface LinkConditions {
  /** Fixed one-way delay in ms; nothing arrives sooner. */
  latencyMs: number;
  /** Extra delay, uniform in [0, jitterMs] ms, drawn per copy. Jitter alone can reorder. */
  jitterMs: number;
  /** Probability (0..1) that a datagram is lost. */
  loss: number;
  /** Probability (0..1) that a delivered datagram arrives twice (the copy has its own delay). */
  duplicate: number;
  /**
   * Probability (0..1) that a copy is held back by an extra delay uniform in
   * [1, reorderDelayMs] ms, so datagrams sent after it overtake it.
   */
  reorder: number;
  /** Upper bound of the extra reorder delay (ms). Default 20. */
  reorderDelayMs: number;
}

/**
 * What users pass: any subset of `LinkConditions` applies to both directions, and `toServer` /
 * `toClient` override single fields for one direction.
 */
export type LinkConditionerConfig = Partial<LinkConditions> & {
  toServer?: Partial<LinkConditions>;
  toClient?: Partial<LinkConditions>;
};

/** Direction of a datagram on a client ↔ server link. */
export type LinkDirection = 'toServer' | 'toClient';

/** A perfect link: no delay, no loss, no duplication, no reordering. */
export const PERFECT_LINK: Readonly<LinkConditions> = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  loss: 0,
  duplicate: 0,
  reorder: 0,
  reorderDelayMs: 20,
});

function pickShared(config: LinkConditionerConfig | undefined): Partial<LinkConditions> {
  if (!config) return {};
  const { toServer: _s, toClient: _c, ...shared } = config;
  return shared;
}

/**
 * Resolves the conditions of one direction from layered configs (later layers win; shared
 * fields first, then that direction's overrides, per layer). Throws `RangeError` on a value
 * outside its domain: a misconfigured test should fail loudly, not silently behave oddly.
 */
export function resolveConditions(
  direction: LinkDirection,
  ...layers: (LinkConditionerConfig | undefined)[]
): LinkConditions {
  let out: LinkConditions = { ...PERFECT_LINK };
  for (const layer of layers) {
    out = { ...out, ...stripUndefined(pickShared(layer)), ...stripUndefined(layer?.[direction] ?? {}) };
  }
  validateConditions(out);
  return out;
}

function stripUndefined(p: Partial<LinkConditions>): Partial<LinkConditions> {
  const out: Partial<LinkConditions> = {};
  for (const [k, v] of Object.entries(p)) {
    if (v !== undefined) (out as Record<string, number>)[k] = v;
  }
  return out;
}

/** Throws `RangeError` unless every field is in its domain. */
function validateConditions(c: LinkConditions): void {
  for (const key of ['latencyMs', 'jitterMs', 'reorderDelayMs'] as const) {
    const v = c[key];
    if (!Number.isFinite(v) || v < 0)
      throw new RangeError(`link conditioner: ${key} must be a finite number >= 0`);
  }
  for (const key of ['loss', 'duplicate', 'reorder'] as const) {
    const v = c[key];
    if (!(v >= 0 && v <= 1)) throw new RangeError(`link conditioner: ${key} must be in [0, 1]`);
  }
}

/**
 * Plans one datagram: returns the one-way delay (ms) of every copy that will arrive, in the
 * order the copies were made; an empty array means the datagram is lost. Random draws happen
 * in a fixed order (loss, first copy's delay, duplicate, second copy's delay).
 */
export function planDelivery(c: LinkConditions, rng: SeededRandom): number[] {
  if (rng.chance(c.loss)) return [];
  const first = copyDelay(c, rng);
  if (!rng.chance(c.duplicate)) return [first];
  return [first, copyDelay(c, rng)];
}

function copyDelay(c: LinkConditions, rng: SeededRandom): number {
  let delay = c.latencyMs;
  if (c.jitterMs > 0) delay += rng.next() * c.jitterMs;
  if (rng.chance(c.reorder)) delay += 1 + rng.next() * Math.max(0, c.reorderDelayMs - 1);
  return delay;
}

/** Derives an independent 32-bit seed for one link direction, so links do not share a stream. */
export function deriveSeed(seed: number, link: number, direction: LinkDirection): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= Math.imul(link + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f);
  h ^= direction === 'toServer' ? 0x5bd1e995 : 0x1b873593;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  return (h ^ (h >>> 16)) >>> 0;
}
