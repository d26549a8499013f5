import { type ChildProcess, spawn } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../src/client/index.js';
import { InMemoryRegistry, InMemoryTicketKeys } from '../src/cluster/index.js';
// biome-ignore lint/suspicious/noShadowRestrictedNames: the API name is Proxy (DESIGN §8)
import { Proxy } from '../src/proxy/index.js';
import { OfflineAuthenticator } from '../src/server/index.js';
import { udpServer } from '../src/transport/index.js';
import { MemoryHub } from '../src/transport/MemoryHub.js';
import type { TransportAddress } from '../src/transport/types.js';
import { type ClusterChannels, clusterProtocol } from './helpers/cluster.js';
import { Input } from './helpers/protocol.js';
import { connectDatagrams } from './helpers/rawPeer.js';
import { createTestCertificates, type TestCertificates } from './helpers/testCertificates.js';

/**
 * Soak (issue 12): one proxy (this process), three backends as child processes, bots with 5 %
 * loss on their hop (memory hub, seeded conditioner), continuous seamless migrations, one
 * backend SIGKILLed and restarted (under a fresh id) every few seconds, and a flood of
 * malformed datagrams at the proxy's UDP port alongside. It ends by itself and asserts:
 *
 * - no process crashed (a backend exits only by our SIGKILL);
 * - every 'chat' input a bot sent was processed at most once, by one backend, in order on it,
 *   and never one it did not send;
 * - every input of a session life still open at the end was processed (none lost while its
 *   backends were healthy);
 * - an input that was not processed belongs to a life that ended with a reason the client was
 *   given, and the proxy's own reason for ending it names a backend we killed;
 * - the proxy's heap after the run is back within HEAP_MARGIN of its baseline, RSS within
 *   RSS_MARGIN.
 *
 * Bounded by default (~20 bots, ~15 s of chaos); `BATON_DEEP=1` runs 120 bots for 3 minutes.
 */
const DEEP = process.env.BATON_DEEP === '1';
const BOTS = DEEP ? 120 : 20;
const CHAOS_MS = DEEP ? 180_000 : 15_000;
const KILL_EVERY_MS = DEEP ? 4000 : 2000;
/** Chaos goes on past CHAOS_MS (up to CHAOS_MS + 60 s) until this many kills, however slow the machine. */
const MIN_KILLS = DEEP ? 20 : 3;
/** Malformed datagrams per second at the proxy's UDP port. */
const FLOOD_PER_SECOND = DEEP ? 4000 : 1000;
/** Migrations started per second (each on a random settled player). */
const MIGRATIONS_PER_SECOND = DEEP ? 40 : 15;
const LOSS = 0.05;
/** The proxy's heap after the run (gc'd, every player gone) may exceed its baseline by this much. */
const HEAP_MARGIN = 24 * 1024 * 1024;
/** RSS rarely shrinks (the allocator keeps pages): a looser bound. */
const RSS_MARGIN = 256 * 1024 * 1024;

const here = dirname(fileURLToPath(import.meta.url));
const MB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (condition()) return true;
    await sleep(20);
  }
  return condition();
}

function settledHeap(): { heap: number; rss: number } {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

let certs: TestCertificates;
/** The backend fixture bundled once into plain JS: a child then starts in a fraction of tsx's time. */
let backendScript: string;
beforeAll(async () => {
  certs = await createTestCertificates();
  // beside node_modules, so the bundle's bare imports (ws) resolve
  backendScript = resolve(here, '../node_modules/.cache/baton-soak/soakBackend.mjs');
  await build({
    entryPoints: [resolve(here, 'fixtures/soakBackend.ts')],
    outfile: backendScript,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
});
afterAll(() => certs?.dispose());
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch {
      // best effort: the next cleanup still runs
    }
  }
});

/** One processed input, as a backend reported it. */
interface Processed {
  backend: string;
  seq: number;
}

/** The backends: child processes, each slot restarted under a fresh id after a kill. */
class Backends {
  readonly processed = new Map<string, Processed[]>();
  readonly killed = new Set<string>();
  readonly crashes: string[] = [];
  readonly slots: { id: string; child: ChildProcess; up: boolean }[] = [];
  kills = 0;
  starts = 0;
  /** Time from spawn to registered, summed over starts. */
  startMs = 0;
  private readonly expectedExits = new Set<ChildProcess>();
  private readonly ticketKey = generateKeyPairSync('ed25519');
  private readonly ticketKeyPem = this.ticketKey.privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
  private gen = 0;

