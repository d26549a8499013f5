import { describe, expect, it } from 'vitest';
import { BitReader } from '../serde/BitReader.js';
import { component } from '../serde/definitions.js';
import { t } from '../serde/types.js';
import type { ClientWorld } from './ClientWorld.js';
import type { Entity } from './Entity.js';
import { entityRef } from './entityRef.js';
import { CmdType, decodeFrame } from './frame.js';
import { WorldHarness } from './testing/WorldHarness.js';

const Position = component('Position', { x: t.f32, y: t.f32 });
const Follow = component('Follow', { target: entityRef, gap: t.u8 });
const Marker = component('Marker', { n: t.u16 });
const DEFS = [Position, Follow, Marker];

/** True when the frame carries a spawn of wire entity `id`. */
function spawnsEntity(h: WorldHarness, frame: Uint8Array, id: number): boolean {
  const f = decodeFrame(new BitReader(frame), h.server.registry);
  return f.commands.some((c) => c.type === CmdType.Spawn && c.entity === id);
}

function clientEntityOf(h: WorldHarness, key: string, e: Entity): Entity | undefined {
  const id = h.server.connection(key)!.map.hostOf(e.id);
  if (id === undefined) return undefined;
  return h.clients.get(key)!.world.entityByRemoteId(id);
}

function remoteEntities(w: ClientWorld): Entity[] {
  return [...w.entities()].filter((e) => !e.isLocal);
}

