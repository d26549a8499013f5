import { afterEach, describe, expect, it } from 'vitest';
import type { Entity } from '../src/index.js';
import type { User } from '../src/server/index.js';
import { ownedProtocol, Position, WorldSim } from './helpers/worldSim.js';

/**
 * An owner that delegates its own entity while that entity is outside its own scope (not in a
 * room it shares, or outside its view radius; DESIGN §4): it keeps the entity in scope and real
 * authority for as long as it holds it — the server agrees it is the holder and applies its
 * writes — and a client never reports `granted` while the server has another holder.
 */
const LOSSY = { latencyMs: 20, jitterMs: 15, loss: 0.15, duplicate: 0.05, reorder: 0.1 };

type Where = 'no shared room' | 'outside the view radius' | "outside the view radius, 'keep' policy";

describe('an owner delegating an entity outside its own scope', () => {
  let sim: WorldSim | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  const cases: [Where, number][] = [
    ['no shared room', 3],
    ['outside the view radius', 5],
    ["outside the view radius, 'keep' policy", 7],
  ];
  for (const [where, seed] of cases) {
    it(`keeps it in scope and holds real authority until it releases (${where})`, async () => {
      sim = await new WorldSim(ownedProtocol, {
        seed,
        conditioner: LOSSY,
        server: { interest: { component: Position, x: 'x', y: 'y' } },
      }).listen();
      const s = sim;
      const room = s.server.createRoom();
      s.server.on('connect', (u) => {
        room.addUser(u);
        s.server.setViewCenter(u, { x: 0, y: 0 });
      });
      let serverEntity: Entity | undefined;
      s.server.on('spawn', (e) => {
        serverEntity = e;
        if (where !== 'no shared room') room.addEntity(e);
        if (where.includes('keep')) e.setScopeExitPolicy('keep');
      });
      const { client: ann, user: annUser } = await s.join('ann', {}, (c) => c.setViewRadius(50));
      const { client: bob } = await s.join('bob', {}, (c) => c.setViewRadius(1000));
      const granted: Entity[] = [];
      ann.on('authGranted', (e) => granted.push(e));
      const mine = ann.spawn().insert(Position, { x: 400, y: 0 }).configureReplication('public');
      await s.settleWorld();
      expect(serverEntity).toBeDefined();
      const e = serverEntity!;
      s.hub.setConditioner(LOSSY);
      mine.configureReplication('delegated');
      // at every tick: whenever ann shows granted and the server has settled on a holder, it is ann
      const disagreements: string[] = [];
      const check = () => {
        if (mine.authority === 'granted' && e.replication === 'delegated' && e.authHolder !== annUser)
          disagreements.push(`tick: server holder ${String((e.authHolder as User | null)?.username)}`);
      };
      for (let i = 0; i < 15; i++) {
        await s.tick();
        if (e.ownerKey === null) check();
      }
      await s.settleWorld();
      check();
      expect(disagreements).toEqual([]);
      expect(e.ownerKey).toBeNull();
      expect(e.authHolder).toBe(annUser);
      expect(mine.alive).toBe(true);
      expect(mine.authority).toBe('granted');
      expect(granted).toEqual([mine]);
      // its writes are real: applied by the server, seen by others in scope, none refused
      s.hub.setConditioner(LOSSY);
      mine.get(Position).y = 9;
      await s.tick(8);
      await s.settleWorld();
      expect(e.get(Position).y).toBe(9);
      expect(s.server.stats.world.refusedWrites).toBe(0);
      if (where !== 'no shared room')
        expect(s.remoteEntities(bob).map((b) => b.get(Position).y)).toEqual([9]);
      // released: from now on the ordinary scope rules apply to ann
      expect(mine.releaseAuthority()).toEqual({ ok: true });
      await s.settleWorld();
      expect(e.authHolder).toBeNull();
      expect(s.server.inScope(annUser, e)).toBe(false);
      if (where.includes('keep')) {
        expect(mine.alive).toBe(true); // kept on ann's client, frozen; authority available
        expect(mine.authority).toBe('available');
      } else expect(mine.alive).toBe(false);
    });
  }
});
