import fc from 'fast-check';

/**
 * The random server and client operations of the replication convergence properties (direct:
 * test/world.convergence.test.ts; through the proxy: test/proxy.convergence.test.ts), and the
 * link conditions of the client hop. One definition, so the two properties stay in step.
 */
export type Op =
  | { k: 'spawn'; x: number; y: number; hp: number | null; room: number }
  | { k: 'move'; e: number; x: number; y: number }
  | { k: 'hp'; e: number; hp: number }
  | { k: 'label'; e: number; text: string | null }
  | { k: 'despawn'; e: number }
  | { k: 'scope'; u: number; e: number; how: 'include' | 'exclude' | 'reset' }
  | { k: 'room'; u: number; room: number; join: boolean }
  | { k: 'roomEntity'; e: number; room: number; add: boolean }
  | { k: 'radius'; u: number; r: number }
  | { k: 'join' }
  | { k: 'leave'; u: number }
  | { k: 'tick'; n: number }
  | { k: 'own'; u: number; x: number; y: number; pub: boolean }
  | { k: 'ownMove'; u: number; e: number; x: number }
  | { k: 'ownPublish'; u: number; e: number; pub: boolean }
  | { k: 'ownDespawn'; u: number; e: number };

const coord = fc.integer({ min: -300, max: 300 });
const idx = fc.nat({ max: 30 });
const user = fc.nat({ max: 3 });

export const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      k: fc.constant('spawn' as const),
      x: coord,
      y: coord,
      hp: fc.option(fc.nat({ max: 1000 })),
      room: fc.nat({ max: 1 }),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ k: fc.constant('move' as const), e: idx, x: coord, y: coord }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('hp' as const), e: idx, hp: fc.nat({ max: 1000 }) }), weight: 3 },
  {
    arbitrary: fc.record({
      k: fc.constant('label' as const),
      e: idx,
      text: fc.option(fc.string({ maxLength: 8 })),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ k: fc.constant('despawn' as const), e: idx }), weight: 1 },
  {
    arbitrary: fc.record({
      k: fc.constant('scope' as const),
      u: user,
      e: idx,
      how: fc.constantFrom('include' as const, 'exclude' as const, 'reset' as const),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      k: fc.constant('room' as const),
      u: user,
      room: fc.nat({ max: 1 }),
      join: fc.boolean(),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      k: fc.constant('roomEntity' as const),
      e: idx,
      room: fc.nat({ max: 1 }),
      add: fc.boolean(),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ k: fc.constant('radius' as const), u: user, r: fc.integer({ min: 0, max: 400 }) }),
    weight: 1,
  },
  { arbitrary: fc.constant({ k: 'join' as const }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('leave' as const), u: user }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('tick' as const), n: fc.integer({ min: 1, max: 4 }) }), weight: 4 },
  {
    arbitrary: fc.record({ k: fc.constant('own' as const), u: user, x: coord, y: coord, pub: fc.boolean() }),
    weight: 2,
  },
  { arbitrary: fc.record({ k: fc.constant('ownMove' as const), u: user, e: idx, x: coord }), weight: 2 },
  {
    arbitrary: fc.record({ k: fc.constant('ownPublish' as const), u: user, e: idx, pub: fc.boolean() }),
    weight: 1,
  },
  { arbitrary: fc.record({ k: fc.constant('ownDespawn' as const), u: user, e: idx }), weight: 1 },
);

/** Client hop conditions: loss ≤ 30 %, duplication ≤ 20 %, reordering ≤ 30 %, latency and jitter. */
export const conditions = fc.record({
  loss: fc.integer({ min: 0, max: 30 }).map((p) => p / 100),
  duplicate: fc.integer({ min: 0, max: 20 }).map((p) => p / 100),
  reorder: fc.integer({ min: 0, max: 30 }).map((p) => p / 100),
  latencyMs: fc.integer({ min: 0, max: 60 }),
  jitterMs: fc.integer({ min: 0, max: 40 }),
});

/**
 * Authority delegation operations (additive to {@link Op}): the server delegates, undelegates,
 * gives, takes and releases authority over its entities; clients request and release it, write
 * what they hold, and delegate their own entities. `e` picks a server-owned entity (for client
 * ops: that entity's copy on client `u`), `u` a client, as in {@link Op}.
 */
export type DelegationOp =
  | { k: 'delegate'; e: number; on: boolean }
  | { k: 'give'; u: number; e: number }
  | { k: 'take'; e: number }
  | { k: 'serverRelease'; e: number }
  | { k: 'request'; u: number; e: number }
  | { k: 'release'; u: number; e: number }
  | { k: 'holderWrite'; u: number; e: number; hp: number; text: string | null }
  | { k: 'ownDelegate'; u: number; e: number };

export const delegationOp: fc.Arbitrary<DelegationOp> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('delegate' as const), e: idx, on: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('give' as const), u: user, e: idx }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('take' as const), e: idx }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('serverRelease' as const), e: idx }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('request' as const), u: user, e: idx }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('release' as const), u: user, e: idx }), weight: 2 },
  {
    arbitrary: fc.record({
      k: fc.constant('holderWrite' as const),
      u: user,
      e: idx,
      hp: fc.nat({ max: 1000 }),
      text: fc.option(fc.string({ maxLength: 8 })),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ k: fc.constant('ownDelegate' as const), u: user, e: idx }), weight: 1 },
);

/** Replication and delegation operations together. */
export const worldDelegationOp: fc.Arbitrary<Op | DelegationOp> = fc.oneof(
  { arbitrary: op, weight: 3 },
  { arbitrary: delegationOp, weight: 2 },
  // time passes more often: a grant takes a round trip before its holder can write
  { arbitrary: fc.record({ k: fc.constant('tick' as const), n: fc.integer({ min: 1, max: 4 }) }), weight: 1 },
);
