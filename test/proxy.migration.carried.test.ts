import { afterEach, describe, expect, it } from 'vitest';
import type { User } from '../src/server/index.js';
import type { Entity } from '../src/world/Entity.js';
import { Position } from './helpers/cluster.js';
import { Bot, type MemBackend, type MemCluster, memCluster, until } from './helpers/migration.js';

/**
 * Carried entities on the real data path (DESIGN §5 steps 5–7): a delegated entity whose
 * authority the player holds moves with it and stays held, with no event on the client.
 */
const open: MemCluster[] = [];
const bots: Bot[] = [];
afterEach(async () => {
  for (const b of bots.splice(0)) b.stop();
  for (const c of open.splice(0)) await c.close();
});

/** A room per backend that every player joins (the default `carried` hook: owned and held entities). */
function roomGame(b: MemBackend) {
  const room = b.server.createRoom();
  b.server.on('connect', (user: User) => room.addUser(user));
  return room;
}

describe('carried delegated entity', () => {
  it('the player holds authority over a delegated entity on A, moves to B and still holds it there: its writes replicate on B, no authority event, no despawn/respawn', async () => {
    const cluster = await memCluster(['a', 'b'], { seed: 5 });
    open.push(cluster);
    const a = cluster.backends.get('a')!;
    const b = cluster.backends.get('b')!;
    const roomA = roomGame(a);
    roomGame(b);
    const toolOnA = a.server.spawn().insert(Position, { x: 1, y: 1 });
    roomA.addEntity(toolOnA);
    toolOnA.configureReplication('delegated');

    const bot = new Bot(cluster.client());
    bots.push(bot);
    await bot.connect(cluster.hub, cluster.address, 'ann', { latencyMs: 1 });
    const client = bot.client;
    const sid = cluster.proxy.sessions()[0].id;
    let tool: Entity | undefined;
    await until(
      () => {
        tool = [...client.entities()].find((e) => e.authority !== null);
        return tool !== undefined;
      },
      3000,
      'the delegated entity on the client',
    );
    const events: string[] = [];
    for (const ev of [
      'spawn',
      'despawn',
      'delegate',
      'undelegate',
      'authGranted',
      'authDenied',
      'authReset',
    ] as const)
      client.on(ev, (e: Entity) => {
        if (e === tool) events.push(ev);
      });
    expect(tool!.requestAuthority()).toEqual({ ok: true });
    await until(() => tool!.authority === 'granted', 3000, 'authority granted on A');
    const userA = a.server.users[0];
    expect(toolOnA.authHolder).toBe(userA);
    tool!.get(Position).x = 2;
    await until(() => toolOnA.get(Position).x === 2, 3000, 'the write on A');
    expect(events).toEqual(['authGranted']);

    const r = await cluster.proxy.migrate(sid, 'b');
    if (!r.ok) throw new Error(`migration failed: ${r.reason}`);
    expect(client.backendId).toBe('b');
    // B re-created it (the default carried set: the delegated entities the player holds), held by the player
    const userB = b.server.users.find((u) => u.connected)!;
    const onB = [...b.server.entities()].filter((e) => e.has(Position));
    expect(onB).toHaveLength(1);
    const toolOnB = onB[0];
    expect(toolOnB.replication).toBe('delegated');
    expect(toolOnB.authHolder).toBe(userB);
    expect(toolOnB.get(Position)).toMatchObject({ x: 2, y: 1 });
    // the same Entity on the client, still granted, now keyed by B's id
    expect(client.entity(tool!.id)).toBe(tool);
    expect(tool!.alive).toBe(true);
    expect(tool!.authority).toBe('granted');
    await until(
      () =>
        client.world!.entityByRemoteId(b.server.world.connection(userB)!.map.hostOf(toolOnB.id)!) === tool,
      3000,
      'B spawned it into the same Entity',
    );
    // its writes replicate on B
    tool!.get(Position).x = 3;
    await until(() => toolOnB.get(Position).x === 3, 3000, 'the write on B');
    tool!.get(Position).y = 4;
    await until(() => toolOnB.get(Position).y === 4, 3000, 'a second write on B');
    expect(toolOnB.authHolder).toBe(userB);
    // a while later: still held, nothing flapped, never left
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(tool!.authority).toBe('granted');
    expect(events).toEqual(['authGranted']);
    expect(bot.events.filter((e) => e.id === tool!.id).map((e) => e.what)).toEqual(['spawn']);
    expect(bot.disconnects).toEqual([]);
  }, 20_000);
});
