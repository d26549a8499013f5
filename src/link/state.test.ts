import { describe, expect, it } from 'vitest';
import { Fifo } from './Fifo.js';
import { RttEstimator } from './RttEstimator.js';
import { Partial, RecvChannel } from './receiveState.js';
import { copyBytes, OutMessage, SendChannel } from './sendState.js';
import {
  FRAGMENT_SLOT_CHARGE,
  MODE_ORDERED_RELIABLE,
  MODE_SEQUENCED_RELIABLE,
  MODE_SEQUENCED_UNRELIABLE,
  MODE_TICK_BUFFERED,
  MODE_UNORDERED_RELIABLE,
  RELIABLE_WINDOW,
} from './wire.js';

// The link's small state pieces on their own: the end-to-end tests reach them only through
// loss and timing, where a wrong constant or an off-by-one hides behind a resend.

describe('RttEstimator (RFC 6298)', () => {
  it('starts at the initial guess, takes the first sample whole, then smooths with 1/8 and 1/4', () => {
    const r = new RttEstimator(100, 5);
    expect([r.rttMs, r.rttVarMs, r.hasSample]).toEqual([100, 50, false]);
    expect(r.lossDelayMs).toBe(300); // max(150, 100 + 4 × 50, 5)
    r.sample(40);
    expect([r.rttMs, r.rttVarMs, r.hasSample]).toEqual([40, 20, true]);
    r.sample(80);
    // rttvar = 0.75 × 20 + 0.25 × |40 − 80| = 25; srtt = 0.875 × 40 + 0.125 × 80 = 45
    expect(r.rttVarMs).toBe(25);
    expect(r.rttMs).toBe(45);
    expect(r.lossDelayMs).toBe(145); // 45 + 4 × 25
    r.sample(-10); // a clock step backwards counts as 0
    expect(r.rttVarMs).toBeCloseTo(0.75 * 25 + 0.25 * 45);
    expect(r.rttMs).toBeCloseTo(0.875 * 45);
  });

  it('loss delay: 1.5 × srtt when the variance is small, never below the floor', () => {
    const r = new RttEstimator(100, 5);
    for (let i = 0; i < 200; i++) r.sample(20);
    expect(r.rttMs).toBeCloseTo(20);
    expect(r.lossDelayMs).toBeCloseTo(30); // 1.5 × 20 beats 20 + 4 × ~0
    const tiny = new RttEstimator(100, 5);
    tiny.sample(0);
    expect(tiny.lossDelayMs).toBe(5);
    expect(new RttEstimator(10).lossDelayMs).toBe(30); // default floor 5 ms below 10 + 4 × 5
  });
});

describe('Fifo', () => {
  it('keeps order through growth, compaction and clear', () => {
    const q = new Fifo<number>();
    expect(q.size).toBe(0);
    for (let i = 0; i < 5000; i++) q.push(i);
    expect(q.size).toBe(5000);
    expect(q.at(3)).toBe(3);
    const peeked: number[] = [];
    const shifted: number[] = [];
    for (let i = 0; i < 3000; i++) {
      peeked.push(q.peek());
      shifted.push(q.shift());
    }
    expect(peeked).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(shifted).toEqual(peeked);
    expect(q.size).toBe(2000);
    expect(q.at(0)).toBe(3000);
    expect(q.at(1999)).toBe(4999);
    q.push(5000);
    const rest: number[] = [];
    while (q.size > 0 && rest.length <= 2001) rest.push(q.shift());
    expect(rest).toEqual(Array.from({ length: 2001 }, (_, i) => 3000 + i));
    expect(q.size).toBe(0);
    q.push(7);
    q.clear();
    expect(q.size).toBe(0);
    q.push(8);
    expect(q.peek()).toBe(8);
  });
});

