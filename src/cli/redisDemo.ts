import { Client } from '../client/Client.js';
import { createDevCertificates } from '../cluster/devCertificates.js';
import { RedisNonceStore } from '../cluster/RedisNonceStore.js';
import { RedisRegistry } from '../cluster/RedisRegistry.js';
import { RedisTicketKeys } from '../cluster/RedisTicketKeys.js';
import { defineProtocol, message, t } from '../index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../proxy/Proxy.js';
import { Server } from '../server/Server.js';
import { OfflineAuthenticator } from '../session/Authenticator.js';
import { udpClient, udpServer } from '../transport/index.js';
import { tlsStreamServer } from '../transport/stream/index.js';
import { type InputLedger, recordInput } from './inputLedger.js';
import { hasRedisServer, type LocalRedis, startLocalRedis } from './localRedis.js';

/** Options of `baton demo --redis`. */
export interface RedisDemoOptions {
  durationSeconds: number;
  /** Bots in all, spread over the two proxies. */
  bots: number;
  /** Each bot is moved to another backend about this often (default 2 s). */
  migrateEverySeconds?: number;
  log?: (line: string) => void;
}

const Input = message('Input', { seq: t.u32, dx: t.i8, dy: t.i8 });
const protocol = defineProtocol({
  tickRate: 20,
  messages: [Input],
  channels: { input: { mode: 'ordered-reliable', direction: 'client-to-server' } },
});

type Closable = { close(): Promise<unknown> };

const PROXIES = ['proxy-1', 'proxy-2'] as const;
/** Backends and the "machine" (proxy host) each registers from. */
const BACKENDS = [
  ['b1', 'proxy-1'],
  ['b2', 'proxy-1'],
  ['b3', 'proxy-2'],
  ['b4', 'proxy-2'],
] as const;

/**
 * Two proxies and four backends sharing one local Redis, as on two machines: b1 and b2
 * register from proxy-1's host, b3 and b4 from proxy-2's, each process with its own Redis
 * connections (registry, ticket keys, nonces). Bots connect to either proxy; every few seconds
 * each proxy migrates one of its bots seamlessly to another backend of the shared pool —
 * including the ones the other machine registered. Ctrl-C (or SIGTERM) ends it early and still
 * closes everything and stops Redis. Resolves to true when no input was lost or reordered.
 */
