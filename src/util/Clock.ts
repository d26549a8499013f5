/** Milliseconds, monotonic. Injected everywhere time matters so tests can drive time by hand. */
export interface Clock {
  now(): number;
}

/** Real time from `performance.now()` (available in Node and browsers). */
export const systemClock: Clock = { now: () => performance.now() };

/** A clock that only moves when told to: deterministic tests. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
