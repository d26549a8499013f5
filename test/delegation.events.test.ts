import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '../src/client/index.js';
import type { Entity } from '../src/index.js';
import type { Room, User } from '../src/server/index.js';
import { Health, ownedProtocol, Position, type WorldChannels, WorldSim } from './helpers/worldSim.js';

/**
 * Publicity toggled back and forth within one tick (DESIGN §4, naia's rule): watchers' events
 * describe the net transition — no `delegate` + `undelegate` (or `publish` + `unpublish`) pair
 * for a change that was undone before it was sent.
 */
const LOSSY = { latencyMs: 20, jitterMs: 15, loss: 0.15, duplicate: 0.05, reorder: 0.1 };
const EVENTS = [
  'publish',
  'unpublish',
  'delegate',
  'undelegate',
  'authGranted',
  'authDenied',
  'authReset',
] as const;

function record(client: Client<WorldChannels>): string[] {
  const out: string[] = [];
  for (const ev of EVENTS) client.on(ev, () => out.push(ev));
  client.on('spawn', () => out.push('spawn'));
  client.on('despawn', () => out.push('despawn'));
  return out;
}

interface Setup {
  sim: WorldSim;
  room: Room<User>;
  ann: Client<WorldChannels>;
  annUser: User;
  bob: Client<WorldChannels>;
  bobUser: User;
}

async function setup(seed: number): Promise<Setup> {
  const sim = await new WorldSim(ownedProtocol, { seed, conditioner: LOSSY }).listen();
  const room = sim.server.createRoom();
  sim.server.on('connect', (u) => room.addUser(u));
  sim.server.on('spawn', (e) => room.addEntity(e));
  const { client: ann, user: annUser } = await sim.join('ann');
  const { client: bob, user: bobUser } = await sim.join('bob');
  return { sim, room, ann, annUser, bob, bobUser };
}

async function serverEntity(s: Setup, delegated: boolean): Promise<Entity> {
  const e = s.sim.server.spawn().insert(Position, { x: 1, y: 1 }).insert(Health, { hp: 5, max: 9 });
  s.room.addEntity(e);
  if (delegated) e.configureReplication('delegated');
  await s.sim.settleWorld();
  return e;
}

async function lossyTicks(s: Setup): Promise<void> {
  s.sim.hub.setConditioner(LOSSY);
  await s.sim.tick(10);
  await s.sim.settleWorld();
}

describe('publicity toggled within one tick: watchers see the net transition', () => {
  let sim: WorldSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  for (const seed of [1, 9]) {
    it(`public → delegated → public: no event at all (seed ${seed})`, async () => {
      const s = await setup(seed);
      sim = s.sim;
      const e = await serverEntity(s, false);
      const ann = record(s.ann);
      const bob = record(s.bob);
      e.configureReplication('delegated');
      e.configureReplication('public');
      await lossyTicks(s);
      expect(ann).toEqual([]);
      expect(bob).toEqual([]);
      expect(s.sim.copyOf(s.ann, s.annUser, e)!.authority).toBeNull();
    });

    it(`delegated (held) → public → delegated: only the authority change (seed ${seed})`, async () => {
      const s = await setup(seed);
      sim = s.sim;
      const e = await serverEntity(s, true);
      const annCopy = s.sim.copyOf(s.ann, s.annUser, e)!;
      annCopy.requestAuthority();
      await s.sim.settleWorld();
      expect(annCopy.authority).toBe('granted');
      const ann = record(s.ann);
      const bob = record(s.bob);
      e.configureReplication('public');
      e.configureReplication('delegated');
      await lossyTicks(s);
      // net: still delegated; authority went back to available for everyone
      expect(ann).toEqual(['authReset']);
      expect(bob).toEqual(['authReset']);
      expect(annCopy.authority).toBe('available');
      expect(s.sim.copyOf(s.bob, s.bobUser, e)!.authority).toBe('available');
    });
  }

  it('a client toggling its entity public → private → public within one tick: the server sees no pair', async () => {
    const s = await setup(4);
    sim = s.sim;
    const server: string[] = [];
    s.sim.server.on('publish', (_e, mode) => server.push(`publish ${mode}`));
    s.sim.server.on('unpublish', () => server.push('unpublish'));
    const mine = s.ann.spawn().insert(Position, { x: 3, y: 3 }).configureReplication('public');
    await s.sim.settleWorld();
    expect(server).toEqual(['publish public']);
    const bob = record(s.bob);
    server.length = 0;
    mine.configureReplication('private');
    mine.configureReplication('public');
    await lossyTicks(s);
    expect(server).toEqual([]);
    expect(bob).toEqual([]);
    expect(s.sim.remoteEntities(s.bob)).toHaveLength(1);
  });
});
