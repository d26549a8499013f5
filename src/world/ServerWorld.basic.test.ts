import { describe, expect, it } from 'vitest';
import { component } from '../serde/definitions.js';
import { t } from '../serde/types.js';
import { WorldHarness } from './testing/WorldHarness.js';

const Position = component('Position', { x: t.f32, y: t.f32 });
const Health = component('Health', { hp: t.u8, name: t.string(32) });

describe('world replication: basic path', () => {
  it('spawn, insert, update, remove, despawn reach a client', () => {
    const h = new WorldHarness([Position, Health]);
    const c = h.addClient('a');
    const room = h.server.createRoom();
    room.addUser('a');
    const events: string[] = [];
    c.world.on('spawn', () => events.push('spawn'));
    c.world.on('insert', (_e, def) => events.push(`insert ${def.name}`));
    c.world.on('update', (_e, def, keys) => events.push(`update ${def.name} ${keys.join(',')}`));
    c.world.on('remove', (_e, def) => events.push(`remove ${def.name}`));
    c.world.on('despawn', () => events.push('despawn'));

    const e = h.server.spawn().insert(Position, { x: 1, y: 2 });
    room.addEntity(e);
    h.ticks(3);
    expect(h.clientView('a')).toEqual(h.expectedView('a'));
    expect(events).toEqual(['spawn', 'insert Position']);

    e.get(Position).x = 5;
    h.ticks(3);
    expect(h.clientView('a')).toEqual(h.expectedView('a'));
    expect(events.at(-1)).toBe('update Position x');

    e.insert(Health, { hp: 7, name: 'orc' });
    h.ticks(3);
    expect(h.clientView('a')).toEqual(h.expectedView('a'));
    e.get(Health).hp = 9;
    h.ticks(3);
    expect([...h.clientView('a').values()][0].get('Health')).toEqual({ hp: 9, name: 'orc' });

    e.remove(Position);
    h.ticks(3);
    expect(h.clientView('a')).toEqual(h.expectedView('a'));
    e.despawn();
    h.ticks(3);
    expect(h.clientView('a').size).toBe(0);
    expect(events).toContain('remove Position');
    expect(events.at(-1)).toBe('despawn');
    h.settle();
    expect(h.errors).toEqual([]);
  });
});

describe('world: property setters validate floats like integers', () => {
  it('an f32/f64 setter refuses a non-number or an out-of-range f32, and the value stays', () => {
    const Body = component('Body', { x: t.f32, mass: t.f64, hp: t.u8 });
    const h = new WorldHarness([Body]);
    const e = h.server.spawn().insert(Body, { x: 1, mass: 2, hp: 3 });
    const body = e.get(Body);
    expect(() => {
      body.hp = 300;
    }).toThrow();
    expect(() => {
      body.x = 1e39; // beyond f32
    }).toThrow();
    expect(() => {
      (body as { mass: unknown }).mass = 'heavy';
    }).toThrow();
    expect(body.x).toBe(1);
    expect(body.mass).toBe(2);
    expect(() => h.server.spawn().insert(Body, { x: Number.MAX_VALUE, mass: 0, hp: 0 })).toThrow(/f32/);
    body.x = 1.5;
    expect(body.x).toBe(1.5);
  });
});
