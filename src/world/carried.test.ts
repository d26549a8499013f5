import { describe, expect, it } from 'vitest';
import { DecodeError } from '../serde/DecodeError.js';
import { ManualClock } from '../util/Clock.js';
import { SeededRandom } from '../util/SeededRandom.js';
import { ClientWorld } from './ClientWorld.js';
import { ComponentRegistry } from './ComponentRegistry.js';
import { decodeCarried, encodeCarried } from './carried.js';
import type { Entity } from './Entity.js';
import { REDIRECT_TTL_MS } from './LocalEntityMap.js';
import { ServerWorld } from './ServerWorld.js';
import { DELEGATION_DEFS, Follow, Position, Tag } from './testing/delegationFixture.js';
import { type LinkConditions, LossyWorldPipe, PERFECT_LINK } from './testing/LossyWorldPipe.js';
import { CARRIED_WAIT_MS } from './WorldConnection.js';

/**
 * Seamless migration at the world layer (DESIGN §5 step 6): one client moves from server world
 * A to server world B. Carried entities keep their `Entity` on the client (re-keyed through a
 * redirect), the rest of A's leave, B's arrive, the client's own are re-announced to B.
 */
function cluster(cond: LinkConditions = PERFECT_LINK, seed = 5) {
  const clock = new ManualClock(0);
  const random = new SeededRandom(seed);
  const a = new ServerWorld<string>({
    components: DELEGATION_DEFS,
    clock,
    allowClientEntities: true,
    globalIds: { backendId: 1 },
  });
  const b = new ServerWorld<string>({
    components: DELEGATION_DEFS,
    clock,
    allowClientEntities: true,
    globalIds: { backendId: 2 },
  });
  let server = a;
  let client!: ClientWorld;
  const pipes = (s: ServerWorld<string>) => {
    const down = new LossyWorldPipe(clock, random, (f) => client.receiveFrame(f), cond, 1200);
    const up = new LossyWorldPipe(
      clock,
      random,
      (f) => {
        if (s.hasUser('p')) s.receiveFrame('p', f);
      },
      cond,
      1200,
    );
    return { up, down };
  };
  let link = pipes(a);
  client = new ClientWorld({ components: DELEGATION_DEFS, clock, pipe: link.up, allowClientEntities: true });
  a.addUser('p', link.down);
  const roomA = a.createRoom().addUser('p');
  a.on('spawn', (e) => roomA.addEntity(e));
  const events: string[] = [];
  for (const ev of ['spawn', 'despawn', 'authGranted', 'authReset', 'authDenied', 'delegate'] as const)
    client.on(ev, (e: Entity) => events.push(`${ev}:${e.id}`));
  return {
    clock,
    a,
    b,
    roomA,
    client,
    events,
    tick(ms = 20) {
      clock.advance(ms);
      link.up.pump();
      link.down.pump();
      server.step();
      client.step();
    },
    ticks(n: number) {
      for (let i = 0; i < n; i++) this.tick();
    },
    /** The move: A hands off `ids`, B restores them, the client swaps in the same call. */
    migrate(ids: number[]) {
      const bytes = a.exportCarried('p', ids);
      const old = link;
      link = pipes(b);
      b.addUser('p', link.down);
      const roomB = b.createRoom().addUser('p');
      b.on('spawn', (e) => roomB.addEntity(e));
      const r = b.importCarried('p', bytes);
      server = b;
      // A's frames still in flight are dropped (the epoch byte does it in the real client)
      old.down.conditions = { ...PERFECT_LINK, loss: 1 };
      old.up.conditions = { ...PERFECT_LINK, loss: 1 };
      const swap = client.migrate(link.up, r.pairs);
      return { ...r, ...swap, roomB };
    },
  };
}

