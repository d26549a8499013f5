/**
 * World replication (src/world) against `@colyseus/schema` v5 and against the tick budget.
 *
 * - Change sets, bytes and time: the same entities and the same changes through baton's world
 *   layer (a ServerWorld with one user; the bytes are the world frames that step sends, after
 *   the initial spawn was acknowledged) and through a Colyseus `Encoder` over a Schema holding a
 *   MapSchema of entities (`encode()` + `discardChanges()`, after the initial state was
 *   encoded). One operation = apply the change set through each library's tracked setters and
 *   encode it, so each side pays its own change tracking.
 * - Full state: a user joining a world of 100 entities (baton: the step that sends the spawns,
 *   i.e. the new user's scope pass, its 100 host channels and Spawn commands, and the frames;
 *   Colyseus: `encodeAll()`). Connection setup and teardown (`addUser`, `removeUser`) are timed
 *   separately, as the whole join lifecycle (`world.join.100.time`), against the same encodeAll.
 * - Server cost per tick: 100 users × 1 000 entities all moving and all in scope, as a share of
 *   the 50 ms tick at 20 Hz, beside a naive peer that sends each user a JSON snapshot of the
 *   1 000 entities every tick.
 */
import { t as ct, Encoder, schema } from '@colyseus/schema';
import { BitWriter } from '../src/serde/BitWriter.js';
import { component } from '../src/serde/definitions.js';
import { t } from '../src/serde/types.js';
import { ManualClock } from '../src/util/Clock.js';
import type { AnyComponentDef } from '../src/world/ComponentRegistry.js';
import type { Entity } from '../src/world/Entity.js';
import { writeFrameHeader } from '../src/world/frame.js';
import type { Room } from '../src/world/Room.js';
import { ServerWorld } from '../src/world/ServerWorld.js';
import { serverStepScenario } from '../src/world/testing/serverStepScenario.js';
import {
  type BenchContext,
  type BenchModule,
  type BenchRow,
  compareOps,
  compareTimedOps,
  median,
  row,
  type TimedWork,
  wholeCall,
} from './harness.js';

const TICK_MS = 50;
const ENTITIES = 100;

// ---- baton ---------------------------------------------------------------------------------

const Pos2 = component('Pos2', { x: t.f32, y: t.f32 });
const Body4 = component('Body4', { x: t.f32, y: t.f32, angle: t.f32, hp: t.u8 });

/** A server world with one user whose frames are captured; acks are fed back by hand. */
class OneUser {
  readonly clock = new ManualClock();
  readonly sw: ServerWorld<string>;
  readonly room: Room<string>;
  bytes = 0;
  frames = 0;
  private lastFrame = -1;
  private ackIndex = 0;
  private readonly ackWriter = new BitWriter(16);

  constructor(defs: AnyComponentDef[]) {
    this.sw = new ServerWorld<string>({ components: defs, clock: this.clock });
    this.room = this.sw.createRoom();
  }

  addUser(key: string): void {
    this.sw.addUser(key, {
      maxWorldFrameBytes: 1200,
      rttMs: 40,
      sendWorldFrame: (f) => {
        this.bytes += f.length;
        this.frames++;
        this.lastFrame++;
      },
    });
    this.room.addUser(key);
  }

  step(): void {
    this.clock.advance(TICK_MS);
    this.sw.step();
  }

  /** The client's ack-only frame covering everything sent so far (33 frames back). */
  ack(key: string): void {
    if (this.lastFrame < 0) return;
    const w = this.ackWriter;
    w.reset();
    writeFrameHeader(w, this.ackIndex++ & 0xffff, { latest: this.lastFrame & 0xffff, bits: 0xffffffff });
    w.writeBool(false);
    w.writeBool(false);
    const err = this.sw.receiveFrame(key, w.finish());
    if (err) throw err;
  }
}

interface ChangeSet {
  /** Entities changed per operation. */
  changed: number;
}

function batonChanges(set: ChangeSet) {
  const w = new OneUser([Pos2]);
  const es: Entity[] = [];
  for (let i = 0; i < ENTITIES; i++) {
    const e = w.sw.spawn().insert(Pos2, { x: i, y: -i });
    w.room.addEntity(e);
    es.push(e);
  }
  w.addUser('u');
  w.step();
  w.ack('u');
  w.step();
  if (!w.sw.connection('u')!.idle) throw new Error('world bench: spawn not acknowledged');
  let tick = 0;
  const apply = () => {
    tick++;
    for (let i = 0; i < set.changed; i++) {
      const p = es[i].get(Pos2);
      p.x = tick + i;
      p.y = tick - i;
    }
    w.step();
    // an ack every 16 steps (the ack bitfield covers 33 frames) keeps the connection steady
    if ((tick & 15) === 0) w.ack('u');
  };
  // bytes of one change set, measured on its own
  w.bytes = 0;
  w.frames = 0;
  apply();
  if (w.frames !== 1) throw new Error(`world bench: ${w.frames} frames for one change set`);
  return { bytes: w.bytes, apply };
}

