import { describe, expect, it } from 'vitest';
import { Input, Ping, State } from './helpers/protocol.js';
import { Sim } from './helpers/sim.js';

/**
 * Every channel mode end to end through Server/Client over the memory hub, with the link
 * conditioner losing, duplicating and reordering datagrams. Deterministic (seeded, manual clock).
 */
describe('channel modes through Server/Client under loss, duplication and reordering', () => {
  it.each([1, 2])('seed %i: each mode keeps its guarantee', async (seed) => {
    const sim = await new Sim({
      seed,
      conditioner: {
        latencyMs: 20,
        jitterMs: 15,
        loss: 0.1,
        duplicate: 0.1,
        reorder: 0.15,
        reorderDelayMs: 30,
      },
    }).listen();
    const client = sim.client();
    const r = await sim.settleWithin(client.connect(sim.hub.client(sim.address), { username: 'ann' }), 1000);
    expect(r.error).toBeUndefined();
    const user = sim.server.users[0];

    const atServer: Record<string, number[]> = {};
    const atClient: Record<string, number[]> = {};
    const tickDelivery: [number, number][] = [];
    sim.server.on('message', (_u, channel, _def, value) => {
      push(atServer, channel, (value as { seq: number }).seq);
    });
    sim.server.onMessage(Input, (_u, v) => tickDelivery.push([v.seq, sim.server.tick]));
    client.on('message', (channel, def, value) => {
      push(
        atClient,
        channel,
        def === State ? (value as { tick: number }).tick : (value as { seq: number }).seq,
      );
    });

    const N = 120;
    for (let i = 0; i < N; i++) {
      for (const ch of ['chat', 'seqUnreliable', 'unordered', 'seqReliable'] as const) {
        client.send(ch, Ping, { seq: i });
        sim.server.send(user, ch, Ping, { seq: i });
      }
      client.send('input', Input, { seq: client.tick, dx: 0, dy: 0 });
      sim.server.send(user, 'state', State, { tick: i, x: 0, y: 0 });
      await sim.tick();
    }
    await sim.tick(150); // drain retransmissions
    const all = Array.from({ length: N }, (_, i) => i);

    for (const side of [atServer, atClient]) {
      // ordered-reliable: everything, once, in order
      expect(side.chat).toEqual(all);
      // unordered-reliable: everything, once, any order
      expect([...side.unordered].sort((a, b) => a - b)).toEqual(all);
      // sequenced-reliable: strictly increasing, and the newest always arrives
      expectStrictlyIncreasing(side.seqReliable);
      expect(side.seqReliable.at(-1)).toBe(N - 1);
      // sequenced-unreliable: strictly increasing subset
      expectStrictlyIncreasing(side.seqUnreliable);
      expect(side.seqUnreliable.length).toBeGreaterThan(N / 2);
    }
    // unreliable (server → client): a subset, no duplicates, most of it through 10 % loss
    const st = atClient.state;
    expect(new Set(st).size).toBe(st.length);
    expect(st.every((x) => x >= 0 && x < N)).toBe(true);
    expect(st.length).toBeGreaterThan(N * 0.6);
    expect(st.length).toBeLessThan(N);
    // tick-buffered: everything once, never before its tick; within one server step in tick
    // order (a late input — its packet lost and resent — is delivered in the first step after)
    expect(tickDelivery).toHaveLength(N);
    expect(new Set(tickDelivery.map(([t]) => t)).size).toBe(N);
    for (const [tagged, at] of tickDelivery) expect(at).toBeGreaterThanOrEqual(tagged);
    for (let i = 1; i < tickDelivery.length; i++) {
      if (tickDelivery[i][1] === tickDelivery[i - 1][1]) {
        expect(tickDelivery[i][0]).toBeGreaterThan(tickDelivery[i - 1][0]);
      }
    }
    // most inputs were on time despite loss
    expect(tickDelivery.filter(([t, at]) => t === at).length).toBeGreaterThan(N * 0.7);
    expect(sim.hub.counters.dropped).toBeGreaterThan(0);
    expect(sim.hub.counters.duplicated).toBeGreaterThan(0);
    await sim.close();
  });
});

function expectStrictlyIncreasing(xs: number[]): void {
  for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]);
}

function push(into: Record<string, number[]>, channel: string, value: number): void {
  if (!into[channel]) into[channel] = [];
  into[channel].push(value);
}
