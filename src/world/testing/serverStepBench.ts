/**
 * Server step cost: 100 users × 1000 entities, every entity moving every tick, acks fed back
 * by hand so only the server is measured. Run: `npx tsx src/world/testing/serverStepBench.ts`
 * (env N = ticks, BUDGET = bytes per user per step, USERS, ENTITIES, RADIUS = a view radius
 * around each user's own point that still covers every entity, SHARED=0 = per-user encoding).
 * `bench/world.bench.ts` measures the same scenario as part of the bench suite.
 */
import { serverStepScenario } from './serverStepScenario.js';

const USERS = Number(process.env.USERS ?? 100);
const { sw, clock, ackAll, move, bytesSoFar, resetBytes } = serverStepScenario({
  users: USERS,
  entities: Number(process.env.ENTITIES ?? 1000),
  bytesPerStep: Number(process.env.BUDGET ?? 65536),
  position: true,
  radius: process.env.RADIUS ? Number(process.env.RADIUS) : null,
  sharedEncoding: process.env.SHARED !== '0',
});
for (let k = 0; k < 10; k++) {
  clock.advance(50);
  sw.step();
  ackAll();
}
const N = Number(process.env.N ?? 100);
let ms = 0;
resetBytes();
for (let k = 0; k < N; k++) {
  move();
  clock.advance(50);
  const t0 = performance.now();
  sw.step();
  ackAll();
  ms += performance.now() - t0;
}
console.log('server ms/tick:', (ms / N).toFixed(2), 'bytes/tick/user', (bytesSoFar() / N / USERS).toFixed(0));
