import { describe, expect, it } from 'vitest';
import { AuthChannel } from './AuthChannel.js';

describe('AuthChannel state machine', () => {
  it('walks Unpublished → Published → Delegated → Published → Unpublished', () => {
    const ch = new AuthChannel(100);
    expect(ch.state).toBe('unpublished');
    expect(ch.offer(101, 'publish')).toBe('applied');
    expect(ch.state).toBe('published');
    expect(ch.offer(102, 'enableDelegation')).toBe('applied');
    expect(ch.state).toBe('delegated');
    expect(ch.offer(103, 'disableDelegation')).toBe('applied');
    expect(ch.state).toBe('published');
    expect(ch.offer(104, 'unpublish')).toBe('applied');
    expect(ch.state).toBe('unpublished');
    expect(ch.lastAppliedId).toBe(104);
  });

  it('buffers an operation that is not yet legal until its predecessor arrives', () => {
    const ch = new AuthChannel(0);
    const applied: string[] = [];
    expect(ch.offer(2, 'enableDelegation', (op) => applied.push(op))).toBe('buffered');
    expect(ch.bufferedCount).toBe(1);
    expect(ch.offer(1, 'publish', (op) => applied.push(op))).toBe('applied');
    expect(applied).toEqual(['publish', 'enableDelegation']);
    expect(ch.state).toBe('delegated');
    expect(ch.bufferedCount).toBe(0);
  });

  it('drops stale and duplicate operations', () => {
    const ch = new AuthChannel(10);
    expect(ch.offer(5, 'publish')).toBe('stale');
    expect(ch.offer(10, 'publish')).toBe('stale');
    expect(ch.offer(12, 'unpublish')).toBe('buffered');
    expect(ch.offer(12, 'unpublish')).toBe('duplicate');
    expect(ch.offer(11, 'publish')).toBe('applied');
    expect(ch.state).toBe('unpublished');
    expect(ch.offer(11, 'publish')).toBe('stale');
  });

  it('accepts ids far beyond 16 bits (exact ids, no wrapping sentinel)', () => {
    const ch = new AuthChannel(3 * 65536 + 5);
    expect(ch.offer(3 * 65536 + 6, 'publish')).toBe('applied');
    expect(ch.offer(4 * 65536, 'unpublish')).toBe('applied');
    expect(ch.state).toBe('unpublished');
  });

  it('allowed() reflects the transition table', () => {
    expect(AuthChannel.allowed('unpublished', 'publish')).toBe(true);
    expect(AuthChannel.allowed('unpublished', 'enableDelegation')).toBe(false);
    expect(AuthChannel.allowed('published', 'enableDelegation')).toBe(true);
    expect(AuthChannel.allowed('delegated', 'publish')).toBe(false);
  });

  it('bounds its buffer', () => {
    const ch = new AuthChannel(0);
    expect(() => {
      for (let i = 1; i < 200; i++) ch.offer(i * 2, 'disableDelegation');
    }).toThrow(RangeError);
  });
  it('orders authority sub-commands inside delegation and drops older ones', () => {
    const ch = new AuthChannel(10, 'published');
    const seen: string[] = [];
    const on = (op: string, _s: string, arg: number) => seen.push(`${op}${op === 'setAuthority' ? arg : ''}`);
    expect(ch.offer(13, 'setAuthority', on, 2)).toBe('buffered');
    expect(ch.offer(12, 'setAuthority', on, 1)).toBe('buffered');
    expect(ch.offer(11, 'enableDelegation', on)).toBe('applied');
    expect(seen).toEqual(['enableDelegation', 'setAuthority1', 'setAuthority2']);
    expect(ch.offer(12, 'setAuthority', on, 1)).toBe('stale');
  });

  it('forceDrain applies every newer buffered op (migration), in id order', () => {
    const ch = new AuthChannel(0);
    const seen: string[] = [];
    ch.offer(3, 'enableDelegation');
    ch.offer(5, 'setAuthority', undefined, 1);
    expect(ch.bufferedCount).toBe(2);
    expect(ch.forceDrain((op) => seen.push(op))).toBe(2);
    expect(seen).toEqual(['enableDelegation', 'setAuthority']);
    expect(ch.state).toBe('delegated');
    expect(ch.bufferedCount).toBe(0);
    expect(ch.lastAppliedId).toBe(5);
  });

  it('a migrated channel starts at its real epoch and accepts ids far past the 16-bit wrap', () => {
    const ch = new AuthChannel(65_533, 'delegated');
    expect(ch.offer(65_540, 'setAuthority', undefined, 2)).toBe('applied');
    expect(ch.offer(65_533 + 40_000, 'setAuthority', undefined, 0)).toBe('applied');
    expect(ch.offer(65_000, 'setAuthority', undefined, 1)).toBe('stale');
  });
});
