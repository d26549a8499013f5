import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '../src/client/index.js';
import type { Entity } from '../src/index.js';
import type { Room, User } from '../src/server/index.js';
import { Health, Label, ownedProtocol, Position, type WorldChannels, WorldSim } from './helpers/worldSim.js';

/**
 * The client side of an entity migration (host → remote, on MigrateResponse; DESIGN §4) with
 * commands of the entity in flight: sent-but-unacknowledged ones move to the new id (a later
 * release is not held up by a write that can never be acknowledged), and publicity commands
 * (meaningless for a remote entity) are retired, never replayed under the server's id.
 */
interface Setup {
  sim: WorldSim;
  room: Room<User>;
  ann: Client<WorldChannels>;
  annUser: User;
  bob: Client<WorldChannels>;
  bobUser: User;
  spawned: Entity[];
}

async function setup(seed: number, latencyMs: number): Promise<Setup> {
  const sim = await new WorldSim(ownedProtocol, { seed, conditioner: { latencyMs } }).listen();
  const room = sim.server.createRoom();
  const spawned: Entity[] = [];
  sim.server.on('connect', (u) => room.addUser(u));
  sim.server.on('spawn', (e) => {
    spawned.push(e);
    room.addEntity(e);
  });
  const { client: ann, user: annUser } = await sim.join('ann');
  const { client: bob, user: bobUser } = await sim.join('bob');
  return { sim, room, ann, annUser, bob, bobUser, spawned };
}

describe('client migration with commands in flight', () => {
  let sim: WorldSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  for (const latencyMs of [30, 40, 60]) {
    it(`a write in flight at MigrateResponse moves to the new id: a later release completes (latency ${latencyMs} ms)`, async () => {
      const s = await setup(3, latencyMs);
      sim = s.sim;
      const mine = s.ann.spawn().insert(Position, { x: 1, y: 1 }).configureReplication('public');
      await s.sim.settleWorld();
      const e = s.spawned[0];
      const stats = () => s.ann.world!.connection.stats;
      mine.configureReplication('delegated');
      // a write every tick until MigrateResponse has arrived: some are on the wire when it does
      let hp = 1;
      for (let i = 0; i < 20 && stats().migrations === 0; i++) {
        await s.sim.tick();
        if (mine.has(Health)) mine.get(Health).hp = ++hp;
        else mine.insert(Health, { hp, max: 99 });
      }
      expect(stats().migrations).toBe(1);
      expect(stats().rewrittenCommands).toBeGreaterThan(0);
      await s.sim.settleWorld();
      expect(mine.authority).toBe('granted');
      expect(e.get(Health).hp).toBe(hp);
      expect(s.sim.copyOf(s.bob, s.bobUser, e)!.get(Health).hp).toBe(hp);
      // the release waits for our writes' acknowledgement: it must come
      expect(mine.releaseAuthority()).toEqual({ ok: true });
      const released = await s.sim.until(() => mine.authority === 'available', 200);
      expect(mine.authority).toBe('available');
      expect(released).toBe(true);
      expect(e.authHolder).toBeNull();
      expect(s.sim.server.stats.world.refusedWrites).toBe(0);
    });
  }

  it('publicity commands queued at MigrateResponse are retired, never replayed under the new id', async () => {
    // ann owns two entities; the server delegates the first while ann toggles its publicity.
    // Replayed under the server's id for it, an Unpublish/Publish/Delegation would name another
    // of ann's entities on the server (ids of both directions are small numbers).
    const s = await setup(5, 30);
    sim = s.sim;
    const first = s.ann.spawn().insert(Position, { x: 1, y: 1 }).configureReplication('public');
    const second = s.ann.spawn().insert(Position, { x: 2, y: 2 }).configureReplication('public');
    // one server entity in ann's scope (its id there: 0), so the delegated one gets 1 — the id
    // by which the server knows `second` from ann
    s.room.addEntity(s.sim.server.spawn().insert(Label, { text: 'server' }));
    await s.sim.settleWorld();
    const conn = s.sim.server.world.connection(s.annUser)!;
    const [e1, e2] = s.spawned;
    const serverEvents: string[] = [];
    s.sim.server.on('publish', (e, mode) => serverEvents.push(`${e === e2 ? 'second' : 'other'} ${mode}`));
    s.sim.server.on('delegate', (e) => serverEvents.push(`${e === e2 ? 'second' : 'other'} delegate`));
    const link = s.sim.hub.links()[0];
    // ann's commands about `first` are lost (sent, unacknowledged) while the server delegates it
    link.partition('toServer');
    first.configureReplication('private');
    await s.sim.tick();
    first.configureReplication('public');
    await s.sim.tick();
    e1.configureReplication('delegated');
    await s.sim.until(() => s.ann.world!.connection.stats.migrations === 1, 20);
    link.heal('toServer');
    expect(conn.map.hostOf(e1.id)).toBe(conn.map.remoteOf(e2.id));
    await s.sim.settleWorld();
    expect(first.authority).toBe('granted');
    expect(e1.replication).toBe('delegated');
    // the other entity is untouched: still public, still seen by bob, no event about it
    expect(serverEvents.filter((x) => x.startsWith('second'))).toEqual([]);
    expect(e2.replication).toBe('public');
    expect(second.replication).toBe('public');
    expect(
      s.sim
        .remoteEntities(s.bob)
        .filter((b) => b.has(Position))
        .map((b) => b.get(Position).x),
    ).toEqual(expect.arrayContaining([1, 2]));
  });
});
