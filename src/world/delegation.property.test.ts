import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entity } from './Entity.js';
import {
  clientEntityOf,
  delegationSetup,
  Health,
  Position,
  plain,
  serverEntityOf,
  Tag,
} from './testing/delegationFixture.js';
import type { LinkConditions } from './testing/LossyWorldPipe.js';

const DEEP = process.env.BATON_DEEP === '1';

type Op =
  | { op: 'insert'; comp: 0 | 1 | 2; v: number }
  | { op: 'remove'; comp: 0 | 1 | 2 }
  | { op: 'mutate'; comp: 0 | 1 | 2; v: number }
  | { op: 'tick'; n: number };

const comp = fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant('insert' as const), comp, v: fc.integer({ min: 0, max: 200 }) }),
    weight: 3,
  },
  { arbitrary: fc.record({ op: fc.constant('remove' as const), comp }), weight: 2 },
  {
    arbitrary: fc.record({ op: fc.constant('mutate' as const), comp, v: fc.integer({ min: 0, max: 200 }) }),
    weight: 5,
  },
  {
    arbitrary: fc.record({ op: fc.constant('tick' as const), n: fc.integer({ min: 1, max: 4 }) }),
    weight: 4,
  },
);
const linkArb: fc.Arbitrary<LinkConditions> = fc.record({
  loss: fc.constantFrom(0, 0.05, 0.1, 0.2, 0.3),
  duplicate: fc.constantFrom(0, 0.05, 0.2),
  latencyMs: fc.integer({ min: 0, max: 80 }),
  jitterMs: fc.integer({ min: 0, max: 60 }),
  reorder: fc.constantFrom(0, 0.1, 0.3),
});

/** The owner's model: component name → the values it last wrote. */
type Model = Map<string, Record<string, unknown>>;

function apply(e: Entity, model: Model, o: Op): void {
  const defs = [Position, Health, Tag] as const;
  const name = defs[(o as { comp: number }).comp]?.name;
  switch (o.op) {
    case 'insert': {
      const values = o.comp === 0 ? { x: o.v, y: -o.v } : o.comp === 1 ? { hp: o.v } : { text: `t${o.v}` };
      e.insert(defs[o.comp] as typeof Position, values as never);
      model.set(name, values);
      return;
    }
    case 'remove':
      e.remove(defs[o.comp]);
      model.delete(name);
      return;
    case 'mutate': {
      if (!e.has(defs[o.comp])) return;
      const m = model.get(name)!;
      if (o.comp === 0) {
        e.get(Position).x = o.v;
        m.x = o.v;
      } else if (o.comp === 1) {
        e.get(Health).hp = o.v;
        m.hp = o.v;
      } else {
        e.get(Tag).text = `m${o.v}`;
        m.text = `m${o.v}`;
      }
      return;
    }
    case 'tick':
      return;
  }
}

function run(seed: number, link: LinkConditions, ops: Op[], delegateAt: number, byServer: boolean): void {
  const { h, a, log } = delegationSetup({ seed, conditions: link });
  const mine = a.world.spawn().insert(Position, { x: 0, y: 0 });
  const model: Model = new Map([['Position', { x: 0, y: 0 }]]);
  mine.configureReplication('public');
  h.tick();
  for (let i = 0; i <= ops.length; i++) {
    if (i === Math.min(delegateAt, ops.length)) {
      const server = byServer ? serverEntityOf(h, 'a', mine) : undefined;
      if (server && server.replication === 'public') server.configureReplication('delegated');
      else mine.configureReplication('delegated');
    }
    if (i === ops.length) break;
    const o = ops[i];
    if (o.op === 'tick') h.ticks(o.n);
    else apply(mine, model, o);
  }
  h.settle(800);
  expect(h.errors).toEqual([]);
  const server = serverEntityOf(h, 'a', mine)!;
  const watched = clientEntityOf(h, 'b', server)!;
  expect(mine.authority).toBe('granted');
  expect(server.replication).toBe('delegated');
  // nothing the owner wrote is lost: its own entity and both copies hold its last writes
  const expected = Object.fromEntries([...model].map(([k, v]) => [k, { ...v }]));
  expect(plain(mine)).toEqual(expected);
  expect(plain(server)).toEqual(expected);
  expect(plain(watched)).toEqual(expected);
  // no observer ever saw the entity despawn or respawn
  const about = (tag: string, e: Entity) => log.filter((l) => l.tag === tag && l.entity === e).length;
  expect(about('s:spawn:a', server)).toBe(1);
  expect(about('s:despawn:a', server)).toBe(0);
  expect(about('b:spawn', watched)).toBe(1);
  expect(about('b:despawn', watched)).toBe(0);
  expect(log.filter((l) => l.tag === 'a:spawn' || l.tag === 'a:despawn')).toEqual([]);
  expect(about('s:delegate', server)).toBe(1);
  expect(about('a:delegate', mine)).toBe(1);
  expect(about('b:delegate', watched)).toBe(1);
  expect(about('a:authGranted', mine)).toBe(1);
  expect(about('s:authGranted:a', server)).toBe(1);
  expect(about('b:authDenied', watched)).toBe(1);
}

describe('delegation under loss, duplication and reordering', () => {
  it('server, owner and watcher agree; nothing is lost; nobody sees a despawn or respawn', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        linkArb,
        fc.array(opArb, { minLength: 5, maxLength: 60 }),
        fc.nat(60),
        fc.boolean(),
        (seed, link, ops, at, byServer) => run(seed, link, ops, at, byServer),
      ),
      process.env.REPLAY_SEED
        ? { seed: Number(process.env.REPLAY_SEED), path: process.env.REPLAY_PATH, endOnFailure: true }
        : { numRuns: DEEP ? 1000 : 60, seed: DEEP ? undefined : 0xde1e },
    );
  });
});