/**
 * A user joining a world of 100 entities. `joinStep` times only the step that brings the new
 * user to full state — its scope pass (a host channel and a Spawn command per entity) and the
 * encoding and hand-out of the frames carrying the 100 spawns — with `addUser` + `room.addUser`
 * before it and `removeUser` after it untimed. `join` times the whole lifecycle.
 */
function batonFullState(): { bytes: number; join: () => void; joinStep: TimedWork } {
  const w = new OneUser([Body4]);
  for (let i = 0; i < ENTITIES; i++) {
    const e = w.sw.spawn().insert(Body4, { x: i, y: -i, angle: i / 100, hp: i });
    w.room.addEntity(e);
  }
  let n = 0;
  const join = () => {
    const key = `u${n++}`;
    w.addUser(key);
    w.step();
    w.sw.removeUser(key);
  };
  const joinStep = (count: number) => {
    let ms = 0;
    for (let i = 0; i < count; i++) {
      const key = `u${n++}`;
      w.addUser(key);
      w.clock.advance(TICK_MS);
      const t0 = performance.now();
      w.sw.step();
      ms += performance.now() - t0;
      w.sw.removeUser(key);
    }
    return ms;
  };
  w.bytes = 0;
  join();
  return { bytes: w.bytes, join, joinStep };
}

// ---- Colyseus ------------------------------------------------------------------------------

const CEnt2 = schema({ x: ct.float32(), y: ct.float32() }, 'BenchEnt2');
const CState2 = schema({ entities: ct.map(CEnt2) }, 'BenchState2');
const CEnt4 = schema({ x: ct.float32(), y: ct.float32(), angle: ct.float32(), hp: ct.uint8() }, 'BenchEnt4');
const CState4 = schema({ entities: ct.map(CEnt4) }, 'BenchState4');

function colyseusChanges(set: ChangeSet) {
  const state = new CState2();
  const ents: InstanceType<typeof CEnt2>[] = [];
  for (let i = 0; i < ENTITIES; i++) {
    const e = new CEnt2();
    e.x = i;
    e.y = -i;
    state.entities.set(String(i), e);
    ents.push(e);
  }
  const enc = new Encoder(state);
  enc.encodeAll();
  enc.encode();
  enc.discardChanges();
  let tick = 0;
  let last = 0;
  const apply = () => {
    tick++;
    for (let i = 0; i < set.changed; i++) {
      const e = ents[i];
      e.x = tick + i;
      e.y = tick - i;
    }
    last = enc.encode().length;
    enc.discardChanges();
    return last;
  };
  return { bytes: apply(), apply };
}

function colyseusFullState() {
  const state = new CState4();
  for (let i = 0; i < ENTITIES; i++) {
    const e = new CEnt4();
    e.x = i;
    e.y = -i;
    e.angle = i / 100;
    e.hp = i;
    state.entities.set(String(i), e);
  }
  const enc = new Encoder(state);
  const full = () => enc.encodeAll().length;
  return { bytes: full(), full };
}

// ---- server tick ---------------------------------------------------------------------------

/** 100 users × 1 000 entities in one room, every entity moving every tick, acks fed back. */
function serverTick(users: number, entities: number) {
  const { sw, clock, ackAll, move, bytesSoFar, resetBytes } = serverStepScenario({
    users,
    entities,
    bytesPerStep: 65536,
  });
  /** One tick: the game moves everything (untimed), then the server step and the acks (timed). */
  const tick = (): number => {
    move();
    clock.advance(TICK_MS);
    const t0 = performance.now();
    sw.step();
    ackAll();
    return performance.now() - t0;
  };
  for (let k = 0; k < 5; k++) tick();
  resetBytes();
  return { tick, bytesSoFar };
}

/** The naive peer: each tick, every user gets a JSON snapshot of every entity. */
function jsonTick(users: number, entities: number) {
  const ents = Array.from({ length: entities }, (_, i) => ({ id: i, x: i, y: i, dx: 1, dy: 0 }));
  let sent = 0;
  const tick = (): number => {
    for (const e of ents) {
      e.x = Math.fround(e.x + 0.5);
      e.y = Math.fround(e.y - 0.25);
    }
    const t0 = performance.now();
    for (let u = 0; u < users; u++) sent += JSON.stringify(ents).length;
    return performance.now() - t0;
  };
  return { tick, sentSoFar: () => sent };
}