  constructor(
    private readonly registry: InMemoryRegistry,
    private readonly ticketKeys: InMemoryTicketKeys,
  ) {}

  /** Starts slot `slot` (again) under a fresh id; resolves once it is registered. */
  async start(slot: number): Promise<void> {
    const id = `b${slot}.${this.gen++}`;
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, [backendScript], {
      env: {
        ...process.env,
        BACKEND_ID: id,
        BACKEND_CERT: certs.server.cert,
        BACKEND_KEY: certs.server.key,
        BACKEND_CA: certs.ca.cert,
        TICKET_KEY: this.ticketKeyPem,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.slots[slot] = { id, child, up: false };
    child.on('exit', (code, signal) => {
      if (!this.expectedExits.has(child)) this.crashes.push(`${id} exited (code ${code}, signal ${signal})`);
    });
    const port = await new Promise<number>((resolvePort, reject) => {
      let buffered = '';
      let port: number | undefined;
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        buffered += chunk;
        let nl = buffered.indexOf('\n');
        while (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf('\n');
          if (line.startsWith('P ')) {
            const [, user, seq] = line.split(' ');
            const list = this.processed.get(user) ?? [];
            this.processed.set(user, list);
            list.push({ backend: id, seq: Number(seq) });
          } else if (line.startsWith('PORT ') && port === undefined) {
            port = Number(line.slice(5));
            resolvePort(port);
          }
        }
      });
      child.once('exit', (code) => reject(new Error(`backend ${id} exited ${code} before listening`)));
    });
    await this.ticketKeys.publish(id, createPublicKey(this.ticketKey.privateKey));
    await this.registry.register({
      id,
      pool: 'default',
      address: { host: '127.0.0.1', port },
      capacity: 4096,
      publicKey: this.ticketKey.publicKey,
    });
    this.starts++;
    this.startMs += Date.now() - spawnedAt;
    this.slots[slot].up = true;
  }

  /** SIGKILL slot `slot`'s process and forget its id (the proxy finds out by itself). */
  async kill(slot: number): Promise<void> {
    const s = this.slots[slot];
    s.up = false;
    this.killed.add(s.id);
    this.expectedExits.add(s.child);
    s.child.kill('SIGKILL');
    this.kills++;
    await this.registry.remove(s.id);
    await this.ticketKeys.remove(s.id);
  }

  upIds(): string[] {
    return this.slots.filter((s) => s.up).map((s) => s.id);
  }

  stopAll(): void {
    for (const s of this.slots) {
      this.expectedExits.add(s.child);
      s.child.kill('SIGKILL');
    }
  }
}

/** One connection of a bot, from accept to its end: the inputs it sent and why it ended. */
interface Life {
  first: number;
  last: number;
  /** The client's disconnect reason (undefined while open). */
  clientReason?: string;
  /** What the proxy said when it ended or referred this session (referral, close, migration failure). */
  proxyReasons: string[];
}

/** A player: sends `Input { seq }` on 'chat' (ordered reliable) every tick while connected. */
class SoakBot {
  seq = 0;
  sending = true;
  readonly lives: Life[] = [];
  client!: Client<ClusterChannels>;
  private replacing = false;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly dial: () => ReturnType<MemoryHub['client']>,
  ) {}

  get life(): Life | undefined {
    const l = this.lives[this.lives.length - 1];
    return l && l.clientReason === undefined ? l : undefined;
  }

  async start(): Promise<void> {
    this.client = this.newClient();
    await this.client.connect(this.dial(), { username: this.name });
  }

  private newClient(): Client<ClusterChannels> {
    const client = new Client(clusterProtocol, {
      handshakeTimeoutMs: 4000,
      autoStep: false,
      followReferrals: () => this.dial(),
    });
    client.on('connect', () => {
      this.lives.push({ first: this.seq + 1, last: this.seq, proxyReasons: [] });
    });
    client.on('disconnect', (reason) => {
      const life = this.life;
      if (life) life.clientReason = reason || '(empty reason)';
      // a referral reconnects by itself; anything else gets a fresh client shortly
      setTimeout(() => {
        if (!this.closed && !client.connected && this.client === client) void this.replace();
      }, 1500);
    });
    client.on('reconnectFailed', () => void this.replace());
    return client;
  }

  /** A fresh client for a new life, after a disconnect no referral followed. Bounded retries. */
  private async replace(): Promise<void> {
    if (this.replacing || this.closed) return;
    this.replacing = true;
    for (let attempt = 0; attempt < 20 && !this.closed; attempt++) {
      const old = this.client;
      this.client = this.newClient();
      void old.close().catch(() => {});
      try {
        await this.client.connect(this.dial(), { username: this.name });
        break;
      } catch {
        await sleep(250);
      }
    }
    this.replacing = false;
  }

  tick(): void {
    const life = this.life;
    if (this.sending && life && this.client.connected) {
      this.seq++;
      life.last = this.seq;
      this.client.send('chat', Input, { seq: this.seq, dx: 0, dy: 0 });
    }
    this.client.step();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client.close().catch(() => {});
  }
}

