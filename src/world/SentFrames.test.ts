import { describe, expect, it } from 'vitest';
import type { OutCommand } from './HostEngine.js';
import { SENT_RING, SentFrames } from './SentFrames.js';

describe('SentFrames', () => {
  it('finds recorded frames by index, not by slot', () => {
    const s = new SentFrames();
    expect(s.find(0)).toBe(-1);
    s.record(0, 5, 0, 3, null);
    expect(s.find(0)).toBe(0);
    expect(s.find(SENT_RING)).toBe(-1);
    expect(s.find(-1)).toBe(-1);
    expect(s.sentAt(0)).toBe(5);
    expect(s.logStart(0)).toBe(0);
    expect(s.logEnd(0)).toBe(3);
    expect(s.cmds(0)).toBeUndefined();
  });

  it('grows up to the ring and reports the unresolved frame a reuse would displace', () => {
    const s = new SentFrames();
    const cmds = [] as OutCommand[];
    for (let i = 0; i < SENT_RING; i++) s.record(i, i, i, i + 1, i === 7 ? cmds : null);
    expect(s.cmds(7)).toBe(cmds);
    expect(s.find(SENT_RING - 1)).toBe(SENT_RING - 1);
    expect(s.displaced(SENT_RING)).toBe(0);
    s.setResolved(0);
    expect(s.displaced(SENT_RING)).toBe(-1);
    expect(s.displaced(SENT_RING + 1)).toBe(1);
    s.setResolved(7);
    s.record(SENT_RING + 7, 0, 0, 0, null);
    expect(s.cmds(7)).toBeUndefined();
    expect(s.find(7)).toBe(-1);
  });

  it('acks resolve; the scan skips resolved and unrecorded frames', () => {
    const s = new SentFrames();
    s.record(1, 0, 0, 1, null);
    s.record(3, 0, 1, 2, null);
    expect(s.firstUnresolved(4)).toBe(1);
    s.setAcked(1);
    expect(s.acked(1)).toBe(true);
    expect(s.resolved(1)).toBe(true);
    expect(s.firstUnresolved(4)).toBe(3);
    s.setResolved(3);
    expect(s.acked(3)).toBe(false);
    expect(s.firstUnresolved(4)).toBe(-1);
    expect(s.scan).toBe(4);
  });
});