function measureTicks(ctx: BenchContext): BenchRow[] {
  const USERS = 100;
  const ENTS = 1000;
  const ticksPerTrial = ctx.quick ? 5 : 20;
  ctx.log(`world: server tick, ${USERS} users × ${ENTS} moving entities (setup …)`);
  const baton = serverTick(USERS, ENTS);
  const json = jsonTick(USERS, ENTS);
  for (let i = 0; i < ticksPerTrial; i++) json.tick();
  const b: number[] = [];
  const j: number[] = [];
  const bytes0 = baton.bytesSoFar();
  let batonTicks = 0;
  const json0 = json.sentSoFar();
  let jsonTicks = 0;
  for (let trial = 0; trial < ctx.trials; trial++) {
    let ms = 0;
    for (let i = 0; i < ticksPerTrial; i++) ms += baton.tick();
    b.push(ms / ticksPerTrial);
    batonTicks += ticksPerTrial;
    ms = 0;
    for (let i = 0; i < ticksPerTrial; i++) ms += json.tick();
    j.push(ms / ticksPerTrial);
    jsonTicks += ticksPerTrial;
  }
  const batonMs = median(b);
  const jsonMs = median(j);
  const tickRef = { name: `tick interval (${1000 / TICK_MS} Hz)`, value: TICK_MS };
  return [
    row('world.tick.interval', TICK_MS, 'ms'),
    row('world.server.tick.100u×1000e', batonMs, 'ms/tick', tickRef),
    row('world.server.tick.json-snapshot', jsonMs, 'ms/tick', tickRef),
    row('world.server.tick.vs-json', batonMs, 'ms/tick', { name: 'JSON snapshot/user', value: jsonMs }),
    row('world.server.bytes/user/tick', (baton.bytesSoFar() - bytes0) / batonTicks / USERS, 'bytes', {
      name: 'JSON snapshot',
      value: (json.sentSoFar() - json0) / jsonTicks / USERS,
    }),
  ];
}

// ---- the module ----------------------------------------------------------------------------

function changeRows(ctx: BenchContext, label: string, set: ChangeSet): BenchRow[] {
  const b = batonChanges(set);
  const c = colyseusChanges(set);
  const ops = compareOps(
    ctx,
    (n) => {
      for (let i = 0; i < n; i++) b.apply();
      return n;
    },
    (n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += c.apply();
      return acc;
    },
  );
  const colyseus = '@colyseus/schema';
  return [
    row(`world.${label}.bytes`, b.bytes, 'bytes', { name: colyseus, value: c.bytes }),
    row(`world.${label}.time`, 1e6 / ops.subject, 'µs', { name: colyseus, value: 1e6 / ops.baseline }),
  ];
}

export const worldBench: BenchModule = {
  name: 'world',
  async run(ctx) {
    const rows: BenchRow[] = [];
    ctx.log(`world: ${ENTITIES} entities { x: f32, y: f32 }, all changed, vs @colyseus/schema`);
    rows.push(...changeRows(ctx, 'update.100of100', { changed: ENTITIES }));
    ctx.log(`world: ${ENTITIES} entities, 10 changed`);
    rows.push(...changeRows(ctx, 'update.10of100', { changed: 10 }));

    ctx.log(`world: full state of ${ENTITIES} entities { x, y, angle: f32, hp: u8 }`);
    const bf = batonFullState();
    const cf = colyseusFullState();
    const colyseusFull = (count: number) => {
      let acc = 0;
      for (let i = 0; i < count; i++) acc += cf.full();
      return acc;
    };
    // the full-state encode of a joining user (connection setup and teardown untimed) …
    const full = compareTimedOps(ctx, bf.joinStep, wholeCall(colyseusFull));
    // … and the whole join lifecycle, against the same encodeAll (baton does more work here)
    const join = compareOps(
      ctx,
      (count) => {
        for (let i = 0; i < count; i++) bf.join();
        return count;
      },
      colyseusFull,
    );
    rows.push(
      row('world.fullstate.100.bytes', bf.bytes, 'bytes', { name: '@colyseus/schema', value: cf.bytes }),
      row('world.fullstate.100.time', 1e6 / full.subject, 'µs', {
        name: '@colyseus/schema',
        value: 1e6 / full.baseline,
      }),
      row('world.join.100.time', 1e6 / join.subject, 'µs', {
        name: 'colyseus encodeAll',
        value: 1e6 / join.baseline,
      }),
    );
    rows.push(...measureTicks(ctx));
    return rows;
  },
};
