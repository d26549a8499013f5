/**
 * Seamless migration (DESIGN §5) through the proxy, in one process (players on the memory hub,
 * backends on memory streams, real time): a playing bot (an input every tick on an
 * ordered-reliable channel) moved between two backends.
 *
 * Rows, at 0 % and 5 % loss (+ 5 % reordering) on the player's hop:
 * - freeze window p50/p99 (client input held at the proxy), ms and ticks — baseline: the gap of
 *   a referral transfer of the same player measured in the same run (from the transfer to the
 *   reconnected client's accept: the time it cannot play), the non-seamless way
 * - whole migration time p50 (Prepare → the client acknowledged the cutover)
 * - the same at 0 % loss with one entity carried (the bot's own: the cutover waits for B's Restored)
 * - migrations per second of one proxy (200 players moved at once)
 */
import { Client } from '../src/client/index.js';
import {
  generateEd25519KeyPair,
  InMemoryNonceStore,
  InMemoryRegistry,
  InMemoryTicketKeys,
} from '../src/cluster/index.js';
import { component, defineProtocol, message, t } from '../src/index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../src/proxy/index.js';
import { OfflineAuthenticator, Server } from '../src/server/index.js';
import type { LinkConditionerConfig } from '../src/transport/LinkConditioner.js';
import { MemoryHub } from '../src/transport/MemoryHub.js';
import { MemoryStreamNetwork, peerIdentity } from '../src/transport/stream/MemoryStream.js';
import { type BenchContext, type BenchModule, type BenchRow, percentile, row } from './harness.js';

const Input = message('Input', { seq: t.u32 });
const Position = component('Position', { x: t.f32, y: t.f32 });
const protocol = defineProtocol({
  tickRate: 50,
  // the "entity carried" rows: the bot owns an entity, which moves with it (Restore → Restored)
  clientAuthoritativeEntities: true,
  components: [Position],
  messages: [Input],
  channels: { input: { mode: 'ordered-reliable', direction: 'client-to-server' } },
});

async function cluster(seed: number) {
  const hub = new MemoryHub({ seed });
  const net = new MemoryStreamNetwork();
  const registry = new InMemoryRegistry();
  const ticketKeys = new InMemoryTicketKeys();
  const nonces = new InMemoryNonceStore();
  const servers: Server<'input'>[] = [];
  let processed = 0;
  for (const id of ['a', 'b']) {
    const server = new Server(protocol, { authenticator: new OfflineAuthenticator(), maxPlayers: 4096 });
    server.onMessage(Input, () => processed++);
    const keys = await ticketKeys.generate(id);
    const address = await server.listenProxies(net.server({ identity: peerIdentity(id) }), {
      backendId: id,
      tickets: {
        privateKey: keys.privateKey,
        publicKeyOf: (b) => ticketKeys.publicKeyOf(b),
        nonceStore: nonces,
      },
    });
    await registry.register({
      id,
      pool: 'default',
      address: { host: 'memory', port: address.port },
      capacity: 4096,
      publicKey: generateEd25519KeyPair().publicKey,
    });
    servers.push(server);
  }
  const proxy = new Proxy({
    protocol,
    id: 'proxy-1',
    listen: [hub.server()],
    dialBackend: (r) => net.client(r.address.port, { identity: peerIdentity('proxy-1') }),
    registry,
    ticketKeys,
    authenticator: new OfflineAuthenticator(),
    maxPlayers: 4096,
    log: () => {},
    migration: { overlapMs: 20 },
  });
  const [address] = await proxy.start();
  const clients: Client<'input'>[] = [];
  let sent = 0;
  let sending = true;
  const timer = setInterval(() => {
    for (const c of clients) {
      if (c.connected && sending) {
        sent++;
        c.send('input', Input, { seq: sent });
      }
      c.step();
    }
  }, protocol.tickIntervalMs);
  const join = async (name: string, conditioner?: LinkConditionerConfig) => {
    const c = new Client(protocol, {
      autoStep: false,
      followReferrals: () => hub.client(address, { conditioner }),
    });
    clients.push(c);
    await c.connect(hub.client(address, { conditioner }), { username: name });
    return c;
  };
  return {
    proxy,
    join,
    lost: () => sent - processed,
    hasEntities: () => servers.some((s) => [...s.entities()].length > 0),
    pause: (on: boolean) => {
      sending = !on;
    },
    async close() {
      clearInterval(timer);
      for (const c of clients) await c.close().catch(() => {});
      await proxy.close();
      for (const s of servers) await s.close();
    },
  };
}

