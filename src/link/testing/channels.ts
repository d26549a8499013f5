import type { ChannelConfig } from '../types.js';

/** One channel of each mode, in this order; the indices below name them. For tests. */
export const ONE_CHANNEL_PER_MODE: readonly ChannelConfig[] = [
  { mode: 'unreliable' },
  { mode: 'sequenced-unreliable' },
  { mode: 'unordered-reliable' },
  { mode: 'ordered-reliable' },
  { mode: 'sequenced-reliable' },
  { mode: 'tick-buffered' },
];
export const UNREL = 0;
export const SEQ_UNREL = 1;
export const UNORDERED = 2;
export const ORDERED = 3;
export const SEQ_REL = 4;
export const TICK = 5;
