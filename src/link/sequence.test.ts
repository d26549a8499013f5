import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sequenceDiff, sequenceGreaterThan, sequenceLessThan } from './sequence.js';

const u16 = fc.integer({ min: 0, max: 0xffff });

describe('16-bit sequence comparison', () => {
  it('orders across the wrap', () => {
    expect(sequenceGreaterThan(1, 0)).toBe(true);
    expect(sequenceGreaterThan(0, 1)).toBe(false);
    expect(sequenceGreaterThan(0, 0xffff)).toBe(true);
    expect(sequenceGreaterThan(5, 0xfff0)).toBe(true);
    expect(sequenceGreaterThan(0xfff0, 5)).toBe(false);
    expect(sequenceGreaterThan(7, 7)).toBe(false);
    expect(sequenceGreaterThan(0x7fff, 0)).toBe(true);
    expect(sequenceGreaterThan(0x8000, 0)).toBe(false);
    expect(sequenceGreaterThan(0, 0x8000)).toBe(false); // exactly half apart: neither
    expect(sequenceGreaterThan(0x8001, 0)).toBe(false);
    expect(sequenceLessThan(0xffff, 0)).toBe(true);
    expect(sequenceDiff(0, 0xffff)).toBe(1);
    expect(sequenceDiff(0xffff, 0)).toBe(-1);
    expect(sequenceDiff(0x7fff, 0)).toBe(0x7fff);
    expect(sequenceDiff(0x8000, 0)).toBe(-0x8000);
  });

  it('agrees with plain comparison for any pair less than half the space apart', () => {
    fc.assert(
      fc.property(u16, fc.integer({ min: -0x7fff, max: 0x7fff }), (a, delta) => {
        const b = (a + delta) & 0xffff;
        expect(sequenceGreaterThan(b, a)).toBe(delta > 0);
        expect(sequenceLessThan(b, a)).toBe(delta < 0);
        expect(sequenceDiff(b, a)).toBe(delta);
      }),
    );
  });

  it('is antisymmetric', () => {
    fc.assert(
      fc.property(u16, u16, (a, b) => {
        expect(sequenceGreaterThan(a, b) && sequenceGreaterThan(b, a)).toBe(false);
        if (a !== b && ((a - b) & 0xffff) !== 0x8000) {
          expect(sequenceGreaterThan(a, b) !== sequenceGreaterThan(b, a)).toBe(true);
        }
      }),
    );
  });
});
