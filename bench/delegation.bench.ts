/**
 * Authority delegation (DESIGN §4), measured on the deterministic world harness:
 *
 * - latency in ticks from an owner enabling delegation to its `authGranted` event, at 0 % and
 *   10 % loss (median over seeds; one tick = 50 ms, 20 ms one-way latency, 10 ms jitter). The
 *   floor is one round trip of world frames plus the tick alignment of both sides.
 * - server cost of migrating 1 000 client-owned entities in one tick (all delegated by the
 *   server at once, then the step that sends the MigrateResponses), against the same step with
 *   nothing to migrate; reported as a share of the 50 ms tick interval. Median of warm trials
 *   (fresh worlds, code already compiled); the process's first, cold run is its own row.
 */
import { ManualClock } from '../src/util/Clock.js';
import { ClientWorld } from '../src/world/ClientWorld.js';
import type { Entity } from '../src/world/Entity.js';
import { ServerWorld } from '../src/world/ServerWorld.js';
import {
  DELEGATION_DEFS,
  delegationSetup,
  Health,
  Position,
} from '../src/world/testing/delegationFixture.js';
import { type BenchContext, type BenchModule, type BenchRow, median, percentile, row } from './harness.js';

const TICK_MS = 50;

function latencyTicks(seed: number, loss: number): number {
  const { h, a } = delegationSetup({
    seed,
    conditions: { loss, duplicate: 0, latencyMs: 20, jitterMs: 10 },
  });
  const mine = a.world.spawn().insert(Position, { x: 1, y: 1 }).insert(Health, { hp: 1 });
  mine.configureReplication('public');
  h.settle();
  h.setConditions({ loss, duplicate: 0, latencyMs: 20, jitterMs: 10 });
  let granted = false;
  a.world.on('authGranted', () => {
    granted = true;
  });
  mine.configureReplication('delegated');
  for (let t = 1; t <= 400; t++) {
    h.tick(TICK_MS);
    if (granted) return t;
  }
  throw new Error('delegation never completed');
}

/** A server with one client owning `n` public entities, everything delivered and acknowledged. */
function migrationWorld(n: number) {
  const clock = new ManualClock();
  let toClient: Uint8Array[] = [];
  let toServer: Uint8Array[] = [];
  const server = new ServerWorld<string>({ components: DELEGATION_DEFS, clock, allowClientEntities: true });
  const room = server.createRoom();
  server.on('spawn', (e) => room.addEntity(e));
  server.addUser('a', { maxWorldFrameBytes: 1200, rttMs: 20, sendWorldFrame: (f) => toClient.push(f) });
  room.addUser('a');
  const client = new ClientWorld({
    components: DELEGATION_DEFS,
    clock,
    allowClientEntities: true,
    pipe: { maxWorldFrameBytes: 1200, rttMs: 20, sendWorldFrame: (f) => toServer.push(f) },
  });
  for (let i = 0; i < n; i++) client.spawn().insert(Position, { x: i, y: i }).configureReplication('public');
  const exchange = () => {
    clock.advance(TICK_MS);
    for (const f of toServer) server.receiveFrame('a', f);
    toServer = [];
    server.step();
    for (const f of toClient) client.receiveFrame(f);
    toClient = [];
    client.step();
  };
  for (let i = 0; i < 20; i++) exchange();
  const owned: Entity[] = [...server.entities()];
  if (owned.length !== n) throw new Error(`expected ${n} entities on the server, got ${owned.length}`);
  return { clock, server, owned, exchange };
}

function migrationCostMs(n: number): { migrate: number; baseline: number } {
  const w = migrationWorld(n);
  // baseline: the same step with nothing to migrate
  w.clock.advance(TICK_MS);
  let t0 = performance.now();
  w.server.step();
  const baseline = performance.now() - t0;
  w.clock.advance(TICK_MS);
  t0 = performance.now();
  for (const e of w.owned) e.configureReplication('delegated');
  w.server.step();
  const migrate = performance.now() - t0;
  for (const e of w.owned) if (e.replication !== 'delegated') throw new Error('not migrated');
  return { migrate, baseline };
}

export const delegationBench: BenchModule = {
  name: 'delegation',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const seeds = ctx.quick ? 7 : 31;
    const rows: BenchRow[] = [];
    const lat: Record<string, number> = {};
    const p90: Record<string, number> = {};
    for (const loss of [0, 0.1]) {
      const xs: number[] = [];
      for (let s = 1; s <= seeds; s++) xs.push(latencyTicks(s, loss));
      lat[loss] = median(xs);
      p90[loss] = percentile(xs, 90);
    }
    rows.push(row('delegation → authGranted, 0 % loss', lat[0], 'ticks'));
    rows.push(
      row('delegation → authGranted, 10 % loss', lat[0.1], 'ticks', {
        name: '0 % loss',
        value: lat[0],
      }),
    );
    rows.push(row('  … p90 at 10 % loss', p90[0.1], 'ticks'));
    // the first migration in a process runs cold (JIT, first allocations): reported apart
    const cold = migrationCostMs(1000).migrate;
    const warmups = ctx.quick ? 4 : 8;
    for (let i = 0; i < warmups; i++) migrationCostMs(1000);
    const trials = ctx.quick ? 5 : ctx.trials;
    const m: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < trials; i++) {
      const r = migrationCostMs(1000);
      m.push(r.migrate);
      b.push(r.baseline);
    }
    const mm = median(m);
    const bm = median(b);
    rows.push(
      row('migrate 1 000 entities in one step', mm, 'ms', { name: 'same step, no migration', value: bm }),
    );
    rows.push(row('  … share of the 50 ms tick', (100 * mm) / TICK_MS, '%'));
    rows.push(row('  … first run in the process (cold JIT)', cold, 'ms'));
    ctx.log(
      `1000 migrations: ${mm.toFixed(2)} ms warm, ${cold.toFixed(2)} ms cold (step alone ${bm.toFixed(2)} ms)`,
    );
    return rows;
  },
};
