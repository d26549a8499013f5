import { Client } from '../client/Client.js';
import { InMemoryNonceStore, InMemoryRegistry, InMemoryTicketKeys } from '../cluster/index.js';
import { component, defineProtocol, type Entity, message, t } from '../index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../proxy/Proxy.js';
import { Server } from '../server/Server.js';
import type { User } from '../server/User.js';
import { OfflineAuthenticator } from '../session/Authenticator.js';
import { udpClient, udpServer, websocketClient, websocketServer } from '../transport/index.js';
import { createDemoCertificates, type DemoCertificates } from './certsDemo.js';
import { listenDemoBackend } from './demoBackend.js';
import { type InputLedger, recordInput } from './inputLedger.js';
import { sleep } from './signals.js';

/** Options of the rolling-restart demo (the default `baton demo`). */
export interface RollingDemoOptions {
  durationSeconds: number;
  transport: 'udp' | 'ws';
  bots: number;
  log?: (line: string) => void;
  /** Ends the demo early (Ctrl-C): it still closes everything and removes its temporary files. */
  signal?: AbortSignal;
}

const Position = component('Position', { x: t.f32, y: t.f32 });
const Input = message('Input', { seq: t.u32, dx: t.i8, dy: t.i8 });
const protocol = defineProtocol({
  tickRate: 20,
  components: [Position],
  messages: [Input],
  channels: { input: { mode: 'ordered-reliable', direction: 'client-to-server' } },
});

const BACKENDS = ['backend-1', 'backend-2', 'backend-3'];

/** Inputs processed per player (by uuid), over every backend and every restart. */
type Processed = InputLedger;

/**
 * A rolling restart, on one machine: one proxy, three backends (this process, mutual TLS), bots
 * playing — an input with a sequence number every tick on a reliable channel. In turn, each
 * backend is drained as on SIGTERM (`server.drain()`: its players migrate seamlessly to the
 * other two), stopped, and started again as a new process would be (a fresh server and ticket
 * key, registered under the same id). The summary counts restarts, migrations, disconnects and
 * inputs lost (sent by the bots vs processed by any backend) — the last line reads
 * "inputs lost: 0".
 */
