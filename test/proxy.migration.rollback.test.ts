import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import type { MigrationResult } from '../src/proxy/index.js';
import { MuxFrame } from '../src/session/mux.js';
import { clusterProtocol, Position } from './helpers/cluster.js';
import { Bot, type MemCluster, memCluster, processedSeqs, until } from './helpers/migration.js';

/**
 * Every failure of a seamless migration has a rule (DESIGN §5 "Failed"): before cutover the
 * player stays on A with nothing lost; after cutover a referral to a healthy backend or a
 * disconnect with a reason. One test each.
 */
type SendFrame = (type: number, sessionId: number, payload: Uint8Array) => boolean;

const open: MemCluster[] = [];
const bots: Bot[] = [];
afterEach(async () => {
  for (const b of bots.splice(0)) b.stop();
  for (const c of open.splice(0)) await c.close();
});

async function setup(ids = ['a', 'b'], proxy: Parameters<typeof memCluster>[1] = {}) {
  const cluster = await memCluster(ids, proxy);
  open.push(cluster);
  const bot = new Bot(cluster.client());
  bots.push(bot);
  bot.client.setViewRadius(40);
  await bot.connect(cluster.hub, cluster.address, 'ann', { loss: 0.05, reorder: 0.05, latencyMs: 1 });
  const s = cluster.proxy.sessions()[0];
  // let some input flow to A first
  await until(() => cluster.backends.get('a')!.processed.length > 10, 3000, 'input on A');
  return { cluster, bot, sid: s.id, uuid: s.uuid };
}

/** The player is on A, still playing, and every input sent was processed on A exactly once in order. */
async function expectNothingLost(
  cluster: MemCluster,
  bot: Bot,
  uuid: string,
  r: MigrationResult,
  state: string,
) {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.afterCutover).toBe(false);
  expect(r.state).toBe(state);
  expect(cluster.proxy.sessions()[0].backendId).toBe('a');
  const before = bot.seq;
  await until(() => bot.seq > before + 5, 2000, 'more input');
  bot.sending = false;
  const sent = bot.seq;
  await until(() => processedSeqs(cluster.log, uuid, 'chat').length >= sent, 4000, 'input processed');
  const expected = Array.from({ length: sent }, (_, i) => i + 1);
  expect(processedSeqs(cluster.log, uuid, 'chat')).toEqual(expected);
  await until(() => processedSeqs(cluster.log, uuid, 'input').length >= sent, 4000, 'tick input processed');
  expect([...processedSeqs(cluster.log, uuid, 'input')].sort((x, y) => x - y)).toEqual(expected);
  expect(cluster.log.filter((l) => l.backend !== 'a')).toEqual([]);
  expect(bot.disconnects).toEqual([]);
  expect(bot.client.migration.count).toBe(0);
  expect(cluster.proxy.stats.migration.rolledBack).toBe(1);
}

/** Hang A (its ticker stops) once it issued the ticket, so the migration sits in Freeze. */
function hangSourceAfterTicket(cluster: MemCluster): void {
  const a = cluster.backends.get('a')!;
  a.server.migration.handOff = (_user, phase) => {
    // at once: migration frames are processed as they arrive, so the Freeze may follow within this task
    if (phase === 'ticket') a.hang();
    return new Uint8Array([1]);
  };
}

async function whenState(cluster: MemCluster, state: string): Promise<void> {
  await until(() => cluster.proxy.sessions()[0]?.migration === state, 3000, `state ${state}`);
}

