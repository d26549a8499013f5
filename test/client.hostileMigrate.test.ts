import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import { withEpoch } from '../src/session/epoch.js';
import type { MigratePacket } from '../src/session/packets/types.js';
import type { ServerSession } from '../src/session/ServerSession.js';
import type { SessionHost } from '../src/session/SessionHost.js';
import { type ClusterChannels, clusterProtocol } from './helpers/cluster.js';
import { Bot, type MemCluster, memCluster, until } from './helpers/migration.js';
import { State } from './helpers/protocol.js';
import { Sim } from './helpers/sim.js';

/**
 * A hostile server or proxy must not make the client hold messages without bound (issue 12
 * item 5): a Migrate outside a proxied session is refused with a reasoned disconnect, and the
 * migration barrier's queues are bounded.
 */
function migrate(epoch: number, count: number): MigratePacket {
  return {
    type: 'Migrate',
    epoch,
    backendId: 'evil',
    serverTick: 0,
    // a count never reached: the Migrate waits forever
    barrier: [{ linkChannel: 2 + clusterProtocol.channel('chat').index, count }],
    setup: [],
    carried: [],
  };
}

const open: MemCluster[] = [];
const closing: Client<ClusterChannels>[] = [];
const bots: Bot[] = [];
afterEach(async () => {
  for (const b of bots.splice(0)) b.stop();
  for (const c of closing.splice(0)) await c.close();
  for (const c of open.splice(0)) await c.close();
});

/** The proxy's own view of a player (its session and epoch), to speak to the client as a hostile proxy would. */
function proxyInternals(cluster: MemCluster, sid: number) {
  const proxy = cluster.proxy as unknown as {
    host: SessionHost;
    players: Map<number, { session: ServerSession; epoch: number }>;
  };
  const p = proxy.players.get(sid)!;
  return { host: proxy.host, session: p.session, epoch: p.epoch };
}

async function proxiedBot() {
  const cluster = await memCluster(['a']);
  open.push(cluster);
  return cluster;
}

describe('a hostile server or proxy cannot make the client hold without bound', () => {
  it('a direct server sending Migrate (no ProxyHello): the client disconnects with the reason', async () => {
    const sim = await new Sim().listen();
    const client = sim.client();
    const reasons: string[] = [];
    client.on('disconnect', (r) => reasons.push(r));
    const r = await sim.settleWithin(client.connect(sim.hub.client(sim.address), { username: 'ann' }));
    expect(r.error).toBeUndefined();
    const user = sim.server.users[0];
    const host = (sim.server as unknown as { host: SessionHost }).host;
    host.sendControl(user.session, { ...migrate(1, 0), barrier: [] });
    expect(await sim.until(() => reasons.length > 0)).toBe(true);
    expect(reasons[0]).toMatch(/Migrate outside a proxied session/);
    expect(client.migration.count).toBe(0);
    await sim.close();
  });

  it('more Migrates pending than the bound: disconnect with the reason', async () => {
    const cluster = await proxiedBot();
    const bot = new Bot(cluster.client());
    bots.push(bot);
    await bot.connect(cluster.hub, cluster.address, 'ann');
    const sid = cluster.proxy.sessions()[0].id;
    const { host, session, epoch } = proxyInternals(cluster, sid);
    for (let i = 1; i <= 5; i++) host.sendControl(session, migrate((epoch + i) & 0xff, 1_000_000));
    await until(() => bot.disconnects.length > 0, 3000, 'disconnect');
    expect(bot.disconnects[0]).toMatch(/more than 4 Migrates pending/);
    expect(bot.client.migration.count).toBe(0);
  });

  it('a Migrate out of sequence: disconnect with the reason', async () => {
    const cluster = await proxiedBot();
    const bot = new Bot(cluster.client());
    bots.push(bot);
    await bot.connect(cluster.hub, cluster.address, 'ann');
    const { host, session, epoch } = proxyInternals(cluster, cluster.proxy.sessions()[0].id);
    host.sendControl(session, migrate((epoch + 7) & 0xff, 0));
    await until(() => bot.disconnects.length > 0, 3000, 'disconnect');
    expect(bot.disconnects[0]).toMatch(/out of sequence/);
  });

  it('messages held behind a Migrate that never completes, beyond the bound: disconnect with the reason', async () => {
    const cluster = await proxiedBot();
    const c = new Client(clusterProtocol, { autoStep: false, migrationGate: { maxHeldMessages: 50 } });
    const bot = new Bot(c);
    closing.push(c);
    bots.push(bot);
    await bot.connect(cluster.hub, cluster.address, 'ann');
    const { host, session, epoch } = proxyInternals(cluster, cluster.proxy.sessions()[0].id);
    const next = (epoch + 1) & 0xff;
    host.sendControl(session, migrate(next, 1_000_000));
    const chat = clusterProtocol.channel('chat').index;
    const bytes = clusterProtocol.encodeMessage(State, { tick: 1, x: 0, y: 0 });
    // the hostile "new backend" floods messages of the next epoch
    for (let i = 0; i < 60; i++) session.pipe.sendMessage(chat, withEpoch(next, bytes));
    await until(() => bot.disconnects.length > 0, 3000, 'disconnect');
    expect(bot.disconnects[0]).toMatch(/more than 50 messages held/);
  });
});
