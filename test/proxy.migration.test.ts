import { afterEach, describe, expect, it } from 'vitest';
import { Position } from './helpers/cluster.js';
import { Bot, type MemCluster, memCluster, processedSeqs, until } from './helpers/migration.js';

/**
 * Seamless migration (DESIGN §5) on the real data path: a bot plays (an input with a sequence
 * number every tick on an ordered-reliable and on a tick-buffered channel) through the proxy
 * while it is moved between backends, with loss and reordering on its hop.
 */
const open: MemCluster[] = [];
const bots: Bot[] = [];
afterEach(async () => {
  for (const b of bots.splice(0)) b.stop();
  for (const c of open.splice(0)) await c.close();
});

const LOSSY = { loss: 0.05, reorder: 0.05, reorderDelayMs: 15, latencyMs: 2, jitterMs: 2 };

describe('seamless migration', () => {
  it('moves a playing bot between A and B a hundred times: every input processed once, in order, no disconnect, one-tick world swaps', async () => {
    const cluster = await memCluster(['a', 'b'], { seed: 11 });
    open.push(cluster);
    // a crate on each backend, so each world swap has entities leaving and arriving
    for (const b of cluster.backends.values()) {
      const room = b.server.createRoom();
      room.addEntity(b.server.spawn().insert(Position, { x: 1, y: 1 }));
      b.server.on('connect', (u) => room.addUser(u));
    }
    const bot = new Bot(cluster.client());
    bots.push(bot);
    await bot.connect(cluster.hub, cluster.address, 'ann', LOSSY);
    const uuid = cluster.proxy.sessions()[0].uuid;
    const sid = cluster.proxy.sessions()[0].id;
    await until(() => bot.events.some((e) => e.what === 'spawn'), 3000, 'first crate');

    let at = 'a';
    for (let i = 0; i < 100; i++) {
      const to = at === 'a' ? 'b' : 'a';
      const r = await cluster.proxy.migrate(sid, to);
      if (!r.ok) throw new Error(`migration ${i} failed: ${r.reason}`);
      at = to;
    }
    bot.sending = false;
    const sent = bot.seq;
    await until(
      () =>
        processedSeqs(cluster.log, uuid, 'chat').length >= sent &&
        processedSeqs(cluster.log, uuid, 'input').length >= sent,
      8000,
      'every input processed',
    );
    const expected = Array.from({ length: sent }, (_, i) => i + 1);
    expect(processedSeqs(cluster.log, uuid, 'chat')).toEqual(expected);
    // tick-buffered input is delivered by tick: a message late on the lossy hop (resent after
    // its tick passed) is delivered late, directly or through the proxy alike — so exactly once, in tick order
    expect([...processedSeqs(cluster.log, uuid, 'input')].sort((x, y) => x - y)).toEqual(expected);
    // both backends did process input
    expect(cluster.backends.get('a')!.processed.length).toBeGreaterThan(0);
    expect(cluster.backends.get('b')!.processed.length).toBeGreaterThan(0);
    expect(bot.disconnects).toEqual([]);
    expect(bot.client.connected).toBe(true);
    expect(bot.client.migration.count).toBe(100);
    expect(bot.client.backendId).toBe('a');

    // each swap is one tick: the old world's entities leave in the tick the migration applies
    const swaps = bot.events.filter((e) => e.what.startsWith('migrated:'));
    expect(swaps).toHaveLength(100);
    for (const e of bot.events.filter((x) => x.what === 'despawn')) {
      expect(swaps.some((s) => s.tick === e.tick)).toBe(true);
    }
    // the world is the backend's it is on now: its crate arrived, the other's left
    await until(() => [...bot.client.entities()].length === 1, 3000, 'one crate');
    const stats = cluster.proxy.stats.migration;
    expect(stats.completed).toBe(100);
    expect(stats.rolledBack).toBe(0);
    expect(stats.freezeMs.samples).toBe(100);
  }, 90_000);
});