describe('migration rollback (before cutover: the player stays on A, nothing lost)', () => {
  it('B refuses the ticket', async () => {
    const { cluster, bot, sid, uuid } = await setup(['a']);
    await cluster.addBackend('b', { badKeys: true });
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(!r.ok && r.reason).toMatch(/ticket refused: bad-signature/);
    await expectNothingLost(cluster, bot, uuid, r, 'Auth');
    expect(cluster.backends.get('b')!.server.proxiedStats?.migration.arrivalsRefused).toBe(1);
  });

  it('B dies in Prepare (cannot be reached)', async () => {
    const { cluster, bot, sid, uuid } = await setup();
    await cluster.backends.get('b')!.kill();
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(!r.ok && r.reason).toMatch(/cannot|refused|lost/);
    await expectNothingLost(cluster, bot, uuid, r, 'Prepare');
  });

  it('B dies in Auth', async () => {
    const { cluster, bot, sid, uuid } = await setup();
    const a = cluster.backends.get('a')!;
    const b = cluster.backends.get('b')!;
    // A decides (during Auth) while B dies
    a.server.migration.decide = () => {
      void b.kill();
      return true;
    };
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(!r.ok && r.reason).toMatch(/lost|refused|closing|killed/);
    await expectNothingLost(cluster, bot, uuid, r, 'Auth');
  });

  it('B dies in Sync', async () => {
    const { cluster, bot, sid, uuid } = await setup();
    const b = cluster.backends.get('b')!;
    // the replayed ViewRadius reaches B during Sync: B dies right there
    b.server.on('viewRadius', () => void b.kill());
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(!r.ok && r.reason).toMatch(/lost|refused|closing|killed/);
    await expectNothingLost(cluster, bot, uuid, r, 'Sync');
  });

  it('B dies in Freeze', async () => {
    const { cluster, bot, sid, uuid } = await setup();
    hangSourceAfterTicket(cluster);
    const migrating = cluster.proxy.migrate(sid, 'b');
    await whenState(cluster, 'Freeze');
    await new Promise((r) => setTimeout(r, 60)); // input piles up in the freeze buffer
    await cluster.backends.get('b')!.kill();
    const r = await migrating;
    cluster.backends.get('a')!.server.start(); // A wakes up: Freeze, then Thaw, then the buffer
    expect(!r.ok && r.reason).toMatch(/target backend b lost|target 'b' refused: killed/);
    await expectNothingLost(cluster, bot, uuid, r, 'Freeze');
  });

  it('the buffer bound is exceeded', async () => {
    const { cluster, bot, sid, uuid } = await setup(['a', 'b'], {
      proxy: { migration: { maxBufferedFrames: 6 } },
    });
    hangSourceAfterTicket(cluster);
    const migrating = cluster.proxy.migrate(sid, 'b');
    const r = await migrating;
    cluster.backends.get('a')!.server.start();
    expect(!r.ok && r.reason).toMatch(/buffer bound exceeded: more than 6 frames/);
    await expectNothingLost(cluster, bot, uuid, r, 'Freeze');
  });

  it('a state times out (Freeze: A does not hand off in time)', async () => {
    const { cluster, bot, sid, uuid } = await setup(['a', 'b'], {
      proxy: { migration: { timeouts: { freeze: 80 } } },
    });
    hangSourceAfterTicket(cluster);
    const r = await cluster.proxy.migrate(sid, 'b');
    cluster.backends.get('a')!.server.start();
    expect(!r.ok && r.reason).toMatch(/Freeze timed out after 80 ms/);
    await expectNothingLost(cluster, bot, uuid, r, 'Freeze');
    expect(cluster.proxy.stats.migration.failuresByReason).toEqual({ 'Freeze timed out after # ms': 1 });
  });
});

describe('a late Restored (after the cutover timeout)', () => {
  it('rolls back: the player stays on A with nothing lost, B despawns the copies it re-created and drops the player by itself', async () => {
    const { cluster, bot, sid, uuid } = await setup(['a', 'b'], {
      proxy: { migration: { timeouts: { cutover: 100 } } },
    });
    const a = cluster.backends.get('a')!;
    const b = cluster.backends.get('b')!;
    // A: the player's avatar (carried) and a delegated entity it holds (carried by default)
    const roomA = a.server.createRoom();
    const userA = a.server.users[0];
    roomA.addUser(userA);
    const avatar = a.server.spawn().insert(Position, { x: 10, y: 20 });
    const tool = a.server.spawn().insert(Position, { x: 1, y: 1 });
    roomA.addEntity(avatar);
    roomA.addEntity(tool);
    tool.configureReplication('delegated');
    a.server.migration.carried = () => [avatar.id, tool.id];
    // B: a room for arriving players, and no game cleanup at all (no 'disconnect' handler)
    const roomB = b.server.createRoom();
    b.server.on('connect', (user) => roomB.addUser(user));
    let restoredOnB = 0;
    b.server.migration.restore = (_user, _state, info) => {
      if (info.phase === 'final') restoredOnB = info.carried.length;
    };
    // B answers Restore late: its Restored leaves 250 ms after it re-created the entities
    let lateSent = false;
    b.server.on('connect', (user) => {
      const link = (user.session as unknown as { proxyLink: { sendFrame: SendFrame } }).proxyLink;
      const send = link.sendFrame.bind(link);
      link.sendFrame = (type, sessionId, payload) => {
        if (type !== MuxFrame.Restored) return send(type, sessionId, payload);
        setTimeout(() => {
          send(type, sessionId, payload);
          lateSent = true;
        }, 250);
        return true;
      };
    });
    await until(() => [...bot.client.entities()].length === 2, 3000, 'avatar and tool on the client');
    expect(tool.giveAuthority(userA)).toEqual({ ok: true });
    const held = () => [...bot.client.entities()].find((e) => e.authority === 'granted');
    await until(() => held() !== undefined, 3000, 'authority on the client');

    const r = await cluster.proxy.migrate(sid, 'b');
    expect(!r.ok && r.reason).toMatch(/Cutover timed out after 100 ms/);
    expect(restoredOnB).toBe(2); // B did re-create them before the timeout
    // B cleaned up by itself: its copies despawned, the player dropped
    await until(() => lateSent, 2000, 'the late Restored');
    await until(() => b.server.users.length === 0, 2000, 'the player dropped on B');
    expect([...b.server.entities()]).toEqual([]);
    expect(b.server.proxiedStats?.migration.cancelled).toBe(1);
    // A kept everything: the entities, the holder, the client's view of them
    expect(avatar.alive && tool.alive).toBe(true);
    expect(tool.authHolder).toBe(userA);
    expect([...bot.client.entities()]).toHaveLength(2);
    expect(held()?.alive).toBe(true);
    expect(bot.events.filter((e) => e.what === 'despawn')).toEqual([]);
    await expectNothingLost(cluster, bot, uuid, r, 'Cutover');
  });
});

