import { BitWriter } from '../../serde/BitWriter.js';
import { component } from '../../serde/definitions.js';
import { t } from '../../serde/types.js';
import { ManualClock } from '../../util/Clock.js';
import type { Entity } from '../Entity.js';
import { writeFrameHeader } from '../frame.js';
import { ServerWorld } from '../ServerWorld.js';

export const Position = component('Position', { x: t.f32, y: t.f32 });
export const Vel = component('Vel', { dx: t.f32, dy: t.f32 });

export interface ServerStepOptions {
  users: number;
  entities: number;
  bytesPerStep: number;
  /** Declare Position as the position source (needed for view radius; it also costs grid upkeep). */
  position?: boolean;
  /** A view radius around each user's own point (i × 10, i × 10); null = none. */
  radius?: number | null;
  sharedEncoding?: boolean;
}

/**
 * The server-step scenario shared by `serverStepBench.ts` and `bench/world.bench.ts`: users ×
 * entities in one room, every world frame acknowledged by hand (`ackAll`) so only the server is
 * measured. The caller drives the ticks.
 */
export function serverStepScenario(o: ServerStepOptions) {
  const clock = new ManualClock();
  const sw = new ServerWorld<string>({
    components: [Position, Vel],
    clock,
    connection: { bytesPerStep: o.bytesPerStep },
    position: o.position ? { component: Position, x: 'x', y: 'y' } : undefined,
    sharedEncoding: o.sharedEncoding,
  });
  const room = sw.createRoom();
  const last = new Map<string, number>();
  let bytes = 0;
  for (let i = 0; i < o.users; i++) {
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
    if (o.radius != null) sw.setViewRadius(key, o.radius, { x: i * 10, y: i * 10 });
  }
  const es: Entity[] = [];
  for (let i = 0; i < o.entities; i++) {
    const e = sw.spawn().insert(Position, { x: i, y: i }).insert(Vel, { dx: 1, dy: 0 });
    room.addEntity(e);
    es.push(e);
  }
  const w = new BitWriter(16);
  let ackIdx = 0;
  /** Acknowledge every user's latest frame (and the 32 before it). */
  const ackAll = () => {
    for (const [key, n] of last) {
      w.reset();
      writeFrameHeader(w, ackIdx & 0xffff, { latest: n & 0xffff, bits: 0xffffffff });
      w.writeBool(false);
      w.writeBool(false);
      sw.receiveFrame(key, w.finish());
    }
    ackIdx++;
  };
  /** The game's part of a tick: every entity moves. */
  const move = () => {
    for (const e of es) {
      const p = e.get(Position);
      p.x += 0.5;
      p.y -= 0.25;
    }
  };
  return {
    sw,
    clock,
    ackAll,
    move,
    bytesSoFar: () => bytes,
    resetBytes: () => {
      bytes = 0;
    },
  };
}
