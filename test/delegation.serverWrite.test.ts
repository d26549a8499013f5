import { afterEach, describe, expect, it } from 'vitest';
import { AuthorityError, type Client } from '../src/client/index.js';
import type { Entity } from '../src/index.js';
import type { Room, User } from '../src/server/index.js';
import { Health, Label, ownedProtocol, Position, type WorldChannels, WorldSim } from './helpers/worldSim.js';

/**
 * The server and a client holding authority over one entity (DESIGN §4): while a client holds it
 * the server does not write it — a server write is refused with a typed error, and the server
 * takes authority first — so no two sides ever write one entity; and a grant starts the holder
 * from the server's latest values, even when an update to it was lost just before.
 */
const LOSSY = { latencyMs: 20, jitterMs: 15, loss: 0.15, duplicate: 0.05, reorder: 0.1 };

interface Setup {
  sim: WorldSim;
  room: Room<User>;
  ann: Client<WorldChannels>;
  annUser: User;
  bob: Client<WorldChannels>;
  bobUser: User;
  e: Entity;
}

async function setup(seed: number, conditioner = LOSSY): Promise<Setup> {
  const sim = await new WorldSim(ownedProtocol, { seed, conditioner }).listen();
  const room = sim.server.createRoom();
  sim.server.on('connect', (u) => room.addUser(u));
  const { client: ann, user: annUser } = await sim.join('ann');
  const { client: bob, user: bobUser } = await sim.join('bob');
  const e = sim.server.spawn().insert(Position, { x: 1, y: 1 }).insert(Health, { hp: 7, max: 9 });
  room.addEntity(e);
  e.configureReplication('delegated');
  await sim.settleWorld();
  return { sim, room, ann, annUser, bob, bobUser, e };
}

async function grantTo(s: Setup, client: Client<WorldChannels>, user: User): Promise<Entity> {
  const copy = s.sim.copyOf(client, user, s.e)!;
  expect(copy.requestAuthority()).toEqual({ ok: true });
  await s.sim.settleWorld();
  expect(copy.authority).toBe('granted');
  expect(s.e.authHolder).toBe(user);
  return copy;
}

function refusal(f: () => unknown): AuthorityError {
  try {
    f();
  } catch (err) {
    if (err instanceof AuthorityError) return err;
    throw err;
  }
  throw new Error('the write was not refused');
}

describe('server writes to an entity a client holds', () => {
  let sim: WorldSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  for (const seed of [2, 8]) {
    it(`are refused with AuthorityError('not-holder'); after takeAuthority() they replicate to all (seed ${seed})`, async () => {
      const s = await setup(seed);
      sim = s.sim;
      const annCopy = await grantTo(s, s.ann, s.annUser);
      // property write, insert, remove: each refused, nothing changed anywhere
      expect(refusal(() => (s.e.get(Health).hp = 0)).code).toBe('not-holder');
      expect(refusal(() => s.e.insert(Label, { text: 'server' })).code).toBe('not-holder');
      expect(refusal(() => s.e.remove(Health)).code).toBe('not-holder');
      expect(s.e.get(Health).hp).toBe(7);
      expect(s.e.has(Label)).toBe(false);
      // the holder's write is the one everybody ends with
      s.sim.hub.setConditioner(LOSSY);
      annCopy.get(Health).hp += 1;
      await s.sim.tick(6);
      await s.sim.settleWorld();
      expect(s.e.get(Health).hp).toBe(8);
      expect(s.sim.copyOf(s.bob, s.bobUser, s.e)!.get(Health).hp).toBe(8);
      expect(annCopy.get(Health).hp).toBe(8);
      // the server takes authority first; then its writes reach everyone, the former holder too
      expect(s.e.takeAuthority()).toEqual({ ok: true });
      s.e.get(Health).hp = 0;
      s.e.insert(Label, { text: 'server' });
      s.sim.hub.setConditioner(LOSSY);
      await s.sim.tick(6);
      await s.sim.settleWorld();
      expect(annCopy.authority).toBe('denied');
      expect(annCopy.get(Health).hp).toBe(0);
      expect(annCopy.get(Label).text).toBe('server');
      expect(s.sim.copyOf(s.bob, s.bobUser, s.e)!.get(Health).hp).toBe(0);
      expect(() => (annCopy.get(Health).hp = 5)).toThrow(AuthorityError);
      // released: the server writes freely again (authority available, nobody holds it)
      expect(s.e.releaseAuthority()).toEqual({ ok: true });
      s.e.get(Health).hp = 3;
      await s.sim.settleWorld();
      expect(annCopy.get(Health).hp).toBe(3);
      expect(annCopy.authority).toBe('available');
    });
  }

  it('a despawn by the server is not a write: it ends the entity (and authority) for everyone', async () => {
    const s = await setup(4);
    sim = s.sim;
    const annCopy = await grantTo(s, s.ann, s.annUser);
    s.e.despawn();
    await s.sim.settleWorld();
    expect(annCopy.alive).toBe(false);
    expect(s.sim.remoteEntities(s.ann)).toEqual([]);
    expect(s.sim.remoteEntities(s.bob)).toEqual([]);
  });
});

describe('a grant starts the holder from the server latest values', () => {
  let sim: WorldSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  for (const seed of [1, 6, 13]) {
    it(`a server update lost on its way to the next holder is not erased by the holder's snapshot (seed ${seed})`, async () => {
      const s = await setup(seed, { latencyMs: 10, jitterMs: 0, loss: 0, duplicate: 0, reorder: 0 });
      sim = s.sim;
      const annCopy = s.sim.copyOf(s.ann, s.annUser, s.e)!;
      const link = s.sim.hub.links()[0];
      // the frame carrying x = 500 to ann is lost; ann asks for authority meanwhile
      link.partition('toClient');
      s.e.get(Position).x = 500;
      await s.sim.tick(2);
      expect(annCopy.requestAuthority()).toEqual({ ok: true });
      await s.sim.tick(3);
      expect(s.e.authHolder).toBe(s.annUser);
      link.heal('toClient');
      s.sim.hub.setConditioner(LOSSY);
      await s.sim.tick(10);
      await s.sim.settleWorld();
      expect(annCopy.authority).toBe('granted');
      expect(s.e.get(Position).x).toBe(500);
      expect(annCopy.get(Position).x).toBe(500);
      expect(s.sim.copyOf(s.bob, s.bobUser, s.e)!.get(Position).x).toBe(500);
      // and the holder's own writes go through from there
      annCopy.get(Position).x = 501;
      await s.sim.settleWorld();
      expect(s.e.get(Position).x).toBe(501);
      expect(s.sim.copyOf(s.bob, s.bobUser, s.e)!.get(Position).x).toBe(501);
    });
  }
});