describe('carried entities across a backend move (world layer)', () => {
  it('carried entities keep their Entity and values, the rest leave, own entities are re-announced, in one call', () => {
    const c = cluster();
    const avatar = c.a.spawn().insert(Position, { x: 1, y: 2 }).insert(Tag, { text: 'ann' });
    const pet = c.a.spawn().insert(Follow, { target: avatar.id });
    const crate = c.a.spawn().insert(Position, { x: 9, y: 9 });
    const tool = c.a.spawn().insert(Tag, { text: 'hammer' });
    for (const e of [avatar, pet, crate, tool]) c.roomA.addEntity(e);
    tool.configureReplication('delegated');
    const mine = c.client.spawn().insert(Position, { x: 5, y: 5 }).insert(Follow, { target: null });
    mine.configureReplication('public');
    c.ticks(5);
    const onClient = (s: Entity) => c.client.entityByRemoteId(c.a.connection('p')!.map.hostOf(s.id)!)!;
    const cAvatar = onClient(avatar);
    const cPet = onClient(pet);
    const cCrate = onClient(crate);
    const cTool = onClient(tool);
    expect(cPet.get(Follow).target).toBe(cAvatar.id);
    expect(tool.giveAuthority('p')).toEqual({ ok: true });
    mine.get(Follow).target = cAvatar.id;
    c.ticks(5);
    expect(cTool.authority).toBe('granted');
    const mineOnA = [...c.a.entities()].find((e) => e.ownerKey === 'p')!;
    expect(mineOnA.get(Follow).target).toBe(avatar.id);
    const priorAvatarId = c.a.connection('p')!.map.hostOf(avatar.id)!;
    const mineHostId = c.client.connection.map.hostOf(mine.id);
    c.events.length = 0;

    const b2 = c.b.spawn().insert(Position, { x: 7, y: 7 });
    const r = c.migrate([avatar.id, pet.id, tool.id, mineOnA.id]);
    r.roomB.addEntity(b2);
    // in the same call: A's crate left, the carried and our own entities stay, nothing else happened
    expect(c.events).toEqual([`despawn:${cCrate.id}`]);
    expect(r.carried.sort()).toEqual([cAvatar, cPet, cTool].sort());
    expect(r.own).toEqual([mine]);
    expect(r.pairs).toHaveLength(3);
    expect(cCrate.alive).toBe(false);
    for (const e of [cAvatar, cPet, cTool, mine]) expect(c.client.entity(e.id)).toBe(e);
    // the old id redirects to the carried entity; the new id names it at once
    expect(c.client.entityByPriorId(priorAvatarId)).toBe(cAvatar);
    const bAvatar = r.entities.find((e) => e.tryGet(Tag)?.text === 'ann' && e.has(Position))!;
    expect(c.client.entityByRemoteId(c.b.connection('p')!.map.hostOf(bAvatar.id)!)).toBe(cAvatar);
    expect(c.b.entityByPriorId('p', priorAvatarId)).toBe(bAvatar);
    // references among carried entities resolve to B's copies
    const bPet = r.entities.find((e) => e.has(Follow))!;
    expect(bPet.get(Follow).target).toBe(bAvatar.id);
    const bTool = r.entities.find((e) => e.tryGet(Tag)?.text === 'hammer')!;
    expect(bTool.replication).toBe('delegated');
    expect(bTool.authHolder).toBe('p');

    c.ticks(10);
    // B spawned the carried ones: applied to the same Entities, no spawn events for them
    expect(c.client.connection.pendingCarried).toBe(0);
    expect(c.events).toEqual([`despawn:${cCrate.id}`, expect.stringMatching(/^spawn:/)]);
    expect(c.client.entityByRemoteId(c.b.connection('p')!.map.hostOf(b2.id)!)?.get(Position).x).toBe(7);
    expect(cAvatar.get(Position)).toMatchObject({ x: 1, y: 2 });
    expect(cPet.get(Follow).target).toBe(cAvatar.id);
    expect(cTool.authority).toBe('granted');
    // our own entity is on B now, under the same host id, its reference resolved to B's avatar
    const mineOnB = [...c.b.entities()].find((e) => e.ownerKey === 'p')!;
    expect(mineOnB.get(Position)).toMatchObject({ x: 5, y: 5 });
    expect(mineOnB.get(Follow).target).toBe(bAvatar.id);
    expect(c.client.connection.map.hostOf(mine.id)).toBe(mineHostId);
    // B drives the carried entity; we still write the delegated one we hold, and our own
    bAvatar.get(Position).x = 3;
    cTool.get(Tag).text = 'saw';
    mine.get(Position).y = 6;
    c.ticks(10);
    expect(cAvatar.get(Position).x).toBe(3);
    expect(bTool.get(Tag).text).toBe('saw');
    expect(mineOnB.get(Position).y).toBe(6);
    expect(c.events.filter((e) => !e.startsWith('spawn:') || e === `spawn:${cAvatar.id}`)).toEqual([
      `despawn:${cCrate.id}`,
    ]);
    // the redirect expires like every redirect
    c.clock.advance(REDIRECT_TTL_MS);
    c.tick();
    expect(c.client.entityByPriorId(priorAvatarId)).toBeUndefined();
  });

  it('a carried entity the new backend never spawns (out of scope there) leaves after the wait', () => {
    const c = cluster();
    const avatar = c.a.spawn().insert(Position, { x: 1, y: 2 });
    c.roomA.addEntity(avatar);
    c.ticks(5);
    const cAvatar = [...c.client.entities()][0];
    const prior = c.a.connection('p')!.map.hostOf(avatar.id)!;
    // B named it by an id it then never spawns (it left the player's scope there)
    c.client.migrate(new LossyWorldPipe(c.clock, new SeededRandom(1), () => {}, PERFECT_LINK, 1200), [
      { from: prior, to: 77 },
    ]);
    c.clock.advance(CARRIED_WAIT_MS - 100);
    c.client.step();
    expect(cAvatar.alive).toBe(true);
    c.clock.advance(100);
    c.client.step();
    expect(cAvatar.alive).toBe(false);
    expect(c.events.at(-1)).toBe(`despawn:${cAvatar.id}`);
  });

  it('survives a lossy hop: carried values converge, no despawn/spawn of carried entities', () => {
    const lossy = { loss: 0.2, duplicate: 0.05, latencyMs: 10, jitterMs: 20, reorder: 0.1 };
    const c = cluster(lossy, 9);
    const avatar = c.a.spawn().insert(Position, { x: 1, y: 1 });
    c.roomA.addEntity(avatar);
    const mine = c.client.spawn().insert(Tag, { text: 'flag' });
    for (let i = 0; i < 40; i++) {
      avatar.get(Position).x = i;
      c.tick();
    }
    const cAvatar = [...c.client.entities()].find((e) => !e.isLocal)!;
    expect(cAvatar).toBeDefined();
    c.events.length = 0;
    const r = c.migrate([avatar.id]);
    const bAvatar = r.entities[0];
    for (let i = 0; i < 60; i++) {
      bAvatar.get(Position).y = i;
      mine.get(Tag).text = `f${i % 10}`;
      c.tick();
    }
    c.ticks(40);
    const v = cAvatar.get(Position);
    expect([v.x, v.y]).toEqual([39, 59]);
    expect([...c.b.entities()].find((e) => e.ownerKey === 'p')?.get(Tag).text).toBe('f9');
    expect(c.events).toEqual([]);
  });

  it('carried-entity bytes round-trip and refuse garbage with DecodeError', () => {
    const reg = new ComponentRegistry(DELEGATION_DEFS);
    const pos = reg.kindOf(Position);
    const follow = reg.kindOf(Follow);
    const list = [
      {
        wireId: 3,
        known: true,
        clientOwned: false,
        delegated: true,
        held: true,
        components: [
          { kind: pos, values: [1.5, 2] },
          { kind: follow, values: [{ hostedBySender: true, id: 4 }] },
        ],
      },
      { wireId: 0, known: false, clientOwned: true, delegated: false, held: false, components: [] },
    ];
    expect(decodeCarried(encodeCarried(reg, list), reg)).toEqual(list);
    expect(decodeCarried(new Uint8Array(0), reg)).toEqual([]);
    for (const bad of [
      [2, 0],
      [1, 1, 3, 0x80, 0],
      [1, 5],
      [1, 0, 0],
    ]) {
      expect(() => decodeCarried(Uint8Array.from(bad), reg)).toThrow(DecodeError);
    }
  });
});
