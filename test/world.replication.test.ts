import { afterEach, describe, expect, it } from 'vitest';
import type { Client, Entity, WorldError } from '../src/client/index.js';
import { ManualClock } from '../src/index.js';
import type { User } from '../src/server/index.js';
import type { WorldFramePipe } from '../src/session/SessionPipe.js';
import { ClientWorld } from '../src/world/ClientWorld.js';
import {
  Health,
  Label,
  ownedProtocol,
  Position,
  viewOf,
  type WorldChannels,
  WorldSim,
  worldProtocol,
} from './helpers/worldSim.js';

/** Entity replication through the public API: Server/Client over the MemoryHub with the link conditioner. */
const LOSSY = { latencyMs: 20, jitterMs: 15, loss: 0.15, duplicate: 0.05, reorder: 0.1 };

type Ev = string;
function record(client: Client<WorldChannels>): Ev[] {
  const out: Ev[] = [];
  client.on('spawn', () => out.push('spawn'));
  client.on('despawn', () => out.push('despawn'));
  client.on('insert', (_e, c) => out.push(`insert ${c.name}`));
  client.on('remove', (_e, c) => out.push(`remove ${c.name}`));
  client.on('update', (_e, c, keys) => out.push(`update ${c.name} ${keys.join(',')}`));
  return out;
}