async function seamless(n: number, conditioner: LinkConditionerConfig | undefined, carry = false) {
  const c = await cluster(5);
  try {
    const bot = await c.join('bot', conditioner);
    if (carry) {
      bot.spawn().insert(Position, { x: 1, y: 2 });
      // on A before the first move (so the Handoff names it)
      while (!c.hasEntities()) await new Promise((r) => setTimeout(r, 5));
    }
    const s = c.proxy.sessions()[0];
    let at = s.backendId!;
    const freeze: number[] = [];
    const total: number[] = [];
    for (let i = 0; i < n; i++) {
      const to = at === 'a' ? 'b' : 'a';
      const r = await c.proxy.migrate(s.id, to);
      if (!r.ok) throw new Error(`migration failed: ${r.reason}`);
      freeze.push(r.freezeMs);
      total.push(r.totalMs);
      at = to;
    }
    c.pause(true); // count once nothing is in flight, before the referrals (they lose what is)
    await new Promise((r) => setTimeout(r, 300));
    const lost = c.lost();
    c.pause(false);
    // referral baseline: the same player, the non-seamless way
    const gaps: number[] = [];
    for (let i = 0; i < Math.max(3, Math.round(n / 10)); i++) {
      const sid = c.proxy.sessions()[0].id;
      const to = c.proxy.sessions()[0].backendId === 'a' ? 'b' : 'a';
      const t0 = performance.now();
      const reconnected = new Promise<void>((resolve) => {
        const check = setInterval(() => {
          const live = c.proxy.sessions().find((x) => x.state === 'active' && x.id !== sid);
          if (live) {
            clearInterval(check);
            resolve();
          }
        }, 1);
      });
      await c.proxy.transfer(sid, to);
      await reconnected;
      gaps.push(performance.now() - t0);
    }
    return { freeze, total, gaps, lost };
  } finally {
    await c.close();
  }
}

async function throughput(players: number) {
  const c = await cluster(9);
  try {
    await Promise.all(Array.from({ length: players }, (_, i) => c.join(`p${i}`)));
    const sessions = c.proxy.sessions();
    const t0 = performance.now();
    const results = await Promise.all(
      sessions.map((s) => c.proxy.migrate(s.id, s.backendId === 'a' ? 'b' : 'a')),
    );
    const ms = performance.now() - t0;
    if (results.some((r) => !r.ok)) throw new Error('a concurrent migration failed');
    return (players / ms) * 1000;
  } finally {
    await c.close();
  }
}

export const migrationBench: BenchModule = {
  name: 'migration',
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const n = ctx.quick ? 15 : 100;
    const tickMs = protocol.tickIntervalMs;
    for (const [label, cond] of [
      ['0% loss', undefined],
      ['5% loss', { loss: 0.05, reorder: 0.05, latencyMs: 1 }],
    ] as const) {
      ctx.log(`migration: ${n} migrations at ${label}`);
      const r = await seamless(n, cond);
      const refGap = { name: `referral transfer gap p50, ${label}`, value: percentile(r.gaps, 50) };
      rows.push(row(refGap.name, refGap.value, 'ms'));
      rows.push(row(`freeze window p50, ${label}`, percentile(r.freeze, 50), 'ms', refGap));
      rows.push(row(`freeze window p99, ${label}`, percentile(r.freeze, 99), 'ms', refGap));
      rows.push(row(`freeze window p50 in ticks, ${label}`, percentile(r.freeze, 50) / tickMs, 'ticks'));
      rows.push(row(`freeze window p99 in ticks, ${label}`, percentile(r.freeze, 99) / tickMs, 'ticks'));
      rows.push(row(`whole migration p50, ${label}`, percentile(r.total, 50), 'ms', refGap));
      rows.push(row(`inputs lost over ${n} migrations, ${label}`, r.lost, 'inputs'));
    }
    {
      // one entity carried with the player: the cutover waits for B's Restored
      const label = '0% loss, 1 entity carried';
      ctx.log(`migration: ${n} migrations at ${label}`);
      const r = await seamless(n, undefined, true);
      rows.push(row(`freeze window p50, ${label}`, percentile(r.freeze, 50), 'ms'));
      rows.push(row(`freeze window p99, ${label}`, percentile(r.freeze, 99), 'ms'));
      rows.push(row(`freeze window p50 in ticks, ${label}`, percentile(r.freeze, 50) / tickMs, 'ticks'));
      rows.push(row(`whole migration p50, ${label}`, percentile(r.total, 50), 'ms'));
      rows.push(row(`inputs lost over ${n} migrations, ${label}`, r.lost, 'inputs'));
    }
    const players = ctx.quick ? 100 : 200;
    ctx.log(`migration: ${players} players at once`);
    rows.push(row(`migrations/s, one proxy (${players} at once)`, await throughput(players), 'ops/s'));
    return rows;
  },
};
