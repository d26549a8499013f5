import type { Clock } from '../../util/Clock.js';

/**
 * Wall-clock milliseconds since the Unix epoch. Tickets and tokens are checked on other
 * machines, so their times must be wall-clock (unlike `systemClock`, which is monotonic and
 * process-local); tests inject a `ManualClock` set to an epoch time instead.
 */
export const wallClock: Clock = { now: () => Date.now() };
