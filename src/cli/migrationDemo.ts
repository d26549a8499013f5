import { Client } from '../client/Client.js';
import { InMemoryNonceStore, InMemoryRegistry, InMemoryTicketKeys } from '../cluster/index.js';
import type { Entity } from '../index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../proxy/Proxy.js';
import { Server } from '../server/Server.js';
import type { User } from '../server/User.js';
import { OfflineAuthenticator } from '../session/Authenticator.js';
import { udpClient, udpServer, websocketClient, websocketServer } from '../transport/index.js';
import { createDemoCertificates } from './certsDemo.js';
import { listenDemoBackend } from './demoBackend.js';
import { ClusterView } from './demoPage/ClusterView.js';
import { type DemoPage, serveDemoPage } from './demoPage/PageServer.js';
import { Input, Position, protocol } from './demoPage/protocol.js';
import { type InputLedger, recordInput } from './inputLedger.js';
import { sleep } from './signals.js';

/** Options of the main demo: seamless migration between two backends. */
export interface MigrationDemoOptions {
  durationSeconds: number;
  transport: 'udp' | 'ws';
  bots: number;
  /** Each bot is moved to the other backend about this often (default 3 s). */
  migrateEverySeconds?: number;
  log?: (line: string) => void;
  /** Ends the demo early (Ctrl-C): it still closes everything and removes its temporary files. */
  signal?: AbortSignal;
  /**
   * Also serve the demo page on 127.0.0.1 (this port, 0 for any): the cluster drawn live, and
   * the visitor playing through the proxy's WebSocket listener, migrated by crossing regions.
   */
  page?: { port?: number };
}

/**
 * baton's main job, on one machine: one proxy, two backends (in this process, mutual TLS with
 * certificates made at start in a temporary directory), bots playing — an input with a sequence
 * number every tick on a reliable channel, their avatars moving — and each bot migrated between
 * the backends every few seconds without reconnecting. Each bot's avatar carries over with it
 * (`server.migration.carried`): the client keeps the same entity, re-keyed, never despawned or
 * respawned. The summary counts migrations, the freeze window, inputs lost (sent by the bots vs
 * processed by the backends, both) and carried entities respawned — both must read 0.
 */
