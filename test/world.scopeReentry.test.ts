import { afterEach, describe, expect, it } from 'vitest';
import type { Entity } from '../src/index.js';
import { Position, WorldSim, worldProtocol } from './helpers/worldSim.js';

/**
 * Scope re-entry under loss (DESIGN §3): an entity that leaves a client's scope and comes back
 * while its Despawn is still unacknowledged must not show up twice. At most one live client copy
 * per server entity at every instant — checked on every spawn event, not only at the end — also
 * when the entity crosses a view-radius edge back and forth every tick.
 */
describe('scope re-entry', () => {
  let sim: WorldSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  for (const [seed, loss] of [
    [1, 0.1],
    [2, 0.2],
    [3, 0.15],
    [4, 0.2],
  ] as const) {
    it(`an entity toggling across the view-radius edge is never shown twice (seed ${seed}, loss ${loss * 100} %)`, async () => {
      sim = await new WorldSim(worldProtocol, {
        seed,
        conditioner: { latencyMs: 15, jitterMs: 20, loss, duplicate: 0.05, reorder: 0.2 },
        server: { interest: { component: Position, x: 'x', y: 'y' } },
      }).listen();
      const room = sim.server.createRoom();
      const e = sim.server.spawn().insert(Position, { x: 90, y: 0 });
      room.addEntity(e);
      sim.server.on('connect', (u) => {
        room.addUser(u);
        sim!.server.setViewCenter(u, { x: 0, y: 0 });
      });
      const { client } = await sim.join('ann', {}, (c) => c.setViewRadius(100));
      let most = 0;
      let spawns = 0;
      const live = () => sim!.remoteEntities(client).filter((c: Entity) => c.alive).length;
      client.on('spawn', () => {
        spawns++;
        most = Math.max(most, live());
      });
      const rnd = (i: number) => ((i * 2654435761) >>> 0) % 3;
      for (let i = 0; i < 240; i++) {
        // in, out, in… sometimes twice within a tick, sometimes holding for a tick
        const r = rnd(i + seed);
        if (r === 0) e.get(Position).x = e.get(Position).x === 90 ? 110 : 90;
        else if (r === 1) {
          e.get(Position).x = 110;
          await sim.tick();
          e.get(Position).x = 90;
        }
        await sim.tick();
        most = Math.max(most, live());
      }
      e.get(Position).x = 90;
      await sim.settleWorld();
      expect(spawns).toBeGreaterThan(5);
      expect(most).toBe(1);
      expect(sim.remoteEntities(client).map((c) => c.get(Position).x)).toEqual([90]);
    });
  }
});
