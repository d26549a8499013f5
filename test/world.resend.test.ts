import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '../src/client/index.js';
import type { Entity } from '../src/index.js';
import type { User } from '../src/server/index.js';
import { Health, Position, type WorldChannels, WorldSim, worldProtocol } from './helpers/worldSim.js';

/**
 * A reliable command resent after the state it described is gone (DESIGN §3): a resend carries
 * the values the command was made with, never defaults, so game code never sees a value the
 * server never held. The hop to the client drops everything for 250 ms while the server spawns
 * (or inserts) and despawns (or removes) again.
 */

/** Every value the client saw, as `event Component {json}`. */
function recordValues(client: Client<WorldChannels>): string[] {
  const out: string[] = [];
  const show = (e: Entity, name: string) => {
    const inst = e.components.find((c) => c?.kind.name === name);
    return inst ? JSON.stringify(Object.fromEntries(inst.kind.keys.map((k, i) => [k, inst.values[i]]))) : '-';
  };
  client.on('insert', (e, c) => out.push(`insert ${c.name} ${show(e, c.name)}`));
  client.on('update', (e, c) => out.push(`update ${c.name} ${show(e, c.name)}`));
  client.on('despawn', () => out.push('despawn'));
  client.on('remove', (_e, c) => out.push(`remove ${c.name}`));
  return out;
}

describe('resent Spawn/Insert after the entity or component is gone', () => {
  let sim: WorldSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  async function setup(): Promise<{
    client: Client<WorldChannels>;
    user: User;
    room: ReturnType<WorldSim['server']['createRoom']>;
  }> {
    sim = await new WorldSim(worldProtocol, { seed: 5 }).listen();
    const room = sim.server.createRoom();
    sim.server.on('connect', (u) => room.addUser(u));
    const { client, user } = await sim.join('ann');
    await sim.settleWorld();
    return { client, user, room };
  }

  /** Drop everything to the client for 250 ms while `during` runs (at its tick), then heal and settle. */
  async function blackout(at: Record<number, () => void>): Promise<void> {
    const link = sim!.hub.links()[0];
    link.partition('toClient');
    for (let t = 0; t < 5; t++) {
      at[t]?.();
      await sim!.tick();
    }
    link.heal('toClient');
    await sim!.settleWorld();
  }

  it('spawn then despawn while the Spawn is unacknowledged: no spawn at defaults', async () => {
    const { client, room } = await setup();
    const seen = recordValues(client);
    let e: Entity | undefined;
    await blackout({
      0: () => {
        e = sim!.server.spawn().insert(Position, { x: 5, y: 6 }).insert(Health, { hp: 7, max: 9 });
        room.addEntity(e);
      },
      3: () => e!.despawn(),
    });
    // either the pair is elided, or the client saw exactly the values the server held
    for (const s of seen) expect(s).not.toMatch(/"x":0|"hp":0/);
    if (seen.length > 0)
      expect(seen).toEqual(['insert Position {"x":5,"y":6}', 'insert Health {"hp":7,"max":9}', 'despawn']);
    expect(sim!.remoteEntities(client)).toEqual([]);
  });

  it('insert then remove while the Insert is unacknowledged: no insert at defaults', async () => {
    const { client, room } = await setup();
    const e = sim!.server.spawn().insert(Position, { x: 1, y: 2 });
    room.addEntity(e);
    await sim!.settleWorld();
    const seen = recordValues(client);
    await blackout({
      0: () => e.insert(Health, { hp: 7, max: 9 }),
      3: () => e.remove(Health),
    });
    for (const s of seen) expect(s).not.toMatch(/"hp":0/);
    if (seen.length > 0) expect(seen).toEqual(['insert Health {"hp":7,"max":9}', 'remove Health']);
    expect(sim!.remoteEntities(client).map((c) => c.has(Health))).toEqual([false]);
  });

  it('a replaced component: the client only ever sees values the server held', async () => {
    const { client, room } = await setup();
    const e = sim!.server.spawn().insert(Position, { x: 1, y: 2 });
    room.addEntity(e);
    await sim!.settleWorld();
    const seen = recordValues(client);
    await blackout({
      0: () => e.insert(Health, { hp: 7, max: 9 }),
      2: () => e.insert(Health, { hp: 8, max: 9 }),
      3: () => e.remove(Health),
    });
    for (const s of seen.filter((s) => s.startsWith('insert')))
      expect(['insert Health {"hp":7,"max":9}', 'insert Health {"hp":8,"max":9}']).toContain(s);
    expect(sim!.remoteEntities(client).map((c) => c.has(Health))).toEqual([false]);
  });
});

/**
 * A component's updates flow only once the command that created it, and every earlier command
 * of its entity, is acknowledged (DESIGN §3). Otherwise an update that overtakes its Insert (or
 * the entity's Spawn) is dropped by the client, its frame acknowledged, and the late Insert leaves
 * the client with the older value forever. The hop delays one frame past the next ones; resends
 * are slowed (minResendMs) so the late original, not a resend, brings the command.
 */
describe('updates wait for the command that created their component', () => {
  let sim: WorldSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  for (const late of ['Spawn', 'Insert'] as const) {
    for (const delayMs of [120, 200]) {
      it(`an update never overtakes a delayed ${late} (delay ${delayMs} ms)`, async () => {
        sim = await new WorldSim(worldProtocol, {
          seed: 2,
          server: { worldConnection: { minResendMs: 400 } },
        }).listen();
        const room = sim.server.createRoom();
        sim.server.on('connect', (u) => room.addUser(u));
        const { client } = await sim.join('ann');
        await sim.settleWorld();
        const link = sim.hub.links()[0];
        let e: Entity;
        if (late === 'Spawn') {
          link.setConditioner({ toClient: { latencyMs: delayMs } });
          e = sim.server.spawn().insert(Position, { x: 1, y: 1 });
          room.addEntity(e);
          await sim.tick();
          link.setConditioner(undefined);
          e.insert(Health, { hp: 1, max: 9 });
          await sim.tick();
        } else {
          e = sim.server.spawn().insert(Position, { x: 1, y: 1 });
          room.addEntity(e);
          await sim.settleWorld();
          link.setConditioner({ toClient: { latencyMs: delayMs } });
          e.insert(Health, { hp: 1, max: 9 });
          await sim.tick();
          link.setConditioner(undefined);
        }
        for (let hp = 2; hp <= 3; hp++) {
          e.get(Health).hp = hp;
          await sim.tick();
        }
        await sim.settleWorld();
        expect(sim.remoteEntities(client).map((c) => c.get(Health).hp)).toEqual([3]);
      });
    }
  }
});