/** Malformed datagrams at `port`: random bytes, and valid Connect datagrams with bytes flipped. */
function flood(port: number, perSecond: number, seed: number): { stop(): void; sent(): number } {
  let state = seed >>> 0;
  const rand = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const sockets: UdpSocket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = createSocket('udp4');
    s.on('error', () => {});
    sockets.push(s);
  }
  const connect = connectDatagrams({}, 7)[0];
  let sent = 0;
  const perBatch = Math.max(1, Math.round(perSecond / 50));
  let running = true;
  const timer = setInterval(() => {
    for (let i = 0; i < perBatch; i++) {
      let d: Uint8Array;
      if (rand() < 0.5) {
        d = new Uint8Array(1 + Math.floor(rand() * 1300));
        for (let j = 0; j < d.length; j++) d[j] = Math.floor(rand() * 256);
      } else {
        d = connect.slice(0, 1 + Math.floor(rand() * connect.length));
        for (let k = 0; k < 3; k++) d[Math.floor(rand() * d.length)] ^= 1 << Math.floor(rand() * 8);
      }
      sockets[i % sockets.length].send(d, port, '127.0.0.1');
      sent++;
    }
  }, 20);
  return {
    stop() {
      if (!running) return;
      running = false;
      clearInterval(timer);
      for (const s of sockets) s.close();
    },
    sent: () => sent,
  };
}

