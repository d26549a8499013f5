import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/Clock.js';
import { RETRY_COOKIE_BYTES, RetryCookies } from './RetryCookie.js';

describe('RetryCookies (stateless address validation)', () => {
  it('accepts its own cookie for the same address and attempt, within the lifetime', () => {
    const clock = new ManualClock(5_000);
    const cookies = new RetryCookies(clock, { lifetimeMs: 10_000, rotateMs: 60_000 });
    const c = cookies.issue('0|127.0.0.1:4000', 42);
    expect(c.length).toBe(RETRY_COOKIE_BYTES);
    expect(cookies.verify('0|127.0.0.1:4000', 42, c)).toBe(true);
    clock.advance(10_000);
    expect(cookies.verify('0|127.0.0.1:4000', 42, c)).toBe(true);
    clock.advance(1);
    expect(cookies.verify('0|127.0.0.1:4000', 42, c)).toBe(false); // expired
  });

  it('refuses another address, another attempt, a forged tag, a forged stamp, a wrong length', () => {
    const clock = new ManualClock(0);
    const cookies = new RetryCookies(clock);
    const c = cookies.issue('0|10.0.0.1:5000', 7);
    expect(cookies.verify('0|10.0.0.2:5000', 7, c)).toBe(false);
    expect(cookies.verify('1|10.0.0.1:5000', 7, c)).toBe(false);
    expect(cookies.verify('0|10.0.0.1:5000', 8, c)).toBe(false);
    for (const i of [0, 1, 5, 20]) {
      const bad = c.slice();
      bad[i] ^= 1;
      expect(cookies.verify('0|10.0.0.1:5000', 7, bad)).toBe(false);
    }
    expect(cookies.verify('0|10.0.0.1:5000', 7, c.subarray(0, 20))).toBe(false);
    // another server (another secret) never accepts it
    expect(new RetryCookies(clock).verify('0|10.0.0.1:5000', 7, c)).toBe(false);
  });

  it('rotates its secret: the previous one stays valid for one period, older ones do not', () => {
    const clock = new ManualClock(0);
    const cookies = new RetryCookies(clock, { lifetimeMs: 200_000, rotateMs: 200_000 });
    const old = cookies.issue('p', 1);
    clock.advance(200_000); // rotation: `old` was signed by the previous secret
    const fresh = cookies.issue('p', 1);
    expect(fresh[0]).not.toBe(old[0]);
    expect(cookies.verify('p', 1, old)).toBe(true);
    expect(cookies.verify('p', 1, fresh)).toBe(true);
    clock.advance(200_000); // rotation again: the secret of `old` is gone
    expect(cookies.verify('p', 1, old)).toBe(false);
    expect(cookies.verify('p', 1, fresh)).toBe(true);
  });

  it('a stamp from the future is not accepted as young (modular age)', () => {
    const clock = new ManualClock(1_000_000);
    const cookies = new RetryCookies(clock, { lifetimeMs: 10_000 });
    clock.set(2_000_000);
    const c = cookies.issue('p', 3);
    clock.set(1_990_000); // a clock that went back 10 s: the stamp is "ahead"
    expect(cookies.verify('p', 3, c)).toBe(false);
  });
});
