import { describe, expect, it } from 'vitest';
import { ConnectReassembler } from './ConnectReassembler.js';
import { decodeConnectFragment, encodeConnectRequest } from './packets/connectionless.js';

const frags = (n: number, nonce: number) =>
  encodeConnectRequest(new Uint8Array(n).fill(nonce & 0xff), nonce, 1200).map(decodeConnectFragment);

describe('ConnectReassembler', () => {
  it('reassembles out of order and ignores duplicates', () => {
    const r = new ConnectReassembler();
    const f = frags(3000, 1);
    expect(r.add('a', f[2], 0)).toBeUndefined();
    expect(r.add('a', f[2], 0)).toBeUndefined();
    expect(r.add('a', f[0], 0)).toBeUndefined();
    const out = r.add('a', f[1], 0)!;
    expect(out.length).toBe(3000);
    expect(out.every((b) => b === 1)).toBe(true);
    expect(r.size).toBe(0);
    expect(r.bytes).toBe(0);
  });

  it('stays within its entry and byte caps, evicting the oldest', () => {
    const r = new ConnectReassembler({ maxEntries: 4, maxBytes: 10_000 });
    for (let i = 0; i < 100; i++) {
      r.add(`p${i}`, frags(3000, i)[0], i);
      expect(r.size).toBeLessThanOrEqual(4);
      expect(r.bytes).toBeLessThanOrEqual(10_000);
    }
    expect(r.evicted).toBeGreaterThan(90);
  });

  it('expires partial Connects after the TTL', () => {
    const r = new ConnectReassembler({ ttlMs: 100 });
    r.add('a', frags(3000, 1)[0], 0);
    expect(r.size).toBe(1);
    r.expire(99);
    expect(r.size).toBe(1);
    r.expire(100);
    expect(r.size).toBe(0);
  });

  it('a new nonce from the same peer replaces its old attempt', () => {
    const r = new ConnectReassembler();
    r.add('a', frags(3000, 1)[0], 0);
    r.add('a', frags(3000, 2)[0], 0);
    expect(r.size).toBe(1);
    expect(r.bytes).toBe(3000);
  });
});
