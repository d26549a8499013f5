import { Client } from '../client/Client.js';
import { generateEd25519KeyPair, InMemoryRegistry } from '../cluster/index.js';
import { component, defineProtocol, message, t } from '../index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../proxy/Proxy.js';
import { Server } from '../server/Server.js';
import { OfflineAuthenticator } from '../session/Authenticator.js';
import { udpClient, udpServer, websocketClient, websocketServer } from '../transport/index.js';
import { createDemoCertificates } from './certsDemo.js';
import { listenDemoBackend } from './demoBackend.js';
import { sleep } from './signals.js';

/** Options of the cluster demo (`baton demo --cluster`). */
export interface ClusterDemoOptions {
  durationSeconds: number;
  transport: 'udp' | 'ws';
  bots: number;
  /** Seconds between referral transfers (default 3). */
  transferEverySeconds?: number;
  log?: (line: string) => void;
  /** Ends the demo early (Ctrl-C): it still closes everything and removes its temporary files. */
  signal?: AbortSignal;
}

const Position = component('Position', { x: t.f32, y: t.f32 });
const Chat = message('Chat', { from: t.u32, text: t.string(120) });
const protocol = defineProtocol({
  tickRate: 20,
  components: [Position],
  messages: [Chat],
  channels: { chat: { mode: 'ordered-reliable' } },
});

/**
 * One proxy, two backends (in this process, mutual TLS with throwaway certificates made in
 * memory at start), bots connecting through
 * the proxy and following referrals, entities moving on each backend, and a referral transfer
 * every few seconds. The summary shows players per backend.
 */
export async function runClusterDemo(o: ClusterDemoOptions): Promise<void> {
  const log = o.log ?? ((line: string) => console.log(line));
  const certs = await createDemoCertificates();
  const registry = new InMemoryRegistry();
  const backends: { id: string; server: Server<'chat'>; tick: () => void }[] = [];
  try {
    for (const id of ['backend-1', 'backend-2']) {
      const server = new Server(protocol, { authenticator: new OfflineAuthenticator(), name: id });
      const room = server.createRoom();
      const movers = Array.from({ length: 3 }, (_, i) => server.spawn().insert(Position, { x: i, y: 0 }));
      for (const e of movers) room.addEntity(e);
      server.on('connect', (u) => room.addUser(u));
      const port = await listenDemoBackend(server, id, certs, registry, {
        capacity: 100,
        publicKey: generateEd25519KeyPair().publicKey,
      });
      let phase = 0;
      const tick = () => {
        phase += 0.1;
        movers.forEach((e, i) => {
          const p = e.get(Position);
          p.x = Math.cos(phase + i) * 10;
          p.y = Math.sin(phase + i) * 10;
        });
      };
      backends.push({ id, server, tick });
      log(`${id}: proxies on tls://127.0.0.1:${port}`);
    }
    const proxy = new Proxy({
      protocol,
      id: 'proxy-1',
      listen: [o.transport === 'ws' ? websocketServer({ port: 0 }) : udpServer({ port: 0 })],
      tls: { cert: certs.client.cert, key: certs.client.key, ca: certs.ca.cert },
      registry,
      authenticator: new OfflineAuthenticator(),
      log,
    });
    const [address] = await proxy.start();
    log(`proxy-1 listening on ${o.transport}://${address.host}:${address.port}`);
    const dial = (to: { host: string; port: number }) =>
      o.transport === 'ws'
        ? websocketClient({ transport: 'websocket', host: to.host, port: to.port, url: address.url })
        : udpClient({ transport: 'udp', host: to.host, port: to.port });
    const bots: Client<'chat'>[] = [];
    let referrals = 0;
    let updates = 0;
    for (let i = 0; i < o.bots; i++) {
      const bot = new Client(protocol, { followReferrals: dial });
      bot.on('referral', () => referrals++);
      bot.on('update', () => updates++);
      await bot.connect(dial(address), { username: `bot${i + 1}` });
      bots.push(bot);
    }
    log(`${bots.length} bots connected through the proxy`);
    const mover = setInterval(() => {
      for (const b of backends) b.tick();
    }, 50);
    let next = 0;
    const transfers = setInterval(
      () => {
        const sessions = proxy.sessions().filter((s) => s.state === 'active');
        if (sessions.length === 0) return;
        const s = sessions[next++ % sessions.length];
        const target = s.backendId === 'backend-1' ? 'backend-2' : 'backend-1';
        void proxy.transfer(s.id, target, 'demo transfer').then((r) => {
          if (r === true) log(`  transfer: ${s.username} ${s.backendId} → ${target} (referral)`);
        });
      },
      (o.transferEverySeconds ?? 3) * 1000,
    );
    const summary = setInterval(() => {
      const per = backends.map((b) => `${b.id} ${b.server.users.length}`).join(' | ');
      const st = proxy.stats;
      log(
        `players: ${per} | proxied ${st.players} | relayed msgs ${st.relayed.clientToBackendMessages + st.relayed.backendToClientMessages} ` +
          `world frames ${st.relayed.backendToClientWorldFrames} | referrals ${referrals} | entity updates seen ${updates}`,
      );
    }, 1000);
    await sleep(o.durationSeconds * 1000, o.signal);
    clearInterval(mover);
    clearInterval(transfers);
    clearInterval(summary);
    await Promise.all(bots.map((b) => b.close('demo over')));
    await proxy.close('demo over');
    log(`done: ${proxy.stats.routed} sessions routed, ${proxy.stats.referrals.sent} referrals`);
  } finally {
    for (const b of backends) await b.server.close('demo over');
  }
}