export async function runMigrationDemo(o: MigrationDemoOptions): Promise<boolean> {
  const log = o.log ?? ((line: string) => console.log(line));
  const certs = await createDemoCertificates();
  const registry = new InMemoryRegistry();
  const ticketKeys = new InMemoryTicketKeys();
  const nonces = new InMemoryNonceStore();
  const processed: InputLedger = new Map();
  /** Uuids of page visitors (their inputs are the page's to count, not the bots' totals). */
  const visitors = new Set<string>();
  const servers: Server<'input'>[] = [];
  const avatarsOn = new Map<string, Map<User, Entity>>();
  let page: DemoPage | undefined;
  try {
    for (const id of ['backend-1', 'backend-2']) {
      const server = new Server(protocol, { authenticator: new OfflineAuthenticator(), name: id });
      const room = server.createRoom();
      const avatars = new Map<User, Entity>();
      avatarsOn.set(id, avatars);
      const arriving = new Set<User>();
      server.on('connect', (u) => {
        room.addUser(u);
        if (arriving.delete(u)) return; // a migrating player brings its avatar (restored at cutover)
        const e = server.spawn().insert(Position, { x: 0, y: 0 });
        avatars.set(u, e);
        room.addEntity(e);
      });
      server.on('disconnect', (u) => {
        const e = avatars.get(u);
        avatars.delete(u);
        e?.despawn();
      });
      // the avatar carries over: its state goes with the player, the client keeps the same
      // entity (no despawn/respawn), this backend adopts the copy re-created here
      server.migration = {
        carried: (u) => {
          const e = avatars.get(u);
          return e?.alive ? [e.id] : [];
        },
        restore: (u, _state, info) => {
          if (info.phase === 'arrive') {
            arriving.add(u);
            return;
          }
          const e = info.carried.map((id) => server.entity(id)).find((x) => x?.has(Position));
          if (e) avatars.set(u, e);
        },
      };
      server.onMessage(Input, (u, v) => {
        if (recordInput(processed, u.uuid, v.seq).first && ClusterView.isVisitor(u.username))
          visitors.add(u.uuid);
        const p = avatars.get(u)?.get(Position);
        if (p) {
          p.x += v.dx;
          p.y += v.dy;
        }
      });
      const keys = await ticketKeys.generate(id);
      const port = await listenDemoBackend(server, id, certs, registry, {
        capacity: 1000,
        publicKey: keys.publicKey,
        tickets: {
          privateKey: keys.privateKey,
          publicKeyOf: (b) => ticketKeys.publicKeyOf(b),
          nonceStore: nonces,
        },
      });
      servers.push(server);
      log(`${id}: proxies on tls://127.0.0.1:${port} (mutual TLS, ticket key published)`);
    }
    const proxy = new Proxy({
      protocol,
      id: 'proxy-1',
      listen: [
        o.transport === 'ws' ? websocketServer({ port: 0 }) : udpServer({ port: 0 }),
        // the page's players come over the browser's WebSocket
        ...(o.page ? [websocketServer({ host: '127.0.0.1', port: 0 })] : []),
      ],
      tls: { cert: certs.client.cert, key: certs.client.key, ca: certs.ca.cert },
      registry,
      ticketKeys,
      authenticator: new OfflineAuthenticator(),
      log,
      // a page's tab that loses its connection resumes the same session (the page's window is 10 s)
      ...(o.page ? { resumeWindowMs: 12_000 } : {}),
    });
    const [address, pageAddress] = await proxy.start();
    log(
      `proxy-1 listening on ${o.transport}://${address.host}:${address.port}; pool seamless: ${(await proxy.poolStatus('default')).seamlessMigration}`,
    );
    const dial = () =>
      o.transport === 'ws'
        ? websocketClient({
            transport: 'websocket',
            host: address.host,
            port: address.port,
            url: address.url,
          })
        : udpClient(address);
    const bots: { client: Client<'input'>; sent: number; disconnects: number }[] = [];
    // entities a bot kept through a move (its avatar): they must never despawn afterwards
    let carriedKept = 0;
    let carriedRespawned = 0;
    for (let i = 0; i < o.bots; i++) {
      const client = new Client(protocol);
      const bot = { client, sent: 0, disconnects: 0 };
      const carried = new Set<Entity>();
      client.on('disconnect', () => bot.disconnects++);
      client.on('migrated', (m) => {
        carriedKept += m.carried;
        // right at the swap the world holds only what carried over (the new backend's come later)
        for (const e of client.entities()) if (!e.isLocal) carried.add(e);
      });
      client.on('despawn', (e) => {
        if (carried.has(e) && bot.client.connected) carriedRespawned++;
      });
      await client.connect(dial(), { username: `bot${i + 1}` });
      bots.push(bot);
    }
    log(`${bots.length} bots playing through the proxy`);
    let sending = true;
    const play = setInterval(() => {
      if (!sending) return;
      for (const b of bots) {
        if (!b.client.connected) continue;
        b.sent++;
        b.client.send('input', Input, {
          seq: b.sent,
          dx: Math.random() < 0.5 ? -1 : 1,
          dy: Math.random() < 0.5 ? -1 : 1,
        });
      }
    }, protocol.tickIntervalMs);
    let next = 0;
    let failed = 0;
    const every = ((o.migrateEverySeconds ?? 3) * 1000) / Math.max(1, bots.length);
    const migrations = setInterval(() => {
      // page visitors are migrated by where they walk, not by this timer
      const sessions = proxy
        .sessions()
        .filter((s) => s.state === 'active' && !s.migration && !ClusterView.isVisitor(s.username));
      if (sessions.length === 0) return;
      const s = sessions[next++ % sessions.length];
      const target = s.backendId === 'backend-1' ? 'backend-2' : 'backend-1';
      void proxy.migrate(s.id, target).then((r) => {
        if (!r.ok) {
          failed++;
          log(`  migration of ${s.username} failed in ${r.state}: ${r.reason}`);
        }
      });
    }, every);
    const totals = () => {
      let sent = 0;
      let got = 0;
      let outOfOrder = 0;
      for (const b of bots) sent += b.sent;
      for (const [uuid, s] of processed) {
        if (visitors.has(uuid)) continue;
        got += s.count;
        outOfOrder += s.outOfOrder;
      }
      return { sent, got, outOfOrder };
    };
    const line = (final: boolean) => {
      const st = proxy.stats.migration;
      const per = servers.map((s) => `${s.options.name} ${s.users.length}`).join(' | ');
      const { sent, got, outOfOrder } = totals();
      const lost = sent - got;
      log(
        `${final ? 'final' : 'live '}: players ${per} | migrations ${st.completed} (failed ${st.rolledBack + st.fallbacks}) | ` +
          `freeze p50 ${st.freezeMs.p50.toFixed(1)} ms p99 ${st.freezeMs.p99.toFixed(1)} ms | ` +
          `inputs sent ${sent} processed ${got} ${final ? `lost ${lost}` : `in flight ${lost}`} out-of-order ${outOfOrder}`,
      );
      return { lost, outOfOrder };
    };
    const summary = setInterval(() => line(false), 1000);
    if (o.page) {
      page = await serveDemoPage(
        {
          proxy,
          backends: servers.map((s) => s.options.name!),
          avatarAt: (backendId, uuid) => {
            for (const [u, e] of avatarsOn.get(backendId) ?? []) {
              if (u.uuid === uuid && e.alive) return e.get(Position);
            }
            return undefined;
          },
          processedOf: (uuid) => processed.get(uuid)?.count ?? 0,
          botInputs: () => {
            const { sent, got } = totals();
            return { sent, processed: got };
          },
        },
        { port: o.page.port, playerUrl: pageAddress.url! },
      );
      log(`demo page: ${page.url} (open it in a browser to play; the demo runs ${o.durationSeconds} s)`);
    }
    await sleep(o.durationSeconds * 1000, o.signal);
    clearInterval(migrations);
    sending = false;
    // let every migration finish and every input arrive before counting
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const { sent, got } = totals();
      if (got >= sent && proxy.stats.migration.inFlight === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    clearInterval(play);
    clearInterval(summary);
    const { lost, outOfOrder } = line(true);
    const disconnects = bots.reduce((n, b) => n + b.disconnects, 0);
    log(
      `inputs lost: ${lost} | out of order: ${outOfOrder} | disconnects during play: ${disconnects} | migrations failed: ${failed}`,
    );
    log(
      `carried entities kept across moves: ${carriedKept} | carried entities respawned: ${carriedRespawned}`,
    );
    await page?.close();
    await Promise.all(bots.map((b) => b.client.close('demo over')));
    await proxy.close('demo over');
    return lost === 0 && outOfOrder === 0 && carriedRespawned === 0;
  } finally {
    await page?.close();
    for (const s of servers) await s.close('demo over');
  }
}
