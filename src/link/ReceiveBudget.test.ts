import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/Clock.js';
import { LinkConnection } from './LinkConnection.js';
import { type BudgetHolder, ReceiveBudget } from './ReceiveBudget.js';

class Holder implements BudgetHolder {
  evicted = false;
  constructor(readonly name: string) {}
  evictForBudget(): void {
    this.evicted = true;
  }
}

describe('ReceiveBudget', () => {
  it('evicts the largest holder to make room, only as much as needed', () => {
    const b = new ReceiveBudget(100);
    const [a, c, d, r] = ['a', 'c', 'd', 'r'].map((n) => new Holder(n));
    b.set(a, 30);
    b.set(c, 50);
    b.set(d, 10);
    expect(b.stats.heldBytes).toBe(90);
    expect(b.reserve(r, 10)).toBe(true); // fits exactly: nobody evicted
    expect([a, c, d, r].some((h) => h.evicted)).toBe(false);
    expect(b.reserve(r, 40)).toBe(true); // 130 > 100: c (50, the most) goes; 80 fits
    expect(c.evicted).toBe(true);
    expect(a.evicted || d.evicted || r.evicted).toBe(false);
    expect(b.stats).toMatchObject({ heldBytes: 40, evictions: 1, evictedBytes: 50, peakBytes: 90 });
    expect(b.heldBy(c)).toBe(0);
    b.set(r, 40);
    expect(b.stats.heldBytes).toBe(80);
  });

  it('evicts the receiving link itself when it would hold the most, ties included', () => {
    const b = new ReceiveBudget(100);
    const other = new Holder('other');
    const me = new Holder('me');
    b.set(other, 60);
    b.set(me, 20);
    expect(b.reserve(me, 40)).toBe(false); // me would hold 60: a tie with other, me loses
    expect(me.evicted).toBe(true);
    expect(other.evicted).toBe(false);
    expect(b.stats.heldBytes).toBe(60);
    expect(b.stats.evictedBytes).toBe(20);
    // a request larger than the whole budget evicts only the requester
    const greedy = new Holder('greedy');
    expect(b.reserve(greedy, 101)).toBe(false);
    expect(greedy.evicted).toBe(true);
    expect(other.evicted).toBe(false);
  });
});

describe('a link under a shared receive budget', () => {
  it('charges its buffered fragments, is evicted past the budget, and then refuses packets', () => {
    const clock = new ManualClock(0);
    const budget = new ReceiveBudget(20_000);
    const channels = [{ mode: 'ordered-reliable' as const }];
    const make = (role: 'client' | 'server', send: (p: Uint8Array) => void) =>
      new LinkConnection({ channels, role, send, clock, options: { receiveBudget: budget } });
    // two senders to two receivers; the final fragment of each message never arrives
    const receivers: LinkConnection[] = [];
    const senders: LinkConnection[] = [];
    for (let k = 0; k < 2; k++) {
      const packets: Uint8Array[] = [];
      senders.push(make('client', (p) => packets.push(p)));
      receivers.push(make('server', () => {}));
      senders[k].send(0, new Uint8Array(k === 0 ? 8_000 : 15_000).fill(k + 1));
      senders[k].flush();
      expect(packets.length).toBeGreaterThan(2);
      for (const p of packets.slice(0, -1)) {
        try {
          receivers[k].receive(p);
        } catch {
          // the budget refused it
        }
      }
    }
    // the second (larger) one took the budget over 20 000 and held the most: it was evicted
    expect(receivers[1].evicted).toBe(true);
    expect(receivers[0].evicted).toBe(false);
    expect(receivers[0].receiveBufferedBytes).toBeGreaterThan(5_000);
    expect(budget.stats.heldBytes).toBe(receivers[0].receiveBufferedBytes);
    expect(budget.stats.peakBytes).toBeLessThanOrEqual(20_000);
    expect(() => receivers[1].receive(new Uint8Array(12))).toThrow('evicted');
    // closing a link gives its share back
    receivers[0].close();
    expect(budget.stats.heldBytes).toBe(0);
  });
});
