import { afterEach, describe, expect, it } from 'vitest';
import { AuthorityError, type AuthorityStatus, type Client, type Entity } from '../src/client/index.js';
import { SERVER_HOLDER } from '../src/index.js';
import type { Room, User } from '../src/server/index.js';
import { Health, ownedProtocol, Position, type WorldChannels, WorldSim } from './helpers/worldSim.js';

/**
 * Authority delegation through the public API (DESIGN §4): Server/Client over the MemoryHub with
 * the seeded link conditioner (loss, duplication, reordering), events asserted as game code sees them.
 */
const LOSSY = { latencyMs: 20, jitterMs: 15, loss: 0.15, duplicate: 0.05, reorder: 0.1 };

/** A client's entity and authority events, in order. */
function record(client: Client<WorldChannels>): string[] {
  const out: string[] = [];
  client.on('spawn', () => out.push('spawn'));
  client.on('despawn', () => out.push('despawn'));
  client.on('insert', (_e, c) => out.push(`insert ${c.name}`));
  client.on('remove', (_e, c) => out.push(`remove ${c.name}`));
  client.on('update', (_e, c, keys) => out.push(`update ${c.name} ${keys.join(',')}`));
  for (const ev of [
    'publish',
    'unpublish',
    'delegate',
    'undelegate',
    'authGranted',
    'authDenied',
    'authReset',
  ] as const)
    client.on(ev, () => out.push(ev));
  return out;
}

/** The server's delegation events, with user names. */
function recordServer(sim: WorldSim): string[] {
  const out: string[] = [];
  const s = sim.server;
  s.on('spawn', (_e, u) => out.push(`spawn ${u.username}`));
  s.on('despawn', (_e, u) => out.push(`despawn ${u.username}`));
  s.on('publish', (_e, mode, u) => out.push(`publish ${mode} ${u.username}`));
  s.on('unpublish', (_e, u) => out.push(`unpublish ${u.username}`));
  s.on('delegate', () => out.push('delegate'));
  s.on('undelegate', () => out.push('undelegate'));
  s.on('authGranted', (_e, u) => out.push(`authGranted ${u.username}`));
  s.on('authDenied', (_e, u) => out.push(`authDenied ${u.username}`));
  s.on('authReset', () => out.push('authReset'));
  return out;
}

const count = (events: string[], name: string) => events.filter((e) => e === name).length;

/** Run `action` with the lossy link on, tick a while under loss, then settle on a perfect link. */
async function lossy(sim: WorldSim, action: () => void, ticks = 12): Promise<void> {
  sim.hub.setConditioner(LOSSY);
  action();
  await sim.tick(ticks);
  await sim.settleWorld();
}

interface Setup {
  sim: WorldSim;
  room: Room<User>;
  ann: Client<WorldChannels>;
  annUser: User;
  bob: Client<WorldChannels>;
  bobUser: User;
  server: string[];
}

async function setup(seed: number): Promise<Setup> {
  const sim = await new WorldSim(ownedProtocol, { seed, conditioner: LOSSY }).listen();
  const room = sim.server.createRoom();
  sim.server.on('connect', (u) => room.addUser(u));
  sim.server.on('spawn', (e) => room.addEntity(e));
  const server = recordServer(sim);
  const { client: ann, user: annUser } = await sim.join('ann');
  const { client: bob, user: bobUser } = await sim.join('bob');
  return { sim, room, ann, annUser, bob, bobUser, server };
}

/** A server-owned entity, delegated, seen by every client in the room. */
async function delegatedServerEntity(s: Setup): Promise<Entity> {
  const e = s.sim.server.spawn().insert(Position, { x: 1, y: 1 }).insert(Health, { hp: 5, max: 9 });
  s.room.addEntity(e);
  await lossy(s.sim, () => e.configureReplication('delegated'));
  return e;
}

