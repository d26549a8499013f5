import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../util/Clock.js';
import { InMemoryNonceStore } from './NonceStore.js';

describe('InMemoryNonceStore', () => {
  it('accepts a nonce exactly once until it expires', async () => {
    const clock = new ManualClock(1000);
    const store = new InMemoryNonceStore({ clock });
    expect(await store.consume('n1', 2000)).toBe(true);
    expect(await store.consume('n1', 2000)).toBe(false);
    expect(await store.consume('n1', 9000)).toBe(false); // a later expiry does not reopen it
    expect(await store.consume('n2', 2000)).toBe(true);
    clock.set(1999);
    expect(await store.consume('n1', 2500)).toBe(false);
    expect(store.stats.replayed).toBe(3);
  });

  it('treats bytes and their hex form as the same nonce', async () => {
    const store = new InMemoryNonceStore({ clock: new ManualClock(0) });
    expect(await store.consume(Uint8Array.of(0xab, 0x01), 100)).toBe(true);
    expect(await store.consume('ab01', 100)).toBe(false);
  });

  it('purges expired entries: memory follows the live nonces only', async () => {
    const clock = new ManualClock(0);
    const store = new InMemoryNonceStore({ clock });
    for (let i = 0; i < 10_000; i++) store.consumeSync(`n${i}`, 1000 + (i % 500));
    expect(store.size).toBe(10_000);
    clock.set(1250);
    expect(store.size).toBe(4980); // expiries 1251..1499 remain: 249 of every 500
    clock.set(1500);
    expect(store.size).toBe(0);
    expect(store.stats.purged).toBe(10_000);
    // once expired and purged, a nonce may be remembered again (its ticket is long dead)
    expect(await store.consume('n1', 3000)).toBe(true);
  });

  it('refuses nonces already expired or beyond the retention limit', async () => {
    const clock = new ManualClock(10_000);
    const store = new InMemoryNonceStore({ clock, maxRetentionMs: 60_000 });
    expect(await store.consume('old', 10_000)).toBe(false);
    expect(await store.consume('nan', Number.NaN)).toBe(false);
    expect(await store.consume('far', 10_000 + 60_001)).toBe(false);
    expect(await store.consume('ok', 10_000 + 60_000)).toBe(true);
    expect(store.stats).toMatchObject({ refusedExpired: 2, refusedRetention: 1, accepted: 1 });
  });

  it('fails closed when full, and takes nonces again once entries expire', async () => {
    const clock = new ManualClock(0);
    const store = new InMemoryNonceStore({ clock, maxEntries: 3 });
    for (const n of ['a', 'b', 'c']) expect(await store.consume(n, 100)).toBe(true);
    expect(await store.consume('d', 100)).toBe(false);
    expect(store.stats.refusedFull).toBe(1);
    clock.set(100);
    expect(await store.consume('d', 200)).toBe(true);
  });

  it('the heap keeps expiry order whatever the insertion order', () => {
    const clock = new ManualClock(0);
    const store = new InMemoryNonceStore({ clock });
    const expiries = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7919) % 200));
    expiries.forEach((e, i) => {
      store.consumeSync(`k${i}`, e);
    });
    for (let t = 1; t <= 200; t++) {
      clock.set(t);
      expect(store.size).toBe(expiries.filter((e) => e > t).length);
    }
  });
});
