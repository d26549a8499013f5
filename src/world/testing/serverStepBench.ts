/**
 * Server step cost: 100 users × 1000 entities, every entity moving every tick, acks fed back
 * by hand so only the server is measured. Run: `npx tsx src/world/testing/serverStepBench.ts`
 * (env N = ticks, BUDGET = bytes per user per step, USERS, ENTITIES, RADIUS = a view radius
 * around each user's own point that still covers every entity, SHARED=0 = per-user encoding).
 * `bench/world.bench.ts` measures the same scenario as part of the bench suite.
 */
import { BitWriter } from '../../serde/BitWriter.js';
import { component } from '../../serde/definitions.js';
import { t } from '../../serde/types.js';
import { ManualClock } from '../../util/Clock.js';
import { writeFrameHeader } from '../frame.js';
import { ServerWorld } from '../ServerWorld.js';

const Position = component('Position', { x: t.f32, y: t.f32 });
const Vel = component('Vel', { dx: t.f32, dy: t.f32 });
const clock = new ManualClock();
const USERS = Number(process.env.USERS ?? 100);
const RADIUS = process.env.RADIUS ? Number(process.env.RADIUS) : null;
const sw = new ServerWorld<string>({
  components: [Position, Vel],
  clock,
  connection: { bytesPerStep: Number(process.env.BUDGET ?? 65536) },
  position: { component: Position, x: 'x', y: 'y' },
  sharedEncoding: process.env.SHARED !== '0',
});
const room = sw.createRoom();
const last = new Map<string, number>();
let bytes = 0;
for (let i = 0; i < USERS; i++) {
  const key = `u${i}`;
  let n = 0;
  sw.addUser(key, {
    maxWorldFrameBytes: 1200,
    rttMs: 40,
    sendWorldFrame: (f) => {
      bytes += f.length;
      last.set(key, n++);
    },
  });
  room.addUser(key);
  if (RADIUS !== null) sw.setViewRadius(key, RADIUS, { x: i * 10, y: i * 10 });
}
const es = [];
for (let i = 0; i < Number(process.env.ENTITIES ?? 1000); i++) {
  const e = sw.spawn().insert(Position, { x: i, y: i }).insert(Vel, { dx: 1, dy: 0 });
  room.addEntity(e);
  es.push(e);
}
let ackIdx = 0;
function ackAll() {
  for (const [key, n] of last) {
    const w = new BitWriter(16);
    writeFrameHeader(w, ackIdx & 0xffff, { latest: n & 0xffff, bits: 0xffffffff });
    w.writeBool(false);
    w.writeBool(false);
    sw.receiveFrame(key, w.finish());
  }
  ackIdx++;
}
for (let k = 0; k < 10; k++) {
  clock.advance(50);
  sw.step();
  ackAll();
}
const N = Number(process.env.N ?? 100);
let ms = 0;
bytes = 0;
for (let k = 0; k < N; k++) {
  for (const e of es) {
    const p = e.get(Position);
    p.x += 0.5;
    p.y -= 0.25;
  }
  clock.advance(50);
  const t0 = performance.now();
  sw.step();
  ackAll();
  ms += performance.now() - t0;
}
console.log('server ms/tick:', (ms / N).toFixed(2), 'bytes/tick/user', (bytes / N / USERS).toFixed(0));
