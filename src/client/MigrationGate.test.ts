import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIRST_PROTOCOL_CHANNEL } from '../session/Protocol.js';
import type { MigratePacket } from '../session/packets/types.js';
import { MigrationGate, type MigrationGateBounds } from './MigrationGate.js';

const RUNS = process.env.BATON_DEEP === '1' ? 2000 : 150;

type Out = { kind: 'msg'; channel: number; text: string } | { kind: 'migrated'; epoch: number };

function migrate(epoch: number, counts: number[]): MigratePacket {
  return {
    type: 'Migrate',
    epoch,
    backendId: `b${epoch}`,
    serverTick: 0,
    barrier: counts.map((count, c) => ({ linkChannel: FIRST_PROTOCOL_CHANNEL + c, count })),
    setup: [],
    carried: [],
  };
}

function tagged(epoch: number, text: string): Uint8Array {
  return Uint8Array.of(epoch, ...new TextEncoder().encode(text));
}

function gate(channels = 2, epoch = 0, bounds?: Partial<MigrationGateBounds>) {
  const out: Out[] = [];
  const failures: string[] = [];
  const counters = { staleMessages: 0 };
  const g = new MigrationGate(
    channels,
    epoch,
    (channel, payload) => out.push({ kind: 'msg', channel, text: new TextDecoder().decode(payload) }),
    (m) => out.push({ kind: 'migrated', epoch: m.epoch }),
    (reason) => failures.push(reason),
    counters,
    { maxPendingMigrates: 4, maxHeldMessages: 4096, maxHeldBytes: 1 << 20, ...bounds },
  );
  return { g, out, failures, counters };
}

const texts = (out: Out[]) =>
  out.map((o) => (o.kind === 'msg' ? `${o.channel}:${o.text}` : `migrated:${o.epoch}`));

