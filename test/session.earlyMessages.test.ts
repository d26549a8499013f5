import { describe, expect, it } from 'vitest';
import { Chat } from './helpers/protocol.js';
import { Sim } from './helpers/sim.js';

/**
 * A server's first messages (sent right after it accepted the client) travel on other link channels
 * than ConnectAccept: when ConnectAccept is lost they arrive first. The link has acknowledged
 * them, so the client must keep them until it is connected — never drop them.
 */
describe('messages that overtake a lost ConnectAccept', () => {
  it('are delivered after the accept, in order, over 30 seeds with 40 % loss towards the client', async () => {
    const dropped: number[] = [];
    for (let seed = 1; seed <= 30; seed++) {
      const sim = await new Sim({ seed, conditioner: { toClient: { loss: 0.4 } } }).listen();
      // one message per tick from the accept on: each leaves in its own packet
      let sent = 0;
      sim.onTick.push(() => {
        const user = sim.server.users[0];
        if (user && sent < 5) sim.server.send(user, 'chat', Chat, { from: ++sent, text: 'hi' });
      });
      const client = sim.client();
      const got: number[] = [];
      client.onMessage(Chat, (v) => got.push(v.from));
      const r = await sim.settleWithin(
        client.connect(sim.hub.client(sim.address), { username: 'ann' }),
        2000,
      );
      expect(r.error).toBeUndefined();
      expect(await sim.until(() => got.length >= 5, 2000)).toBe(true);
      expect(got).toEqual([1, 2, 3, 4, 5]);
      dropped.push(client.stats.dropped.unexpected);
      await sim.close();
    }
    expect(dropped.every((d) => d === 0)).toBe(true);
  });
});
