import { describe, expect, it } from 'vitest';
import { component } from '../serde/definitions.js';
import { t } from '../serde/types.js';
import type { Entity } from './Entity.js';
import { WorldHarness } from './testing/WorldHarness.js';

const Position = component('Position', { x: t.f32, y: t.f32 });
const Name = component('Name', { text: t.string(32) });

function setup(seed = 3, lossy = false) {
  const h = new WorldHarness([Position, Name], {
    seed,
    server: { allowClientEntities: true },
    conditions: lossy ? { loss: 0.25, duplicate: 0.1, latencyMs: 30, jitterMs: 40, reorder: 0.1 } : undefined,
  });
  const a = h.addClient('a', { allowClientEntities: true });
  const b = h.addClient('b', { allowClientEntities: true });
  const room = h.server.createRoom().addUser('a').addUser('b');
  // the game decides where client entities live: here, in the shared room
  h.server.on('spawn', (e) => room.addEntity(e));
  return { h, a, b, room };
}

function serverCopy(h: WorldHarness, owner: string): Entity[] {
  return [...h.server.entities()].filter((e) => e.ownerKey === owner);
}

describe('client-authored entities', () => {
  it('client spawns, inserts and mutates; the server sees it as client-owned', () => {
    const { h, a } = setup();
    const mine = a.world.spawn().insert(Position, { x: 1, y: 2 });
    h.ticks(3);
    const [s] = serverCopy(h, 'a');
    expect(s).toBeDefined();
    expect(s.isLocal).toBe(false);
    expect(s.get(Position)).toMatchObject({ x: 1, y: 2 });
    mine.insert(Name, { text: 'scout' });
    mine.get(Position).x = 9;
    h.ticks(4);
    expect(s.get(Name).text).toBe('scout');
    expect(s.get(Position).x).toBe(9);
    expect(() => s.insert(Name, { text: 'x' })).toThrow(/authored by a client/);
    mine.remove(Name);
    h.ticks(4);
    expect(s.has(Name)).toBe(false);
    mine.despawn();
    h.ticks(4);
    expect(s.alive).toBe(false);
    expect(serverCopy(h, 'a')).toEqual([]);
  });

  it('a private entity is seen by the server only; once public, by other clients in scope', () => {
    const { h, a, b } = setup();
    const mine = a.world.spawn().insert(Position, { x: 3, y: 4 });
    h.ticks(5);
    expect(serverCopy(h, 'a')).toHaveLength(1);
    const othersView = () => [...b.world.entities()].filter((e) => !e.isLocal);
    expect(othersView()).toHaveLength(0);
    mine.configureReplication('public');
    h.ticks(5);
    expect(othersView()).toHaveLength(1);
    expect(othersView()[0].get(Position)).toMatchObject({ x: 3, y: 4 });
    // the author never gets its own entity echoed back
    expect([...a.world.entities()].filter((e) => !e.isLocal)).toHaveLength(0);
    mine.get(Position).y = 40;
    h.ticks(5);
    expect(othersView()[0].get(Position).y).toBe(40);
    mine.configureReplication('private');
    h.ticks(5);
    expect(othersView()).toHaveLength(0);
    expect(serverCopy(h, 'a')).toHaveLength(1);
  });

  it('converges under a lossy link, and the author leaving despawns its entities everywhere', () => {
    const { h, a, b } = setup(11, true);
    const es = [0, 1, 2, 3].map((i) => a.world.spawn().insert(Position, { x: i, y: i }));
    es[0].configureReplication('public');
    es[2].configureReplication('public');
    for (let i = 0; i < 30; i++) {
      for (const e of es) e.get(Position).x += 1;
      if (i === 10) es[1].configureReplication('public');
      if (i === 15) es[2].insert(Name, { text: 'late' });
      h.tick();
    }
    h.settle();
    const bSees = [...b.world.entities()].filter((e) => !e.isLocal);
    expect(bSees.map((e) => e.get(Position).x).sort()).toEqual([30, 31, 32]);
    expect(bSees.filter((e) => e.has(Name)).map((e) => e.get(Name).text)).toEqual(['late']);
    expect(
      serverCopy(h, 'a')
        .map((e) => e.get(Position).x)
        .sort(),
    ).toEqual([30, 31, 32, 33]);
    h.removeClient('a');
    h.settle();
    expect([...b.world.entities()].filter((e) => !e.isLocal)).toHaveLength(0);
    expect(h.errors).toEqual([]);
  });

  it('a server that does not allow client entities refuses them with a fatal error', () => {
    const h = new WorldHarness([Position]);
    const a = h.addClient('a', { allowClientEntities: true });
    a.world.spawn().insert(Position, { x: 1, y: 1 });
    h.ticks(3);
    expect(h.errors.some((e) => e.fatal && e.code === 'not-allowed')).toBe(true);
    expect([...h.server.entities()]).toHaveLength(0);
  });

  it('a client cannot spawn unless allowed, nor change server entities', () => {
    const h = new WorldHarness([Position]);
    const a = h.addClient('a');
    expect(() => a.world.spawn()).toThrow(/disabled/);
    const room = h.server.createRoom().addUser('a');
    room.addEntity(h.server.spawn().insert(Position, { x: 1, y: 1 }));
    h.ticks(3);
    const [e] = [...a.world.entities()];
    expect(() => e.insert(Position, { x: 2 })).toThrow(/replicated from the server/);
  });
});
