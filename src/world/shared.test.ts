import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { component } from '../serde/definitions.js';
import { t } from '../serde/types.js';
import type { Entity } from './Entity.js';
import { entityRef } from './entityRef.js';
import { WorldHarness } from './testing/WorldHarness.js';
import { UpdateCache } from './UpdateCache.js';

/**
 * Shared update encoding (UpdateCache) must be invisible on the wire: the same ops under the
 * same seeded lossy link give byte-identical frames with and without it — resends after loss,
 * late joiners, frozen/thawed entities, entity references and budget overflow included.
 */
const Position = component('Position', { x: t.f32, y: t.f32 });
const Stats = component('Stats', { hp: t.u8, tag: t.string(8), v: t.varint });
const Follow = component('Follow', { target: entityRef, gap: t.u8 });
const DEFS = [Position, Stats, Follow];
const USERS = ['a', 'b', 'c'];
const DEEP = process.env.BATON_DEEP === '1';

type Op =
  | { op: 'spawn'; room: number; x: number }
  | { op: 'mutate'; e: number; which: number; v: number }
  | { op: 'follow'; e: number; target: number }
  | { op: 'remove'; e: number; comp: number }
  | { op: 'despawn'; e: number }
  | { op: 'roomUser'; room: number; user: number; add: boolean }
  | { op: 'policy'; e: number }
  | { op: 'radius'; user: number; r: number | null }
  | { op: 'tick'; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('spawn' as const),
      room: fc.nat(1),
      x: fc.integer({ min: -40, max: 40 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('mutate' as const),
      e: fc.nat(99),
      which: fc.nat(3),
      v: fc.integer({ min: -60, max: 60 }),
    }),
    weight: 12,
  },
  {
    arbitrary: fc.record({ op: fc.constant('follow' as const), e: fc.nat(99), target: fc.nat(99) }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant('remove' as const), e: fc.nat(99), comp: fc.nat(2) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('despawn' as const), e: fc.nat(99) }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant('roomUser' as const),
      room: fc.nat(1),
      user: fc.nat(2),
      add: fc.boolean(),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant('policy' as const), e: fc.nat(99) }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant('radius' as const),
      user: fc.nat(2),
      r: fc.option(fc.integer({ min: 5, max: 50 })),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ op: fc.constant('tick' as const), n: fc.integer({ min: 1, max: 4 }) }),
    weight: 6,
  },
);

function run(shared: boolean, seed: number, loss: number, ops: Op[]): string[] {
  const h = new WorldHarness(DEFS, {
    seed,
    conditions: { loss, duplicate: 0.05, latencyMs: 20, jitterMs: 30, reorder: 0.1 },
    // a small budget makes updates wait and resend with accumulated masks
    connection: { bytesPerStep: 400 },
    maxFrameBytes: 200,
    server: { sharedEncoding: shared, position: { component: Position, x: 'x', y: 'y', cellSize: 8 } },
  });
  const frames: string[] = [];
  const rooms = [h.server.createRoom(), h.server.createRoom()];
  const addUser = (key: string) => {
    const c = h.addClient(key);
    const send = c.down.sendWorldFrame.bind(c.down);
    c.down.sendWorldFrame = (f: Uint8Array) => {
      frames.push(`${key}:${Buffer.from(f).toString('hex')}`);
      send(f);
    };
  };
  addUser('a');
  addUser('b');
  rooms[0].addUser('a').addUser('b');
  const ents: Entity[] = [];
  for (let i = 0; i < 6; i++) {
    const e = h.server
      .spawn()
      .insert(Position, { x: i * 7, y: i })
      .insert(Stats, { hp: i, tag: 's' });
    rooms[0].addEntity(e);
    ents.push(e);
  }
  h.ticks(2);
  const pick = (i: number) => {
    const l = ents.filter((e) => e.alive);
    return l.length === 0 ? undefined : l[i % l.length];
  };
  for (const o of ops) {
    switch (o.op) {
      case 'spawn': {
        const e = h.server.spawn().insert(Position, { x: o.x, y: -o.x }).insert(Stats, { hp: 1, tag: 'x' });
        rooms[o.room].addEntity(e);
        ents.push(e);
        break;
      }
      case 'mutate': {
        const e = pick(o.e);
        if (!e) break;
        if (o.which === 0 && e.has(Position)) e.get(Position).x = o.v;
        else if (o.which === 1 && e.has(Position)) {
          e.get(Position).x = o.v;
          e.get(Position).y = o.v / 2;
        } else if (o.which === 2 && e.has(Stats)) e.get(Stats).v = o.v * 1000;
        else if (e.has(Stats)) e.get(Stats).tag = `t${o.v}`;
        break;
      }
      case 'follow': {
        const e = pick(o.e);
        const target = pick(o.target);
        if (!e || !target) break;
        if (e.has(Follow)) e.get(Follow).target = target.id;
        else e.insert(Follow, { target: target.id, gap: 2 });
        break;
      }
      case 'remove': {
        const e = pick(o.e);
        if (e) e.remove(DEFS[o.comp]);
        break;
      }
      case 'despawn':
        pick(o.e)?.despawn();
        break;
      case 'roomUser': {
        const key = USERS[o.user];
        if (!h.server.hasUser(key)) addUser(key);
        if (o.add) rooms[o.room].addUser(key);
        else rooms[o.room].removeUser(key);
        break;
      }
      case 'policy': {
        const e = pick(o.e);
        e?.setScopeExitPolicy(e.scopeExitPolicy === 'keep' ? 'despawn' : 'keep');
        break;
      }
      case 'radius':
        if (h.server.hasUser(USERS[o.user])) h.server.setViewRadius(USERS[o.user], o.r, { x: 0, y: 0 });
        break;
      case 'tick':
        h.ticks(o.n);
        break;
    }
  }
  h.settle(600);
  expect(h.errors).toEqual([]);
  // (entity references are in each side's own id space, so those are left out of the comparison)
  const noRefs = (v: ReturnType<WorldHarness['clientView']>) => {
    for (const comps of v.values()) comps.delete('Follow');
    return v;
  };
  for (const key of h.clients.keys()) {
    const kept = h.keptIds(key);
    const actual = noRefs(h.clientView(key));
    for (const id of kept) actual.delete(id);
    expect(actual).toEqual(noRefs(h.expectedView(key)));
  }
  return frames;
}

describe('shared update encoding', () => {
  it('sends exactly the bytes of per-user encoding', () => {
    const encode = vi.spyOn(UpdateCache.prototype, 'encode');
    fc.assert(
      fc.property(
        fc.integer(),
        fc.constantFrom(0, 0.1, 0.3),
        fc.array(opArb, { minLength: 20, maxLength: 150 }),
        (seed, loss, ops) => {
          const a = run(true, seed, loss, ops);
          const b = run(false, seed, loss, ops);
          expect(a.length).toBe(b.length);
          expect(a).toEqual(b);
        },
      ),
      { numRuns: DEEP ? 1000 : 60, seed: DEEP ? undefined : 0x5a4ed },
    );
    // the shared path was exercised (not only the per-user fallback)
    expect(encode.mock.calls.length).toBeGreaterThan(100);
    encode.mockRestore();
  });
});
