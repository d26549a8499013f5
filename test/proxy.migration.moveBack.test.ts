import { afterEach, describe, expect, it } from 'vitest';
import type { MigrationResult } from '../src/proxy/index.js';
import type { Entity } from '../src/world/Entity.js';
import { Position } from './helpers/cluster.js';
import { avatarGame, Bot, type MemCluster, memCluster, processedSeqs, until } from './helpers/migration.js';

/**
 * The overlap window is for rollback (DESIGN §5 "Cleanup"): when B fails after the cutover —
 * before the client is live on B, or within the window — and A is still there, the player
 * moves back to A seamlessly: a second Migrate, no disconnect, no despawn/respawn of its
 * carried avatar, and A processes every input exactly once, in order (B's processing died
 * with B, or B dropped the player: what B was given since the cutover is replayed to A).
 */
const open: MemCluster[] = [];
const bots: Bot[] = [];
afterEach(async () => {
  for (const b of bots.splice(0)) b.stop();
  for (const c of open.splice(0)) await c.close();
});

const LOSSY = { loss: 0.05, reorder: 0.05, reorderDelayMs: 15, latencyMs: 2, jitterMs: 2 };

async function setup(overlapMs: number) {
  const cluster = await memCluster(['a', 'b'], { seed: 5, proxy: { migration: { overlapMs } } });
  open.push(cluster);
  for (const b of cluster.backends.values()) avatarGame(b);
  const bot = new Bot(cluster.client());
  bots.push(bot);
  await bot.connect(cluster.hub, cluster.address, 'ann', LOSSY);
  const s = cluster.proxy.sessions()[0];
  await until(() => [...bot.client.entities()].length === 1, 3000, 'the avatar');
  const avatar = [...bot.client.entities()][0];
  await until(() => cluster.backends.get('a')!.processed.length > 10, 3000, 'input on A');
  const results: MigrationResult[] = [];
  cluster.proxy.on('migration', (_i, r) => results.push(r));
  bot.events.length = 0; // from here on: no spawn or despawn of the avatar
  return { cluster, bot, sid: s.id, uuid: s.uuid, avatar, results };
}

/** Every input the bot sent was processed on A exactly once, in order (A's old session, then its new one). */
async function everyInputOnceOnA(cluster: MemCluster, bot: Bot, uuid: string) {
  const before = bot.seq;
  await until(() => bot.seq > before + 5, 2000, 'more input');
  bot.sending = false;
  const sent = bot.seq;
  const onA = (channel: string) =>
    processedSeqs(
      cluster.log.filter((l) => l.backend === 'a'),
      uuid,
      channel,
    );
  await until(() => onA('chat').length >= sent && onA('input').length >= sent, 5000, 'input processed on A');
  const expected = Array.from({ length: sent }, (_, i) => i + 1);
  expect(onA('chat')).toEqual(expected);
  expect([...onA('input')].sort((x, y) => x - y)).toEqual(expected);
}

function expectCarriedThrough(bot: Bot, avatar: Entity) {
  expect(avatar.alive).toBe(true);
  expect([...bot.client.entities()]).toEqual([avatar]);
  expect(
    bot.events.filter((e) => e.what === 'despawn' || e.what === 'spawn').filter((e) => e.id === avatar.id),
  ).toEqual([]);
}

describe('moving back to A when B fails after the cutover', () => {
  it('B dies at once after the cutover (before the client is live there): the player is back on A, seamlessly', {
    timeout: 15000,
  }, async () => {
    const { cluster, bot, sid, uuid, avatar, results } = await setup(20);
    const b = cluster.backends.get('b')!;
    // the client does not step (so it cannot acknowledge the Migrate) from B's Restore on; B
    // dies once the proxy has cut over and waits for that acknowledgement (Resume)
    b.server.on('migrated', () => bot.pause());
    const migrating = cluster.proxy.migrate(sid, 'b');
    await until(() => cluster.proxy.sessions()[0]?.migration === 'Resume', 3000, 'Resume');
    await b.kill();
    bot.resume();
    const r = await migrating;
    expect(r, JSON.stringify(r)).toMatchObject({ ok: false, afterCutover: true, movedBack: true });
    expect(results).toEqual([r]);
    expect(cluster.proxy.sessions()[0].backendId).toBe('a');
    await until(() => bot.client.migration.count === 2, 3000, 'the second Migrate applied');
    expect(bot.client.backendId).toBe('a');
    expect(bot.disconnects).toEqual([]);
    expect(cluster.proxy.stats.migration.movedBack).toBe(1);
    expect(cluster.proxy.stats.migration.fallbacks).toBe(0);
    await until(() => avatar.get(Position).x === 10, 2000, 'the avatar replicated from A');
    expectCarriedThrough(bot, avatar);
    await everyInputOnceOnA(cluster, bot, uuid);
    // A holds one session of the player (the old one closed, the new one live) and one avatar
    const a = cluster.backends.get('a')!;
    expect(a.server.users).toHaveLength(1);
    expect([...a.server.entities()].filter((e) => e.has(Position))).toHaveLength(1);
  });

  it('B drops the player within the overlap window (client live on B): back on A, seamlessly', {
    timeout: 15000,
  }, async () => {
    const { cluster, bot, sid, uuid, avatar, results } = await setup(3000);
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(r.ok).toBe(true);
    expect(bot.client.backendId).toBe('b');
    await until(() => cluster.backends.get('b')!.processed.length > 5, 3000, 'input on B');
    const b = cluster.backends.get('b')!;
    b.server.disconnect(b.server.users[0], 'kicked');
    await until(() => results.length === 2, 4000, 'the move back');
    expect(results[1]).toMatchObject({ ok: false, afterCutover: true, movedBack: true });
    await until(() => bot.client.migration.count === 2, 3000, 'the second Migrate applied');
    expect(bot.client.backendId).toBe('a');
    expect(cluster.proxy.sessions()[0].backendId).toBe('a');
    expect(bot.disconnects).toEqual([]);
    expectCarriedThrough(bot, avatar);
    await everyInputOnceOnA(cluster, bot, uuid);
  });

  it('after the overlap window B failing is a backend loss: referral or disconnect, no move back', {
    timeout: 15000,
  }, async () => {
    const { cluster, bot, sid, results } = await setup(20);
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(r.ok).toBe(true);
    await new Promise((res) => setTimeout(res, 100)); // the window closed: A's session is gone
    await cluster.backends.get('b')!.kill();
    await until(() => bot.disconnects.length > 0, 4000, 'referral');
    expect(results).toHaveLength(1);
    expect(cluster.proxy.stats.migration.movedBack).toBe(0);
    expect(cluster.proxy.stats.referrals.sent).toBe(1);
  });
});