describe('ordering end to end', () => {
  it('an entity reference that arrives before its target waits, then resolves', () => {
    const h = new WorldHarness(DEFS, { conditions: { loss: 0, duplicate: 0, latencyMs: 10, jitterMs: 0 } });
    const c = h.addClient('a');
    const room = h.server.createRoom().addUser('a');
    const target = h.server.spawn().insert(Position, { x: 1, y: 1 });
    room.addEntity(target);
    // lose every frame spawning the target for a while
    let blocking = true;
    c.down.dropIf = (f) =>
      blocking && spawnsEntity(h, f, h.server.connection('a')!.map.hostOf(target.id) ?? -1);
    h.tick();
    const follower = h.server.spawn().insert(Follow, { target: target.id, gap: 3 });
    room.addEntity(follower);
    h.ticks(3);
    const cf = clientEntityOf(h, 'a', follower)!;
    expect(cf).toBeDefined();
    expect(cf.get(Follow)).toMatchObject({ target: null, gap: 3 });
    expect(clientEntityOf(h, 'a', target)).toBeUndefined();
    expect(c.world.connection.pendingRefWaits).toBe(1);
    const updates: string[] = [];
    c.world.on('update', (_e, def, keys) => updates.push(`${def.name}:${keys}`));
    blocking = false;
    h.settle();
    const ct = clientEntityOf(h, 'a', target)!;
    expect(cf.get(Follow).target).toBe(ct.id);
    expect(updates).toContain('Follow:target');
    expect(c.world.connection.pendingRefWaits).toBe(0);
  });

  it('a reference to an entity outside the client scope is null until the target enters scope', () => {
    const h = new WorldHarness(DEFS);
    const c = h.addClient('a');
    const room = h.server.createRoom().addUser('a');
    const hidden = h.server.spawn().insert(Position);
    const follower = h.server.spawn().insert(Follow, { target: hidden.id });
    room.addEntity(follower);
    h.settle();
    expect(clientEntityOf(h, 'a', follower)!.get(Follow).target).toBeNull();
    room.addEntity(hidden);
    h.settle();
    expect(clientEntityOf(h, 'a', follower)!.get(Follow).target).toBe(clientEntityOf(h, 'a', hidden)!.id);
    expect(remoteEntities(c.world)).toHaveLength(2);
  });

  it('a reference whose target never arrives gives up after 60 s', () => {
    const h = new WorldHarness(DEFS);
    const c = h.addClient('a');
    const room = h.server.createRoom().addUser('a');
    const target = h.server.spawn().insert(Position);
    room.addEntity(target);
    c.down.dropIf = (f) => spawnsEntity(h, f, h.server.connection('a')!.map.hostOf(target.id) ?? -1);
    h.tick();
    room.addEntity(h.server.spawn().insert(Follow, { target: target.id }));
    h.ticks(4);
    expect(c.world.connection.pendingRefWaits).toBe(1);
    h.ticks(59_000 / 50);
    expect(c.world.connection.pendingRefWaits).toBe(1);
    h.ticks(2_000 / 50);
    expect(c.world.connection.pendingRefWaits).toBe(0);
    expect(c.world.connection.stats.refsExpired).toBe(1);
  });

  it("one entity's lost frames never delay another entity's commands", () => {
    const h = new WorldHarness(DEFS, { conditions: { loss: 0, duplicate: 0, latencyMs: 20, jitterMs: 0 } });
    const c = h.addClient('a');
    const room = h.server.createRoom().addUser('a');
    const slow = h.server.spawn().insert(Marker, { n: 1 });
    room.addEntity(slow);
    const slowId = () => h.server.connection('a')!.map.hostOf(slow.id) ?? -1;
    let dropped = 0;
    // the frame carrying the slow entity's spawn is lost once (it is resent ~1.5 RTT later)
    c.down.dropIf = (f) => dropped === 0 && spawnsEntity(h, f, slowId()) && ++dropped > 0;
    h.tick();
    expect(dropped).toBe(1);
    const fast = h.server.spawn().insert(Marker, { n: 2 }).insert(Position, { x: 5 });
    room.addEntity(fast);
    h.ticks(2);
    // the fast entity is complete while the slow one's spawn is still being resent
    expect(clientEntityOf(h, 'a', fast)?.get(Marker).n).toBe(2);
    expect(clientEntityOf(h, 'a', fast)?.get(Position).x).toBe(5);
    expect(clientEntityOf(h, 'a', slow)).toBeUndefined();
    h.settle();
    expect(clientEntityOf(h, 'a', slow)?.get(Marker).n).toBe(1);
  });

  it('command ids wrap past 65 535 end to end (dense toggles under loss)', () => {
    const h = new WorldHarness(DEFS, {
      seed: 5,
      conditions: { loss: 0.1, duplicate: 0.05, latencyMs: 15, jitterMs: 20, reorder: 0.05 },
      connection: { bytesPerStep: 64 * 1024 },
      maxFrameBytes: 1200,
    });
    h.addClient('a');
    const room = h.server.createRoom().addUser('a');
    const es = [0, 1, 2, 3].map((i) => room.addEntity(h.server.spawn().insert(Marker, { n: i })) && i);
    const ents = [...h.server.entities()];
    expect(es).toHaveLength(4);
    h.ticks(3);
    const conn = h.server.connection('a')!;
    let n = 0;
    for (let guard = 0; conn.host.nextCommandId < 70_000; guard++) {
      if (guard > 2000) throw new Error('command ids stopped advancing');
      for (let k = 0; k < 100; k++) {
        const e = ents[n++ % ents.length];
        if (e.has(Position)) e.remove(Position);
        else e.insert(Position, { x: n % 100, y: 0 });
      }
      h.tick();
    }
    h.settle(2000);
    expect(conn.host.nextCommandId).toBeGreaterThan(65_536);
    expect(h.clientView('a')).toEqual(h.expectedView('a'));
    expect(h.errors).toEqual([]);
  });

  it('despawn before spawn, and insert before spawn, end to end (reordering link)', () => {
    // long random extra delay reorders frames; every step is checked to converge
    for (let seed = 1; seed <= 20; seed++) {
      const h = new WorldHarness(DEFS, {
        seed,
        conditions: { loss: 0.2, duplicate: 0.2, latencyMs: 30, jitterMs: 100, reorder: 0.3 },
      });
      h.addClient('a');
      const room = h.server.createRoom().addUser('a');
      const e = h.server.spawn();
      room.addEntity(e);
      h.tick();
      e.insert(Marker, { n: 1 });
      e.insert(Position, { x: 2 });
      h.tick();
      e.despawn();
      const e2 = h.server.spawn().insert(Marker, { n: 9 });
      room.addEntity(e2);
      h.tick();
      h.settle();
      expect(h.clientView('a')).toEqual(h.expectedView('a'));
      expect(h.errors).toEqual([]);
    }
  });
});