describe('entity replication through Server and Client', () => {
  let sim: WorldSim;
  afterEach(async () => {
    await sim?.close();
  });

  it('server spawns, mutates, removes and despawns; the client sees each with changed keys', async () => {
    sim = await new WorldSim(worldProtocol, { seed: 5, conditioner: LOSSY }).listen();
    const room = sim.server.createRoom();
    sim.server.on('connect', (u) => room.addUser(u));
    const { client, user } = await sim.join('ann');
    const events = record(client);
    const e = sim.server.spawn().insert(Position, { x: 1, y: 2 }).insert(Health, { hp: 10, max: 10 });
    room.addEntity(e);
    expect(sim.server.entity(e.id)).toBe(e);
    expect([...sim.server.entities()]).toEqual([e]);
    await sim.settleWorld();
    expect(events).toEqual(['spawn', 'insert Position', 'insert Health']);
    const copy = sim.copyOf(client, user, e)!;
    expect(copy.isLocal).toBe(false);
    expect(copy.get(Position)).toMatchObject({ x: 1, y: 2 });
    expect(client.entity(copy.id)).toBe(copy);
    // a change made while loss is on still lands, reported with exactly the key that changed
    sim.hub.setConditioner(LOSSY);
    events.length = 0;
    e.get(Position).x = 7;
    await sim.settleWorld();
    expect(events).toEqual(['update Position x']);
    expect(copy.get(Position)).toMatchObject({ x: 7, y: 2 });
    sim.hub.setConditioner(LOSSY);
    events.length = 0;
    e.get(Health).hp = 3;
    e.get(Health).max = 4;
    e.insert(Label, { text: 'boss' });
    await sim.settleWorld();
    expect(events.sort()).toEqual(['insert Label', 'update Health hp,max']);
    expect(() => copy.insert(Label, { text: 'x' })).toThrow(/replicated from the server/);
    sim.hub.setConditioner(LOSSY);
    events.length = 0;
    e.remove(Label);
    await sim.settleWorld();
    expect(events).toEqual(['remove Label']);
    sim.hub.setConditioner(LOSSY);
    e.despawn();
    await sim.settleWorld();
    expect(events).toEqual(['remove Label', 'despawn']);
    expect(sim.remoteEntities(client)).toEqual([]);
    expect(client.stats.world.framesIn).toBeGreaterThan(0);
    expect(sim.server.stats.world.bytesOut).toBeGreaterThan(0);
  });

  it('rooms and include/exclude through the API decide who sees what', async () => {
    sim = await new WorldSim(worldProtocol, { seed: 2, conditioner: LOSSY }).listen();
    const a = await sim.join('a');
    const b = await sim.join('b');
    const r1 = sim.server.createRoom().addUser(a.user);
    const r2 = sim.server.createRoom().addUser(b.user);
    const e1 = sim.server.spawn().insert(Health, { hp: 1 });
    const e2 = sim.server.spawn().insert(Health, { hp: 2 });
    r1.addEntity(e1);
    r2.addEntity(e2);
    await sim.settleWorld();
    const hp = (c: Client<WorldChannels>) =>
      sim
        .remoteEntities(c)
        .map((e) => e.get(Health).hp)
        .sort();
    expect(hp(a.client)).toEqual([1]);
    expect(hp(b.client)).toEqual([2]);
    sim.server.exclude(a.user, e1);
    await sim.settleWorld();
    expect(hp(a.client)).toEqual([]);
    expect(sim.server.inScope(a.user, e1)).toBe(false);
    sim.server.include(a.user, e1);
    sim.server.include(a.user, e2); // no shared room: include refines rooms, it does not bypass them
    await sim.settleWorld();
    expect(hp(a.client)).toEqual([1]);
    r1.addEntity(e2);
    await sim.settleWorld();
    expect(hp(a.client)).toEqual([1, 2]);
    sim.server.destroyRoom(r1);
    await sim.settleWorld();
    expect(hp(a.client)).toEqual([]);
    expect(hp(b.client)).toEqual([2]);
    for (const s of [a, b]) expect(sim.clientView(s.client)).toEqual(sim.expectedView(s.user));
  });

  it("the client's ViewRadius drives interest around the centre the server sets", async () => {
    sim = await new WorldSim(worldProtocol, {
      seed: 4,
      conditioner: LOSSY,
      server: { interest: { component: Position, x: 'x', y: 'y', maxRadius: 1000 } },
    }).listen();
    const room = sim.server.createRoom();
    const near = sim.server.spawn().insert(Position, { x: 50, y: 0 });
    const far = sim.server.spawn().insert(Position, { x: 300, y: 0 });
    const noPosition = sim.server.spawn().insert(Label, { text: 'everywhere' });
    for (const e of [near, far, noPosition]) room.addEntity(e);
    const radii: number[] = [];
    sim.server.on('viewRadius', (_u, r) => radii.push(r));
    sim.server.on('connect', (u) => {
      room.addUser(u);
      const avatar = sim.server.spawn().insert(Position, { x: 0, y: 0 });
      room.addEntity(avatar);
      sim.server.setViewCenter(u, avatar);
    });
    // a client-side choice made before connecting is sent as soon as the session is accepted
    const { client, user } = await sim.join('ann', {}, (c) => c.setViewRadius(100));
    await sim.settleWorld();
    expect(user.viewRadius).toBe(100);
    const labels = () =>
      sim
        .remoteEntities(client)
        .map((e) => (e.has(Label) ? 'label' : String(e.get(Position).x)))
        .sort();
    expect(labels()).toEqual(['0', '50', 'label']);
    client.setViewRadius(400);
    await sim.settleWorld();
    expect(labels()).toEqual(['0', '300', '50', 'label']);
    far.get(Position).x = 900;
    await sim.settleWorld();
    expect(labels()).toEqual(['0', '50', 'label']);
    client.setViewRadius(5000); // clamped by interest.maxRadius
    await sim.settleWorld();
    expect(user.viewRadius).toBe(1000);
    expect(radii).toEqual([100, 400, 1000]);
    expect(labels()).toEqual(['0', '50', '900', 'label']);
    expect(() => client.setViewRadius(-1)).toThrow(RangeError);
  });

  it('a late joiner gets the full current state', async () => {
    sim = await new WorldSim(worldProtocol, { seed: 9, conditioner: LOSSY }).listen();
    const room = sim.server.createRoom();
    sim.server.on('connect', (u) => room.addUser(u));
    const early = await sim.join('early');
    for (let i = 0; i < 12; i++) room.addEntity(sim.server.spawn().insert(Position, { x: i, y: 0 }));
    let es: Entity[] = [];
    for (let i = 0; i < 12; i++) {
      const e = sim.server.spawn().insert(Health, { hp: 5, max: 5 });
      room.addEntity(e);
      es.push(e);
    }
    for (let t = 0; t < 30; t++) {
      for (const [i, e] of es.entries()) {
        e.get(Health).hp = (t + i) % 50;
        if (t === 10 && i % 3 === 0) e.insert(Label, { text: `e${i}` });
        if (t === 20 && i % 4 === 0) e.despawn();
      }
      es = es.filter((e) => e.alive);
      await sim.tick();
    }
    const late = await sim.join('late');
    const events = record(late.client);
    await sim.settleWorld();
    const expected = sim.expectedView(late.user);
    expect(expected.size).toBe(12 + 9);
    expect(sim.clientView(late.client)).toEqual(expected);
    expect(events.filter((e) => e === 'spawn')).toHaveLength(expected.size);
    expect(sim.clientView(early.client)).toEqual(sim.expectedView(early.user));
  });

  it('the server withholds world frames until the client answers JoinWorld', async () => {
    sim = await new WorldSim(worldProtocol, { seed: 3 }).listen();
    const room = sim.server.createRoom();
    sim.server.on('connect', (u) => room.addUser(u));
    room.addEntity(sim.server.spawn().insert(Health, { hp: 42 }));
    const { client, user } = await sim.join('slow', { autoReady: false });
    await sim.tick(20);
    expect(user.ready).toBe(false);
    expect(sim.remoteEntities(client)).toEqual([]);
    expect(sim.server.stats.world.withheld).toBeGreaterThan(0);
    client.ready();
    await sim.settleWorld();
    expect(user.ready).toBe(true);
    expect(sim.remoteEntities(client).map((e) => e.get(Health).hp)).toEqual([42]);
  });

  it('client-owned entities: private reaches the server only, public reaches others in scope', async () => {
    sim = await new WorldSim(ownedProtocol, { seed: 6, conditioner: LOSSY }).listen();
    const room = sim.server.createRoom();
    sim.server.on('connect', (u) => room.addUser(u));
    const serverEvents: string[] = [];
    const owners = new Set<User>();
    sim.server.on('spawn', (e, u) => {
      owners.add(u);
      room.addEntity(e);
      serverEvents.push(`spawn ${u.username}`);
    });
    sim.server.on('publish', (_e, mode, u) => serverEvents.push(`publish ${mode} ${u.username}`));
    sim.server.on('update', (_e, c, keys, u) => serverEvents.push(`update ${c.name} ${keys} ${u.username}`));
    sim.server.on('insert', (_e, c, u) => serverEvents.push(`insert ${c.name} ${u.username}`));
    sim.server.on('despawn', (_e, u) => serverEvents.push(`despawn ${u.username}`));
    const a = await sim.join('a');
    const b = await sim.join('b');
    const mine = a.client.spawn().insert(Position, { x: 3, y: 4 });
    expect(mine.isLocal).toBe(true);
    await sim.settleWorld();
    expect(serverEvents).toEqual(['spawn a', 'insert Position a']);
    expect(owners).toEqual(new Set([a.user]));
    const onServer = [...sim.server.entities()].filter((e) => e.ownerKey === a.user);
    expect(onServer).toHaveLength(1);
    expect(onServer[0].get(Position)).toMatchObject({ x: 3, y: 4 });
    expect(sim.remoteEntities(b.client)).toEqual([]);
    mine.configureReplication('public');
    await sim.settleWorld();
    expect(sim.remoteEntities(b.client).map((e) => viewOf(e))).toEqual([{ Position: { x: 3, y: 4 } }]);
    expect(sim.remoteEntities(a.client)).toEqual([]); // never echoed to its owner
    mine.get(Position).y = 40;
    await sim.settleWorld();
    expect(sim.remoteEntities(b.client)[0].get(Position).y).toBe(40);
    mine.configureReplication('private');
    await sim.settleWorld();
    expect(sim.remoteEntities(b.client)).toEqual([]);
    expect(serverEvents.slice(2)).toEqual(['publish public a', 'update Position y a', 'publish private a']);
    mine.configureReplication('public');
    await sim.settleWorld();
    expect(sim.remoteEntities(b.client)).toHaveLength(1);
    await a.client.close();
    await sim.settleWorld();
    expect(serverEvents.at(-1)).toBe('despawn a');
    expect(sim.remoteEntities(b.client)).toEqual([]);
    expect([...sim.server.entities()]).toEqual([]);
  });

  it('a listener may disconnect the owner while its frame is applied; nothing of it stays behind', async () => {
    sim = await new WorldSim(ownedProtocol, { seed: 12 }).listen();
    sim.server.on('spawn', (_e, u) => sim.server.disconnect(u, 'no building here'));
    const despawned: string[] = [];
    sim.server.on('despawn', (_e, u) => despawned.push(u.username));
    const { client, user } = await sim.join('ann');
    const reasons: string[] = [];
    client.on('disconnect', (r) => reasons.push(r));
    client.spawn().insert(Position, { x: 1, y: 1 });
    client.spawn().insert(Position, { x: 2, y: 2 }); // same frame: applied after the disconnect began
    await sim.until(() => reasons.length > 0, 40);
    expect(reasons).toEqual(['no building here']);
    expect(user.connected).toBe(false);
    expect(sim.server.world.hasUser(user)).toBe(false);
    expect([...sim.server.entities()]).toEqual([]);
    expect(despawned).toEqual(['ann', 'ann']);
  });

  it('client.spawn() needs a protocol that allows client-owned entities, and a connection', async () => {
    sim = await new WorldSim(worldProtocol).listen();
    const { client } = await sim.join('ann');
    expect(() => client.spawn()).toThrow(/clientAuthoritativeEntities: true/);
    const { Client } = await import('../src/client/index.js');
    expect(() => new Client(ownedProtocol).spawn()).toThrow(/not connected/);
    expect([...new Client(ownedProtocol).entities()]).toEqual([]);
  });

  it('a malformed world frame is counted; a hostile one ends that session with a reason; others carry on', async () => {
    sim = await new WorldSim(worldProtocol, { seed: 8, conditioner: { latencyMs: 10 } }).listen();
    const room = sim.server.createRoom();
    sim.server.on('connect', (u) => room.addUser(u));
    room.addEntity(sim.server.spawn().insert(Health, { hp: 1 }));
    const e = sim.server.spawn().insert(Health, { hp: 1 });
    room.addEntity(e);
    const bad = await sim.join('bad');
    const good = await sim.join('good');
    await sim.settleWorld();
    const errors: WorldError[] = [];
    sim.server.on('worldError', (_u, err) => errors.push(err));
    const badPipe = bad.client.world!.connection.pipe;

    // garbage: refused, counted, nothing else happens
    badPipe.sendWorldFrame(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x01));
    await sim.tick(3);
    expect(errors).toHaveLength(1);
    expect(errors[0].fatal).toBe(false);
    expect(sim.server.stats.world.framesDropped).toBe(1);
    expect(bad.client.connected).toBe(true);

    // a well-formed frame that spawns an entity on a server that does not allow client entities
    const hostile = hostileSpawnFrame();
    const reasons: string[] = [];
    bad.client.on('disconnect', (r) => reasons.push(r));
    badPipe.sendWorldFrame(hostile);
    await sim.until(() => reasons.length > 0, 40);
    expect(errors.at(-1)?.fatal).toBe(true);
    expect(errors.at(-1)?.code).toBe('not-allowed');
    expect(reasons).toEqual([errors.at(-1)!.message]);
    expect(bad.user.disconnectReason).toBe(errors.at(-1)!.message);
    expect(sim.server.stats.world.fatalErrors).toBe(1);
    expect([...sim.server.entities()]).toHaveLength(2);

    // the other client is unaffected
    e.get(Health).hp = 99;
    await sim.settleWorld();
    expect(good.client.connected).toBe(true);
    expect(
      sim
        .remoteEntities(good.client)
        .map((x) => x.get(Health).hp)
        .sort(),
    ).toEqual([1, 99]);
    expect(sim.clientView(good.client)).toEqual(sim.expectedView(good.user));
  });
});

/**
 * A world frame a hostile client could send: an entity spawn, built by a client world that
 * allows them, from a frame index far ahead of the real client's so it is not taken for a
 * duplicate.
 */
function hostileSpawnFrame(): Uint8Array {
  const clock = new ManualClock(0);
  const frames: Uint8Array[] = [];
  const pipe: WorldFramePipe = {
    maxWorldFrameBytes: 1000,
    rttMs: 50,
    sendWorldFrame: (f) => frames.push(f.slice()),
  };
  const world = new ClientWorld({
    components: worldProtocol.components,
    clock,
    pipe,
    allowClientEntities: true,
  });
  world.spawn().insert(Health, { hp: 7 });
  for (let i = 0; i < 200; i++) {
    clock.advance(50);
    world.step();
  }
  return frames.at(-1)!;
}