export async function runRedisDemo(o: RedisDemoOptions): Promise<boolean> {
  const log = o.log ?? ((line: string) => console.log(line));
  if (!hasRedisServer()) {
    throw new Error(
      'baton demo --redis needs the redis-server binary on PATH (e.g. apt-get install redis-server, ' +
        'brew install redis); the default demo needs nothing but Node',
    );
  }
  const open: Closable[] = [];
  let stop: () => void = () => {};
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  // `on`, not `once`: under `npm run` the same Ctrl-C arrives more than once (from the terminal
  // and relayed by npm/tsx), and a second one with no handler would kill us before cleanup
  const onSignal = () => {
    if (!stopping) log('stopping (signal)…');
    stopping = true;
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let redis: LocalRedis | undefined;
  try {
    redis = await startLocalRedis();
    log(`redis-server on ${redis.url} (no persistence; its folder ${redis.dir} is removed at the end)`);
    const url = redis.url;
    const stores = () => {
      const s = {
        registry: new RedisRegistry({ redis: url }),
        ticketKeys: new RedisTicketKeys({ redis: url }),
        nonces: new RedisNonceStore({ redis: url }),
      };
      open.push(s.registry, s.ticketKeys, s.nonces);
      return s;
    };
    const certs = await createDevCertificates({
      backends: ['demo-backend'],
      proxies: [...PROXIES],
      validDays: 1,
    });
    const serverCert = certs.backends['demo-backend'];

    const processed: InputLedger = new Map();
    const servers = new Map<string, Server<'input'>>();
    for (const [id, host] of BACKENDS) {
      const { registry, ticketKeys, nonces } = stores();
      const server = new Server(protocol, { authenticator: new OfflineAuthenticator(), name: id });
      open.push({ close: () => server.close('demo over') });
      const room = server.createRoom();
      server.on('connect', (u) => room.addUser(u));
      server.onMessage(Input, (u, v) => recordInput(processed, u.uuid, v.seq));
      const keys = await ticketKeys.generate(id);
      const address = await server.listenProxies(
        tlsStreamServer({ cert: serverCert.cert, key: serverCert.key, ca: certs.ca.cert, port: 0 }),
        {
          backendId: id,
          allowedProxies: [...PROXIES],
          tickets: {
            privateKey: keys.privateKey,
            publicKeyOf: (b) => ticketKeys.publicKeyOf(b),
            nonceStore: nonces,
          },
        },
      );
      await registry.register({
        id,
        pool: 'default',
        address: { host: '127.0.0.1', port: address.port },
        capacity: 1000,
        publicKey: keys.publicKey,
      });
      servers.set(id, server);
      log(`${id}: registered from ${host}'s machine, tls://127.0.0.1:${address.port}`);
    }

    const proxies: { id: string; proxy: Proxy; address: { host: string; port: number } }[] = [];
    for (const id of PROXIES) {
      const { registry, ticketKeys, nonces } = stores();
      const proxy = new Proxy({
        protocol,
        id,
        listen: [udpServer({ host: '127.0.0.1', port: 0 })],
        tls: { cert: certs.proxies[id].cert, key: certs.proxies[id].key, ca: certs.ca.cert },
        registry,
        ticketKeys,
        referral: { nonceStore: nonces },
        authenticator: new OfflineAuthenticator(),
        log: () => {},
      });
      const [address] = await proxy.start();
      open.push({ close: () => proxy.close('demo over') });
      const pool = await proxy.poolStatus('default');
      log(
        `${id}: udp://${address.host}:${address.port}, sees ${pool.backends} backends in the shared pool, seamless: ${pool.seamlessMigration}`,
      );
      proxies.push({ id, proxy, address });
    }

    const bots: { client: Client<'input'>; sent: number; disconnects: number }[] = [];
    for (let i = 0; i < o.bots && !stopping; i++) {
      const client = new Client(protocol);
      open.push({ close: () => client.close('demo over') });
      const bot = { client, sent: 0, disconnects: 0 };
      client.on('disconnect', () => bot.disconnects++);
      await client.connect(udpClient({ transport: 'udp', ...proxies[i % proxies.length].address }), {
        username: `bot${i + 1}`,
      });
      bots.push(bot);
    }
    log(
      `${bots.length} bots playing, ${Math.ceil(bots.length / 2)} through proxy-1, ${Math.floor(bots.length / 2)} through proxy-2`,
    );

    let sending = true;
    const play = setInterval(() => {
      if (!sending) return;
      for (const b of bots) {
        if (!b.client.connected) continue;
        b.sent++;
        b.client.send('input', Input, { seq: b.sent, dx: 1, dy: -1 });
      }
    }, protocol.tickIntervalMs);

    let completed = 0;
    let failed = 0;
    let crossMachine = 0;
    let turn = 0;
    const homeOf = new Map<string, string>(BACKENDS);
    const migrations = setInterval(
      () => {
        for (const { id, proxy } of proxies) {
          const sessions = proxy.sessions().filter((s) => s.state === 'active' && !s.migration);
          if (sessions.length === 0) continue;
          const s = sessions[turn % sessions.length];
          const others = BACKENDS.map(([b]) => b).filter((b) => b !== s.backendId);
          const target = others[turn % others.length];
          void proxy.migrate(s.id, target).then((r) => {
            if (!r.ok) {
              failed++;
              log(`  ${id}: migration of ${s.username} failed in ${r.state}: ${r.reason}`);
              return;
            }
            completed++;
            const registeredBy = homeOf.get(target);
            if (registeredBy !== id) crossMachine++;
            log(
              `  ${id}: ${s.username} ${s.backendId} → ${target} (seamless; ${target} registered from ${registeredBy}'s machine)`,
            );
          });
        }
        turn++;
      },
      ((o.migrateEverySeconds ?? 2) * 1000) / 2,
    );

    const totals = () => {
      let sent = 0;
      let got = 0;
      let outOfOrder = 0;
      for (const b of bots) sent += b.sent;
      for (const s of processed.values()) {
        got += s.count;
        outOfOrder += s.outOfOrder;
      }
      return { sent, got, outOfOrder };
    };
    const summary = setInterval(() => {
      const per = [...servers].map(([id, s]) => `${id} ${s.users.length}`).join(' | ');
      const { sent, got } = totals();
      log(
        `players ${per} | migrations ${completed} (across machines ${crossMachine}) | inputs in flight ${sent - got}`,
      );
    }, 1000);

    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((r) => (timer = setTimeout(r, o.durationSeconds * 1000))), stopped]);
    clearTimeout(timer); // after a signal, a pending timer would keep the process alive
    clearInterval(migrations);
    sending = false;
    // let every migration finish and every input arrive before counting
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const { sent, got } = totals();
      const busy = proxies.some((p) => p.proxy.stats.migration.inFlight > 0);
      if (got >= sent && !busy) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    clearInterval(play);
    clearInterval(summary);
    const { sent, got, outOfOrder } = totals();
    const disconnects = bots.reduce((n, b) => n + b.disconnects, 0);
    log(
      `final: migrations ${completed} (across machines ${crossMachine}, failed ${failed}) | inputs sent ${sent} processed ${got} | ` +
        `disconnects ${disconnects} | out of order ${outOfOrder}`,
    );
    const freeze = proxies.map((p) => {
      const f = p.proxy.stats.migration.freezeMs;
      return `${p.id} p50 ${f.p50.toFixed(1)} ms p99 ${f.p99.toFixed(1)} ms`;
    });
    log(`freeze window: ${freeze.join(' | ')}`);
    log(`inputs lost: ${sent - got}`);
    return sent === got && outOfOrder === 0 && disconnects === 0;
  } catch (error) {
    // a signal during setup interrupts whatever was connecting: not a failure to report
    if (stopping) return false;
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const c of open.reverse()) await c.close().catch(() => {});
    await redis?.close();
  }
}
