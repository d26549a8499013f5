import { describe, expect, it } from 'vitest';
import { BitReader } from '../serde/BitReader.js';
import { DecodeError } from '../serde/DecodeError.js';
import { component } from '../serde/definitions.js';
import { t } from '../serde/types.js';
import { ManualClock } from '../util/Clock.js';
import { SeededRandom } from '../util/SeededRandom.js';
import { ClientWorld } from './ClientWorld.js';
import { entityRef } from './entityRef.js';
import { WorldError } from './errors.js';
import { decodeFrame } from './frame.js';
import { ServerWorld } from './ServerWorld.js';
import { WorldHarness } from './testing/WorldHarness.js';

const Position = component('Position', { x: t.f32, y: t.f32 });
const Name = component('Name', { text: t.string(24), tag: t.bytes(8) });
const Link = component('Link', { to: entityRef, q: t.quantized({ min: -1, max: 1, bits: 10 }), n: t.varint });
const DEFS = [Position, Name, Link];
const DEEP = process.env.BATON_DEEP === '1';

/** Real frames both ways from a busy scenario: the seeds for mutation. */
function corpus(): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const h = new WorldHarness(DEFS, {
    seed: 9,
    server: { allowClientEntities: true },
    conditions: { loss: 0.1, duplicate: 0, latencyMs: 10, jitterMs: 10 },
  });
  const a = h.addClient('a', { allowClientEntities: true });
  const tapDown = a.down.sendWorldFrame.bind(a.down);
  a.down.sendWorldFrame = (f) => {
    frames.push(f.slice());
    tapDown(f);
  };
  const tapUp = a.up.sendWorldFrame.bind(a.up);
  a.up.sendWorldFrame = (f) => {
    frames.push(f.slice());
    tapUp(f);
  };
  const room = h.server.createRoom().addUser('a');
  const es = [0, 1, 2, 3, 4].map((i) =>
    h.server
      .spawn()
      .insert(Position, { x: i, y: -i })
      .insert(Name, { text: `n${i}`, tag: new Uint8Array([i]) }),
  );
  for (const e of es) room.addEntity(e);
  es[1].insert(Link, { to: es[0].id, q: 0.5, n: -77 });
  const mine = a.world.spawn().insert(Position, { x: 1, y: 2 }).insert(Link, { n: 5 });
  for (let i = 0; i < 40; i++) {
    es[i % 5].get(Position).x += 1;
    if (i % 7 === 0) es[2].remove(Name);
    if (i % 7 === 3) es[2].insert(Name, { text: 'again' });
    mine.get(Position).y += 1;
    if (i === 10) mine.configureReplication('public');
    h.tick();
  }
  return frames;
}

function mutate(rnd: SeededRandom, src: Uint8Array): Uint8Array {
  const f = src.slice();
  switch (rnd.int(0, 5)) {
    case 0: {
      const flips = rnd.int(1, 4);
      for (let i = 0; i < flips && f.length > 0; i++) f[rnd.int(0, f.length - 1)] ^= 1 << rnd.int(0, 7);
      return f;
    }
    case 1:
      return f.slice(0, rnd.int(0, f.length));
    case 2: {
      const extra = new Uint8Array(rnd.int(1, 16)).map(() => rnd.int(0, 255));
      const out = new Uint8Array(f.length + extra.length);
      const at = rnd.int(0, f.length);
      out.set(f.subarray(0, at));
      out.set(extra, at);
      out.set(f.subarray(at), at + extra.length);
      return out;
    }
    case 3:
      if (f.length > 0) f[rnd.int(0, f.length - 1)] = rnd.int(0, 255);
      return f;
    case 4:
      // huge varints / lengths: fill a run with 0xff
      for (let i = rnd.int(0, f.length); i < f.length && rnd.chance(0.8); i++) f[i] = 0xff;
      return f;
    default: {
      // keep the header, randomise the rest
      for (let i = 9; i < f.length; i++) f[i] = rnd.int(0, 255);
      return f;
    }
  }
}

describe('world frame decoder fuzz', () => {
  it('random and mutated frames give a typed error or apply — never a crash or unbounded state', () => {
    const seeds = corpus();
    expect(seeds.length).toBeGreaterThan(50);
    const rnd = new SeededRandom(1234);
    const clock = new ManualClock();
    const pipe = { sendWorldFrame: () => {}, maxWorldFrameBytes: 1200, rttMs: 50 };
    const client = new ClientWorld({ components: DEFS, clock, pipe });
    const server = new ServerWorld<string>({ components: DEFS, clock, allowClientEntities: true });
    server.addUser('x', pipe);
    const total = DEEP ? 500_000 : 60_000;
    let applied = 0;
    let typed = 0;
    let decodeRejected = 0;
    for (let i = 0; i < total; i++) {
      let frame: Uint8Array;
      if (i % 2 === 0) {
        frame = new Uint8Array(rnd.int(0, 64)).map(() => rnd.int(0, 255));
      } else {
        frame = mutate(rnd, seeds[rnd.int(0, seeds.length - 1)]);
      }
      // the pure decoder: DecodeError or a frame
      try {
        decodeFrame(new BitReader(frame), client.registry);
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
        decodeRejected++;
      }
      // the full receive path on both sides: null or a WorldError, nothing thrown
      for (const r of [client.receiveFrame(frame), server.receiveFrame('x', frame)]) {
        if (r === null) applied++;
        else {
          expect(r).toBeInstanceOf(WorldError);
          typed++;
        }
      }
      if (i % 1000 === 0) {
        clock.advance(50);
        client.step();
        server.step();
      }
    }
    expect(decodeRejected).toBeGreaterThan(total / 4);
    expect(applied).toBeGreaterThan(100);
    expect(typed).toBeGreaterThan(1000);
    // state stays bounded by the documented limits
    expect(client.connection.remote.channels.size).toBeLessThan(1 << 20);
    expect(client.connection.pendingRefWaits).toBeLessThanOrEqual(65_536);
    expect(client.connection.stats.malformedFrames).toBeGreaterThan(0);
  });
});
