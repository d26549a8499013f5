/**
 * The Redis registry behaves as the in-memory one: the same random sequence of operations
 * (register, update, remove, sweep, with a manual clock) applied to both gives the same
 * results, the same `list`/`pickLeastLoaded` answers and the same events — on the instance that
 * made the change and on a second instance that only listens.
 */
import fc from 'fast-check';
import { afterEach, expect, it } from 'vitest';
import { describeWithRedis, useRedisServer } from '../../test/helpers/redis.js';
import type { BackendHealth, BackendRecord, Registry } from '../proxy/registry.js';
import { ed25519KeyPairFromSeed } from '../session/trust/ed25519.js';
import { ManualClock } from '../util/Clock.js';
import { InMemoryRegistry } from './InMemoryRegistry.js';
import { RedisRegistry } from './RedisRegistry.js';

const DEEP = process.env.BATON_DEEP === '1';
const key = ed25519KeyPairFromSeed(new Uint8Array(32).fill(4)).publicKeyRaw;
const IDS = ['a', 'b', 'c', 'd'];
const POOLS = ['p', 'q'];
const HEALTH: BackendHealth[] = ['up', 'down', 'draining'];

type Op =
  | { kind: 'register'; id: string; pool: string; capacity: number; load: number; health?: BackendHealth }
  | { kind: 'update'; id: string; load?: number; health?: BackendHealth; pool?: string }
  | { kind: 'remove'; id: string }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('register' as const),
    id: fc.constantFrom(...IDS),
    pool: fc.constantFrom(...POOLS),
    capacity: fc.integer({ min: 0, max: 5 }),
    load: fc.integer({ min: 0, max: 5 }),
    health: fc.option(fc.constantFrom(...HEALTH), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('update' as const),
    id: fc.constantFrom(...IDS),
    load: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    // most updates are heartbeats (no health): the case that revives a swept backend
    health: fc.option(fc.constantFrom(...HEALTH), { nil: undefined, freq: 2 }),
    pool: fc.option(fc.constantFrom(...POOLS), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('remove' as const), id: fc.constantFrom(...IDS) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1500 }) }),
  // sweeps often enough that sequences reach "swept down, then updated"
  fc.record({ kind: fc.constant('sweep' as const) }),
  fc.record({ kind: fc.constant('sweep' as const) }),
);

function plain(r: BackendRecord | undefined) {
  return r && { ...r, publicKey: Buffer.from(r.publicKey).toString('hex') };
}

async function apply(
  registry: Registry & { sweep(): Promise<string[]> },
  o: Op,
  clock: ManualClock,
): Promise<unknown> {
  switch (o.kind) {
    case 'register':
      return plain(
        await registry.register({
          id: o.id,
          pool: o.pool,
          address: { host: '127.0.0.1', port: 7000 },
          capacity: o.capacity,
          load: o.load,
          publicKey: key,
          health: o.health,
        }),
      );
    case 'update':
      return plain(await registry.update(o.id, { load: o.load, health: o.health, pool: o.pool }));
    case 'remove':
      return registry.remove(o.id);
    case 'advance':
      clock.set(clock.now() + o.ms);
      return null;
    case 'sweep':
      return registry.sweep();
  }
}

function recorder(registry: Registry) {
  const events: string[] = [];
  registry.events.on('registered', (r) => events.push(`registered ${r.id} ${r.pool} ${r.health}`));
  registry.events.on('removed', (r) => events.push(`removed ${r.id}`));
  registry.events.on('health', (r, p) => events.push(`health ${r.id} ${p ?? '-'}→${r.health}`));
  return events;
}

describeWithRedis('RedisRegistry ≡ InMemoryRegistry (real redis-server)', () => {
  const redis = useRedisServer();
  const open: RedisRegistry[] = [];
  afterEach(async () => {
    for (const r of open.splice(0)) await r.close();
  });

  it('same answers and events for any sequence of operations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: DEEP ? 60 : 20 }), async (ops) => {
        const clock = new ManualClock(1_000_000);
        const prefix = redis.prefix();
        const memory = new InMemoryRegistry({ clock, staleAfterMs: 1000 });
        const shared = new RedisRegistry({ redis: redis.url, prefix, clock, staleAfterMs: 1000 });
        const listener = new RedisRegistry({ redis: redis.url, prefix, clock, staleAfterMs: 1000 });
        open.push(shared, listener);
        await Promise.all([shared.ready(), listener.ready()]);
        const expected = recorder(memory);
        const actual = recorder(shared);
        const heard = recorder(listener);
        for (const o of ops) {
          expect(await apply(shared, o, clock)).toEqual(await apply(memory, o, clock));
          // the clock already moved for memory; advancing twice is harmless as both read it after
          if (o.kind === 'advance') clock.set(clock.now() - o.ms);
          expect((await shared.list()).map(plain)).toEqual((await memory.list()).map(plain));
          for (const pool of POOLS) {
            expect(plain(await listener.pickLeastLoaded(pool))).toEqual(
              plain(await memory.pickLeastLoaded(pool)),
            );
          }
        }
        expect(actual).toEqual(expected);
        // the listener hears every change, through Redis, in the same order
        for (let i = 0; i < 200 && heard.length < expected.length; i++)
          await new Promise((r) => setTimeout(r, 10));
        expect(heard).toEqual(expected);
        await shared.close();
        await listener.close();
      }),
      {
        numRuns: DEEP ? 300 : 40,
        examples: [
          [
            [
              { kind: 'register', id: 'a', pool: 'p', capacity: 2, load: 0, health: undefined },
              { kind: 'advance', ms: 1000 },
              { kind: 'sweep' },
              { kind: 'update', id: 'a', load: 1, health: undefined, pool: undefined },
            ],
          ],
        ],
      },
    );
  }, 120_000);
});