describe('authority delegation through Server and Client', () => {
  let sim: WorldSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  for (const seed of [3, 11, 29]) {
    it(`a client delegates its published entity: granted once, observers never see a respawn (seed ${seed})`, async () => {
      const s = await setup(seed);
      sim = s.sim;
      const annEvents = record(s.ann);
      const bobEvents = record(s.bob);
      let serverEntity: Entity | undefined;
      s.sim.server.on('spawn', (e) => {
        serverEntity = e;
      });
      const mine = s.ann.spawn().insert(Position, { x: 1, y: 2 });
      await lossy(s.sim, () => mine.configureReplication('public'));
      expect(serverEntity).toBeDefined();
      const e = serverEntity!;
      const bobCopy = s.sim.copyOf(s.bob, s.bobUser, e)!;
      expect(bobCopy.get(Position)).toMatchObject({ x: 1, y: 2 });
      expect(bobEvents).toEqual(['spawn', 'insert Position']);
      bobEvents.length = 0;

      await lossy(s.sim, () => mine.configureReplication('delegated'));
      // the server: the same entity, now server-owned and held by its former owner
      expect(s.sim.server.entity(e.id)).toBe(e);
      expect(e.ownerKey).toBeNull();
      expect(e.replication).toBe('delegated');
      expect(e.authHolder).toBe(s.annUser);
      expect(count(s.server, 'delegate')).toBe(1);
      expect(count(s.server, 'authGranted ann')).toBe(1);
      expect(s.server).not.toContain('despawn ann');
      expect(s.sim.server.stats.world.migrations).toBe(1);
      // the owner: the same Entity object, granted exactly once
      expect(mine.alive).toBe(true);
      expect(mine.replication).toBe('delegated');
      expect(mine.authority).toBe('granted' satisfies AuthorityStatus);
      expect(count(annEvents, 'authGranted')).toBe(1);
      expect(count(annEvents, 'delegate')).toBe(1);
      expect(annEvents).not.toContain('despawn');
      expect(annEvents).not.toContain('spawn');
      // an observer: delegated and denied, never despawned or respawned
      expect(s.sim.copyOf(s.bob, s.bobUser, e)).toBe(bobCopy);
      expect(bobCopy.replication).toBe('delegated');
      expect(bobCopy.authority).toBe('denied');
      expect(bobEvents).toEqual(['delegate', 'authDenied']);

      // the holder keeps mutating; the server and the observer follow
      bobEvents.length = 0;
      await lossy(s.sim, () => {
        mine.get(Position).x = 5;
      });
      await lossy(s.sim, () => {
        mine.get(Position).y = 7;
        mine.insert(Health, { hp: 3, max: 4 });
      });
      expect(e.get(Position)).toMatchObject({ x: 5, y: 7 });
      expect(e.get(Health)).toMatchObject({ hp: 3, max: 4 });
      expect(bobCopy.get(Position)).toMatchObject({ x: 5, y: 7 });
      expect(bobCopy.get(Health)).toMatchObject({ hp: 3, max: 4 });
      expect(bobEvents).toContain('update Position x');
      expect(bobEvents).toContain('insert Health');
      expect(bobEvents).not.toContain('spawn');
      expect(bobEvents).not.toContain('despawn');
      expect(count(annEvents, 'authGranted')).toBe(1);
      expect(mine.authority).toBe('granted');
      expect(s.sim.server.stats.world.refusedWrites).toBe(0);
    });
  }

  it('server events name the writing User: the owner, then the holder of the delegated entity', async () => {
    const s = await setup(7);
    sim = s.sim;
    const writers: string[] = [];
    s.sim.server.on('update', (_e, c, keys, u) => writers.push(`${u.username} ${c.name} ${keys.join(',')}`));
    s.sim.server.on('insert', (_e, c, u) => writers.push(`${u.username} +${c.name}`));
    const mine = s.ann.spawn().insert(Position, { x: 1, y: 2 });
    await lossy(s.sim, () => mine.configureReplication('delegated'));
    expect(s.server).toEqual(['spawn ann', 'publish public ann', 'delegate', 'authGranted ann']);
    writers.length = 0;
    await lossy(s.sim, () => {
      mine.get(Position).x = 3;
    });
    await lossy(s.sim, () => {
      mine.insert(Health, { hp: 2, max: 2 });
    });
    expect(writers).toEqual(['ann Position x', 'ann +Health']);
  });

  for (const seed of [2, 13]) {
    it(`first request wins; a release resets everyone to available once (seed ${seed})`, async () => {
      const s = await setup(seed);
      sim = s.sim;
      const { client: cat, user: catUser } = await s.sim.join('cat');
      const e = await delegatedServerEntity(s);
      const copies = [s.ann, s.bob, cat].map(
        (c, i) => s.sim.copyOf(c, [s.annUser, s.bobUser, catUser][i], e)!,
      );
      const events = [s.ann, s.bob, cat].map(record);
      for (const c of copies) expect(c.authority).toBe('available');

      await lossy(s.sim, () => {
        expect(copies[0].requestAuthority()).toEqual({ ok: true });
        expect(copies[1].requestAuthority()).toEqual({ ok: true });
        expect(copies[0].authority).toBe('requested');
      });
      const winner = e.authHolder as User;
      expect([s.annUser, s.bobUser]).toContain(winner);
      const w = winner === s.annUser ? 0 : 1;
      const l = 1 - w;
      expect(copies[w].authority).toBe('granted');
      expect(copies[l].authority).toBe('denied');
      expect(copies[2].authority).toBe('denied');
      expect(count(events[w], 'authGranted')).toBe(1);
      expect(count(events[l], 'authDenied')).toBe(1);
      expect(count(events[l], 'authGranted')).toBe(0);
      expect(count(events[2], 'authDenied')).toBe(1);
      expect(count(s.server, `authGranted ${winner.username}`)).toBe(1);
      expect(count(s.server, `authDenied ${[s.annUser, s.bobUser][l].username}`)).toBe(1);

      // the winner writes; everyone else sees it
      await lossy(s.sim, () => {
        copies[w].get(Position).x = 42;
      });
      expect(e.get(Position).x).toBe(42);
      expect(copies[l].get(Position).x).toBe(42);
      expect(copies[2].get(Position).x).toBe(42);

      await lossy(s.sim, () => {
        expect(copies[w].releaseAuthority()).toEqual({ ok: true });
      });
      expect(e.authHolder).toBeNull();
      for (const c of copies) expect(c.authority).toBe('available');
      for (const ev of events) expect(count(ev, 'authReset')).toBe(1);
      expect(count(s.server, 'authReset')).toBe(1);
      for (const ev of events) {
        expect(ev).not.toContain('despawn');
        expect(ev).not.toContain('spawn');
      }
    });
  }

  it('the server gives and takes authority (to a User)', async () => {
    const s = await setup(17);
    sim = s.sim;
    const e = await delegatedServerEntity(s);
    const ea = s.sim.copyOf(s.ann, s.annUser, e)!;
    const eb = s.sim.copyOf(s.bob, s.bobUser, e)!;
    const [annEvents, bobEvents] = [record(s.ann), record(s.bob)];

    await lossy(s.sim, () => expect(e.giveAuthority(s.bobUser)).toEqual({ ok: true }));
    expect(e.authHolder).toBe(s.bobUser);
    expect(eb.authority).toBe('granted');
    expect(ea.authority).toBe('denied');
    expect(count(s.server, 'authGranted bob')).toBe(1);
    expect(bobEvents).toEqual(['authGranted']);
    expect(annEvents).toEqual(['authDenied']);

    await lossy(s.sim, () => expect(e.takeAuthority()).toEqual({ ok: true }));
    expect(e.authHolder).toBe(SERVER_HOLDER);
    expect(ea.authority).toBe('denied');
    expect(eb.authority).toBe('denied');
    await lossy(s.sim, () => {
      e.get(Position).x = 50; // the server may always write
    });
    expect(ea.get(Position).x).toBe(50);
    expect(eb.get(Position).x).toBe(50);

    await lossy(s.sim, () => expect(e.releaseAuthority()).toEqual({ ok: true }));
    expect(e.authHolder).toBeNull();
    expect(ea.authority).toBe('available');
    expect(eb.authority).toBe('available');
    expect(count(annEvents, 'authReset')).toBe(1);
    expect(count(bobEvents, 'authReset')).toBe(1);

    // giving needs the user to have the entity in scope
    s.sim.server.exclude(s.annUser, e);
    await s.sim.settleWorld();
    const r = e.giveAuthority(s.annUser);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(AuthorityError);
      expect(r.error.code).toBe('not-in-scope');
    }
    // a server entity that is not delegated has no authority to hand out
    const plain = s.sim.server.spawn();
    const r2 = plain.giveAuthority(s.bobUser);
    expect(r2.ok === false && r2.error.code).toBe('not-delegated');
  });

  it('undelegating tells every client; authority ends', async () => {
    const s = await setup(19);
    sim = s.sim;
    const e = await delegatedServerEntity(s);
    const ea = s.sim.copyOf(s.ann, s.annUser, e)!;
    const annEvents = record(s.ann);
    await lossy(s.sim, () => ea.requestAuthority());
    expect(ea.authority).toBe('granted');
    await lossy(s.sim, () => e.configureReplication('public'));
    expect(count(s.server, 'undelegate')).toBe(1);
    expect(ea.authority).toBeNull();
    expect(ea.replication).toBe('public');
    expect(annEvents).toEqual(['authGranted', 'authReset', 'undelegate']);
  });

  it('the holder disconnecting releases authority for everyone', async () => {
    const s = await setup(23);
    sim = s.sim;
    const e = await delegatedServerEntity(s);
    const ea = s.sim.copyOf(s.ann, s.annUser, e)!;
    const eb = s.sim.copyOf(s.bob, s.bobUser, e)!;
    const annEvents = record(s.ann);
    await lossy(s.sim, () => eb.requestAuthority());
    expect(e.authHolder).toBe(s.bobUser);
    expect(ea.authority).toBe('denied');
    s.server.length = 0;
    await s.bob.close();
    await lossy(s.sim, () => {});
    expect(s.bobUser.connected).toBe(false);
    expect(e.authHolder).toBeNull();
    expect(s.server).toEqual(['authReset']);
    expect(ea.authority).toBe('available');
    expect(annEvents).toEqual(['authDenied', 'authReset']);
    // and the entity is free for the next request
    await lossy(s.sim, () => ea.requestAuthority());
    expect(e.authHolder).toBe(s.annUser);
  });

  it("a non-holder's write throws AuthorityError on the client; late writes are refused and counted", async () => {
    const s = await setup(31);
    sim = s.sim;
    const e = await delegatedServerEntity(s);
    const ea = s.sim.copyOf(s.ann, s.annUser, e)!;
    const eb = s.sim.copyOf(s.bob, s.bobUser, e)!;
    // available is not held: nobody may write yet
    const write = (x: Entity) => () => {
      x.get(Position).x = 9;
    };
    expect(write(ea)).toThrow(AuthorityError);
    await lossy(s.sim, () => ea.requestAuthority());
    expect(ea.authority).toBe('granted');
    for (const f of [
      write(eb),
      () => eb.insert(Health, { hp: 1 }),
      () => eb.remove(Health),
      () => eb.despawn(),
    ]) {
      let thrown: unknown;
      try {
        f();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(AuthorityError);
      expect((thrown as AuthorityError).code).toBe('not-holder');
    }
    expect(eb.alive).toBe(true);
    // a request on an entity that is not delegated is refused with a result, not a throw
    const own = s.bob.spawn();
    const r = own.requestAuthority();
    expect(r.ok === false && r.error.code).toBe('not-delegated');

    // the holder's write in flight when the server takes authority is refused and counted;
    // the holder is resynced to the server's values
    ea.get(Position).x = 77;
    await s.sim.tick(); // the client sends it at the end of this tick
    e.takeAuthority();
    await s.sim.settleWorld();
    expect(s.sim.server.stats.world.refusedWrites).toBeGreaterThan(0);
    expect(e.get(Position).x).toBe(1);
    expect(ea.authority).toBe('denied');
    expect(ea.get(Position).x).toBe(1);
    expect(eb.get(Position).x).toBe(1);
  });
});