describe('soak', () => {
  it(
    `${BOTS} bots, migrations, SIGKILLed backends and a malformed flood: nothing lost, nothing invented, memory back`,
    async () => {
      const registry = new InMemoryRegistry();
      const ticketKeys = new InMemoryTicketKeys();
      const backends = new Backends(registry, ticketKeys);
      cleanups.push(() => backends.stopAll());
      await Promise.all([0, 1, 2].map((slot) => backends.start(slot)));

      const hub = new MemoryHub({ seed: 12 });
      const proxyLog: string[] = [];
      const proxy = new Proxy({
        protocol: clusterProtocol,
        id: 'soak-proxy',
        listen: [hub.server(), udpServer({ host: '127.0.0.1', port: 0 })],
        tls: { cert: certs.client.cert, key: certs.client.key, ca: certs.ca.cert },
        registry,
        ticketKeys,
        authenticator: new OfflineAuthenticator(),
        heartbeatIntervalMs: 100,
        backendTimeoutMs: 1000,
        maxPlayers: 4096,
        log: (line) => {
          if (proxyLog.length < 10_000) proxyLog.push(line);
        },
        migration: { overlapMs: 20 },
      });
      cleanups.push(() => proxy.close());
      const [hubAddress, udpAddress] = await proxy.start();
      const dial = () => hub.client(hubAddress as TransportAddress, { conditioner: { loss: LOSS } });

      // what the proxy says about each player, attached to that player's current life
      const bots = new Map<string, SoakBot>();
      const noteProxyReason = (username: string, reason: string) => {
        const bot = bots.get(username);
        const life = bot?.life ?? bot?.lives[bot.lives.length - 1];
        life?.proxyReasons.push(reason);
      };
      proxy.on('referral', (info, to, why) => noteProxyReason(info.username, `referral to ${to}: ${why}`));
      proxy.on('sessionClosed', (info, reason) => noteProxyReason(info.username, `closed: ${reason}`));
      proxy.on('migration', (info, r) => {
        if (!r.ok)
          noteProxyReason(info.username, `migration ${r.from}→${r.to} failed in ${r.state}: ${r.reason}`);
      });

      const base = settledHeap();
      let peakHeap = base.heap;
      let peakRss = base.rss;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peakHeap = Math.max(peakHeap, m.heapUsed);
        peakRss = Math.max(peakRss, m.rss);
      }, 250);
      cleanups.push(() => clearInterval(sampler));

      // bots, stepped together every 20 ms
      const botList: SoakBot[] = [];
      for (let i = 0; i < BOTS; i++) {
        const bot = new SoakBot(`bot${i}`, dial);
        bots.set(bot.name, bot);
        botList.push(bot);
      }
      const ticker = setInterval(() => {
        for (const b of botList) if (b.client) b.tick();
      }, 20);
      cleanups.push(() => clearInterval(ticker));
      cleanups.push(() => Promise.all(botList.map((b) => b.close())));
      await Promise.all(botList.map((b) => b.start()));

      const malformed = flood(udpAddress.port, FLOOD_PER_SECOND, 99);
      cleanups.push(() => malformed.stop());

      // continuous migrations
      const outcomes = new Map<string, number>();
      const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      let inFlight = 0;
      let chaos = true;
      let rng = 4242;
      const pick = <T>(xs: T[]): T => {
        rng = (rng * 1103515245 + 12345) & 0x7fffffff;
        return xs[rng % xs.length];
      };
      const migrator = setInterval(() => {
        if (!chaos || inFlight >= Math.max(2, BOTS / 4)) return;
        const candidates = proxy.sessions().filter((s) => s.state === 'active' && !s.migration);
        if (candidates.length === 0) return;
        const s = pick(candidates);
        const targets = backends.upIds().filter((id) => id !== s.backendId);
        if (targets.length === 0) return;
        inFlight++;
        void proxy.migrate(s.id, pick(targets)).then((r) => {
          inFlight--;
          if (r.ok) count('ok');
          else if (r.afterCutover) count('failed after cutover (player referred or told)');
          else count(`refused/rolled back before cutover (${r.state})`);
        });
      }, 1000 / MIGRATIONS_PER_SECOND);
      cleanups.push(() => clearInterval(migrator));

      // a backend SIGKILLed every few seconds, restarted (fresh id) right after; one at a time down
      // at most, so the pool always has two to migrate between
      const restarts: Promise<void>[] = [];
      const chaosFrom = Date.now();
      const killer = (async () => {
        let slot = 0;
        const end = Date.now() + CHAOS_MS;
        while (Date.now() < end) {
          await sleep(KILL_EVERY_MS);
          if (Date.now() >= end) break;
          if (backends.upIds().length < 3) continue;
          const s = slot;
          await backends.kill(s);
          restarts.push(sleep(300).then(() => backends.start(s)));
          slot = (slot + 1) % 3;
        }
        await Promise.all(restarts);
      })();
      await killer;
      const chaosSeconds = Math.round((Date.now() - chaosFrom) / 1000);

      // calm down: no more kills or migrations; the last ones finish; every bot is connected again
      chaos = false;
      clearInterval(migrator);
      expect(await until(() => inFlight === 0, 20_000)).toBe(true);
      await until(() => botList.every((b) => b.client.connected && b.life), 15_000);
      await sleep(500);
      malformed.stop();
      for (const b of botList) b.sending = false;
      // drain: every input of an open life reaches a backend (retransmits under loss included)
      const processedSeqs = (name: string) => new Set((backends.processed.get(name) ?? []).map((p) => p.seq));
      const drained = () =>
        botList.every((b) => {
          const life = b.life;
          if (!life || life.last < life.first) return true;
          const done = processedSeqs(b.name);
          for (let s = life.first; s <= life.last; s++) if (!done.has(s)) return false;
          return true;
        });
      await until(drained, 15_000);

      // the figures
      let sent = 0;
      let processed = 0;
      const lost = new Map<string, number>();
      const duplicates: string[] = [];
      const invented: string[] = [];
      const reordered: string[] = [];
      const lostUntold: string[] = [];
      const lostHealthy: string[] = [];
      for (const bot of botList) {
        sent += bot.seq;
        const list = backends.processed.get(bot.name) ?? [];
        processed += list.length;
        const seen = new Map<number, string>();
        const lastOn = new Map<string, number>();
        for (const p of list) {
          const before = seen.get(p.seq);
          if (before !== undefined) duplicates.push(`${bot.name} #${p.seq} on ${before} and ${p.backend}`);
          seen.set(p.seq, p.backend);
          if (p.seq < 1 || p.seq > bot.seq) invented.push(`${bot.name} #${p.seq} on ${p.backend}`);
          const prev = lastOn.get(p.backend) ?? 0;
          if (p.seq <= prev) reordered.push(`${bot.name} #${p.seq} after #${prev} on ${p.backend}`);
          lastOn.set(p.backend, p.seq);
        }
        for (const life of bot.lives) {
          const missing: number[] = [];
          for (let s = life.first; s <= life.last; s++) if (!seen.has(s)) missing.push(s);
          if (missing.length === 0) continue;
          const what = `${bot.name} #${missing[0]}…#${missing[missing.length - 1]} (${missing.length})`;
          if (life.clientReason === undefined) {
            lostHealthy.push(`${what}: life still open, nothing told`);
            lost.set('open session, untold', (lost.get('open session, untold') ?? 0) + missing.length);
            continue;
          }
          const killedBackend = life.proxyReasons.some((r) =>
            [...backends.killed].some((id) => r.includes(id)),
          );
          const cause = killedBackend ? 'backend SIGKILLed (client told)' : 'other (client told)';
          lost.set(cause, (lost.get(cause) ?? 0) + missing.length);
          if (life.clientReason === '') lostUntold.push(what);
          if (!killedBackend)
            lostHealthy.push(
              `${what}: client "${life.clientReason}", proxy ${JSON.stringify(life.proxyReasons)}`,
            );
        }
      }
      clearInterval(ticker);
      const lives = botList.reduce((n, b) => n + b.lives.length, 0);
      const figures = {
        bots: BOTS,
        chaosSeconds,
        backendKills: backends.kills,
        backendStarts: backends.starts,
        backendStartMeanMs: Math.round(backends.startMs / backends.starts),
        sessionLives: lives,
        inputsSent: sent,
        inputsProcessed: processed,
        inputsLostByCause: Object.fromEntries(lost),
        duplicates: duplicates.length,
        migrations: Object.fromEntries(outcomes),
        malformedDatagrams: malformed.sent(),
        proxyStats: { referrals: proxy.stats.migration, backends: proxy.stats.backends },
        heapBaselineMB: +(base.heap / MB).toFixed(1),
        heapPeakMB: +(peakHeap / MB).toFixed(1),
        peakHeapPerPlayerKB: Math.round((peakHeap - base.heap) / BOTS / 1024),
        rssBaselineMB: +(base.rss / MB).toFixed(1),
        rssPeakMB: +(peakRss / MB).toFixed(1),
      };

      // every player gone, then memory back to its baseline
      await Promise.all(botList.map((b) => b.close()));
      expect(await until(() => proxy.sessions().length === 0, 15_000)).toBe(true);
      await sleep(200);
      const after = settledHeap();
      console.log(
        `soak figures: ${JSON.stringify(
          {
            ...figures,
            heapAfterMB: +(after.heap / MB).toFixed(1),
            rssAfterMB: +(after.rss / MB).toFixed(1),
            margins: { heapMB: HEAP_MARGIN / MB, rssMB: RSS_MARGIN / MB },
          },
          null,
          2,
        )}`,
      );

      expect(backends.crashes).toEqual([]);
      expect(backends.kills).toBeGreaterThanOrEqual(MIN_KILLS);
      expect(outcomes.get('ok') ?? 0).toBeGreaterThan(BOTS);
      expect(duplicates.slice(0, 10)).toEqual([]);
      expect(invented.slice(0, 10)).toEqual([]);
      expect(reordered.slice(0, 10)).toEqual([]);
      expect(lostUntold.slice(0, 10)).toEqual([]);
      expect(lostHealthy.slice(0, 10)).toEqual([]);
      expect(after.heap - base.heap).toBeLessThan(HEAP_MARGIN);
      expect(after.rss - base.rss).toBeLessThan(RSS_MARGIN);
    },
    (DEEP ? CHAOS_MS : 0) + 150_000,
  );
});