describe('copyBytes', () => {
  it('copies short, whole and partial ranges exactly', () => {
    const src = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    for (const [from, length] of [
      [0, 0],
      [3, 10],
      [0, 64],
      [1, 64],
      [0, 65],
      [10, 200],
      [0, 300],
    ]) {
      const dst = new Uint8Array(320).fill(0xee);
      copyBytes(src, from, length, dst, 7);
      expect(dst.subarray(7, 7 + length)).toEqual(src.subarray(from, from + length));
      expect(dst[6]).toBe(0xee);
      expect(dst[7 + length]).toBe(0xee);
    }
  });
});

describe('SendChannel', () => {
  it('its window base is the oldest unreleased id, or the next id when nothing is held', () => {
    const ch = new SendChannel(2, MODE_ORDERED_RELIABLE, 1, true, true);
    expect(ch.baseId).toBe(0);
    ch.nextId = 9;
    expect(ch.baseId).toBe(9);
    ch.window.push(new OutMessage(2, 7, 0, 10, 1));
    expect(ch.baseId).toBe(7);
  });

  it('queues unreliable payloads as copies, in order, with their ids and sizes', () => {
    const ch = new SendChannel(0, MODE_SEQUENCED_UNRELIABLE, 1, true, false);
    const q = ch.unreliable;
    const payloads = Array.from({ length: 40 }, (_, i) => new Uint8Array(100 + i * 7).fill(i));
    for (const [i, p] of payloads.entries()) q.push(p, 1000 + i, p.length + 4);
    payloads[0].fill(0xff); // the queue holds a copy
    expect(q.size).toBe(40);
    for (let i = 0; i < 40; i++) {
      expect(q.peekId()).toBe(1000 + i);
      expect(q.peekLength()).toBe(100 + i * 7);
      expect(q.peekSize()).toBe(104 + i * 7);
      const out = new Uint8Array(q.peekLength() + 2);
      q.copyPeekTo(out, 1);
      expect(out.subarray(1, 1 + q.peekLength()).every((b) => b === i)).toBe(true);
      expect(out[0]).toBe(0);
      q.shift();
    }
    expect(q.size).toBe(0);
    // emptied: reusable from the start
    q.push(Uint8Array.of(5, 6), 1, 3);
    expect([q.size, q.peekId(), q.peekLength()]).toEqual([1, 1, 2]);
    q.clear();
    expect(q.size).toBe(0);
  });
});

describe('Partial and RecvChannel', () => {
  it('a partial reassembles in index order whatever the arrival order, and charges its slots', () => {
    const p = new Partial(5, 3);
    expect(p.charge).toBe(3 * FRAGMENT_SLOT_CHARGE);
    expect(p.add(2, Uint8Array.of(9))).toBe(false);
    expect([p.lastLen, p.fragLen]).toEqual([1, 0]);
    expect(p.add(0, Uint8Array.of(1, 2))).toBe(false);
    expect(p.fragLen).toBe(2);
    expect(p.charge).toBe(3 + 3 * FRAGMENT_SLOT_CHARGE);
    expect(p.add(1, Uint8Array.of(3, 4))).toBe(true);
    expect(p.received).toBe(3);
    expect(p.assemble()).toEqual(Uint8Array.of(1, 2, 3, 4, 9));
  });

  it('allocates per-id state only for the modes that use it', () => {
    expect(new RecvChannel(MODE_UNORDERED_RELIABLE).received.length).toBe(RELIABLE_WINDOW);
    expect(new RecvChannel(MODE_TICK_BUFFERED).received.length).toBe(RELIABLE_WINDOW);
    expect(new RecvChannel(MODE_ORDERED_RELIABLE).received.length).toBe(0);
    expect(new RecvChannel(MODE_ORDERED_RELIABLE).buffered.length).toBe(RELIABLE_WINDOW);
    expect(new RecvChannel(MODE_SEQUENCED_RELIABLE).buffered.length).toBe(0);
    const rc = new RecvChannel(MODE_SEQUENCED_RELIABLE);
    expect([rc.newest, rc.base, rc.seqPartial]).toEqual([-1, 0, undefined]);
  });
});