describe('MigrationGate', () => {
  it('holds a later epoch’s message that overtook the Migrate, and delivers it right after the swap', () => {
    const { g, out } = gate();
    g.message(0, tagged(0, 'a1'));
    g.message(1, tagged(1, 'b1')); // B's, before the Migrate
    g.message(0, tagged(1, 'b2'));
    expect(texts(out)).toEqual(['0:a1']);
    expect(g.heldCount).toBe(2);
    g.migrate(migrate(1, [1, 0]));
    expect(texts(out)).toEqual(['0:a1', 'migrated:1', '1:b1', '0:b2']);
    expect(g.epoch).toBe(1);
    expect(g.heldCount).toBe(0);
  });

  it('applies a Migrate only once every message of the old epoch arrived on each listed channel (unordered arrivals)', () => {
    const { g, out } = gate();
    g.migrate(migrate(1, [2, 1])); // overtook three of A's messages
    expect(g.waiting).toBe(true);
    g.message(1, tagged(0, 'a3'));
    g.message(0, tagged(1, 'b1'));
    g.message(0, tagged(0, 'a2'));
    expect(texts(out)).toEqual(['1:a3', '0:a2']);
    g.message(0, tagged(0, 'a1'));
    expect(texts(out)).toEqual(['1:a3', '0:a2', '0:a1', 'migrated:1', '0:b1']);
    expect(g.waiting).toBe(false);
  });

  it('counts only the old epoch’s messages (a count reached by early new-epoch messages does not apply it)', () => {
    const { g, out } = gate();
    g.migrate(migrate(1, [1, 0]));
    g.message(0, tagged(1, 'b1'));
    g.message(0, tagged(1, 'b2'));
    expect(out).toEqual([]);
    g.message(0, tagged(0, 'a1'));
    expect(texts(out)).toEqual(['0:a1', 'migrated:1', '0:b1', '0:b2']);
  });

  it('a barrier count of n is applied at the n-th message, not one before or after', () => {
    const { g, out } = gate(1);
    g.migrate(migrate(1, [3]));
    g.message(0, tagged(0, 'a1'));
    g.message(0, tagged(0, 'a2'));
    expect(out.some((o) => o.kind === 'migrated')).toBe(false);
    g.message(0, tagged(0, 'a3'));
    expect(texts(out)).toEqual(['0:a1', '0:a2', '0:a3', 'migrated:1']);
  });

  it('drops (and counts) a message of an epoch already left: only unreliable/sequenced ones can be that late', () => {
    const { g, out, counters } = gate();
    g.migrate(migrate(1, [0, 0]));
    g.message(0, tagged(0, 'late'));
    expect(texts(out)).toEqual(['migrated:1']);
    expect(counters.staleMessages).toBe(1);
  });

  it('a move and its rollback (two Migrates) keep each epoch between its swaps, across the epoch wrap', () => {
    const { g, out } = gate(1, 255);
    g.message(0, tagged(1, 'a-again')); // epoch 1: back on A, overtook everything
    g.message(0, tagged(0, 'b1'));
    g.migrate(migrate(0, [1]));
    g.migrate(migrate(1, [2]));
    expect(out).toEqual([]);
    g.message(0, tagged(255, 'a1'));
    expect(texts(out)).toEqual(['0:a1', 'migrated:0', '0:b1']);
    g.message(0, tagged(0, 'b2'));
    expect(texts(out)).toEqual(['0:a1', 'migrated:0', '0:b1', '0:b2', 'migrated:1', '0:a-again']);
  });

  it('fails with a reason on a Migrate out of sequence, too many pending, no epoch byte, or too much held', () => {
    expect(
      (() => {
        const t = gate();
        t.g.migrate(migrate(2, [0, 0]));
        return t.failures;
      })(),
    ).toEqual([expect.stringMatching(/out of sequence/)]);
    const many = gate(1, 0, { maxPendingMigrates: 2 });
    many.g.migrate(migrate(1, [5]));
    many.g.migrate(migrate(2, [5]));
    expect(many.failures).toEqual([]);
    many.g.migrate(migrate(3, [5]));
    expect(many.failures).toEqual([expect.stringMatching(/more than 2 Migrates pending/)]);
    const empty = gate();
    empty.g.message(0, new Uint8Array(0));
    expect(empty.failures).toEqual([expect.stringMatching(/epoch byte/)]);
    const count = gate(1, 0, { maxHeldMessages: 3 });
    count.g.migrate(migrate(1, [1]));
    for (let i = 0; i < 3; i++) count.g.message(0, tagged(1, 'b'));
    expect(count.failures).toEqual([]);
    count.g.message(0, tagged(1, 'b'));
    expect(count.failures).toEqual([expect.stringMatching(/more than 3 messages held/)]);
    const bytes = gate(1, 0, { maxHeldBytes: 10 });
    bytes.g.message(0, tagged(1, '0123456789'));
    expect(bytes.failures).toEqual([]);
    bytes.g.message(0, tagged(1, 'x'));
    expect(bytes.failures).toEqual([expect.stringMatching(/more than 10 bytes held/)]);
    // a failed gate holds nothing and delivers nothing more
    bytes.g.message(0, tagged(0, 'x'));
    expect(bytes.out).toEqual([]);
    expect(bytes.g.heldCount).toBe(0);
  });

  it('property: any interleaving of three epochs’ messages and two Migrates — each message delivered once, between its swaps, in order per channel', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 6 }), { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(),
        (perEpoch, start, seed) => {
          const channels = 3;
          // per epoch: messages (channel numbers), in send order; Migrate k lists epoch k-1's counts
          type Arrival =
            | { kind: 'msg'; epoch: number; channel: number; n: number }
            | { kind: 'migrate'; k: number };
          const arrivals: Arrival[] = [];
          perEpoch.forEach((chs, k) => {
            chs.forEach((channel, n) => {
              arrivals.push({ kind: 'msg', epoch: k, channel, n });
            });
          });
          arrivals.push({ kind: 'migrate', k: 1 }, { kind: 'migrate', k: 2 });
          // a random arrival order that keeps the Migrates in order and each channel of an epoch in order
          const rnd = mulberry(seed);
          const order = arrivals.map((a) => ({ a, key: rnd() }));
          order.sort((x, y) => x.key - y.key);
          const shuffled = stableFix(order.map((o) => o.a));
          const { g, out, failures } = gate(channels, start);
          for (const a of shuffled) {
            if (a.kind === 'migrate') {
              const counts = Array.from(
                { length: channels },
                (_, c) => perEpoch[a.k - 1].filter((x) => x === c).length,
              );
              g.migrate(migrate((start + a.k) & 0xff, counts));
            } else g.message(a.channel, tagged((start + a.epoch) & 0xff, `${a.epoch}.${a.n}`));
          }
          expect(failures).toEqual([]);
          // every message delivered exactly once, after the swaps before its epoch and before the ones after
          let epoch = 0;
          const seen: string[] = [];
          const lastN = new Map<string, number>();
          for (const o of out) {
            if (o.kind === 'migrated') {
              epoch++;
              expect(o.epoch).toBe((start + epoch) & 0xff);
              continue;
            }
            const [e, n] = o.text.split('.').map(Number);
            expect(e).toBe(epoch);
            const key = `${e}:${o.channel}`;
            expect(n).toBeGreaterThan(lastN.get(key) ?? -1);
            lastN.set(key, n);
            seen.push(o.text);
          }
          expect(epoch).toBe(2);
          expect(seen.length).toBe(perEpoch.flat().length);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Restore, within a shuffled arrival list, the order of Migrates and of each epoch's channel (an ordered link). */
function stableFix<T extends { kind: string; k?: number; epoch?: number; channel?: number; n?: number }>(
  xs: T[],
): T[] {
  const groups = new Map<string, T[]>();
  const keyOf = (x: T) => (x.kind === 'migrate' ? 'migrate' : `${x.epoch}:${x.channel}`);
  const rank = (x: T) => (x.kind === 'migrate' ? x.k! : x.n!);
  for (const x of xs) {
    const k = keyOf(x);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(x);
  }
  for (const g of groups.values()) g.sort((a, b) => rank(a) - rank(b));
  const next = new Map<string, number>();
  return xs.map((x) => {
    const k = keyOf(x);
    const i = next.get(k) ?? 0;
    next.set(k, i + 1);
    return groups.get(k)![i];
  });
}
