import { describe, expect, it } from 'vitest';
import { component } from '../serde/definitions.js';
import { t } from '../serde/types.js';
import type { Entity } from './Entity.js';
import { WorldHarness } from './testing/WorldHarness.js';

const Position = component('Position', { x: t.f32, y: t.f32 });
const Health = component('Health', { hp: t.u8 });
const DEFS = [Position, Health];

function setup() {
  const h = new WorldHarness(DEFS, { server: { position: { component: Position, x: 'x', y: 'y' } } });
  return h;
}

const seen = (h: WorldHarness, key: string) =>
  [...h.clients.get(key)!.world.entities()].filter((e) => !e.isLocal).length;

function clientCopy(h: WorldHarness, key: string, e: Entity): Entity | undefined {
  const id = h.server.connection(key)!.map.hostOf(e.id);
  return id === undefined ? undefined : h.clients.get(key)!.world.entityByRemoteId(id);
}

describe('scopes', () => {
  it('rooms gate visibility: join sees everything, leave despawns', () => {
    const h = setup();
    h.addClient('a');
    h.addClient('b');
    const r1 = h.server.createRoom().addUser('a');
    const r2 = h.server.createRoom().addUser('b');
    const e1 = h.server.spawn().insert(Health, { hp: 1 });
    const e2 = h.server.spawn().insert(Health, { hp: 2 });
    r1.addEntity(e1);
    r2.addEntity(e2);
    h.settle();
    expect(seen(h, 'a')).toBe(1);
    expect(clientCopy(h, 'a', e1)?.get(Health).hp).toBe(1);
    expect(clientCopy(h, 'a', e2)).toBeUndefined();
    r2.addUser('a');
    h.settle();
    expect(seen(h, 'a')).toBe(2);
    r1.removeUser('a');
    h.settle();
    expect(seen(h, 'a')).toBe(1);
    expect(clientCopy(h, 'a', e2)?.get(Health).hp).toBe(2);
    r2.removeEntity(e2);
    h.settle();
    expect(seen(h, 'a')).toBe(0);
    expect(seen(h, 'b')).toBe(0);
    expect(h.clientView('a')).toEqual(h.expectedView('a'));
  });

  it('include/exclude refine a room per user', () => {
    const h = setup();
    h.addClient('a');
    h.addClient('b');
    const room = h.server.createRoom().addUser('a').addUser('b');
    const e = h.server.spawn().insert(Position, { x: 100, y: 0 });
    room.addEntity(e);
    h.server.exclude('a', e);
    h.settle();
    expect(seen(h, 'a')).toBe(0);
    expect(seen(h, 'b')).toBe(1);
    // include overrides the view radius (not the room)
    h.server.setViewRadius('a', 10, { x: 0, y: 0 });
    h.server.include('a', e);
    h.settle();
    expect(seen(h, 'a')).toBe(1);
    h.server.resetScope('a', e);
    h.settle();
    expect(seen(h, 'a')).toBe(0);
    room.removeUser('b');
    h.server.include('b', e);
    h.settle();
    expect(seen(h, 'b')).toBe(0);
  });

  it('view radius: entities enter and leave interest as they move', () => {
    const h = setup();
    h.addClient('a');
    const room = h.server.createRoom().addUser('a');
    const avatar = h.server.spawn().insert(Position, { x: 0, y: 0 });
    const other = h.server.spawn().insert(Position, { x: 50, y: 0 }).insert(Health, { hp: 5 });
    const noPos = h.server.spawn().insert(Health, { hp: 9 });
    room.addEntity(avatar).addEntity(other).addEntity(noPos);
    h.server.setViewRadius('a', 20, avatar);
    h.settle();
    expect(clientCopy(h, 'a', other)).toBeUndefined();
    expect(clientCopy(h, 'a', avatar)).toBeDefined();
    expect(clientCopy(h, 'a', noPos)).toBeDefined(); // no position: the radius does not apply
    other.get(Position).x = 15;
    h.settle();
    expect(clientCopy(h, 'a', other)?.get(Position).x).toBe(15);
    avatar.get(Position).x = -30; // the view follows its centre entity
    h.settle();
    expect(clientCopy(h, 'a', other)).toBeUndefined();
    h.server.setViewRadius('a', null);
    h.settle();
    expect(clientCopy(h, 'a', other)).toBeDefined();
  });

  it("scope exit policy 'keep' leaves the entity on the client, frozen; re-entry brings it up to date", () => {
    const h = setup();
    h.addClient('a');
    const room = h.server.createRoom().addUser('a');
    const kept = h.server.spawn().insert(Position, { x: 1, y: 0 }).setScopeExitPolicy('keep');
    const gone = h.server.spawn().insert(Position, { x: 2, y: 0 });
    room.addEntity(kept).addEntity(gone);
    h.settle();
    h.server.exclude('a', kept);
    h.server.exclude('a', gone);
    h.settle();
    expect(clientCopy(h, 'a', gone)).toBeUndefined();
    const k = clientCopy(h, 'a', kept)!;
    expect(k).toBeDefined();
    kept.get(Position).x = 77; // not sent while out of scope
    kept.insert(Health, { hp: 4 }); // structure still follows
    h.settle();
    expect(k.get(Position).x).toBe(1);
    expect(k.get(Health).hp).toBe(4);
    h.server.resetScope('a', kept);
    h.settle();
    expect(k.get(Position).x).toBe(77);
    expect(clientCopy(h, 'a', kept)).toBe(k); // the same entity, never respawned
    kept.despawn();
    h.settle();
    expect(k.alive).toBe(false);
  });

  it('a late joiner gets the full current state', () => {
    const h = setup();
    h.addClient('a');
    const room = h.server.createRoom().addUser('a');
    const es: Entity[] = [];
    for (let i = 0; i < 20; i++) {
      const e = h.server.spawn().insert(Position, { x: i, y: i });
      if (i % 2) e.insert(Health, { hp: i });
      room.addEntity(e);
      es.push(e);
    }
    h.ticks(10);
    for (const e of es) e.get(Position).y += 100;
    es[3].remove(Position);
    es[4].despawn();
    h.ticks(10);
    h.addClient('late');
    room.addUser('late');
    h.settle();
    expect(seen(h, 'late')).toBe(19);
    expect(h.clientView('late')).toEqual(h.expectedView('late'));
    expect(h.clientView('a')).toEqual(h.expectedView('a'));
  });

  it('re-entering scope after a despawn brings the full current state', () => {
    const h = setup();
    h.addClient('a');
    const room = h.server.createRoom().addUser('a');
    const e = h.server.spawn().insert(Position, { x: 1, y: 1 });
    room.addEntity(e);
    h.settle();
    room.removeUser('a');
    h.settle();
    e.get(Position).x = 42;
    e.insert(Health, { hp: 3 });
    room.addUser('a');
    h.settle();
    expect(clientCopy(h, 'a', e)?.get(Position).x).toBe(42);
    expect(clientCopy(h, 'a', e)?.get(Health).hp).toBe(3);
  });

  it('removing a user drops its state and does not disturb others', () => {
    const h = setup();
    h.addClient('a');
    h.addClient('b');
    const room = h.server.createRoom().addUser('a').addUser('b');
    const e = h.server.spawn().insert(Position);
    room.addEntity(e);
    h.settle();
    h.removeClient('a');
    expect(e.viewers).toHaveLength(1);
    e.get(Position).x = 3;
    h.settle();
    expect(clientCopy(h, 'b', e)?.get(Position).x).toBe(3);
    expect(room.hasUser('a')).toBe(false);
  });
});
