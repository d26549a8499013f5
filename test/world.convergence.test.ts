import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Client } from '../src/client/index.js';
import type { Entity, Room } from '../src/index.js';
import type { User } from '../src/server/index.js';
import { conditions, op } from './helpers/worldOps.js';
import {
  Health,
  Label,
  ownedProtocol,
  Position,
  viewOf,
  type WorldChannels,
  WorldSim,
} from './helpers/worldSim.js';

/**
 * Convergence through the public API: whatever the server does to its world, rooms and scopes
 * while the links lose (≤ 30 %), duplicate and reorder datagrams, once the network is quiet
 * every client's entities equal the server's world restricted to that client's scope (server-
 * owned entities and other clients' public ones), and the server holds each client's own.
 */
const DEEP = process.env.BATON_DEEP === '1';

const byJson = (a: unknown, b: unknown) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);

/** A member's own live entity by index. */
function own(m: { client: Client<WorldChannels> } | undefined, i: number): Entity | undefined {
  if (!m?.client.connected) return undefined;
  const mine = [...m.client.entities()].filter((e) => e.isLocal && e.alive);
  return mine.length ? mine[i % mine.length] : undefined;
}

describe('convergence through Server/Client', () => {
  it('after quiet, every client holds exactly its in-scope part of the server world', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        conditions,
        fc.integer({ min: 1, max: 3 }),
        fc.array(op, { minLength: 10, maxLength: 80, size: 'medium' }),
        async (seed, conditioner, initialClients, ops) => {
          const sim = await new WorldSim(ownedProtocol, {
            seed,
            conditioner,
            server: { interest: { component: Position, x: 'x', y: 'y' } },
          }).listen();
          try {
            const rooms: Room<User>[] = [sim.server.createRoom(), sim.server.createRoom()];
            const members: { client: Client<WorldChannels>; user: User }[] = [];
            // client-owned entities live in room 0; only public ones reach other clients
            sim.server.on('spawn', (e) => rooms[0].addEntity(e));
            sim.server.on('connect', (u) => {
              rooms[0].addUser(u);
              sim.server.setViewCenter(u, { x: 0, y: 0 });
            });
            let names = 0;
            const join = async () => members.push(await sim.join(`p${names++}`));
            for (let i = 0; i < initialClients; i++) await join();
            const entities: Entity[] = [];
            const pick = (i: number) => (entities.length ? entities[i % entities.length] : undefined);
            const member = (i: number) => {
              const live = members.filter((m) => m.user.connected && m.client.connected);
              return live.length ? live[i % live.length] : undefined;
            };
            for (const o of ops) {
              switch (o.k) {
                case 'spawn': {
                  const e = sim.server.spawn().insert(Position, { x: o.x, y: o.y });
                  if (o.hp !== null) e.insert(Health, { hp: o.hp, max: 1000 });
                  rooms[o.room].addEntity(e);
                  entities.push(e);
                  break;
                }
                case 'move': {
                  const e = pick(o.e);
                  if (e?.alive) Object.assign(e.get(Position), { x: o.x, y: o.y });
                  break;
                }
                case 'hp': {
                  const e = pick(o.e);
                  if (e?.alive) e.insert(Health, { hp: o.hp, max: 1000 });
                  break;
                }
                case 'label': {
                  const e = pick(o.e);
                  if (!e?.alive) break;
                  if (o.text === null) e.remove(Label);
                  else if (e.has(Label)) e.get(Label).text = o.text;
                  else e.insert(Label, { text: o.text });
                  break;
                }
                case 'despawn':
                  pick(o.e)?.despawn();
                  break;
                case 'scope': {
                  const m = member(o.u);
                  const e = pick(o.e);
                  if (!m || !e?.alive) break;
                  if (o.how === 'include') sim.server.include(m.user, e);
                  else if (o.how === 'exclude') sim.server.exclude(m.user, e);
                  else sim.server.resetScope(m.user, e);
                  break;
                }
                case 'room': {
                  const m = member(o.u);
                  if (m) o.join ? rooms[o.room].addUser(m.user) : rooms[o.room].removeUser(m.user);
                  break;
                }
                case 'roomEntity': {
                  const e = pick(o.e);
                  if (e?.alive) o.add ? rooms[o.room].addEntity(e) : rooms[o.room].removeEntity(e);
                  break;
                }
                case 'radius':
                  member(o.u)?.client.setViewRadius(o.r);
                  break;
                case 'join':
                  if (members.length < 5) await join();
                  break;
                case 'leave': {
                  const m = member(o.u);
                  if (m) await m.client.close();
                  break;
                }
                case 'tick':
                  await sim.tick(o.n);
                  break;
                case 'own': {
                  const m = member(o.u);
                  if (!m) break;
                  const e = m.client.spawn().insert(Position, { x: o.x, y: o.y });
                  if (o.pub) e.configureReplication('public');
                  break;
                }
                case 'ownMove': {
                  const e = own(member(o.u), o.e);
                  if (e) e.get(Position).x = o.x;
                  break;
                }
                case 'ownPublish':
                  own(member(o.u), o.e)?.configureReplication(o.pub ? 'public' : 'private');
                  break;
                case 'ownDespawn':
                  own(member(o.u), o.e)?.despawn();
                  break;
              }
            }
            await sim.settleWorld();
            for (const m of members) {
              if (!m.client.connected) continue;
              expect(sim.clientView(m.client)).toEqual(sim.expectedView(m.user));
              // and the server holds exactly each client's own entities, with their values
              const mine = [...m.client.entities()].filter((e) => e.isLocal);
              const theirs = [...sim.server.entities()].filter((e) => e.ownerKey === m.user);
              expect(theirs.map(viewOf).sort(byJson)).toEqual(mine.map(viewOf).sort(byJson));
            }
            expect(sim.server.stats.world.framesDropped).toBe(0);
            expect(sim.server.stats.world.fatalErrors).toBe(0);
          } finally {
            await sim.close();
          }
        },
      ),
      { numRuns: DEEP ? 2000 : 150, seed: DEEP ? undefined : 0xba7011 },
    );
  }, 120_000);
});