export async function runRollingDemo(o: RollingDemoOptions): Promise<boolean> {
  const log = o.log ?? ((line: string) => console.log(line));
  const certs = await createDemoCertificates();
  const registry = new InMemoryRegistry();
  const ticketKeys = new InMemoryTicketKeys();
  const processed: Processed = new Map();
  const servers = new Map<string, Server<'input'>>();
  let proxy: Proxy | undefined;
  const bots: { client: Client<'input'>; sent: number; disconnects: number }[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];
  try {
    for (const id of BACKENDS)
      servers.set(id, await startBackend(id, certs, registry, ticketKeys, processed));
    log(`${BACKENDS.join(', ')}: taking players over mutual TLS, ticket keys published`);
    proxy = new Proxy({
      protocol,
      id: 'proxy-1',
      listen: [o.transport === 'ws' ? websocketServer({ port: 0 }) : udpServer({ port: 0 })],
      tls: { cert: certs.client.cert, key: certs.client.key, ca: certs.ca.cert },
      registry,
      ticketKeys,
      authenticator: new OfflineAuthenticator(),
      log,
    });
    const [address] = await proxy.start();
    log(`proxy-1 listening on ${o.transport}://${address.host}:${address.port}`);
    for (let i = 0; i < o.bots; i++) {
      const client = new Client(protocol);
      const bot = { client, sent: 0, disconnects: 0 };
      client.on('disconnect', () => bot.disconnects++);
      const transport =
        o.transport === 'ws'
          ? websocketClient({
              transport: 'websocket',
              host: address.host,
              port: address.port,
              url: address.url,
            })
          : udpClient(address);
      await client.connect(transport, { username: `bot${i + 1}` });
      bots.push(bot);
    }
    log(`${bots.length} bots playing through the proxy`);
    let sending = true;
    timers.push(
      setInterval(() => {
        if (!sending) return;
        for (const b of bots) {
          if (!b.client.connected) continue;
          b.sent++;
          b.client.send('input', Input, { seq: b.sent, dx: Math.random() < 0.5 ? -1 : 1, dy: 1 });
        }
      }, protocol.tickIntervalMs),
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
      return { sent, got, outOfOrder, disconnects: bots.reduce((n, b) => n + b.disconnects, 0) };
    };
    let restarts = 0;
    const line = () => {
      const p = proxy!;
      const per = BACKENDS.map((id) => `${id} ${p.sessions().filter((s) => s.backendId === id).length}`).join(
        ' | ',
      );
      const { sent, got } = totals();
      log(
        `players ${per} | restarts ${restarts} | migrations ${p.stats.migration.completed} | inputs sent ${sent} processed ${got}`,
      );
    };
    timers.push(setInterval(line, 1000));

    // the rolling restart: one backend after the other, until the time is up
    const end = Date.now() + o.durationSeconds * 1000;
    for (let i = 0; Date.now() < end && !o.signal?.aborted; i++) {
      await sleep(Math.min(1000, Math.max(0, end - Date.now())), o.signal);
      if (Date.now() >= end || o.signal?.aborted) break;
      const id = BACKENDS[i % BACKENDS.length];
      const server = servers.get(id)!;
      const before = server.users.length;
      const drained = await server.drain({ timeoutMs: 10_000, reason: 'backend restarting' });
      log(`${id}: drained (${before} players moved to the others, ${drained.remaining} left), stopped`);
      // a new process comes up under the same id: fresh server, fresh ticket key, same pool
      servers.set(id, await startBackend(id, certs, registry, ticketKeys, processed));
      restarts++;
      log(`${id}: started again`);
    }
    sending = false;
    // every input sent must arrive before counting
    for (let i = 0; i < 300; i++) {
      const { sent, got } = totals();
      if (got >= sent && proxy.stats.migration.inFlight === 0) break;
      await sleep(10);
    }
    for (const t of timers) clearInterval(t);
    line();
    const { sent, got, outOfOrder, disconnects } = totals();
    log(
      `restarts ${restarts} | migrations ${proxy.stats.migration.completed} (failed ${proxy.stats.migration.rolledBack + proxy.stats.migration.fallbacks}) | disconnects ${disconnects} | out of order ${outOfOrder}`,
    );
    log(`inputs lost: ${sent - got}`);
    return sent === got && outOfOrder === 0 && disconnects === 0;
  } finally {
    for (const t of timers) clearInterval(t);
    await Promise.all(bots.map((b) => b.client.close('demo over')));
    await proxy?.close('demo over');
    for (const s of servers.values()) await s.close('demo over');
  }
}

/** One backend of the demo game: an avatar per player that carries over when it moves. */
async function startBackend(
  id: string,
  certs: DemoCertificates,
  registry: InMemoryRegistry,
  ticketKeys: InMemoryTicketKeys,
  processed: Processed,
): Promise<Server<'input'>> {
  const server = new Server(protocol, { authenticator: new OfflineAuthenticator(), name: id });
  const room = server.createRoom();
  const avatars = new Map<User, Entity>();
  const arriving = new Set<User>();
  server.on('connect', (u) => {
    room.addUser(u);
    if (arriving.delete(u)) return; // a migrating player brings its avatar
    const e = server.spawn().insert(Position, { x: 0, y: 0 });
    avatars.set(u, e);
    room.addEntity(e);
  });
  server.on('disconnect', (u) => {
    avatars.get(u)?.despawn();
    avatars.delete(u);
  });
  server.migration = {
    carried: (u) => {
      const e = avatars.get(u);
      return e?.alive ? [...server.defaultCarried(u), e.id] : server.defaultCarried(u);
    },
    restore: (u, _state, info) => {
      if (info.phase === 'arrive') {
        arriving.add(u);
        return;
      }
      const e = info.carried.map((c) => server.entity(c)).find((x) => x?.has(Position));
      if (e) avatars.set(u, e);
    },
  };
  server.onMessage(Input, (u, v) => {
    recordInput(processed, u.uuid, v.seq);
    const p = avatars.get(u)?.get(Position);
    if (p) {
      p.x += v.dx;
      p.y += v.dy;
    }
  });
  const keys = await ticketKeys.generate(id);
  await listenDemoBackend(server, id, certs, registry, {
    capacity: 1000,
    publicKey: keys.publicKey,
    tickets: {
      privateKey: keys.privateKey,
      publicKeyOf: (b) => ticketKeys.publicKeyOf(b),
      nonceStore: sharedNonces,
    },
  });
  return server;
}

/** Ticket nonces: one store for the demo's backends (as a shared Redis would be). */
const sharedNonces = new InMemoryNonceStore();
