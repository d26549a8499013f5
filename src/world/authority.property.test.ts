import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SERVER_HOLDER } from './Entity.js';
import {
  clientEntityOf,
  delegationSetup,
  Health,
  Position,
  plain,
  Tag,
} from './testing/delegationFixture.js';
import type { LinkConditions } from './testing/LossyWorldPipe.js';

const DEEP = process.env.BATON_DEEP === '1';
const KEYS = ['a', 'b', 'c'] as const;

type Op =
  | { op: 'request' | 'release'; who: number }
  | { op: 'write'; who: number; what: number; v: number }
  | { op: 'take' | 'serverRelease' }
  | { op: 'give'; who: number }
  | { op: 'serverWrite'; v: number }
  | { op: 'tick'; n: number };

const who = fc.nat(2);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constantFrom('request' as const, 'release' as const), who }), weight: 4 },
  {
    arbitrary: fc.record({
      op: fc.constant('write' as const),
      who,
      what: fc.nat(3),
      v: fc.integer({ min: 0, max: 250 }),
    }),
    weight: 6,
  },
  { arbitrary: fc.record({ op: fc.constantFrom('take' as const, 'serverRelease' as const) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('give' as const), who }), weight: 1 },
  {
    arbitrary: fc.record({ op: fc.constant('serverWrite' as const), v: fc.integer({ min: 0, max: 250 }) }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ op: fc.constant('tick' as const), n: fc.integer({ min: 1, max: 4 }) }),
    weight: 5,
  },
);
const linkArb: fc.Arbitrary<LinkConditions> = fc.record({
  loss: fc.constantFrom(0, 0.1, 0.2),
  duplicate: fc.constantFrom(0, 0.1),
  latencyMs: fc.integer({ min: 0, max: 60 }),
  jitterMs: fc.integer({ min: 0, max: 40 }),
  reorder: fc.constantFrom(0, 0.2),
});

function run(seed: number, link: LinkConditions, ops: Op[]): void {
  const { h, room } = delegationSetup({ seed, conditions: link, clients: [...KEYS] });
  const e = h.server.spawn().insert(Position, { x: 0, y: 0 }).insert(Health, { hp: 1 });
  room.addEntity(e);
  e.configureReplication('delegated');
  h.settle();
  const copies = KEYS.map((k) => clientEntityOf(h, k, e)!);
  for (const o of ops) {
    switch (o.op) {
      case 'request':
        copies[o.who].requestAuthority();
        break;
      case 'release':
        copies[o.who].releaseAuthority();
        break;
      case 'write': {
        const x = copies[o.who];
        // the holder may write while granted and while its release is on its way
        if (x.authority !== 'granted' && x.authority !== 'releasing') {
          expect(() => {
            if (x.has(Position)) x.get(Position).x = o.v;
            else x.insert(Position, { x: o.v });
          }).toThrow();
          break;
        }
        if (o.what === 0 && x.has(Position)) x.get(Position).x = o.v;
        else if (o.what === 1 && x.has(Health)) x.get(Health).hp = o.v;
        else if (o.what === 2) x.insert(Tag, { text: `t${o.v}` });
        else if (o.what === 3) x.remove(Tag);
        else x.insert(Position, { x: o.v, y: 1 });
        break;
      }
      case 'take':
        e.takeAuthority();
        break;
      case 'serverRelease':
        e.releaseAuthority();
        break;
      case 'give':
        e.giveAuthority(KEYS[o.who]);
        break;
      case 'serverWrite':
        // the server writes only while no client holds authority
        if (e.authHolder !== null && e.authHolder !== SERVER_HOLDER) break;
        if (o.v % 3 === 1) e.insert(Tag, { text: `s${o.v}` });
        else if (o.v % 3 === 2) e.remove(Tag);
        else if (e.has(Position)) e.get(Position).y = o.v;
        break;
      case 'tick':
        h.ticks(o.n);
        break;
    }
  }
  h.settle(800);
  expect(h.errors).toEqual([]);
  for (let i = 0; i < KEYS.length; i++) {
    const x = copies[i];
    const k = KEYS[i];
    const expected = e.authHolder === k ? 'granted' : e.authHolder === null ? 'available' : 'denied';
    expect({ k, status: x.authority }).toEqual({ k, status: expected });
    expect({ k, view: plain(x) }).toEqual({ k, view: plain(e) });
  }
}

describe('authority moving between clients and the server under loss', () => {
  it('statuses match the server holder and every copy matches the server', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        linkArb,
        fc.array(opArb, { minLength: 5, maxLength: 60 }),
        (seed, link, ops) => run(seed, link, ops),
      ),
      process.env.REPLAY_SEED
        ? { seed: Number(process.env.REPLAY_SEED), path: process.env.REPLAY_PATH, endOnFailure: true }
        : { numRuns: DEEP ? 1000 : 60, seed: DEEP ? undefined : 0xa07 },
    );
  });
});
