import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conditions, OpRunner, op, ProxyWorldSim } from './helpers/proxyWorldSim.js';
import { ownedProtocol, Position, viewOf } from './helpers/worldSim.js';

/**
 * Convergence through the proxy: the property of world.convergence.test.ts with a Proxy between
 * the backend Server and its clients. Whatever the backend does to its world, rooms and scopes
 * (and clients to their own entities) while the client↔proxy hop loses (≤ 30 %), duplicates,
 * reorders and delays datagrams, and the proxy↔backend stream arrives in random pieces, once
 * the network is quiet every client's entities equal the backend's world restricted to that
 * client's scope, the backend holds exactly each client's own entities, and the view radius
 * each client asked for reached the backend. The proxy relays world frames opaque: the world
 * layer repairs frames it loses now and then, but not a relay that drops a frame type for good,
 * corrupts frames, hands them to the wrong player or swallows a control packet — each of those
 * fails this property (checked by sabotaging the proxy's relay in a scratch copy).
 */
const DEEP = process.env.BATON_DEEP === '1';

const byJson = (a: unknown, b: unknown) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);

describe('convergence through Proxy → Server', () => {
  it('after quiet, every proxied client holds exactly its in-scope part of the backend world', async () => {
    // non-vacuity: runs that ended with some client seeing replicated entities
    let runs = 0;
    let nonEmpty = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        conditions,
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(op, { minLength: 10, maxLength: 80, size: 'medium' }),
        async (seed, conditioner, maxChunk, initialClients, ops) => {
          const sim = await new ProxyWorldSim(ownedProtocol, {
            seed,
            conditioner,
            chunking: { seed, maxChunk },
            // handshakes under 30 % loss can outlast the 5 s default (link resend backoff)
            server: { interest: { component: Position, x: 'x', y: 'y' }, handshakeTimeoutMs: 30_000 },
          }).listen();
          try {
            const run = new OpRunner(sim);
            for (let i = 0; i < initialClients; i++) await run.join();
            for (const o of ops) await run.apply(o);
            await sim.settleWorld();

            runs++;
            let sawSomething = false;
            for (const m of run.members) {
              // nobody is dropped on the way: only the players the run closed are gone
              expect(m.client.connected, `${m.user.username} disconnected`).toBe(!m.left);
              expect(m.user.connected).toBe(!m.left);
              if (m.left) continue;
              const view = sim.clientView(m.client);
              if (view.size > 0) sawSomething = true;
              expect(view).toEqual(sim.expectedView(m.user));
              const mine = [...m.client.entities()].filter((e) => e.isLocal);
              const theirs = [...sim.server.entities()].filter((e) => e.ownerKey === m.user);
              expect(theirs.map(viewOf).sort(byJson)).toEqual(mine.map(viewOf).sort(byJson));
              // the ViewRadius control packet went through the proxy too
              if (m.radius !== undefined) expect(m.user.viewRadius).toBe(m.radius);
            }
            if (sawSomething) nonEmpty++;
            // every connected player is one proxy session on the backend, and no more
            expect(sim.proxy.sessions().filter((s) => s.state === 'active').length).toBe(
              run.members.filter((m) => !m.left).length,
            );
            expect(sim.server.users.length).toBe(run.members.filter((m) => !m.left).length);

            expect(sim.server.stats.world.framesDropped).toBe(0);
            expect(sim.server.stats.world.fatalErrors).toBe(0);
            expect(sim.proxy.stats.dropped).toMatchObject({
              malformedBackendFrames: 0,
              unexpected: 0,
              refusedSends: 0,
              oversizeWorldFrames: 0,
              staleWorldFrames: 0,
            });
          } finally {
            await sim.close();
          }
        },
      ),
      { numRuns: DEEP ? 2000 : 150, seed: DEEP ? undefined : 0xba7012 },
    );
    // the property is not vacuous: most runs replicate something to someone
    expect(nonEmpty).toBeGreaterThan(runs / 2);
  }, 120_000);
});
