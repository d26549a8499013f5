import { describe, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import { defineProtocol, message, t } from '../src/index.js';
import { ReceiveBudget } from '../src/link/ReceiveBudget.js';
import { OfflineAuthenticator, Server } from '../src/server/index.js';
import { MemoryHub } from '../src/transport/browser.js';
import { ManualClock } from '../src/util/Clock.js';

const Blob = message('Blob', { data: t.bytes(300_000) });
const blobProtocol = defineProtocol({
  tickRate: 50,
  messages: [Blob],
  channels: { blobs: { mode: 'ordered-reliable' } },
});

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Peers that send a large reliable message and then withhold its final fragments pin what the
 * server already reassembled. Each link is bounded on its own (`maxPendingBytes`); the shared
 * receive budget bounds the sum: past it, the session holding the most is closed with a reason.
 */
describe('process-wide receive budget over sessions', () => {
  it('20 sessions withholding final fragments stay under the budget; the evicted are told why', async () => {
    const clock = new ManualClock(1000);
    const hub = new MemoryHub({ clock, seed: 5 });
    const LIMIT = 1024 * 1024;
    const budget = new ReceiveBudget(LIMIT);
    const server = new Server(blobProtocol, {
      clock,
      authenticator: new OfflineAuthenticator(),
      maxPlayers: 32,
      link: { receiveBudget: budget },
    });
    const address = await server.listen(hub.server());
    const received: number[] = [];
    server.onMessage(Blob, (user, v) => received.push(user.id * 1_000_000 + v.data.length));
    const clients: Client<'blobs'>[] = [];
    const tick = async (n = 1) => {
      for (let i = 0; i < n; i++) {
        await settle();
        hub.advance(20);
        server.step();
        for (const c of clients) c.step();
      }
    };
    const reasons = new Map<number, string>();
    for (let i = 0; i < 20; i++) {
      const c = new Client(blobProtocol, { clock });
      clients.push(c);
      c.on('disconnect', (reason) => reasons.set(i, reason));
      let done = false;
      c.connect(hub.client(address), { username: `p${i}` }).then(() => (done = true));
      for (let k = 0; k < 100 && !done; k++) await tick();
      expect(done).toBe(true);
    }
    // every client starts a message of 100..290 KB (sizes differ: the largest holders are known),
    // gets part of it out, then goes silent towards the server
    const sizes = clients.map((_, i) => 60_000 + i * 10_000);
    for (const [i, c] of clients.entries()) c.send('blobs', Blob, { data: new Uint8Array(sizes[i]).fill(i) });
    await tick(3);
    let peak = 0;
    for (const link of hub.links()) link.partition('toServer');
    for (let k = 0; k < 20; k++) {
      await tick();
      peak = Math.max(peak, budget.stats.heldBytes);
    }
    const closedBefore = server.stats.dropped.receiveBudgetEvictions;
    // the budget held: never over the limit, and it evicted to stay there
    expect(budget.stats.peakBytes).toBeLessThanOrEqual(LIMIT);
    expect(budget.stats.evictions).toBeGreaterThan(0);
    expect(closedBefore).toBe(budget.stats.evictions);
    // unevicted partials are still held (nothing was dropped from a live link)
    expect(budget.stats.heldBytes).toBeGreaterThan(0);
    console.log(
      `receive budget ${LIMIT} B: peak ${budget.stats.peakBytes} B, ${budget.stats.evictions} evictions ` +
        `(${budget.stats.evictedBytes} B), ${server.users.length} sessions left`,
    );

    // the evicted ones were told why; the others complete their message once the path heals
    for (const link of hub.links()) link.heal('toServer');
    await tick(200);
    const survivors = server.users.map((u) => u.username);
    expect(survivors.length).toBe(20 - budget.stats.evictions);
    expect(received.length).toBe(survivors.length);
    for (const u of server.users) {
      const i = Number(u.username.slice(1));
      expect(received).toContain(u.id * 1_000_000 + sizes[i]);
    }
    // each evicted player was told why (the Disconnect crossed once the path healed)
    const evicted = clients.map((_, i) => i).filter((i) => !survivors.includes(`p${i}`));
    expect(evicted.length).toBe(budget.stats.evictions);
    for (const i of evicted) expect(reasons.get(i)).toContain('memory budget');
    expect(budget.stats.heldBytes).toBe(0);
    for (const c of clients) await c.close();
    await server.close();
    await hub.close();
  });
});
