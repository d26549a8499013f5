import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/Clock.js';
import { GlobalEntityAllocator, HostIdAllocator } from './ids.js';
import { LocalEntityMap, REDIRECT_TTL_MS } from './LocalEntityMap.js';

describe('LocalEntityMap', () => {
  it('maps global ↔ host and global ↔ remote both ways', () => {
    const m = new LocalEntityMap(new ManualClock());
    m.insertHost(1000, 3);
    m.insertRemote(2000, 3);
    expect(m.hostOf(1000)).toBe(3);
    expect(m.globalOfHost(3)).toBe(1000);
    expect(m.remoteOf(2000)).toBe(3);
    expect(m.globalOfRemote(3)).toBe(2000);
    m.removeHost(3);
    expect(m.hostOf(1000)).toBeUndefined();
    expect(m.globalOfRemote(3)).toBe(2000);
  });

  it('installs a redirect and resolves the old id to the new one', () => {
    const clock = new ManualClock();
    const m = new LocalEntityMap(clock);
    m.insertRemote(77, 5);
    m.removeRemote(5);
    m.insertHost(77, 12);
    m.installRedirect('remote', 5, 'host', 12);
    expect(m.resolveRedirect('remote', 5)).toEqual({ side: 'host', id: 12 });
    expect(m.globalOfRemote(5)).toBe(77);
    expect(m.resolveRedirect('host', 5)).toBeUndefined();
  });

  it('expires redirects after 60 s (ManualClock) and cleans them up', () => {
    const clock = new ManualClock(1000);
    const m = new LocalEntityMap(clock);
    m.insertHost(9, 1);
    m.installRedirect('remote', 4, 'host', 1);
    m.installRedirect('host', 8, 'host', 1);
    clock.advance(REDIRECT_TTL_MS - 1);
    expect(m.globalOfRemote(4)).toBe(9);
    expect(m.cleanupRedirects()).toBe(0);
    expect(m.redirectCount).toBe(2);
    clock.advance(1);
    expect(m.resolveRedirect('remote', 4)).toBeUndefined(); // lazily dropped on lookup
    expect(m.redirectCount).toBe(1);
    expect(m.cleanupRedirects()).toBe(1);
    expect(m.redirectCount).toBe(0);
    expect(m.globalOfHost(8)).toBeUndefined();
  });

  it('a newer redirect of the same id replaces the older and restarts its clock', () => {
    const clock = new ManualClock();
    const m = new LocalEntityMap(clock);
    m.installRedirect('remote', 4, 'host', 1);
    clock.advance(50_000);
    m.installRedirect('remote', 4, 'host', 2);
    clock.advance(20_000);
    expect(m.resolveRedirect('remote', 4)).toEqual({ side: 'host', id: 2 });
  });
});

describe('entity ids', () => {
  it('global ids carry a backend prefix within 53 bits and never repeat', () => {
    const a = new GlobalEntityAllocator({ backendId: 65535, backendBits: 16 });
    const ids = new Set<number>();
    for (let i = 0; i < 1000; i++) ids.add(a.allocate());
    expect(ids.size).toBe(1000);
    for (const id of ids) {
      expect(Number.isSafeInteger(id)).toBe(true);
      expect(GlobalEntityAllocator.backendOf(id)).toBe(65535);
    }
    expect(() => new GlobalEntityAllocator({ backendId: 65536 })).toThrow(RangeError);
  });

  it('host ids are compact and recycled', () => {
    const h = new HostIdAllocator();
    expect([h.allocate(), h.allocate(), h.allocate()]).toEqual([0, 1, 2]);
    h.release(1);
    expect(h.allocate()).toBe(1);
    expect(h.inUse).toBe(3);
  });
});