describe('migration failure after cutover', () => {
  it('B dies in Resume and A is gone too: referral fallback lands the player on a healthy backend', {
    timeout: 15000,
  }, async () => {
    const cluster = await memCluster(['a', 'b', 'c']);
    open.push(cluster);
    const client = new Client(clusterProtocol, {
      handshakeTimeoutMs: 4000,
      autoStep: false,
      followReferrals: () => cluster.hub.client(cluster.address),
    });
    const bot = new Bot(client);
    bots.push(bot);
    await bot.connect(cluster.hub, cluster.address, 'ann');
    const sid = cluster.proxy.sessions()[0].id;
    const a = cluster.backends.get('a')!;
    const b = cluster.backends.get('b')!;
    // B dies as soon as it is live for the player (Restore at cutover), before the client's ack,
    // and A with it (else the player would move back to A: proxy.migration.moveBack.test.ts)
    b.server.on('migrated', () => {
      void a.kill();
      void b.kill();
    });
    const referrals: string[] = [];
    cluster.proxy.on('referral', (_i, to, why) => referrals.push(`${to}: ${why}`));
    const reconnected = new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.afterCutover).toBe(true);
    await reconnected;
    expect(referrals[0]).toMatch(/^c: backend (a|b) lost/);
    expect(cluster.proxy.sessions()[0].backendId).toBe('c');
    expect(cluster.proxy.stats.migration.fallbacks).toBeGreaterThanOrEqual(1);
  });

  it('B dies in Resume with no other backend: disconnect with a reason', { timeout: 15000 }, async () => {
    const { cluster, bot, sid } = await setup();
    const a = cluster.backends.get('a')!;
    const b = cluster.backends.get('b')!;
    b.server.on('migrated', () => {
      void a.kill();
      void b.kill();
    });
    const r = await cluster.proxy.migrate(sid, 'b');
    expect(r.ok).toBe(false);
    await until(() => bot.disconnects.length > 0, 4000, 'disconnect');
    expect(bot.disconnects[0]).toMatch(/backend (a|b) lost .*no other backend in pool 'default'/);
  });
});

describe('pools without ticket keys', () => {
  it('fall back to referral, and the proxy says why', async () => {
    const lines: string[] = [];
    const cluster = await memCluster(['a', 'b'], { tickets: false, proxy: { log: (l) => lines.push(l) } });
    open.push(cluster);
    const bot = new Bot(cluster.client());
    bots.push(bot);
    await bot.connect(cluster.hub, cluster.address, 'ann');
    const sid = cluster.proxy.sessions()[0].id;
    const status = await cluster.proxy.poolStatus('default');
    expect(status.seamlessMigration).toBe(false);
    expect(status.reason).toBe('backends without ticket keys: a, b');
    const direct = await cluster.proxy.migrate(sid, 'b');
    expect(!direct.ok && direct.reason).toMatch(/seamless migration disabled for pool 'default'/);
    const referred = new Promise<void>((resolve) => bot.client.once('referral', () => resolve()));
    const a = cluster.backends.get('a')!;
    expect(a.server.transfer(a.server.users[0], 'b')).toBe(true);
    await referred;
    expect(cluster.proxy.stats.migration.referralTransfers).toBe(1);
    expect(
      lines.some((l) =>
        /by referral: seamless migration disabled for pool 'default': backends without ticket keys/.test(l),
      ),
    ).toBe(true);
    expect(lines.some((l) => /seamless migration disabled for pool 'default'/.test(l))).toBe(true);
  });
});
